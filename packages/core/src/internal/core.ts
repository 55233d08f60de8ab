/**
 * The kernel core, arranged like kernel/workqueue.c: policy predicates → which workers run an item and who is
 * calling → activation → flush colours → worker creation, waking, culling → concurrency management → CPU hogs →
 * the worker loop → the rescuer → room for pending items → grabbing a pending item and the armed lists →
 * freezer accounting → helpers → wiring the system's timers. The callers above (`queue.ts`, `flush.ts`,
 * `cancel.ts`, `lifecycle.ts`) move items through these functions; field rules: see the legend in `state.ts`.
 *
 * Every state change is one synchronous step (rule L). Effects appear only where a fiber must wait (a flusher,
 * a drainer, `cancelSync`) or run (a worker running a handler); waiters are plain callbacks resumed by workers,
 * never a Semaphore or Deferred per pending item.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as WorkqueueError from "./error.ts"
import { wqCpuIntensiveReport, wqWatchdogTimerFn } from "./diagnostics.ts"
import { WQ_CPU_INTENSIVE, WQ_FREEZABLE } from "./flags.ts"
import { List } from "./list.ts"
import {
  ClassBh,
  ClassBhHighpri,
  ClassCpuIntensive,
  ClassHighpri,
  ClassNormal,
  EntityKey,
  entityOf
} from "./scheduler.ts"
import {
  CurrentCpu,
  type SystemOptions,
  type DelayedWorkState,
  type Flusher,
  type Pool,
  type Pwq,
  RunToken,
  System,
  uniquePwqs,
  type Waiter,
  type Worker,
  type WorkqueueState,
  type WorkState
} from "./state.ts"
import {
  WORK_EXEC_ONE,
  WORK_FLUSHERS,
  WORK_INACTIVE,
  WORK_LAST_GONE,
  WORK_NR_COLORS,
  WORK_PENDING,
  workColor,
  workCpu,
  workNrExec
} from "./workData.ts"

/** `IDLE_WORKER_TIMEOUT`, 300 s */
export const IDLE_WORKER_TIMEOUT = 300_000
/** `MAYDAY_INITIAL_TIMEOUT` */
export const MAYDAY_INITIAL_TIMEOUT = 10
/** `MAYDAY_INTERVAL` */
export const MAYDAY_INTERVAL = 100
/** `RESCUER_BATCH` */
export const RESCUER_BATCH = 16
/** `BH_WORKER_RESTARTS` */
const BH_WORKER_RESTARTS = 10
/** `MAX_IDLE_WORKERS_RATIO` */
const MAX_IDLE_WORKERS_RATIO = 4
// ---------------------------------------------------------------------------
// policy predicates (wq.c: need_more_worker, may_start_working, keep_working, too_many_workers)
// ---------------------------------------------------------------------------

/** Pools whose running workers are counted (bound, non-BH): concurrency managed. */
const poolIsManaged = (pool: Pool): boolean => pool.kind === "bound"

/** `need_more_worker()`: called by `kickPool`. Unbound and BH pools start every active item at once. */
const needMoreWorker = (pool: Pool): boolean =>
  poolIsManaged(pool)
    ? pool.worklist.length > 0 && pool.nrRunning === 0 && pool.nrWaking === 0
    : pool.worklist.length > pool.nrWaking

/** `keep_working()`: called by a worker after an item; it is itself counted in nrRunning. */
const keepWorking = (pool: Pool): boolean => pool.worklist.length > 0 && (!poolIsManaged(pool) || pool.nrRunning <= 1)

/** `too_many_workers()`: called when a worker goes idle and by the cull timer. */
const tooManyWorkers = (pool: Pool): boolean => {
  const nrIdle = pool.idle.length
  const nrBusy = pool.workers.size - nrIdle
  return nrIdle > 2 && (nrIdle - 2) * MAX_IDLE_WORKERS_RATIO >= nrBusy
}

// ---------------------------------------------------------------------------
// which workers run an item; who is calling (find_worker_executing_work, current_work)
// ---------------------------------------------------------------------------

