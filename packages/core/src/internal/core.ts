/**
 * The kernel core's policy and accounting, arranged like kernel/workqueue.c: policy predicates → which workers run
 * an item and who is calling → activation → flush colours → kicking a pool and concurrency management → room for
 * pending items → grabbing a pending item and the armed lists → freezer accounting → helpers. The workers
 * themselves (creation, the worker loop, the rescuer) are in `worker.ts`, above this module: a pool that needs a
 * new worker asks for one through `System.createWorker`. The callers above (`worker.ts`, `queue.ts`, `flush.ts`,
 * `cancel.ts`, `lifecycle.ts`) move items through these functions; field rules: see the legend in `state.ts`.
 *
 * Every state change is one synchronous step (rule L). Effects appear only where a fiber must wait (a flusher,
 * a drainer, `cancelSync`) or run (a worker running a handler); waiters are plain callbacks resumed by workers,
 * never a Semaphore or Deferred per pending item.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as WorkqueueError from "./error.ts"
import { WQ_FREEZABLE } from "./flags.ts"
import type { WorkList } from "./list.ts"
import { entityOf } from "./scheduler.ts"
import {
  CurrentCpu,
  type DelayedWorkState,
  type Flusher,
  type Pool,
  type Pwq,
  RunToken,
  type System,
  uniquePwqs,
  type Waiter,
  type Worker,
  type WorkqueueState,
  type WorkState
} from "./state.ts"
import { WORK_FLUSHERS, WORK_INACTIVE, WORK_NR_COLORS, WORK_PENDING, workColor, workNrExec } from "./workData.ts"

/** `MAYDAY_INITIAL_TIMEOUT` */
export const MAYDAY_INITIAL_TIMEOUT = 10
/** `MAX_IDLE_WORKERS_RATIO` */
const MAX_IDLE_WORKERS_RATIO = 4
// ---------------------------------------------------------------------------
// policy predicates (wq.c: need_more_worker, may_start_working, keep_working, too_many_workers)
// ---------------------------------------------------------------------------

/** Pools whose running workers are counted (bound, non-BH): concurrency managed. */
export const poolIsManaged = (pool: Pool): boolean => pool.kind === "bound"

/** `need_more_worker()`: called by `kickPool`. Unbound and BH pools start every active item at once. */
export const needMoreWorker = (pool: Pool): boolean =>
  poolIsManaged(pool)
    ? pool.worklist.length > 0 && pool.nrRunning === 0 && pool.nrWaking === 0
    : pool.worklist.length > pool.nrWaking

/** `keep_working()`: called by a worker after an item; it is itself counted in nrRunning. */
export const keepWorking = (pool: Pool): boolean =>
  pool.worklist.length > 0 && (!poolIsManaged(pool) || pool.nrRunning <= 1)

/** `too_many_workers()`: called when a worker goes idle and by the cull timer. */
export const tooManyWorkers = (pool: Pool): boolean => {
  const nrIdle = pool.idle.length
  const nrBusy = pool.workers.size - nrIdle
  return nrIdle > 2 && (nrIdle - 2) * MAX_IDLE_WORKERS_RATIO >= nrBusy
}

// ---------------------------------------------------------------------------
// which workers run an item; who is calling (find_worker_executing_work, current_work)
// ---------------------------------------------------------------------------

/** `find_worker_executing_work()`: the busy worker of `pool` running `work`, if any. */
export const findWorkerExecuting = (pool: Pool, work: WorkState): Worker | undefined => {
  const n = workNrExec(work)
  if (n === 0) return undefined
  const last = work.current
  if (last !== undefined && last.pool === pool && last.state === "Busy") return last
  if (n === 1 && last !== undefined) return undefined // the only instance runs elsewhere
  for (const worker of pool.workers) if (worker.current === work && worker.state === "Busy") return worker
  return undefined
}

