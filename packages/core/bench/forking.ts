// Quick probe of the run token's cost (docs/DESIGN.md §7): handlers that fork (Effect.timeout races two fibers)
// against handlers that do not, max_active 1. `node packages/core/bench/forking.ts [items] [fork|plain|detach]`
import { Effect } from "effect"
import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"

const N = Number(process.argv[2] ?? 200_000)
const mode = process.argv[3] ?? "fork"
const program = Effect.gen(function* () {
  const wq = yield* Workqueue.make("bench", { maxActive: 1 })
  let done = 0
  const body = Effect.sync(() => {
    done++
  })
  const handler =
    mode === "fork"
      ? () => Effect.timeout(body, "1 second")
      : mode === "detach"
        ? () => Effect.asVoid(Effect.forkDetach(body)) // each fork outlives its run: a new token per item
        : () => body
  const items: Array<Work.Work> = []
  for (let i = 0; i < N; i++) items.push(yield* Work.make(handler))
  const s = performance.now()
  for (let i = 0; i < N; i++) Workqueue.queueUnsafe(wq, items[i]!)
  yield* Workqueue.flush(wq)
  const e = performance.now()
  process.stdout.write(`${mode}: ${(((e - s) * 1e6) / N).toFixed(0)} ns/item (done ${done})\n`)
})
await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer({ cpuIntensiveThresh: 0 }))))
