// A user's program: imports all four packages from their published entry points and runs one of each.
import { DurableWorkqueue } from "@effect-workqueue/cluster"
import { DelayedWork, Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { NodeShutdown, NodeWorkqueue } from "@effect-workqueue/platform"
import { TestWorkqueue, WorkqueueModel } from "@effect-workqueue/testing"
import { Effect, Schema } from "effect"

const onCore = Effect.gen(function* () {
  const wq = yield* Workqueue.make("consumer", { flags: Workqueue.WQ_UNBOUND, maxActive: 2 })
  let ran = 0
  const work = yield* Work.make(() => Effect.sync(() => ran++))
  const first: boolean = yield* Workqueue.queue(wq, work)
  const later = yield* DelayedWork.make(() => Effect.void)
  yield* Workqueue.queueDelayed(wq, later, "1 hour")
  const cancelled: boolean = yield* DelayedWork.cancelSync(later)
  yield* Workqueue.flush(wq)
  return { first, cancelled, ran }
})

const onTesting = Effect.gen(function* () {
  const wq = yield* Workqueue.make("tested")
  const work = yield* Work.make(() => Effect.void)
  yield* Workqueue.queue(wq, work)
  yield* TestWorkqueue.settle()
  return yield* Work.pending(work)
})

const onCluster = Effect.gen(function* () {
  const wq = yield* DurableWorkqueue.make({ name: "consumer", payload: Schema.Struct({ n: Schema.Int }) })
  let ran = 0
  yield* wq.run((payload) => Effect.sync(() => (ran += payload.n)))
  const first: boolean = yield* wq.queue("item", { n: 1 })
  const second: boolean = yield* wq.queue("item", { n: 2 })
  yield* wq.flush
  return { first, second, ran }
}).pipe(Effect.scoped, Effect.provide(DurableWorkqueue.layerMemory))

const model = WorkqueueModel.apply(
  WorkqueueModel.initial({
    cpus: 1,
    workqueues: [{ name: "wq0", kind: "bound" }],
    items: [{ name: "w0", delayed: false }]
  }),
  { _tag: "Queue", wq: "wq0", item: "w0" }
).result

const program = Effect.gen(function* () {
  const core = yield* onCore.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer({ cpus: 2 })))
  const pendingAfterSettle = yield* onTesting.pipe(Effect.scoped, Effect.provide(TestWorkqueue.layer()))
  const report = yield* NodeShutdown.drainAll({ deadlineMs: 1_000 }).pipe(Effect.provide(NodeWorkqueue.layer()))
  const cluster = yield* onCluster
  return { core, pendingAfterSettle, model, drained: report.drained, cluster }
})

const result = await Effect.runPromise(program)
const expected = JSON.stringify({
  core: { first: true, cancelled: true, ran: 1 },
  pendingAfterSettle: false,
  model: { _tag: "Returned", value: true },
  drained: true,
  cluster: { first: true, second: false, ran: 1 }
})
if (JSON.stringify(result) !== expected) {
  process.stderr.write(`consumer program: got ${JSON.stringify(result)}, expected ${expected}\n`)
  process.exit(1)
}
process.stdout.write(`consumer program: ${JSON.stringify(result)}\n`)
