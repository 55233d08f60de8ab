/**
 * @since 0.1.0
 */

/**
 * A pure, executable reference model of the workqueue contracts: `initial`, `apply`, `allowedEvents`, `observe`.
 *
 * **Kernel**: the contracts of `kernel/workqueue.c` (queueing, execution, flushing, cancel, creation, destroy,
 * freeze), with this library's deliberate differences (docs/KERNEL-MAPPING.md).
 *
 * **Example** (Queueing twice)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({
 *   cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: [{ name: "w0", delayed: false }]
 * })
 * WorkqueueModel.apply(s0, { _tag: "Queue", wq: "wq0", item: "w0" }).result // => { _tag: "Returned", value: true }
 * ```
 *
 * @since 0.1.0
 */
export * as WorkqueueModel from "./WorkqueueModel.ts"

/**
 * Shrinkable generators of workqueue scenarios (configurations plus op lists) on `effect/Arbitrary`.
 *
 * **Kernel**: sequences of `queue_work*`, `mod_delayed_work*`, `cancel_work*`, `flush_*`, `drain_workqueue`,
 * `destroy_workqueue`, `workqueue_set_max_active`, freeze/thaw and handler actions.
 *
 * **Example** (Printing a scenario)
 *
 * ```ts
 * import { WorkqueueArbitrary } from "@effect-workqueue/testing"
 * WorkqueueArbitrary.format({
 *   config: { cpus: 1, workqueues: [{ name: "wq0", kind: "bound", maxActive: 1 }], items: WorkqueueArbitrary.items },
 *   ops: [{ _tag: "Queue", wq: "wq0", item: "w0" }],
 *   seed: 0
 * })
 * // => "cpus=1 seed=0 wq0(bound, max_active=1)\n  1. queue(wq0, w0)"
 * ```
 *
 * @since 0.1.0
 */
export * as WorkqueueArbitrary from "./WorkqueueArbitrary.ts"

/**
 * A lockstep checker: runs generated scenarios against a real `WorkqueueSystem` under `TestClock` and the reference
 * model at once, and reports the first divergence as a readable, shrinkable counterexample.
 *
 * **Kernel**: the contracts of `kernel/workqueue.c` checked on an implementation.
 *
 * **Example** (Checking one scenario)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkqueueArbitrary, WorkqueueChecker } from "@effect-workqueue/testing"
 * const result = await Effect.runPromise(WorkqueueChecker.check({
 *   config: { cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: WorkqueueArbitrary.items },
 *   ops: [{ _tag: "Queue", wq: "wq0", item: "w0" }],
 *   seed: 0
 * }))
 * result._tag // => "Passed"
 * ```
 *
 * @since 0.1.0
 */
export * as WorkqueueChecker from "./WorkqueueChecker.ts"

/**
 * Test helpers around a `WorkqueueSystem`: a layer for tests (2 CPUs by default), `settle` (run everything runnable
 * without moving the clock), `advance` (move the `TestClock`, then settle) and `idle`.
 *
 * **Kernel**: boot (`workqueue_init_early()`), and letting the CPUs run until every worker sleeps.
 *
 * **Example** (Settling after queueing)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue } from "@effect-workqueue/core"
 * import { TestWorkqueue } from "@effect-workqueue/testing"
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("wq")
 *   const work = yield* Work.make(() => Effect.void)
 *   yield* Workqueue.queue(wq, work)
 *   yield* TestWorkqueue.settle()
 *   return yield* Work.pending(work)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(TestWorkqueue.layer()))) // => false
 * ```
 *
 * @since 0.1.0
 */
export * as TestWorkqueue from "./TestWorkqueue.ts"

/**
 * Recording and latch-gated handlers: `start` / `end` events with virtual time and CPU kept in a `Ref`.
 *
 * **Kernel**: the `workqueue_execute_start` / `workqueue_execute_end` tracepoints.
 *
 * **Example** (Recording an item)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { TestClock } from "effect/testing"
 * import { Work, Workqueue } from "@effect-workqueue/core"
 * import { TestWorkqueue, WorkRecorder } from "@effect-workqueue/testing"
 * const program = Effect.gen(function*() {
 *   const rec = yield* WorkRecorder.make
 *   const wq = yield* Workqueue.make("wq")
 *   yield* Workqueue.queueOn(wq, 1, yield* Work.make(rec.handler("a")))
 *   yield* TestWorkqueue.settle()
 *   return yield* rec.trace
 * })
 * // under TestClock (as in `it.effect`), so time reads 0
 * await Effect.runPromise(
 *   program.pipe(Effect.scoped, Effect.provide(TestWorkqueue.layer()), Effect.provide(TestClock.layer()))
 * )
 * // => ["start a@0/cpu1", "end a@0/cpu1"]
 * ```
 *
 * @since 0.1.0
 */
export * as WorkRecorder from "./WorkRecorder.ts"
