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
