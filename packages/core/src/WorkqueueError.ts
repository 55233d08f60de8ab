/**
 * The one typed error of the workqueue API: which workqueue, which rule was broken, in the kernel's voice.
 *
 * Where the kernel WARNs and drops (queueing on a draining or destroyed workqueue), returns NULL
 * (`alloc_workqueue` with bad `WQ_BH` flags) or deadlocks (a handler flushing its own queue), we fail with a
 * `WorkqueueError` and change nothing: no accepted work item is ever silently lost.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * The rule that was broken.
 *
 * - `Destroyed`: queueing on a destroyed workqueue (kernel: use-after-free).
 * - `Draining`: queueing from outside on a draining or destroying workqueue (kernel: WARN "cannot queue", dropped).
 * - `InvalidFlags`: a `WQ_BH` workqueue with other flags or a non-zero `max_active` (kernel: `alloc_workqueue`
 *   returns NULL).
 * - `InvalidCpu`: a CPU outside `0 .. cpus-1`.
 * - `InvalidDelay`: a delay that is NaN or infinite.
 * - `Deadlock`: what lockdep would report: a handler flushing, draining or destroying its own workqueue, an item
 *   flushing or cancel-syncing itself, an ordered workqueue waiting on itself.
 *
 * @category errors
 * @since 0.1.0
 */
export type Reason = "Destroyed" | "Draining" | "InvalidFlags" | "InvalidCpu" | "InvalidDelay" | "Deadlock"

/**
 * A broken workqueue rule: `reason`, the `workqueue` name and a message that says which rule.
 *
 * **Kernel**: the WARN / NULL / lockdep report the kernel gives for the same mistake.
 *
 * **Example** (Queueing on a destroyed workqueue)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Effect.scoped(Workqueue.make("short-lived"))
 *   const work = yield* Work.make(() => Effect.void)
 *   return yield* Effect.flip(Workqueue.queue(wq, work))
 * })
 * const error = await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer())))
 * error.reason // => "Destroyed"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class WorkqueueError extends Schema.TaggedError<WorkqueueError>()("WorkqueueError", {
  reason: Schema.Literals(["Destroyed", "Draining", "InvalidFlags", "InvalidCpu", "InvalidDelay", "Deadlock"]),
  workqueue: Schema.String,
  message: Schema.String
}) {}

/**
 * @category guards
 * @since 0.1.0
 */
export const isWorkqueueError = (u: unknown): u is WorkqueueError => Predicate.isTagged(u, "WorkqueueError")

/** @internal */
export const make = (reason: Reason, workqueue: string, rule: string): WorkqueueError =>
  new WorkqueueError({ reason, workqueue, message: `workqueue "${workqueue}": ${rule}` })
