// Quick engine throughput probe (the full suite lives in bench/): 1M synchronous items, max_active 1.
import { Effect } from "effect"
import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"

const N = Number(process.argv[2] ?? 1_000_000)
const program = Effect.gen(function* () {
  const wq = yield* Workqueue.make("bench", {
    maxActive: Number(process.argv[3] ?? 1),
    flags: Number(process.argv[4] ?? 0)
  })
  let sink = 0
  let done = 0
  const items: Array<Work.Work> = []
  for (let i = 0; i < N; i++)
    items.push(
      yield* Work.make(() =>
        Effect.sync(() => {
          sink += i
          done++
        })
      )
    )
  const s = performance.now()
  for (let i = 0; i < N; i++) Workqueue.queueUnsafe(wq, items[i]!)
  const q = performance.now()
  yield* Workqueue.flush(wq)
  const e = performance.now()
  process.stdout.write(
    `enqueue ${(((q - s) * 1e6) / N).toFixed(0)} ns/item, run ${(((e - q) * 1e6) / N).toFixed(0)} ns/item, ${(((N / (e - s)) * 1000) / 1e6).toFixed(2)} M items/s (done ${done}, sink ${sink > 0})\n`
  )
})
await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer())))
