/**
 * The workqueues the platform drains at shutdown, from the core's public `WorkqueueSystem.workqueues`.
 *
 * @internal
 */
import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"

/**
 * Every live workqueue of the system, user ones first (in allocation order), then the system ones.
 *
 * @internal
 */
export const liveWorkqueues = (
  handles: ReadonlyArray<Workqueue.Workqueue>
): ReadonlyArray<{ readonly wq: Workqueue.Workqueue; readonly freezable: boolean; readonly isSystem: boolean }> =>
  handles.map((wq) => ({
    wq,
    freezable: (Workqueue.flags(wq) & Workqueue.WQ_FREEZABLE) !== 0,
    isSystem: WorkqueueSystem.isSystemWorkqueue(wq)
  }))
