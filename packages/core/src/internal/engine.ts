/**
 * The engine's front door: the public modules (`Workqueue.ts`, `Work.ts`, ...) import the engine as one namespace
 * (`Engine.queueWorkOn`), and this module re-exports its rooms, nothing else. No room imports this module.
 * The rooms, from the bottom (each imports only rooms above it in this list):
 *
 * - `flags.ts`: the `WQ_*` flags and limits (one table).
 * - `list.ts`, `scheduler.ts`, `timer.ts`: the intrusive list, the run queue, the timer structure and its fiber.
 * - `error.ts`: building a `WorkqueueError`.
 * - `state.ts`: the structures (work item, pwq, pool, worker, workqueue) and the `System` that owns them.
 * - `workData.ts`: the bits of `work->data`.
 * - `diagnostics.ts`: hog reports, the lockup watchdog, `show_workqueue_state`.
 * - `core.ts`: policy, activation, flush colours, kicking pools and concurrency management, room for pending items,
 *   grabbing a pending item, freezer accounting.
 * - `worker.ts`: the workers: creation, parking and culling, maydays, CPU hogs, the worker loop, the rescuer.
 * - `validate.ts`: the rules a caller's input must meet, each broken one a typed `WorkqueueError`.
 * - `queue.ts`: queueing, now or after a delay.
 * - `flush.ts`: waiting: flush_work, flush_workqueue, drain.
 * - `cancel.ts`: cancel, disable and enable.
 * - `lifecycle.ts`: alloc, destroy, max_active, freeze and thaw, closing the system.
 *
 * @internal
 */
export * from "./cancel.ts"
export * from "./core.ts"
export * from "./diagnostics.ts"
export * from "./flags.ts"
export * from "./flush.ts"
export * from "./lifecycle.ts"
export * from "./queue.ts"
export * from "./state.ts"
export * from "./validate.ts"
export * from "./workData.ts"
export * from "./worker.ts"