/** Every worker running `work` now (for cancel_sync, which must not return while any instance runs). */
export const workersExecuting = (sys: System, work: WorkState): Array<Worker> => {
  const n = workNrExec(work)
  if (n === 0) return []
  const last = work.current
  if (n === 1 && last !== undefined) return [last]
  return [...sys.allWorkers].filter((worker) => worker.current === work)
}

/** The system an item is queued, armed or running on (undefined when idle: nothing to cancel or wait for). */
export const workSystem = (work: WorkState): System | undefined =>
  work.pwq?.wq.system ?? (work as DelayedWorkState).timerWq?.system ?? work.current?.system
export const workIsPending = (work: WorkState): boolean => (work.data & WORK_PENDING) !== 0

// a one-entry cache of `callerWorkerOf`, module-wide (one JS thread): written only there, inside its synchronous
// lookup; a stale entry costs one lookup, never a wrong answer (the token is checked against its worker after)
let tokenRefContext: Context.Context<never> | undefined = undefined // the last context asked for a run token
let tokenRefValue: RunToken | undefined = undefined // its token

/** The worker `fiber` is, or whose running item forked it (while that run lasts). */
const callerWorkerOf = (fiber: Fiber.Fiber<unknown, unknown>): Worker | undefined => {
  const entity = entityOf(fiber)
  if (entity !== undefined && (entity as Worker).pool !== undefined) return entity as Worker
  const context = fiber.context
  if (context !== tokenRefContext) {
    tokenRefContext = context
    const metrics = fiber.getRef(Metric.FiberRuntimeMetrics)
    tokenRefValue = metrics instanceof RunToken ? metrics : undefined
  }
  const token = tokenRefValue
  if (token === undefined) return undefined
  const worker = token.worker
  return worker !== undefined && worker.token === token && worker.current !== undefined ? worker : undefined
}

/** The worker whose item the calling fiber runs, forked fibers of the run included (`current_wq_worker()`). */
export const callerWorker = (): Worker | undefined => {
  const fiber = Fiber.getCurrent()
  return fiber === undefined ? undefined : callerWorkerOf(fiber)
}

export const isChainedWork = (wq: WorkqueueState): boolean => callerWorker()?.currentPwq?.wq === wq

/**
 * Charge CPU time spent for the calling worker's current item outside the event loop (a worker thread) to the
 * item's pwq (`PWQ_STAT_CPU_TIME`). Not counted toward CPU-hog detection: it did not hold the event loop.
 * Returns false when the caller is not running a work item.
 */
export const chargeCpuTimeUnsafe = (ms: number): boolean => {
  const pwq = callerWorker()?.currentPwq
  if (pwq === undefined || !(ms > 0) || !Number.isFinite(ms)) return false
  pwq.stats.cpuTime += ms
  return true
}

// a one-entry cache of `currentCpuUnsafe`, module-wide: written only there, inside its synchronous lookup (a
// context's references never change, so an entry stays true for as long as its context is asked)
let cpuRefContext: Context.Context<never> | undefined = undefined // the last context asked for CurrentCpu
let cpuRefValue: unknown = undefined // its CurrentCpu

/**
 * `raw_smp_processor_id()`: onCpu if set, else the calling worker's CPU, else 0. With `sys`, a worker of another
 * system does not count (its CPU numbers mean nothing here): the caller is then on CPU 0 unless onCpu says.
 */
export const currentCpuUnsafe = (sys?: System): number => {
  const fiber = Fiber.getCurrent()
  if (fiber === undefined) return 0
  // the onCpu reference, looked up once per context (queueing loops ask for it per item)
  const context = fiber.context
  if (context !== cpuRefContext) {
    cpuRefContext = context
    cpuRefValue = fiber.getRef(CurrentCpu)
  }
  const set = cpuRefValue
  if (set !== undefined) return set as number // as set by onCpu, even if invalid: queueing then fails with InvalidCpu
  const worker = callerWorkerOf(fiber)
  if (worker === undefined || (sys !== undefined && worker.system !== sys)) return 0
  if (worker.current !== undefined && worker.currentCpu >= 0) return worker.currentCpu
  if (worker.pool.cpu >= 0) return worker.pool.cpu
  return 0
}

