/**
 * Queueing: `queue_work_on()` and `__queue_work()` (pick the pwq, colour the item, activate it or hold it back),
 * then delayed work: arming, the timer's expiry, `mod_delayed_work_on()`, firing a destroyed queue's timers.
 * Every call validates first (`validate.ts`), then changes state in one synchronous step.
 *
 * @internal
 */
import type * as WorkqueueError from "./error.ts"
import {
  currentCpuUnsafe,
  grabPendingHoldSlot,
  poolInsertWork,
  pwqActivateFirstInactive,
  pwqActivateFreed,
  pwqTryIncNrActive,
  queueFull,
  workIsPending,
  wqPendingFull,
  wqTimerLink,
  wqTimerUnlink
} from "./core.ts"
import { type DelayedWorkState, type System, workDisableCount, type WorkqueueState, type WorkState } from "./state.ts"
import {
  armRefusal,
  callerCpuRejection,
  checkArmCaller,
  checkCaller,
  foreignSystem,
  queueRejection
} from "./validate.ts"
import { WORK_COLOR_SHIFT, WORK_INACTIVE, WORK_PENDING, workCpu, workLastRunning, workSetCpu } from "./workData.ts"

// ---------------------------------------------------------------------------
// queueing (queue_work_on, __queue_work)
// ---------------------------------------------------------------------------

/** Outcome of a queueing step: the kernel's boolean, or the rule it broke. @internal */
export type QueueResult = boolean | WorkqueueError.WorkqueueError
/**
 * `queue_work_on()`: test-and-set PENDING, the disabled check, then `__queue_work()`. `bounded` false skips the
 * `maxPending` check (a job's retry: it was admitted once, refusing it would lose it).
 */
export const queueWorkOn = (
  sys: System,
  cpu: number | undefined,
  wq: WorkqueueState,
  work: WorkState,
  bounded = true
): QueueResult => {
  // the caller's CPU is read once, here: checked, then handed to `__queue_work()` (the same synchronous step)
  let caller = cpu
  let bad: WorkqueueError.WorkqueueError | undefined
  if (cpu === undefined) {
    caller = currentCpuUnsafe(sys)
    bad = callerCpuRejection(sys, wq, caller) ?? foreignSystem(sys, wq, work)
  } else {
    bad = checkCaller(sys, wq, cpu, work)
  }
  if (bad !== undefined) return bad
  if (workIsPending(work) || workDisableCount(work) > 0) return false
  const rejected = queueRejection(wq)
  if (rejected !== undefined) return rejected
  if (bounded && wqPendingFull(wq)) return queueFull(wq)
  work.system = sys
  work.data |= WORK_PENDING
  insertQueued(sys, cpu, wq, work, caller)
  return true
}

/**
 * `__queue_work()` with PENDING already owned: pick the pwq (non-reentrance redirect), colour the item, and put
 * it on the worklist if a slot is free and nothing waits before it, else at the tail of the inactive list.
 */
export const insertQueued = (
  sys: System,
  reqCpu: number | undefined,
  wq: WorkqueueState,
  work: WorkState,
  callerCpu: number | undefined = undefined
): void => {
  // `callerCpu`: the CPU `queueWorkOn` already read for the caller (`reqCpu` if given), so it is not read twice
  let cpu = callerCpu ?? reqCpu ?? currentCpuUnsafe(sys)
  let pwq = wq.unbound ? wq.pwqs[0]! : wq.pwqs[cpu]!
  const running = workLastRunning(work)
  if (!wq.ordered && running !== undefined && running.currentPwq?.wq === wq && running.currentPwq !== pwq) {
    // non-reentrance: the new instance goes where the running one is, whatever CPU was asked (__queue_work(),
    // find_worker_executing_work())
    pwq = running.currentPwq
    if (pwq.cpu >= 0) cpu = pwq.cpu
  }
  workSetCpu(work, cpu)
  work.pwq = pwq
  wq.nrQueued++
  const color = wq.workColor
  work.data = (work.data & ~(15 << WORK_COLOR_SHIFT)) | (color << WORK_COLOR_SHIFT)
  wq.nrInFlight[color]!++
  const trace = sys.options.tracepoint
  if (trace === undefined) {
    if (pwq.inactive.length === 0 && pwqTryIncNrActive(pwq)) {
      work.data &= ~WORK_INACTIVE
      poolInsertWork(sys, pwq.pool, work)
    } else {
      work.data |= WORK_INACTIVE
      pwq.inactive.push(work)
    }
    return
  }
  // traced: the sink sees the item queued, on its pwq's inactive list (the kernel emits this under pool->lock, a
  // state no caller can see; here the sink may call back in, so it sees a consistent one), then the activation
  // the untraced path makes directly: first in line with a slot free (`workqueue_activate_work` follows). The sink
  // may have cancelled, re-queued or moved the item meanwhile, and queued others: whatever is first in line takes
  // each free slot, in order, until none is free or nothing waits (`__queue_work()` activates whenever a slot is
  // free and nothing waits before; activating only this item, only if first, left others waiting with slots free).
  work.data |= WORK_INACTIVE
  pwq.inactive.push(work)
  trace({
    _tag: "workqueue_queue_work",
    time: sys.stampNow(),
    work,
    workqueue: wq.name,
    reqCpu: reqCpu ?? -1,
    cpu: pwq.pool.cpu,
    pool: pwq.pool.id
  })
  while (pwqActivateFirstInactive(sys, pwq)) {
    /* the next in line takes the next free slot */
  }
}

