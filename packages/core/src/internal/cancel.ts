/**
 * Cancelling: `__cancel_work()`, `__cancel_work_sync()`, `disable_work()` and `enable_work()`, and why a queue
 * attempt on a disabled item is refused. Grabbing the pending instance itself is the core's (`grabPending`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as WorkqueueError from "./error.ts"
import { callerWorker, grabPending } from "./core.ts"
import { waitAllRunning } from "./flush.ts"
import { type System, workDisableCount, workExtra, type WorkState } from "./state.ts"
import { WORK_OFFQ_DISABLE_MAX } from "./workData.ts"

// ---------------------------------------------------------------------------
// cancel (try_to_grab_pending, __cancel_work, __cancel_work_sync, disable/enable)
// ---------------------------------------------------------------------------

/** The non-waiting half of `__cancel_work()`: grab, optionally disable. */
export const cancelWorkUnsafe = (sys: System, work: WorkState, disable: boolean): boolean => {
  // disabled before the grab: the grab hands on the slot it frees last, and that activation's tracepoint sink may
  // call back in; a queue attempt from there must already be refused (disable_work() has no window)
  if (disable) workDisableInc(sys, work)
  return grabPending(sys, work)
}

/**
 * `disable_work()`'s count: +1, refused at the cap with a WARN — through the system's logger, or for an item on no
 * system through `warnIdle` (the caller logs it with its own logger).
 */
export const workDisableInc = (
  sys: System | undefined,
  work: WorkState,
  warnIdle?: (message: string) => void
): boolean => {
  if (workDisableCount(work) >= WORK_OFFQ_DISABLE_MAX) {
    const message = `workqueue: work disable count overflowed ("${work.name}")`
    if (sys !== undefined) sys.warnOnce(`disable-overflow:${work.name}`, message)
    else warnIdle?.(message)
    return false
  }
  workExtra(work).disable++
  return true
}

/** `disable_work()` on an item that is nowhere: only the count moves; it was not pending. */
export const workDisableIdle = (work: WorkState, warn: (message: string) => void): boolean => {
  workDisableInc(undefined, work, warn)
  return false
}

/**
 * `enable_work()`: true iff the disable count is now 0.
 *
 * An enable that would take the count below what `cancelSync`/`disableSync` calls in progress hold is unbalanced
 * (no `disable` of the caller's matches it): it WARNs naming the item and its workqueue and is ignored, so the
 * cancel keeps refusing queueing until it returns. The kernel has the same underflow (`work_offqd_enable()`'s
 * WARN_ONCE, kernel/workqueue.c), but only notices it when `__cancel_work_sync()`'s own `enable_work()` finds the
 * count at 0, after the item was queueable in the middle of the cancel; here it is caught at the culprit.
 */
export const enableWorkUnsafe = (
  sys: System | undefined,
  work: WorkState,
  warnIdle: (message: string) => void
): boolean => {
  const extra = work.extra
  if (extra === undefined || extra.disable === 0) {
    const message = `workqueue: work disable count underflowed ("${work.name}")`
    if (sys !== undefined) sys.warnOnce(`disable-underflow:${work.name}`, message)
    else warnIdle(message)
    return true
  }
  const held = cancellingSyncs.get(work)
  if (held !== undefined && extra.disable <= held && sys !== undefined) {
    const wq = work.current?.currentPwq?.wq.name ?? work.pwq?.wq.name ?? "(none)"
    sys.warnOnce(
      `enable-during-cancel:${work.name}`,
      `workqueue: enable_work("${work.name}") on ${wq} while cancel_work_sync() holds its disable count: ` +
        `work disable count underflowed, ignored until the cancel returns`,
      { workqueue: wq, work: work.name }
    )
    return false
  }
  return --extra.disable === 0
}

/**
 * `__cancel_work_sync()`: disable (+1) so every queue attempt meanwhile returns false (the handler's
 * self-requeue included), grab the pending instance, wait for a running one, then give back the +1.
 * On return the item is neither pending nor running, unless someone queued it after.
 */
export const cancelWorkSync = (
  sys: System,
  work: WorkState,
  disable: boolean
): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Effect.suspend(() => {
    const self = callerWorker()
    if (self !== undefined && self.current === work) {
      return Effect.fail(
        WorkqueueError.make(
          "Deadlock",
          self.currentPwq!.wq.name,
          `work item "${work.name}" cannot cancel_work_sync() itself from its own handler (it would wait for itself)`
        )
      )
    }
    // the temporary +1 is given back only if it was taken (at the 65535 cap it is refused)
    const held = workDisableInc(sys, work)
    if (held) cancellingSyncs.set(work, (cancellingSyncs.get(work) ?? 0) + 1)
    if (disable) workDisableInc(sys, work)
    const pending = grabPending(sys, work)
    return Effect.ensuring(
      Effect.as(waitAllRunning(sys, work), pending),
      Effect.sync(() => {
        // enable_work(): an unbalanced enable meanwhile was refused (enableWorkUnsafe), so the count still holds
        // this +1; the guard only keeps it from going below zero
        if (held && workDisableCount(work) > 0) work.extra!.disable--
        if (held) {
          const n = cancellingSyncs.get(work)! - 1
          if (n === 0) cancellingSyncs.delete(work)
          else cancellingSyncs.set(work, n)
        }
      })
    )
  })

/**
 * Items inside a `cancelSync`/`disableSync` right now, with how many of their disable count those calls hold
 * (not on the hot path: one entry per waiting cancel, removed when it returns). L.
 */
const cancellingSyncs = new Map<WorkState, number>()

/**
 * Why a queue attempt on a disabled item is refused: `"Cancelling"` when every unit of its disable count is held
 * by a `cancelSync` in progress, else `"Disabled"`. @internal
 */
export const refusalReason = (work: WorkState): "Disabled" | "Cancelling" =>
  workDisableCount(work) > 0 && workDisableCount(work) === (cancellingSyncs.get(work) ?? 0) ? "Cancelling" : "Disabled"