// ---------------------------------------------------------------------------
// activation (pwq_tryinc_nr_active, pwq_activate_first_inactive, pwq_dec_nr_active)
// ---------------------------------------------------------------------------

export const pwqTryIncNrActive = (pwq: Pwq): boolean => {
  if (pwq.nrActive < pwq.wq.maxActive) {
    pwq.nrActive++
    return true
  }
  return false
}

/**
 * Put an active item on its pool's worklist (`__pwq_activate_work` / insert_work), then kick the pool, unless
 * `kick` is false: a finishing worker activating the next item takes it itself (see `pwqDecNrActive`). The
 * `workqueue_activate_work` tracepoint comes once the item is on the worklist, before the kick: a sink calling back
 * in (cancelling it, say) finds a consistent state, and the kick then finds whatever the sink left.
 */
export const poolInsertWork = (sys: System, pool: Pool, work: WorkState, kick = true): void => {
  if (pool.worklist.length === 0) pool.progress++
  pool.worklist.push(work)
  const trace = sys.options.tracepoint
  if (trace !== undefined) {
    trace({
      _tag: "workqueue_activate_work",
      time: sys.stampNow(),
      work,
      workqueue: work.pwq!.wq.name,
      pool: pool.id
    })
  }
  if (kick) kickPool(sys, pool)
}

/** `pwq_activate_first_inactive()`: FIFO within a pwq. */
export const pwqActivateFirstInactive = (sys: System, pwq: Pwq, kick = true): boolean => {
  const work = pwq.inactive.head
  if (work === undefined || !pwqTryIncNrActive(pwq)) return false
  pwq.inactive.remove(work)
  work.data &= ~WORK_INACTIVE
  poolInsertWork(sys, pwq.pool, work, kick)
  return true
}

/**
 * `pwq_dec_nr_active()`: give back a slot; the first inactive item of the same pwq takes it. `kick` false: the
 * caller is a worker of `pwq`'s pool that finished an item and picks its next one from the worklist right after
 * this step (`keep_working()` holds for it), so the activated item goes to it — the kernel's
 * `pwq_activate_first_inactive()` does not wake the pool either — instead of waking an idle worker that would find
 * the worklist empty again. True if an item was activated.
 */
export const pwqDecNrActive = (sys: System, pwq: Pwq, kick = true): boolean => {
  pwq.nrActive--
  return pwqActivateFreed(sys, pwq, kick)
}

/**
 * The second half of `pwqDecNrActive`, for a caller that gave back the slot (`nrActive--`) earlier in its step
 * and hands it on last (`grabPending`, `mod_delayed_work_on()`): the activation emits a tracepoint, whose sink may
 * call back in, so it comes once the caller's own item is consistent.
 */
export const pwqActivateFreed = (sys: System, pwq: Pwq, kick = true): boolean => {
  // a loop, not one activation: each activation emits `workqueue_activate_work`, and a sink calling back in may
  // free a further slot (cancelling what was just activated); the step ends with no free slot and an inactive
  // item both present, the state the untraced path keeps. Untraced, the second try fails at once (slot full).
  const activated = pwqActivateFirstInactive(sys, pwq, kick)
  if (activated)
    while (pwqActivateFirstInactive(sys, pwq)) {
      /* the next in line takes the next free slot */
    }
  if (sys.freezing && pwq.nrActive === 0 && (pwq.wq.flags & WQ_FREEZABLE) !== 0) freezeCheck(sys)
  return activated
}

/** `wq_adjust_max_active()`: activate round-robin across pwqs, FIFO within each, while room remains. */
export const wqAdjustMaxActive = (sys: System, wq: WorkqueueState): void => {
  wq.maxActive = sys.freezing && (wq.flags & WQ_FREEZABLE) !== 0 ? 0 : wq.savedMaxActive
  const pwqs = uniquePwqs(wq)
  let activated = true
  while (activated) {
    activated = false
    for (const pwq of pwqs) if (pwqActivateFirstInactive(sys, pwq)) activated = true
  }
}

