/**
 * The typed error of the durable workqueue: which workqueue, which rule was broken.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const reasons = [
  "InvalidName",
  "InvalidItem",
  "InvalidDelay",
  "InvalidOptions",
  "InvalidPayload",
  "Draining",
  "Destroyed",
  "Storage"
] as const

/**
 * The rule that was broken.
 *
 * - `InvalidName`: a workqueue name that is not a non-empty string of at most 100 characters (the store's
 *   `queue_name` column), or that is not well-formed Unicode or contains NUL (U+0000).
 * - `InvalidItem`: an item id that is not a non-empty string of at most 36 characters (the store's `id` column), or
 *   that is not well-formed Unicode (`String.prototype.isWellFormed`: no lone surrogate) or contains NUL (U+0000).
 *   PostgreSQL cannot store those as given (a lone surrogate becomes U+FFFD, merging distinct ids; a NUL is refused),
 *   so both storages refuse them up front.
 * - `InvalidDelay`: a delay that is not a non-negative duration of at most 36,500 days (100 years).
 * - `InvalidOptions`: `maxActive` or `maxAttempts` not in 1..2^31-1, `concurrency` not a positive integer, a
 *   `payload` that is not a `Schema`, a `retrySchedule` that is not a `Schedule`, a table name that is not a SQL
 *   identifier, `cleanup` neither `false` nor an object, a timing setting that is not a positive duration, or a
 *   `lockRefreshInterval` above half the `lockExpiration`.
 * - `InvalidPayload`: a payload that its `Schema` cannot encode to JSON.
 * - `Draining`: `queue` while a drain of the workqueue runs (in any process), from outside the workqueue's own
 *   runs. The kernel refuses it too (`__queue_work()` warns and drops it); here the call fails and nothing is stored.
 * - `Destroyed`: `queue` or `run` on a workqueue that `destroy` marked destroyed (in any process).
 * - `Storage`: the storage (PostgreSQL) failed; nothing is known to have changed.
 *
 * @category errors
 * @since 0.1.0
 */
export type Reason = (typeof reasons)[number]

/**
 * The one typed error of `DurableWorkqueue`.
 *
 * **Example** (Reading the reason)
 *
 * ```ts
 * import { DurableWorkqueueError } from "@effect-workqueue/cluster"
 * const error = new DurableWorkqueueError.DurableWorkqueueError({
 *   workqueue: "emails", reason: "InvalidItem", message: "item id must be 1..36 characters"
 * })
 * error.reason // => "InvalidItem"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class DurableWorkqueueError extends Schema.TaggedError<DurableWorkqueueError>()("DurableWorkqueueError", {
  workqueue: Schema.String,
  reason: Schema.Literals(reasons),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}
