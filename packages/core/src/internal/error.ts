/**
 * Building a `WorkqueueError`: the message names the workqueue, then the rule broken. The engine's modules import
 * this module as their `WorkqueueError` namespace (the public error type, plus `make`).
 *
 * @internal
 */
import { type Reason, WorkqueueError } from "../WorkqueueError.ts"

export { isWorkqueueError, type Reason, WorkqueueError } from "../WorkqueueError.ts"

/** A `WorkqueueError` for `reason` on `workqueue`, its message `workqueue "<name>": <rule>`. */
export const make = (reason: Reason, workqueue: string, rule: string): WorkqueueError =>
  new WorkqueueError({ reason, workqueue, message: `workqueue "${workqueue}": ${rule}` })

/**
 * A `WorkqueueError` for input that names no workqueue (a value that is not a workqueue, an item or a job where one
 * is required): `workqueue` is `""` and the message is the rule alone, so the bad value is never shown as a name.
 */
export const makeUnowned = (reason: Reason, rule: string): WorkqueueError =>
  new WorkqueueError({ reason, workqueue: "", message: rule })
