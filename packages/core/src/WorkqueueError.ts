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

const reasons = [
  "Destroyed",
  "Draining",
  "InvalidFlags",
  "InvalidMaxActive",
  "InvalidName",
  "InvalidCpu",
  "InvalidDelay",
  "Deadlock",
  "SystemClosed",
  "ForeignSystem",
  "InvalidArgument",
  "QueueFull",
  "InvalidOptions"
] as const

/**
 * The rule that was broken.
 *
 * - `Destroyed`: queueing on a destroyed workqueue (kernel: use-after-free).
 * - `Draining`: queueing from outside on a draining or destroying workqueue (kernel: WARN "cannot queue", dropped).
 * - `InvalidFlags`: flags that are not a non-negative integer made of the public `WQ_*` bits, or a `WQ_BH`
 *   workqueue with other flags or a non-zero `max_active` (kernel: `alloc_workqueue` returns NULL).
 * - `InvalidMaxActive`: a `max_active` that is not an integer (an integer out of range is clamped with a warning,
 *   as `wq_clamp_max_active()` does).
 * - `InvalidName`: a workqueue name that is not a non-empty string.
 * - `InvalidCpu`: a CPU outside `0 .. cpus-1`, explicit or set by `WorkqueueSystem.onCpu`.
 * - `InvalidDelay`: a delay that is NaN or infinite, or not a duration at all (`"soon"`, an object without any
 *   `Duration` field).
 * - `Deadlock`: what lockdep would report: a handler flushing, draining or destroying its own workqueue, an item
 *   flushing or cancel-syncing itself, an ordered workqueue waiting on itself.
 * - `SystemClosed`: a workqueue made, or queued on, after its `WorkqueueSystem` layer has begun to close.
 * - `ForeignSystem`: a work item queued on a workqueue of another `WorkqueueSystem` than the one it belongs to
 *   (a work item belongs to the first system it is queued on, until that system closes; see docs/DESIGN.md).
 * - `InvalidArgument`: a value that is not a `Workqueue`, `Work`, `DelayedWork` or `Job` where one is required
 *   (`queueDelayed` needs a `DelayedWork`), a job effect that is neither an Effect nor a function, or a missing
 *   CPU for a `*On` call (a `*On` call missing its CPU, `queueOn(wq, work)`, fails here: it is never curried). With
 *   no workqueue to name (the bad value is where the workqueue, item or job should be), `workqueue` is `""` and the
 *   message is the rule alone, the value shown by kind (`Workqueue("events")`, `Job("a-1")`, `42`).
 * - `QueueFull`: the workqueue's `maxPending` items are pending (armed or queued, not started); ours, the
 *   kernel has no bound. `Workqueue.queueWait` waits for room instead.
 * - `InvalidOptions`: options that are not a plain object (`null`, an array, a `Map`, a workqueue, an object with
 *   another prototype), an unknown key (a typo such as `maxActvie` is refused, never ignored), an option whose
 *   getter throws; named options of `Workqueue.make` that contradict each other or the `flags` bitmask, or a
 *   `maxPending` that is not a positive integer (or `Infinity`); a `Job.submit` option of the wrong type or value
 *   (`whenFull: "block"`, `retrySchedule: {}`, `maxAttempts: null`, ...). Options are read once, own keys only:
 *   `undefined` is an option left out, `null` is a value and must meet the option's rule.
 *
 * A `WQ_BH` handler that suspends is not an error: it is warned once (BH work must not sleep) and completes.
 *
 * @category errors
 * @since 0.1.0
 */
export type Reason = (typeof reasons)[number]

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
  reason: Schema.Literals(reasons),
  workqueue: Schema.String,
  message: Schema.String
}) {}

/**
 * Whether `u` is a `WorkqueueError` (by its tag).
 *
 * **Example**
 *
 * ```ts
 * import { WorkqueueError } from "@effect-workqueue/core"
 *
 * WorkqueueError.isWorkqueueError(new Error("no")) // => false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isWorkqueueError = (u: unknown): u is WorkqueueError => Predicate.isTagged(u, "WorkqueueError")