// ---------------------------------------------------------------------------
// flush colours (pwq_dec_nr_in_flight, flush_workqueue_prep_pwqs)
// ---------------------------------------------------------------------------

/** An item left flight (finished or cancelled): count down its colour, maybe complete flushers. */
export const wqDecNrInFlight = (wq: WorkqueueState, color: number): void => {
  wq.nrInFlight[color]!--
  if (color === wq.flushColor && wq.nrInFlight[color] === 0) flushAdvance(wq)
  if (wq.drainWaiters.length > 0 && wqIsEmpty(wq)) wakeAll(wq.drainWaiters, true)
}

/**
 * Complete every flusher whose colour has no item left in flight, oldest colour first (the kernel's flusher
 * cascade), then give the overflow flushers the next free colour.
 */
const flushAdvance = (wq: WorkqueueState): void => {
  while (wq.flushColor !== wq.workColor && wq.nrInFlight[wq.flushColor] === 0) {
    const done = wq.flushColor
    while (wq.flushers.length > 0 && wq.flushers[0]!.color === done) {
      const f = wq.flushers.shift()!
      const resume = f.resume
      f.resume = undefined
      resume?.(true)
    }
    wq.flushColor = (done + 1) % WORK_NR_COLORS
    if (wq.overflow.length > 0) {
      const next = (wq.workColor + 1) % WORK_NR_COLORS
      if (next !== wq.flushColor) {
        // every overflowed flusher adopts the then-current work colour (`flush_workqueue_prep_pwqs()`,
        // `__flush_workqueue()`)
        const color = wq.workColor
        wq.workColor = next
        for (const f of wq.overflow.splice(0, wq.overflow.length)) {
          f.color = color
          wq.flushers.push(f)
        }
      }
    }
  }
}

/** `__flush_workqueue()` start: returns a flusher to wait on, or undefined when nothing is in flight. */
export const flushStart = (wq: WorkqueueState): Flusher | undefined => {
  let inFlight = false
  for (let c = 0; c < WORK_NR_COLORS; c++) {
    if (wq.nrInFlight[c]! > 0) {
      inFlight = true
      break
    }
  }
  if (!inFlight) return undefined
  const flusher: Flusher = { color: -1, resume: undefined }
  const next = (wq.workColor + 1) % WORK_NR_COLORS
  if (next === wq.flushColor) {
    wq.overflow.push(flusher)
    return flusher
  }
  flusher.color = wq.workColor
  wq.workColor = next
  wq.flushers.push(flusher)
  flushAdvance(wq)
  return flusher
}

export const flusherWait = (wq: WorkqueueState, flusher: Flusher): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (!wq.flushers.includes(flusher) && !wq.overflow.includes(flusher)) return resume(Effect.void)
    // resumed through the run queue, never inline: the flusher must not run inside the step that completed it
    flusher.resume = () => wq.system.scheduler.scheduleTask(() => resume(Effect.void), 0)
    return Effect.sync(() => {
      // interrupted: leave the colour accounting alone, just forget the waiter (structured: nothing corrupts)
      flusher.resume = undefined
      removeFrom(wq.flushers, flusher)
      removeFrom(wq.overflow, flusher)
    })
  })

/** @internal */
export const wqIsEmpty = (wq: WorkqueueState): boolean => {
  for (const pwq of uniquePwqs(wq)) if (pwq.nrActive > 0 || pwq.inactive.length > 0) return false
  return true
}

// ---------------------------------------------------------------------------
// kicking a pool (kick_pool) and concurrency management: noticing that a worker sleeps
// (wq_worker_sleeping / wq_worker_running)
// ---------------------------------------------------------------------------

