// A user's program on @effect-workqueue/core alone: core claims Node >= 20 (engines), so this one runs on Node 20 too.
import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { Effect } from "effect"

const program = Effect.gen(function* () {
  const wq = yield* Workqueue.make("core-only", { maxActive: 1 })
  const order: Array<number> = []
  for (const n of [1, 2, 3]) yield* Workqueue.queue(wq, yield* Work.make(() => Effect.sync(() => order.push(n))))
  yield* Workqueue.flush(wq)
  return order
})

const order = await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer({ cpus: 1 }))))
if (order.join(",") !== "1,2,3") {
  process.stderr.write(`core program: got ${order.join(",")}\n`)
  process.exit(1)
}
process.stdout.write(`core program on Node ${process.versions.node}: ${order.join(",")}\n`)