// ---------------------------------------------------------------------------
// delayed work (queue_delayed_work_on, mod_delayed_work_on, flush_delayed_work)
// ---------------------------------------------------------------------------

/**
 * `__queue_delayed_work()` with PENDING owned: delay 0 queues now, else arm the timer at `at` — the fine arming
 * time plus the delay, read by the caller before it took any state (a Clock that throws leaves the item as it was,
 * not PENDING with no timer).
 */
const armDelayed = (
  sys: System,
  cpu: number | undefined,
  wq: WorkqueueState,
  dwork: DelayedWorkState,
  ms: number,
  at: number
) => {
  if (ms === 0) {
    insertQueued(sys, cpu, wq, dwork)
    return
  }
  workSetCpu(dwork, cpu ?? (wq.unbound ? -1 : currentCpuUnsafe()))
  wqTimerLink(wq, dwork)
  // from the Clock below the millisecond: the expiry rounds up from the real arming time, so never early
  sys.timerFiber.arm(dwork, at)
}

/** When an item armed now for `ms` is due (fine Clock), or 0 for a delay of 0 (queued now, no Clock read). */
const armingAt = (sys: System, ms: number): number => (ms === 0 ? 0 : sys.fineNow() + ms)

/** `delayed_work_timer_fn()`: expiry re-enters the ordinary queueing path (drain/destroy: accepted,
 * docs/KERNEL-MAPPING.md). */
export const delayedWorkTimerFn = (sys: System, dwork: DelayedWorkState): void => {
  const wq = dwork.timerWq!
  wqTimerUnlink(dwork)
  const cpu = workCpu(dwork)
  insertQueued(sys, cpu < 0 ? undefined : cpu, wq, dwork)
}

/** `queue_delayed_work_on()` */
export const queueDelayedWorkOn = (
  sys: System,
  cpu: number | undefined,
  wq: WorkqueueState,
  dwork: DelayedWorkState,
  millis: number,
  bounded = true
): QueueResult => {
  const ms = checkArmCaller(sys, wq, cpu, dwork, millis)
  if (typeof ms !== "number") return ms
  if (workIsPending(dwork) || workDisableCount(dwork) > 0) return false
  const refused = armRefusal(wq, ms)
  if (refused !== undefined) return refused
  if (bounded && wqPendingFull(wq)) return queueFull(wq)
  const at = armingAt(sys, ms)
  dwork.system = sys
  dwork.data |= WORK_PENDING
  armDelayed(sys, cpu, wq, dwork, ms, at)
  return true
}

/** Whether `dwork` is pending on `wq` itself: queued on one of its pwqs, or armed on its timer list. */
const pendingOn = (sys: System, wq: WorkqueueState, dwork: DelayedWorkState): boolean =>
  workIsPending(dwork) && (dwork.pwq?.wq === wq || (dwork.timerWq === wq && sys.timers.isArmed(dwork)))

/** `mod_delayed_work_on()`: grab whatever state it is in, re-arm at now + delay; true iff it was pending. */
export const modDelayedWorkOn = (
  sys: System,
  cpu: number | undefined,
  wq: WorkqueueState,
  dwork: DelayedWorkState,
  millis: number
): QueueResult => {
  const ms = checkArmCaller(sys, wq, cpu, dwork, millis)
  if (typeof ms !== "number") return ms
  if (workDisableCount(dwork) > 0) return false
  const refused = armRefusal(wq, ms)
  if (refused !== undefined) return refused
  // re-arming an item already pending on this same workqueue adds nothing; an item new here (idle, or pending on
  // another workqueue and moved) meets this workqueue's bound
  if (!pendingOn(sys, wq, dwork) && wqPendingFull(wq)) return queueFull(wq)
  const at = armingAt(sys, ms)
  dwork.system = sys
  // the slot a grabbed active instance frees is handed on last, once the item is armed again: that activation
  // emits `workqueue_activate_work`, and a sink calling back in must find this item in a consistent state
  const grabbed = grabPendingHoldSlot(sys, dwork)
  dwork.data |= WORK_PENDING
  armDelayed(sys, cpu, wq, dwork, ms, at)
  if (typeof grabbed === "object") pwqActivateFreed(sys, grabbed)
  return grabbed !== false
}

/**
 * Fire every armed timer of `wq` now, earliest expiry first, arming order within one expiry (destroy: docs/KERNEL-MAPPING.md,
 * nothing accepted is dropped). Visits only `wq`'s own armed list: O(its timers), whatever else is armed.
 */
export const fireArmedTimers = (sys: System, wq: WorkqueueState): void => {
  if (wq.timerCount.armed === 0) return
  const due: Array<DelayedWorkState> = []
  for (let dwork = wq.timerCount.head; dwork !== undefined; dwork = dwork.armedNext) due.push(dwork)
  due.reverse() // the list is newest first; a stable sort then keeps arming order within one expiry
  due.sort((a, b) => a.expires - b.expires)
  for (const dwork of due) {
    // a tracepoint sink called back in while an earlier one fired may have cancelled or moved this one
    if (dwork.timerWq !== wq || !sys.timers.isArmed(dwork)) continue
    sys.timers.cancel(dwork)
    delayedWorkTimerFn(sys, dwork)
  }
}