/** `kick_pool()`: wake (or create) a worker if the pool needs one; otherwise make sure sleeping is noticed. */
export const kickPool = (sys: System, pool: Pool): void => {
  if (needMoreWorker(pool)) {
    const worker = pool.idle.pop()
    if (worker !== undefined) {
      worker.state = "Busy" // worker_leave_idle()
      pool.nrWaking++
      worker.waking = true
      worker.wake!()
    } else if (!sys.createWorker(pool)) {
      poolArmMayday(sys, pool)
    }
    return
  }
  if (poolIsManaged(pool) && pool.worklist.length > 0 && pool.nrRunning > 0) poolRequestProbe(sys, pool)
}

/** The pool needs a worker and cannot create one: in MAYDAY_INITIAL_TIMEOUT, call the rescuers. */
const poolArmMayday = (sys: System, pool: Pool): void => {
  if (!sys.timers.isArmed(pool.maydayTimer)) sys.timerFiber.arm(pool.maydayTimer, sys.now() + MAYDAY_INITIAL_TIMEOUT)
}

/**
 * Effect 4 has no Supervisor, so "the running worker blocked" is detected by a probe: a task on the parent
 * scheduler that runs after the current batch. By then a worker that is still runnable has a task in our run
 * queue (`nrQueuedTasks > 0`); a busy worker with none, and not on the JS stack, is suspended on something
 * (a timer, a Deferred, I/O): it leaves nr_running, and if that was the last one with work pending, another
 * worker is woken (CM_WAKEUP). A sleeping worker is counted again when it schedules a task or finishes.
 */
export const poolRequestProbe = (sys: System, pool: Pool): void => {
  if (pool.probeRequested) return
  pool.probeRequested = true
  sys.scheduler.requestProbe(() => poolProbe(sys, pool))
}

const poolProbe = (sys: System, pool: Pool): void => {
  pool.probeRequested = false
  const running = Fiber.getCurrent()
  let runnable = false
  let onStack = false
  for (const worker of pool.workers) {
    if (worker.state !== "Busy" || worker.current === undefined || worker.sleeping) continue
    if (worker.nrQueuedTasks > 0) {
      runnable = true
      continue
    }
    if (worker.fiber === running) {
      onStack = true
      continue
    }
    workerSleeping(sys, worker)
  }
  if (onStack && !runnable) {
    // a probe sees a worker on the JS stack only inside a synchronous flush of the parent scheduler under that
    // worker's slice (a handler running an effect longer than a fiber's slice synchronously in its own services,
    // `Effect.runSyncExit`): a probe requested now, by this one or by `kickPool`, would run inside that same flush,
    // and so on forever (the process hung). Look again once the stack has unwound
    pool.probeRequested = true
    kickPool(sys, pool)
    pool.probeRequested = false
    if (pool.worklist.length > 0) queueMicrotask(() => poolRequestProbe(sys, pool))
    return
  }
  kickPool(sys, pool)
  if (runnable && pool.worklist.length > 0) poolRequestProbe(sys, pool)
}

/** `wq_worker_sleeping()`: the worker leaves nr_running; the caller kicks the pool. */
export const workerSleeping = (sys: System, worker: Worker): void => {
  const pool = worker.pool
  worker.sleeping = true
  if (pool.kind === "bh") {
    const work = worker.current!
    sys.warnOnce(
      `bh:${work.name}`,
      `workqueue: BH work item "${work.name}" on "${worker.currentPwq!.wq.name}" suspended; BH handlers must not sleep (WQ_BH runs in softirq context)`,
      { workqueue: worker.currentPwq!.wq.name, work: work.name }
    )
  }
  if (worker.counted) {
    worker.counted = false
    pool.nrRunning--
    if (pool.nrRunning === 0 && needMoreWorker(pool)) worker.currentPwq!.stats.cmWakeup++
  }
}

export const workerWakeFromSleep = (worker: Worker): void => {
  worker.sleeping = false
  worker.runMs = 0
  if (!worker.cpuIntensive && poolIsManaged(worker.pool) && !worker.counted && worker.rescuerOf === undefined) {
    worker.counted = true
    worker.pool.nrRunning++
  }
}

