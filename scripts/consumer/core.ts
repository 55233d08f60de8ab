// A user's program on @effect-workqueue/core and /testing alone: both claim Node >= 20 (engines), so this one runs on
// the machine's Node 20 too (platform needs Node >= 22.19, as @effect/platform-node does).
import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { TestWorkqueue, WorkqueueModel } from "@effect-workqueue/testing"
import { Effect } from "effect"

const program = Effect.gen(function* () {
  const wq = yield* Workqueue.make("core-only", { maxActive: 1 })
  const order: Array<number> = []
  for (const n of [1, 2, 3]) yield* Workqueue.queue(wq, yield* Work.make(() => Effect.sync(() => order.push(n))))
  yield* Workqueue.flush(wq)
  return order
})

const settled = Effect.gen(function* () {
  const wq = yield* Workqueue.make("tested")
  const work = yield* Work.make(() => Effect.void)
  yield* Workqueue.queue(wq, work)
  yield* TestWorkqueue.settle()
  return yield* Work.pending(work)
})

const order = await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer({ cpus: 1 }))))
const pending = await Effect.runPromise(settled.pipe(Effect.scoped, Effect.provide(TestWorkqueue.layer())))
const model = WorkqueueModel.apply(
  WorkqueueModel.initial({
    cpus: 1,
    workqueues: [{ name: "wq0", kind: "bound" }],
    items: [{ name: "w0", delayed: false }]
  }),
  { _tag: "Queue", wq: "wq0", item: "w0" }
).result
if (order.join(",") !== "1,2,3" || pending !== false || JSON.stringify(model) !== '{"_tag":"Returned","value":true}') {
  process.stderr.write(`core/testing program: got ${order.join(",")} ${pending} ${JSON.stringify(model)}\n`)
  process.exit(1)
}
process.stdout.write(`core and testing on Node ${process.versions.node}: ${order.join(",")}, settled, model agrees\n`)
