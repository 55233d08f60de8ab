/**
 * @since 0.1.0
 */

/**
 * A pure, executable reference model of the workqueue contracts: `initial`, `apply`, `allowedEvents`, `observe`.
 *
 * **Kernel**: the contracts of kernel/workqueue.c as written down in `linux-workqueue.md` §2–§13.
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