// ---------------------------------------------------------------------------
// room for pending items (`maxPending`, ours; the kernel has none)
// ---------------------------------------------------------------------------

/**
 * Backpressure (ours; the kernel has none): the items holding PENDING on `wq` — armed timers plus queued items
 * not yet started (worklist, scheduled or inactive; never running ones) — are at `maxPending`. Called by every
 * public queueing entry; a timer's expiry moves an item from armed to queued and is never refused. Room reserved
 * for woken `queueWait` callers (`nrWoken`) counts as taken: a plain `queue` never takes it from them (a woken
 * caller gives its reservation back before it retries).
 */
export const wqPendingFull = (wq: WorkqueueState): boolean =>
  wq.nrQueued + wq.timerCount.armed + wq.nrWoken >= wq.maxPending

/** The `QueueFull` rejection, naming the workqueue and its bound. @internal */
export const queueFull = (wq: WorkqueueState): WorkqueueError.WorkqueueError =>
  WorkqueueError.make(
    "QueueFull",
    wq.name,
    `cannot queue: ${wq.nrQueued + wq.timerCount.armed} items pending reach maxPending ${wq.maxPending}`
  )

/** A queued item left `wq`'s lists (started or grabbed): one less pending, maybe room for a waiter. */
export const wqPendingDec = (sys: System, wq: WorkqueueState): void => {
  wq.nrQueued--
  if (wq.pendingWaiters.length !== 0) wqWakePendingWaiter(sys, wq)
}

/**
 * Room was made on `wq`: wake the first `queueWait` caller (FIFO). One wake per freed slot, O(1); the woken caller
 * retries its queueing and, if it finds room left, wakes the next one itself (see `Workqueue.queueWait`).
 * @internal
 */
export const wqWakePendingWaiter = (_sys: System, wq: WorkqueueState): void => {
  if (wq.pendingWaiters.length === 0 || wq.nrQueued + wq.timerCount.armed + wq.nrWoken >= wq.maxPending) return
  const waiter = wq.pendingWaiters.shift()!
  waiter.woken = true
  wq.nrWoken++
  waiter.wake()
}

/** Room for one more pending item on `wq` right now. @internal */
export const wqHasRoom = (wq: WorkqueueState): boolean => !wqPendingFull(wq)

// ---------------------------------------------------------------------------
// grabbing a pending item (try_to_grab_pending) and the per-workqueue armed lists
// ---------------------------------------------------------------------------

/**
 * `try_to_grab_pending()`: steal a pending instance — delete its timer, or unlink it from whichever list it is
 * on (giving back its active slot and its colour). Returns true if it was pending. PENDING is left cleared.
 */
export const grabPending = (sys: System, work: WorkState): boolean => {
  const grabbed = grabPendingHoldSlot(sys, work)
  if (typeof grabbed !== "object") return grabbed
  pwqActivateFreed(sys, grabbed)
  return true
}

/**
 * `grabPending` up to handing on the active slot it freed: the item is off every list and PENDING is cleared,
 * `nrActive` already counts the slot free, but no inactive item has taken it yet. Returns false if it was not
 * pending, true if it held no active slot (armed, or inactive), else the pwq whose slot the caller hands on with
 * `pwqActivateFreed` as the last thing of its step: that activation emits `workqueue_activate_work`, and a
 * tracepoint sink calling back in must find the caller's item in a consistent state (not half grabbed, not half
 * re-armed).
 */