/** `find_worker_executing_work()`: the busy worker of `pool` running `work`, if any. */
const findWorkerExecuting = (pool: Pool, work: WorkState): Worker | undefined => {
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

/** Put an active item on its pool's worklist (`__pwq_activate_work` / insert_work), then kick the pool. */
export const poolInsertWork = (sys: System, pool: Pool, work: WorkState): void => {
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
  if (pool.worklist.length === 0) pool.progress++
  pool.worklist.push(work)
  kickPool(sys, pool)
}

/** `pwq_activate_first_inactive()`: FIFO within a pwq. */
const pwqActivateFirstInactive = (sys: System, pwq: Pwq): boolean => {
  const work = pwq.inactive.head
  if (work === undefined || !pwqTryIncNrActive(pwq)) return false
  pwq.inactive.remove(work)
  work.data &= ~WORK_INACTIVE
  poolInsertWork(sys, pwq.pool, work)
  return true
}

/** `pwq_dec_nr_active()`: give back a slot; the first inactive item of the same pwq takes it. */
const pwqDecNrActive = (sys: System, pwq: Pwq): void => {
  pwq.nrActive--
  pwqActivateFirstInactive(sys, pwq)
  if (sys.freezing && pwq.nrActive === 0 && (pwq.wq.flags & WQ_FREEZABLE) !== 0) freezeCheck(sys)
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
const wqDecNrInFlight = (wq: WorkqueueState, color: number): void => {
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
// worker creation, waking, culling (create_worker, kick_pool, idle_cull_fn, maydays)
// ---------------------------------------------------------------------------

/** `kick_pool()`: wake (or create) a worker if the pool needs one; otherwise make sure sleeping is noticed. */
const kickPool = (sys: System, pool: Pool): void => {
  if (needMoreWorker(pool)) {
    const worker = pool.idle.pop()
    if (worker !== undefined) {
      worker.state = "Busy" // worker_leave_idle()
      pool.nrWaking++
      worker.waking = true
      worker.wake!()
    } else if (!createWorker(sys, pool)) {
      poolArmMayday(sys, pool)
    }
    return
  }
  if (poolIsManaged(pool) && pool.worklist.length > 0 && pool.nrRunning > 0) poolRequestProbe(sys, pool)
}

const workerName = (pool: Pool, id: number): string =>
  pool.kind === "unbound"
    ? `kworker/u${pool.id}:${id}`
    : pool.kind === "bh"
      ? `kworker/${pool.cpu}:bh${pool.highpri ? "H" : ""}`
      : `kworker/${pool.cpu}:${id}${pool.highpri ? "H" : ""}`

const poolClass = (pool: Pool): number =>
  pool.kind === "bh" ? (pool.highpri ? ClassBhHighpri : ClassBh) : pool.highpri ? ClassHighpri : ClassNormal

/** `create_worker()`: fork a long-lived worker fiber; false when the pool is at its worker cap. */
const createWorker = (sys: System, pool: Pool): boolean => {
  if (sys.closing || pool.workers.size >= pool.maxWorkers) return false
  let id = 0
  while (pool.usedIds.has(id)) id++
  pool.usedIds.add(id)
  const worker = makeWorker(sys, pool, id, workerName(pool, id), undefined)
  pool.workers.add(worker)
  pool.nrWaking++
  worker.waking = true
  worker.state = "Busy"
  forkWorker(sys, worker, workerLoop(sys, worker))
  return true
}

const makeWorker = (
  sys: System,
  pool: Pool,
  id: number,
  name: string,
  rescuerOf: WorkqueueState | undefined
): Worker => {
  const worker: Worker = {
    id,
    pool,
    name,
    rescuerOf,
    system: sys,
    fiber: undefined,
    state: "Idle",
    current: undefined,
    currentPwq: undefined,
    currentColor: 0,
    currentCpu: -1,
    currentStart: 0,
    sleeping: false,
    counted: false,
    scheduled: new List<WorkState>(),
    runFlushers: undefined,
    lastDesc: "",
    idleSince: 0,
    wake: undefined,
    pendingExit: false,
    waking: false,
    runMs: 0,
    token: undefined,
    schedClass: rescuerOf !== undefined ? ClassHighpri : poolClass(pool),
    nrQueuedTasks: 0,
    cpuIntensive: false,
    onRunnable() {
      // wq_worker_running(): a sleeping worker scheduled a task, so it woke up
      if (worker.sleeping) workerWakeFromSleep(worker)
    },
    onSlice(ms) {
      // the slice's time after its last item boundary belongs to the item running now, if any (wq_worker_tick)
      if (worker.currentPwq === undefined) return
      wqWorkerTick(sys, worker, ms, false)
      // wq_worker_sleeping(): the slice ended inside an item with nothing queued, so the handler suspended
      if (worker.state === "Busy" && worker.current !== undefined && !worker.sleeping && worker.nrQueuedTasks === 0) {
        workerSleeping(sys, worker)
        kickPool(sys, worker.pool)
      }
    }
  }
  sys.allWorkers.add(worker)
  return worker
}

const forkWorker = (sys: System, worker: Worker, loop: Effect.Effect<void>): void => {
  const fiber = Effect.runForkWith(sys.baseCtx)(
    Effect.withFiber((fiber) => {
      ;(fiber as any)[EntityKey] = worker
      // start through the scheduler, never inline inside the caller that queued the work
      return Effect.flatMap(Effect.yieldNow, () => loop)
    })
  )
  worker.fiber = fiber
  fiber.addObserver((exit) => {
    if (!worker.pendingExit) workerDied(sys, worker, exit)
  })
}

/**
 * A worker fiber ended without being told to (a handler interrupted its own fiber, which is the worker's): the
 * item it ran is finished as a defect, items assigned to it go back to the pool, and the pool gets a new worker —
 * a handler's failure never takes its pool down.
 */
const workerDied = (sys: System, worker: Worker, exit: Exit.Exit<unknown, unknown>): void => {
  sys.allWorkers.delete(worker)
  const pool = worker.pool
  removeFrom(pool.idle, worker)
  if (worker.waking) {
    worker.waking = false
    pool.nrWaking--
  }
  const work = worker.current
  if (work !== undefined) {
    const cause = Exit.isFailure(exit) ? exit.cause : Cause.die(new Error("worker ended while running an item"))
    sys.log(
      "Error",
      `workqueue: worker ${worker.name} ended while running "${work.name}" on "${worker.lastDesc}"; replaced`,
      {
        workqueue: worker.lastDesc,
        work: work.name,
        worker: worker.name
      }
    )
    workerFinishWork(sys, worker, work, Cause.hasFails(cause) ? cause : Cause.die(Cause.squash(cause)))
  }
  if (worker.counted) {
    worker.counted = false
    pool.nrRunning--
  }
  for (let item = worker.scheduled.shift(); item !== undefined; item = worker.scheduled.shift()) {
    pool.worklist.push(item)
  }
  worker.state = "Dying"
  if (worker.rescuerOf !== undefined) {
    const wq = worker.rescuerOf
    if (wq.rescuer === worker && wq.lifecycle !== "Destroyed" && !sys.closing) initRescuer(sys, wq)
  } else {
    workerDetach(pool, worker)
  }
  if (!sys.closing) kickPool(sys, pool)
}

/** The worker goes idle (`worker_enter_idle()`) and parks until kicked; culling may end it. */
const workerEnterIdle = (sys: System, worker: Worker): void => {
  const pool = worker.pool
  if (worker.counted) {
    worker.counted = false
    pool.nrRunning--
  }
  worker.state = "Idle"
  worker.idleSince = sys.now()
  pool.idle.push(worker)
  if (tooManyWorkers(pool) && !sys.timers.isArmed(pool.cullTimer)) {
    sys.timerFiber.arm(pool.cullTimer, pool.idle[0]!.idleSince + sys.options.idleTimeout)
  }
}

/** `idle_cull_fn()`: end workers idle for IDLE_WORKER_TIMEOUT, oldest first, while there are too many. */
export const poolCullIdle = (sys: System, pool: Pool, now: number): void => {
  while (tooManyWorkers(pool)) {
    const oldest = pool.idle[0]!
    const expires = oldest.idleSince + sys.options.idleTimeout
    if (expires > now) {
      sys.timerFiber.arm(pool.cullTimer, expires)
      return
    }
    pool.idle.shift()
    workerDetach(pool, oldest)
    oldest.pendingExit = true
    oldest.wake!()
  }
}

const workerDetach = (pool: Pool, worker: Worker): void => {
  worker.state = "Dying"
  pool.workers.delete(worker)
  pool.usedIds.delete(worker.id)
}

/** The pool needs a worker and cannot create one: in MAYDAY_INITIAL_TIMEOUT, call the rescuers. */
const poolArmMayday = (sys: System, pool: Pool): void => {
  if (!sys.timers.isArmed(pool.maydayTimer)) sys.timerFiber.arm(pool.maydayTimer, sys.now() + MAYDAY_INITIAL_TIMEOUT)
}

/** `pool_mayday_timeout()` + `send_mayday()`: every pwq with items on the worklist whose wq has a rescuer. */
export const poolMaydayTimeout = (sys: System, pool: Pool, now: number): void => {
  // need_to_create_worker(): work is waiting, nobody runs it and no idle worker is left
  if (!(needMoreWorker(pool) && pool.idle.length === 0)) return
  if (createWorker(sys, pool)) return
  for (const work of pool.worklist) {
    const pwq = work.pwq!
    const rescuer = pwq.wq.rescuer
    if (rescuer === undefined || pwq.mayday) continue
    pwq.mayday = true
    pwq.stats.mayday++
    pool.maydays.push(pwq)
    rescuer.wake?.()
  }
  sys.timerFiber.arm(pool.maydayTimer, now + MAYDAY_INTERVAL)
}

// ---------------------------------------------------------------------------
// concurrency management: noticing that a worker sleeps (wq_worker_sleeping / wq_worker_running)
// ---------------------------------------------------------------------------

/**
 * Effect 4 has no Supervisor, so "the running worker blocked" is detected by a probe: a task on the parent
 * scheduler that runs after the current batch. By then a worker that is still runnable has a task in our run
 * queue (`nrQueuedTasks > 0`); a busy worker with none, and not on the JS stack, is suspended on something
 * (a timer, a Deferred, I/O): it leaves nr_running, and if that was the last one with work pending, another
 * worker is woken (CM_WAKEUP). A sleeping worker is counted again when it schedules a task or finishes.
 */
const poolRequestProbe = (sys: System, pool: Pool): void => {
  if (pool.probeRequested) return
  pool.probeRequested = true
  sys.scheduler.requestProbe(() => poolProbe(sys, pool))
}

const poolProbe = (sys: System, pool: Pool): void => {
  pool.probeRequested = false
  const running = Fiber.getCurrent()
  let runnable = false
  for (const worker of pool.workers) {
    if (worker.state !== "Busy" || worker.current === undefined || worker.sleeping) continue
    if (worker.nrQueuedTasks > 0 || worker.fiber === running) {
      runnable = true
      continue
    }
    workerSleeping(sys, worker)
  }
  kickPool(sys, pool)
  if (runnable && pool.worklist.length > 0) poolRequestProbe(sys, pool)
}

/** `wq_worker_sleeping()`: the worker leaves nr_running; the caller kicks the pool. */
const workerSleeping = (sys: System, worker: Worker): void => {
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

const workerWakeFromSleep = (worker: Worker): void => {
  worker.sleeping = false
  worker.runMs = 0
  if (!worker.cpuIntensive && poolIsManaged(worker.pool) && !worker.counted && worker.rescuerOf === undefined) {
    worker.counted = true
    worker.pool.nrRunning++
  }
}

// ---------------------------------------------------------------------------
// CPU hogs (wq_worker_tick; the reports are in diagnostics.ts)
// ---------------------------------------------------------------------------

/**
 * `wq_worker_tick()`: charge `ms` of CPU time to the item `worker` is running (its pwq's `cpuTime`, and its run
 * since it started or last woke). Called with the part of a scheduler slice that item ran: at the slice's end
 * (`onSlice`, the item still running) and at the item's end inside a slice (`ended`, see `cutSlice`).
 *
 * A concurrency-managed item whose run reaches `cpu_intensive_thresh` is a CPU hog: counted (`cpuIntensive`)
 * and reported with back-off. Still running, it is also treated as CPU-intensive for the rest of its run (it
 * leaves nr_running and the pool is kicked), as the kernel does at the tick. One JS thread cannot preempt a
 * handler, so a synchronous one is detected after the fact, at its end: counted and reported, nothing to kick.
 */
const wqWorkerTick = (sys: System, worker: Worker, ms: number, ended: boolean): void => {
  const pwq = worker.currentPwq!
  pwq.stats.cpuTime += ms
  worker.runMs += ms
  const thresh = sys.options.cpuIntensiveThresh
  if (thresh <= 0 || worker.runMs < thresh || worker.cpuIntensive || !worker.counted) return
  pwq.stats.cpuIntensive++
  if (!ended) {
    worker.cpuIntensive = true
    worker.schedClass = ClassCpuIntensive
    worker.counted = false
    worker.pool.nrRunning--
    kickPool(sys, worker.pool)
  }
  wqCpuIntensiveReport(sys, worker.current!.name, pwq.wq.name)
}

// ---------------------------------------------------------------------------
// the worker loop (worker_thread, assign_work, process_one_work)
// ---------------------------------------------------------------------------

/** Pick the next item for `worker`, or undefined to go idle. One L step. */
const workerNextWork = (worker: Worker, afterWake: boolean): WorkState | undefined => {
  const pool = worker.pool
  const scheduled = worker.scheduled.shift()
  if (scheduled !== undefined) return scheduled
  if (!afterWake && !keepWorking(pool)) return undefined
  for (let work = pool.worklist.head; work !== undefined; work = pool.worklist.head) {
    pool.worklist.remove(work)
    // assign_work(): the same item running on another worker of this pool runs there next (non-reentrance)
    const collision = findWorkerExecuting(pool, work)
    if (collision !== undefined && collision !== worker) {
      collision.scheduled.push(work)
      continue
    }
    return work
  }
  return undefined
}

/** `process_one_work()` up to the call: one L step. */
const workerStartWork = (sys: System, worker: Worker, work: WorkState): void => {
  const pwq = work.pwq!
  const pool = worker.pool
  worker.current = work
  worker.currentPwq = pwq
  worker.currentColor = workColor(work)
  worker.currentCpu = pwq.cpu >= 0 ? pwq.cpu : workCpu(work)
  // inside a pump the pump's clock stamp is the time (one clock read per pump, not per item)
  worker.currentStart = sys.scheduler.currentOwner === worker ? sys.scheduler.stamp : sys.now()
  worker.runMs = 0
  worker.lastDesc = pwq.wq.name
  work.current = worker
  work.data = (work.data & ~WORK_LAST_GONE) + WORK_EXEC_ONE
  // record last pool and clear PENDING immediately before the call (process_one_work())
  work.pwq = undefined
  work.data &= ~(WORK_PENDING | WORK_INACTIVE)
  wqPendingDec(sys, pwq.wq)
  if ((work.data & WORK_FLUSHERS) !== 0) {
    work.data &= ~WORK_FLUSHERS
    worker.runFlushers = sys.workFlushers.get(work)
    sys.workFlushers.delete(work)
  }
  pwq.stats.started++
  pool.progress++
  const trace = sys.options.tracepoint
  if (trace !== undefined) {
    trace({
      _tag: "workqueue_execute_start",
      time: worker.currentStart,
      work,
      workqueue: pwq.wq.name,
      worker: worker.name,
      cpu: worker.currentCpu,
      pool: pool.id
    })
  }
  if (worker.rescuerOf === undefined) {
    if (!worker.counted && poolIsManaged(pool)) {
      worker.counted = true
      pool.nrRunning++
    }
    if ((pwq.wq.flags & WQ_CPU_INTENSIVE) !== 0 && poolIsManaged(pool)) {
      // a CPU-intensive item leaves concurrency management at its start (process_one_work(), WORKER_CPU_INTENSIVE)
      worker.cpuIntensive = true
      worker.schedClass = ClassCpuIntensive
      if (worker.counted) {
        worker.counted = false
        pool.nrRunning--
      }
    }
    // chain: wake the next worker if the pool still needs one (process_one_work step 3)
    kickPool(sys, pool)
    // started inline (resumed by a callback, not through the run queue): no slice end will tell if it sleeps
    if (
      sys.scheduler.currentOwner !== worker &&
      (pool.kind === "bh" || (poolIsManaged(pool) && pool.worklist.length > 0))
    ) {
      poolRequestProbe(sys, pool)
    }
  }
}

/** `process_one_work()` after the call: one L step. Returns the failure to log, if any. */
const workerFinishWork = (
  sys: System,
  worker: Worker,
  work: WorkState,
  failure: Cause.Cause<unknown> | undefined
): void => {
  const pwq = worker.currentPwq!
  const pool = worker.pool
  // the item ended inside a slice: the slice's time so far is its own, not the next item's (wq_worker_tick)
  if (sys.scheduler.currentOwner === worker) wqWorkerTick(sys, worker, sys.scheduler.cutSlice(), true)
  pwq.stats.completed++
  const trace = sys.options.tracepoint
  if (trace !== undefined) {
    trace({
      _tag: "workqueue_execute_end",
      time: sys.stampNow(),
      work,
      workqueue: pwq.wq.name,
      worker: worker.name,
      outcome: failure === undefined ? "success" : Cause.hasFails(failure) ? "failure" : "defect"
    })
  }
  if (failure !== undefined) {
    if (Cause.hasFails(failure)) pwq.stats.failed++
    else pwq.stats.defects++
  }
  if (worker.sleeping) workerWakeFromSleep(worker)
  if (worker.cpuIntensive) {
    worker.cpuIntensive = false
    worker.schedClass = poolClass(pool)
    if (worker.rescuerOf === undefined && poolIsManaged(pool) && !worker.counted) {
      worker.counted = true
      pool.nrRunning++
    }
  }
  if (work.current === worker) {
    // the last pool's instance ended; one still running in another pool stays reachable (cancel, collisions)
    // but, as in the kernel, the redirect and flush_work look only at the last pool from now on
    const other = workNrExec(work) > 1 ? workersExecuting(sys, work).find((w) => w !== worker) : undefined
    work.current = other
    if (other !== undefined) work.data |= WORK_LAST_GONE
    else work.data &= ~WORK_LAST_GONE
  }
  work.data -= WORK_EXEC_ONE
  if (workNrExec(work) === 0) work.data &= ~WORK_LAST_GONE
  worker.current = undefined
  worker.currentPwq = undefined
  // fibers forked by this run that outlive it are strangers: its token is spent (the next run takes a new one)
  const token = worker.token
  if (token !== undefined && token.live > 0) token.worker = undefined
  const flushers = worker.runFlushers
  worker.runFlushers = undefined
  // pwq_dec_nr_in_flight(): the slot goes to the next inactive item, then the colour is counted down
  pwqDecNrActive(sys, pwq)
  wqDecNrInFlight(pwq.wq, worker.currentColor)
  if (flushers !== undefined) for (const f of flushers) f(true)
}

const workerLoop = (sys: System, worker: Worker): Effect.Effect<void> => {
  let afterWake = true
  let bhRestarts = 0
  const park: Effect.Effect<void> = Effect.callback<void>((resume) => {
    worker.wake = () => sys.scheduler.scheduleTask(() => resume(Effect.void), 0, worker)
  })
  const afterPark: Effect.Effect<void> = Effect.suspend(() => {
    worker.wake = undefined
    if (worker.pendingExit) {
      sys.allWorkers.delete(worker)
      return Effect.void
    }
    afterWake = true
    return step
  })
  const parkThenStep = Effect.flatMap(park, () => afterPark)
  const yieldThenStep = Effect.flatMap(Effect.yieldNow, () => step)
  const run = makeRunner(sys, worker, (work, failure) => {
    workerFinishWork(sys, worker, work, failure)
    if (worker.pool.kind === "bh" && ++bhRestarts % BH_WORKER_RESTARTS === 0) {
      return failure === undefined
        ? yieldThenStep
        : Effect.flatMap(logFailure(worker, work, failure), () => yieldThenStep)
    }
    // the next item starts in this same continuation, one run-loop turn per item fewer (the fiber is the worker's)
    return failure === undefined
      ? nextStep(worker.fiber!)
      : Effect.flatMap(logFailure(worker, work, failure), () => step)
  })
  const step: Effect.Effect<void> = Effect.withFiber((fiber) => nextStep(fiber))
  const nextStep = (fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void> => {
    const work = workerNextWork(worker, afterWake)
    if (afterWake) {
      afterWake = false
      worker.pool.nrWaking--
      worker.waking = false
    }
    if (work === undefined) {
      workerEnterIdle(sys, worker)
      return parkThenStep
    }
    workerStartWork(sys, worker, work)
    return run(fiber, work)
  }
  return step
}

/**
 * Run an item's handler inline on the worker fiber, then continue with `after` — one primitive per item, with
 * the continuations allocated once per worker. The fiber takes the handler's context (the services `Work.make`
 * captured, our scheduler) and keeps it until an item with another context comes: no context is built per item.
 */
const makeRunner = (
  sys: System,
  worker: Worker,
  after: (work: WorkState, failure: Cause.Cause<unknown> | undefined) => Effect.Effect<void>
) => {
  const onSuccess = (_: unknown) => after(worker.current!, undefined)
  const onFailure = (cause: Cause.Cause<unknown>) => after(worker.current!, cause)
  const onExit = { onSuccess, onFailure }
  let lastCtx: Context.Context<never> | undefined
  // the worker's valid tokens by captured context (one per context it ran items of, until one is forked from)
  const tokens = new WeakMap<Context.Context<never>, RunToken>()
  return (fiber: Fiber.Fiber<unknown, unknown>, work: WorkState): Effect.Effect<void> => {
    let token = worker.token
    if (work.ctx !== lastCtx || token === undefined || token.worker === undefined) {
      lastCtx = work.ctx
      token = tokens.get(work.ctx)
      if (token === undefined || token.worker === undefined) {
        token = sys.runToken(worker, work.ctx)
        tokens.set(work.ctx, token)
      }
      worker.token = token
    }
    const ctx = token.runCtx!
    if (fiber.context !== ctx) fiber.setContext(ctx)
    let handler: Effect.Effect<void, unknown, unknown>
    try {
      handler = work.fn(work)
    } catch (defect) {
      handler = Effect.die(defect)
    }
    if (sys.options.spans) {
      // a root span: never a child of the worker's or the queueing caller's span
      handler = Effect.withSpan(handler, work.name, {
        root: true,
        attributes: {
          "workqueue.name": worker.currentPwq!.wq.name,
          "workqueue.worker": worker.name,
          "workqueue.cpu": worker.currentCpu,
          "workqueue.pool": worker.pool.id
        }
      })
    }
    return Effect.matchCauseEffect(handler as Effect.Effect<void, unknown, never>, onExit)
  }
}

const logFailure = (worker: Worker, work: WorkState, cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  const failure = describeFailure(cause)
  return Effect.logError(
    `workqueue: work item "${work.name}" on "${worker.lastDesc}" ${
      Cause.hasFails(cause) ? "failed" : "died"
    }: ${failure}; the worker goes on`,
    cause
  ).pipe(Effect.annotateLogs({ workqueue: worker.lastDesc, work: work.name, worker: worker.name, failure }))
}

/**
 * The failure itself in one line: the typed error (or the defect) with its tag, message and fields — a
 * `Schema.TaggedError` with an empty message would otherwise print as its bare tag — or "interrupted".
 * @internal
 */
export const describeFailure = (cause: Cause.Cause<unknown>): string => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail") return describeValue(reason.error)
    if (reason._tag === "Die") return describeValue(reason.defect)
  }
  return "interrupted"
}

const describeValue = (value: unknown): string => {
  if (typeof value !== "object" || value === null) return typeof value === "string" ? value : String(value)
  const record = value as Record<string, unknown>
  const tag = typeof record._tag === "string" ? record._tag : value instanceof Error ? value.name : undefined
  const message = value instanceof Error || typeof record.message === "string" ? String(record.message ?? "") : ""
  const fields: Record<string, unknown> = {}
  let any = false
  for (const key of Object.keys(value)) {
    if (key === "_tag" || key === "message" || key === "stack" || key === "name") continue
    fields[key] = record[key]
    any = true
  }
  let json = ""
  if (any) {
    try {
      json = JSON.stringify(fields, (_, v) => (typeof v === "bigint" ? `${v}n` : v))
    } catch {
      json = "{<unserialisable fields>}"
    }
  }
  return [tag, message, json].filter((part) => part !== undefined && part !== "").join(" ") || String(value)
}

// ---------------------------------------------------------------------------
// rescuer (rescuer_thread)
// ---------------------------------------------------------------------------

/** `init_rescuer()`: a dedicated worker per WQ_MEM_RECLAIM workqueue, outside every pool's worker cap. */
export const initRescuer = (sys: System, wq: WorkqueueState): void => {
  const rescuer = makeWorker(sys, sys.boundPools[0]!, -1, `kworker/R-${wq.name}`, wq)
  wq.rescuer = rescuer
  const park: Effect.Effect<void> = Effect.callback<void>((resume) => {
    rescuer.wake = () => {
      rescuer.wake = undefined
      sys.scheduler.scheduleTask(() => resume(Effect.void), 0, rescuer)
    }
  })
  const run = makeRunner(sys, rescuer, (work, failure) => {
    rescuer.currentPwq!.stats.rescued++
    workerFinishWork(sys, rescuer, work, failure)
    return failure === undefined ? loop : Effect.flatMap(logFailure(rescuer, work, failure), () => loop)
  })
  const loop: Effect.Effect<void> = Effect.withFiber((fiber): Effect.Effect<void> => {
    if (rescuer.pendingExit) {
      sys.allWorkers.delete(rescuer)
      return Effect.void
    }
    const work = rescuerNextWork(sys, rescuer)
    if (work === undefined) {
      rescuer.state = "Idle"
      return Effect.flatMap(park, () => loop)
    }
    rescuer.state = "Busy"
    workerStartWork(sys, rescuer, work)
    return run(fiber, work)
  })
  forkWorker(sys, rescuer, loop)
}

/** The rescuer takes its own wq's active items off a pool in mayday (at most RESCUER_BATCH per turn). */
const rescuerNextWork = (sys: System, rescuer: Worker): WorkState | undefined => {
  const wq = rescuer.rescuerOf!
  const scheduled = rescuer.scheduled.shift()
  if (scheduled !== undefined) return scheduled
  for (const pool of sys.pools) {
    for (let i = 0; i < pool.maydays.length; i++) {
      const pwq = pool.maydays[i]!
      if (pwq.wq !== wq) continue
      pool.maydays.splice(i, 1)
      pwq.mayday = false
      rescuer.pool = pool
      let n = 0
      for (let work = pool.worklist.head; work !== undefined && n < RESCUER_BATCH; ) {
        const next = work.next as WorkState | undefined
        if (work.pwq === pwq) {
          pool.worklist.remove(work)
          // assign_work(): an item still running on a worker of this pool runs there next, not here
          const collision = findWorkerExecuting(pool, work)
          if (collision !== undefined) {
            collision.scheduled.push(work)
          } else {
            rescuer.scheduled.push(work)
            n++
          }
        }
        work = next
      }
      if (n === RESCUER_BATCH && pool.worklist.length > 0) {
        pwq.mayday = true
        pool.maydays.push(pwq)
      }
      const first = rescuer.scheduled.shift()
      if (first !== undefined) return first
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------
// room for pending items (`maxPending`, ours; the kernel has none)
// ---------------------------------------------------------------------------

/**
 * Backpressure (ours; the kernel has none): the items holding PENDING on `wq` — armed timers plus queued items
 * not yet started (worklist, scheduled or inactive; never running ones) — are at `maxPending`. Called by every
 * public queueing entry; a timer's expiry moves an item from armed to queued and is never refused.
 */
export const wqPendingFull = (wq: WorkqueueState): boolean => wq.nrQueued + wq.timerCount.armed >= wq.maxPending

/** The `QueueFull` rejection, naming the workqueue and its bound. @internal */
export const queueFull = (wq: WorkqueueState): WorkqueueError.WorkqueueError =>
  WorkqueueError.make(
    "QueueFull",
    wq.name,
    `cannot queue: ${wq.nrQueued + wq.timerCount.armed} items pending reach maxPending ${wq.maxPending}`
  )

/** A queued item left `wq`'s lists (started or grabbed): one less pending, maybe room for a waiter. */
const wqPendingDec = (sys: System, wq: WorkqueueState): void => {
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
  if (!workIsPending(work)) return false
  const dwork = work as DelayedWorkState
  if (work.isDelayed && dwork.timerWq !== undefined && sys.timers.isArmed(dwork)) {
    const wq = dwork.timerWq
    sys.timers.cancel(dwork)
    wqTimerUnlink(dwork)
    wqWakePendingWaiter(sys, wq)
  } else if (work.pwq !== undefined) {
    const pwq = work.pwq
    const wasInactive = (work.data & WORK_INACTIVE) !== 0
    work.list!.remove(work)
    work.pwq = undefined
    work.data &= ~(WORK_PENDING | WORK_INACTIVE)
    wqPendingDec(sys, pwq.wq)
    if (!wasInactive) pwqDecNrActive(sys, pwq)
    // the flush barrier glued behind it would have run: complete its flush_work waiters
    if ((work.data & WORK_FLUSHERS) !== 0) {
      work.data &= ~WORK_FLUSHERS
      const flushers = sys.workFlushers.get(work)!
      sys.workFlushers.delete(work)
      for (const f of flushers) f(true)
    }
    wqDecNrInFlight(pwq.wq, workColor(work))
  }
  work.data &= ~WORK_PENDING
  return true
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

// ---------------------------------------------------------------------------
// the system's own timers (pool cull, mayday, watchdog)
// ---------------------------------------------------------------------------

/** A system with its own timers wired to the engine (the structures in `state.ts` never import this module). */
export const makeSystem = (ctx: Context.Context<never>, options: SystemOptions): System =>
  new System(ctx, options, { cullIdle: poolCullIdle, maydayTimeout: poolMaydayTimeout, watchdog: wqWatchdogTimerFn })
