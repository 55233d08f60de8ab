/**
 * What the platform needs from the engine that the core's public API does not give yet.
 *
 * @internal
 */
import type { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"

/**
 * Every live workqueue of the system, user ones first (in allocation order), then the system ones.
 *
 * MISSING API: the core has no public way to enumerate workqueue handles (`WorkqueueSystem.snapshot` gives names,
 * not handles). The engine's `system.workqueues` set holds the handles themselves (`Workqueue.makeHandle` returns
 * the state object), so we read it here, in one place, until the core exports something like
 * `WorkqueueSystem.workqueues: Effect<ReadonlyArray<Workqueue>, never, WorkqueueSystem>`.
 *
 * @internal
 */
export const liveWorkqueues = (
  service: WorkqueueSystem.WorkqueueSystem["Service"]
): ReadonlyArray<{ readonly wq: Workqueue.Workqueue; readonly freezable: boolean; readonly isSystem: boolean }> => {
  const all = [...(service.system.workqueues as ReadonlySet<unknown>)] as ReadonlyArray<
    Workqueue.Workqueue & { readonly flags: number; readonly isSystem: boolean }
  >
  const entries = all.map((wq) => ({
    wq: wq as Workqueue.Workqueue,
    freezable: (wq.flags & WQ_FREEZABLE) !== 0,
    isSystem: wq.isSystem
  }))
  return [...entries.filter((e) => !e.isSystem), ...entries.filter((e) => e.isSystem)]
}

const WQ_FREEZABLE = 1 << 2