export const grabPendingHoldSlot = (sys: System, work: WorkState): boolean | Pwq => {
  if (!workIsPending(work)) return false
  const dwork = work as DelayedWorkState
  if (work.isDelayed && dwork.timerWq !== undefined && sys.timers.isArmed(dwork)) {
    const wq = dwork.timerWq
    sys.timers.cancel(dwork)
    wqTimerUnlink(dwork)
    work.data &= ~WORK_PENDING
    wqWakePendingWaiter(sys, wq)
    return true
  }
  const pwq = work.pwq
  if (pwq === undefined) {
    work.data &= ~WORK_PENDING
    return true
  }
  const wasInactive = (work.data & WORK_INACTIVE) !== 0
  workList(sys, work, pwq).remove(work)
  work.pwq = undefined
  work.data &= ~(WORK_PENDING | WORK_INACTIVE)
  if (!wasInactive) pwq.nrActive--
  wqPendingDec(sys, pwq.wq)
  // the flush barrier glued behind it would have run: complete its flush_work waiters
  if ((work.data & WORK_FLUSHERS) !== 0) {
    work.data &= ~WORK_FLUSHERS
    const flushers = sys.workFlushers.get(work)!
    sys.workFlushers.delete(work)
    for (const f of flushers) f(true)
  }
  wqDecNrInFlight(pwq.wq, workColor(work))
  return wasInactive ? true : pwq
}

/**
 * The list a queued item (PENDING, on `pwq`) is on: its pwq's inactive list if WORK_INACTIVE, a worker's scheduled
 * list if it was assigned to one (`System.scheduledOn`, which it then leaves), else its pool's worklist.
 */
const workList = (sys: System, work: WorkState, pwq: Pwq): WorkList<WorkState> => {
  if ((work.data & WORK_INACTIVE) !== 0) return pwq.inactive
  const worker = sys.scheduledOn.get(work)
  if (worker === undefined) return pwq.pool.worklist
  sys.scheduledOn.delete(work)
  return worker.scheduled
}

/** `assign_work()`: put `work` on `worker`'s scheduled list (a collision, or the rescuer's batch). */
export const scheduleOn = (sys: System, worker: Worker, work: WorkState): void => {
  worker.scheduled.push(work)
  sys.scheduledOn.set(work, worker)
}

/** Take the first item off `worker`'s scheduled list, if any. */
export const takeScheduled = (sys: System, worker: Worker): WorkState | undefined => {
  const work = worker.scheduled.shift()
  if (work !== undefined) sys.scheduledOn.delete(work)
  return work
}

/** Put an item being armed on `wq`'s armed list (newest first); sets `timerWq`. */
export const wqTimerLink = (wq: WorkqueueState, dwork: DelayedWorkState): void => {
  const armed = wq.timerCount
  dwork.timerWq = wq
  dwork.armedPrev = undefined
  dwork.armedNext = armed.head
  if (armed.head !== undefined) armed.head.armedPrev = dwork
  armed.head = dwork
  armed.armed++
}

/** Take an item whose timer was deleted or fired off its wq's armed list; clears `timerWq`. */
export const wqTimerUnlink = (dwork: DelayedWorkState): void => {
  const armed = dwork.timerWq!.timerCount
  const prev = dwork.armedPrev
  const next = dwork.armedNext
  if (prev === undefined) armed.head = next
  else prev.armedNext = next
  if (next !== undefined) next.armedPrev = prev
  dwork.armedPrev = undefined
  dwork.armedNext = undefined
  dwork.timerWq = undefined
  armed.armed--
}

// ---------------------------------------------------------------------------
// freezer accounting (freeze_workqueues_busy)
// ---------------------------------------------------------------------------

/** `freeze_workqueues_busy()`: any freezable wq with an active item. */
export const freezeBusy = (sys: System): boolean => {
  for (const wq of sys.workqueues) {
    if ((wq.flags & WQ_FREEZABLE) === 0) continue
    for (const pwq of uniquePwqs(wq)) if (pwq.nrActive > 0) return true
  }
  return false
}

const freezeCheck = (sys: System): void => {
  if (sys.freezeWaiters.length > 0 && !freezeBusy(sys)) wakeAll(sys.freezeWaiters, true)
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

export const wakeAll = (waiters: Array<Waiter>, value: boolean): void => {
  const all = waiters.splice(0, waiters.length)
  for (const w of all) w(value)
}

export const removeFrom = <A>(array: Array<A> | undefined, value: A): void => {
  if (array === undefined) return
  const i = array.indexOf(value)
  if (i >= 0) array.splice(i, 1)
}
