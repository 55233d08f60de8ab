/**
 * The engine, arranged like kernel/workqueue.c: policy predicates → activation → queueing → worker loop →
 * flush/drain → cancel → delayed work → lifecycle. Field rules: see the legend in `state.ts`.
 *
 * Every state change is one synchronous step (rule L). Effects appear only where a fiber must wait (a flusher,
 * a drainer, `cancelSync`) or run (a worker running a handler); waiters are plain callbacks resumed by workers,
 * never a Semaphore or Deferred per pending item.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Scheduler from "effect/Scheduler"
import * as Tracer from "effect/Tracer"
import * as WorkqueueError from "../WorkqueueError.ts"
import { List } from "./list.ts"
import {
  ClassBh,
  ClassBhHighpri,
  ClassCpuIntensive,
  ClassHighpri,
  ClassNormal,
  ClassTimer,
  entityOf,
  EntityKey,
  type SchedEntity,
  WorkqueueScheduler
} from "./scheduler.ts"
import {
  type DelayedWorkState,
  type Flusher,
  makePwq,
  type PendingWaiter,
  type Pool,
  type PoolKind,
  type Pwq,
  type SystemState,
  type Waiter,
  WORK_COLOR_SHIFT,
  WORK_CPU_MASK,
  WORK_CPU_SHIFT,
  WORK_FLUSHERS,
  WORK_INACTIVE,
  WORK_NR_COLORS,
  WORK_OFFQ_DISABLE_MAX,
  WORK_PENDING,
  type Worker,
  type WorkqueueState,
  type WorkState
} from "./state.ts"
import { TimerBase, type TimerNode } from "./timer.ts"

// ---------------------------------------------------------------------------
// constants (wq.h `enum wq_flags`, `enum wq_consts`; wq.c `enum wq_internal_consts`)
// ---------------------------------------------------------------------------

/** @internal */
export const WQ_BH = 1 << 0
/** @internal */
export const WQ_UNBOUND = 1 << 1
/** @internal */
export const WQ_FREEZABLE = 1 << 2
/** @internal */
export const WQ_MEM_RECLAIM = 1 << 3
/** @internal */
export const WQ_HIGHPRI = 1 << 4
/** @internal */
export const WQ_CPU_INTENSIVE = 1 << 5
/** @internal */
export const WQ_SYSFS = 1 << 6
/** @internal */
export const WQ_POWER_EFFICIENT = 1 << 7
/** @internal */
export const WQ_PERCPU = 1 << 8
/** @internal */
export const __WQ_DESTROYING = 1 << 15
/** @internal */
export const __WQ_DRAINING = 1 << 16
/** @internal */
export const __WQ_ORDERED = 1 << 17
/** @internal */
export const __WQ_LEGACY = 1 << 18
/** The public `WQ_*` bits: any other bit in a caller's flags is refused (the `__WQ_*` bits are the engine's). */
export const WQ_PUBLIC_FLAGS =
  WQ_BH |
  WQ_UNBOUND |
  WQ_FREEZABLE |
  WQ_MEM_RECLAIM |
  WQ_HIGHPRI |
  WQ_CPU_INTENSIVE |
  WQ_SYSFS |
  WQ_POWER_EFFICIENT |
  WQ_PERCPU
/** `__WQ_BH_ALLOWS` */
const WQ_BH_ALLOWS = WQ_BH | WQ_HIGHPRI | WQ_PERCPU
/** @internal */
export const WQ_MAX_ACTIVE = 2048
/** @internal */
export const WQ_DFL_ACTIVE = WQ_MAX_ACTIVE / 2
/** @internal */
export const WQ_UNBOUND_MAX_ACTIVE = WQ_MAX_ACTIVE
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

/**
 * The CPU the caller runs "on" outside work items (`WorkqueueSystem.onCpu`); `undefined` = not set. Any other
 * value, -1 included, is what the caller asked for: queueing then validates it (`InvalidCpu`).
 * @internal
 */
export const CurrentCpu = Context.Reference<unknown>("effect-workqueue/CurrentCpu", { defaultValue: () => undefined })

/** Options of the system layer. @internal */
export interface SystemOptions {
  readonly cpus: number
  readonly maxWorkersPerPool: number
  readonly idleTimeout: number
  readonly cpuIntensiveSliceMs: number
  readonly powerEfficient: boolean
  /** `workqueue.watchdog_thresh` in ms (0 disables) */
  readonly watchdogThresh: number
  /** `workqueue.cpu_intensive_thresh_us` in ms (0 disables) */
  readonly cpuIntensiveThresh: number
  /** `workqueue.cpu_intensive_warning_thresh` */
  readonly cpuIntensiveWarningThresh: number
  /** the clock that measures handler CPU time on the JS thread (default `performance.now`) */
  readonly cpuClock: () => number
  /** the tracepoint sink (trace.h events), or undefined: one check per event when off */
  readonly tracepoint: ((tp: Tracepoint) => void) | undefined
  /** run each handler in a root span named after its work item */
  readonly spans: boolean
}

/**
 * The kernel's tracepoints (include/trace/events/workqueue.h), with their fields. `reqCpu` is -1 when none was
 * requested (`WORK_CPU_UNBOUND`); `cpu` is -1 for unbound pools. `time` is ms on the system Clock.
 * @internal
 */
export type Tracepoint<W = WorkState> =
  | {
      readonly _tag: "workqueue_queue_work"
      readonly time: number
      readonly work: W
      readonly workqueue: string
      readonly reqCpu: number
      readonly cpu: number
      readonly pool: number
    }
  | {
      readonly _tag: "workqueue_activate_work"
      readonly time: number
      readonly work: W
      readonly workqueue: string
      readonly pool: number
    }
  | {
      readonly _tag: "workqueue_execute_start"
      readonly time: number
      readonly work: W
      readonly workqueue: string
      readonly worker: string
      readonly cpu: number
      readonly pool: number
    }
  | {
      readonly _tag: "workqueue_execute_end"
      readonly time: number
      readonly work: W
      readonly workqueue: string
      readonly worker: string
      readonly outcome: "success" | "failure" | "defect"
    }

// ---------------------------------------------------------------------------
// the system
// ---------------------------------------------------------------------------

/** @internal */
export class System implements SystemState {
  readonly cpus: number
  readonly options: SystemOptions
  readonly workqueues = new Set<WorkqueueState>() // L
  readonly boundPools: Array<Pool> = [] // I
  readonly bhPools: Array<Pool> = [] // I
  readonly unboundPools = new Map<string, Pool>() // L
  readonly pools: Array<Pool> = [] // L
  freezing = false // WQ
  closing = false // WQ: workers and the timer fiber are being stopped (the last phase of closeSystem)
  closed = false // WQ: closeSystem has begun: no new workqueue (SystemClosed); its own are flushed, destroyed
  readonly scheduler: WorkqueueScheduler // I
  readonly clock: Clock.Clock // I
  readonly baseCtx: Context.Context<never> // I: context of every worker fiber
  readonly timers: TimerBase // L
  readonly workFlushers = new Map<WorkState, Array<Waiter>>() // L: flush_work waiters on queued instances
  readonly freezeWaiters: Array<Waiter> = [] // L
  readonly allWorkers = new Set<Worker>() // L
  private readonly runCtxCache = new WeakMap<Context.Context<never>, Context.Context<never>>() // L
  private timerFiber: Fiber.Fiber<unknown, unknown> | undefined = undefined // I
  timerTarget = Infinity // L: the timer fiber looks at the structure again by this time (<= every armed expiry)
  private timerParked: (() => void) | undefined = undefined // L: resumes the timer fiber's current wait (see below)
  private timerKickQueued = false // L: a timer kick task is in the run queue and has not started
  readonly timerEntity: SchedEntity
  private readonly warnedOnce = new Set<string>() // L
  retired: Array<WorkqueueState> | undefined = undefined // L: destroyed since the last metrics publication (kept
  //   only once something publishes: WorkqueueMetrics.publish sets it, drains it each time)
  readonly hogCounts = new Map<string, number>() // L: wq_cpu_intensive_report() per work name (at most 128)
  readonly watchdogTimer: TimerNode // I

  constructor(ctx: Context.Context<never>, options: SystemOptions) {
    this.cpus = options.cpus
    this.options = options
    const parent = Context.get(ctx, Scheduler.Scheduler)
    this.scheduler = new WorkqueueScheduler(parent, options.cpuIntensiveSliceMs, options.cpuClock)
    this.scheduler.readClock = () => this.clock.currentTimeMillisUnsafe()
    this.clock = Context.get(ctx, Clock.Clock)
    this.timers = new TimerBase(this.clock.currentTimeMillisUnsafe())
    this.baseCtx = Context.add(Context.omit(Tracer.ParentSpan, CurrentCpu)(ctx), Scheduler.Scheduler, this.scheduler)
    this.timerEntity = {
      schedClass: ClassTimer,
      nrQueuedTasks: 0,
      cpuIntensive: false,
      onRunnable() {},
      onSlice() {}
    }
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      this.boundPools.push(this.makePool("bound", cpu, false), this.makePool("bound", cpu, true))
    }
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      this.bhPools.push(this.makePool("bh", cpu, false), this.makePool("bh", cpu, true))
    }
    this.watchdogTimer = makeTimerNode((now) => wqWatchdogTimerFn(this, now))
  }

  /** Arm the lockup watchdog (`wq_watchdog_set_thresh()`). */
  startWatchdog(): void {
    if (this.options.watchdogThresh > 0) this.timerArm(this.watchdogTimer, this.now() + this.options.watchdogThresh)
  }

  now(): number {
    return this.clock.currentTimeMillisUnsafe()
  }

  /** The Clock, or inside a scheduler pump the pump's stamp (the same time, without a clock read). */
  stampNow(): number {
    return this.scheduler.currentOwner !== undefined ? this.scheduler.stamp : this.clock.currentTimeMillisUnsafe()
  }

  makePool(kind: PoolKind, cpu: number, highpri: boolean): Pool {
    const sys = this
    const pool: Pool = {
      id: this.pools.length,
      kind,
      cpu,
      highpri,
      worklist: new List<WorkState>(),
      workers: new Set(),
      idle: [],
      nrRunning: 0,
      nrWaking: 0,
      maxWorkers: kind === "bh" ? 1 : this.options.maxWorkersPerPool,
      progress: 0,
      probeRequested: false,
      usedIds: new Set(),
      cullTimer: makeTimerNode((now) => poolCullIdle(sys, pool, now)),
      maydayTimer: makeTimerNode((now) => poolMaydayTimeout(sys, pool, now)),
      maydays: [],
      refs: 0,
      wdProgress: -1,
      wdSince: 0
    }
    this.pools.push(pool)
    return pool
  }

  /** `get_unbound_pool()`: unbound pools are shared by attribute equality (here: nice level). */
  unboundPool(highpri: boolean): Pool {
    const key = highpri ? "nice=-20" : "nice=0"
    let pool = this.unboundPools.get(key)
    if (pool === undefined) {
      pool = this.makePool("unbound", -1, highpri)
      this.unboundPools.set(key, pool)
    }
    return pool
  }

  /** The context a handler runs in: the services `Work.make` captured, our scheduler, no caller span. */
  runContext(ctx: Context.Context<never>): Context.Context<never> {
    let run = this.runCtxCache.get(ctx)
    if (run === undefined) {
      run = Context.add(Context.omit(Tracer.ParentSpan, CurrentCpu)(ctx), Scheduler.Scheduler, this.scheduler)
      this.runCtxCache.set(ctx, run)
    }
    return run
  }

  /** A worker's run token for items that captured `ctx`, with the context that carries it (see `RunToken`). */
  runToken(worker: Worker, ctx: Context.Context<never>): RunToken {
    const base = this.runContext(ctx)
    const token = new RunToken(worker, Context.get(base, Metric.FiberRuntimeMetrics))
    token.runCtx = Context.add(base, Metric.FiberRuntimeMetrics, token)
    return token
  }

  /** Log from a synchronous step (a WARN in the kernel's voice). */
  log(level: "Warn" | "Error" | "Info", message: string, annotations?: Record<string, unknown>): void {
    let eff = Effect.logWithLevel(level)(message)
    if (annotations !== undefined) eff = Effect.annotateLogs(eff, annotations)
    Effect.runForkWith(this.baseCtx)(eff)
  }

  /**
   * WARN_ONCE, per key (`site` or `site:name`). At most 128 keys are remembered: past that, a `site:name` key
   * falls back to its site, so a key per distinct name never grows the set without bound (nor floods the log).
   */
  warnOnce(key: string, message: string, annotations?: Record<string, unknown>): void {
    if (this.warnedOnce.has(key)) return
    if (this.warnedOnce.size >= 128) {
      key = key.split(":", 1)[0]!
      if (this.warnedOnce.has(key)) return
    }
    this.warnedOnce.add(key)
    this.log("Warn", message, annotations)
  }

  // -------------------------------------------------------------------------
  // timers: one structure, one fiber sleeping on the Clock until the earliest expiry
  // -------------------------------------------------------------------------

  /**
   * The timer fiber: fire what is due, then wait until the earliest expiry or a kick, whichever comes first.
   *
   * Why no wake-up can be lost, whatever arms, cancels and re-arms happen in however many synchronous steps
   * (every line below is one L step; `timerTarget` is T, the earliest armed expiry is M):
   *
   * - (I1) T <= M at every step boundary: `timerArm` lowers T to the new expiry when it is earlier; cancel and
   *   expiry only raise M; the fiber sets T = M when it computes (`next` below).
   * - (I2) the fiber looks at the structure again by time T: it is (a) not parked (running, runnable, or between
   *   computing `next` and registering its wait), or (b) parked with a Clock sleep until exactly T, or (c)
   *   parked with a kick task queued that has not started.
   *   - An arm that lowers T queues a kick, or finds one queued and not started, which therefore runs after the
   *     arm: (b) becomes (c). A kick reads `timerParked` when it runs, not when it was queued: it resumes
   *     whatever wait is registered then, or finds the fiber in (a), where nothing is needed.
   *   - Between computing `next` and registering (the fiber may yield there), an arm can lower T below `next`
   *     while nothing is registered; the registration compares T with `next` and does not park: (a).
   *   - Only the wait's own registration writes `timerParked`; only a kick (that resumes it) or the wait's own
   *     interruption (identity-checked) clears it. No stale closure can erase a newer registration — the defect
   *     of the old design, where a wake closure scheduled twice in one step cleared the fiber's next registration.
   *
   * So every armed timer is seen by a computation at a time <= its expiry, which fires it (due) or sleeps until
   * an expiry <= it. Under `TestClock` the sleep wakes at exactly that expiry; a kick runs in the next pump, at
   * the timer class, ahead of every worker. A spurious kick (its arm was cancelled) costs one re-computation.
   */
  startTimerFiber(): void {
    const sys = this
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      const now = sys.now()
      sys.timers.expire(now, (node) => {
        try {
          node.onTimer(now)
        } catch (defect) {
          // WARN_ON: a broken invariant in one expiry must not stop every other timer
          sys.log("Error", `workqueue: timer callback failed: ${String(defect)}`)
        }
      })
      const next = sys.timers.nextExpiry() ?? Infinity
      sys.timerTarget = next
      const park = Effect.callback<void>((resume) => {
        // an arm lowered the target after `next` was computed (I2, case a): look again instead of parking
        if (sys.timerTarget < next) return resume(Effect.void)
        const wake = () => resume(Effect.void)
        sys.timerParked = wake
        return Effect.sync(() => {
          if (sys.timerParked === wake) sys.timerParked = undefined
        })
      })
      const wait = next === Infinity ? park : Effect.raceFirst(Effect.sleep(next - now), park)
      return Effect.flatMap(wait, () => loop)
    })
    const entity = this.timerEntity
    this.timerFiber = Effect.runForkWith(this.baseCtx)(
      Effect.withFiber((fiber) => {
        ;(fiber as any)[EntityKey] = entity
        return Effect.flatMap(Effect.yieldNow, () => loop)
      })
    )
  }

  /** `add_timer()`: arm `node` at `expires`; kick the timer fiber if that is earlier than it will look (I1). */
  timerArm(node: TimerNode, expires: number): void {
    this.timers.arm(node, expires)
    if (expires < this.timerTarget) {
      this.timerTarget = expires
      if (!this.timerKickQueued) {
        this.timerKickQueued = true
        this.scheduler.scheduleTask(this.timerKick, 0, this.timerEntity)
      }
    }
  }

  /** The kick task: resume the wait registered now, if any (I2). */
  private readonly timerKick = (): void => {
    this.timerKickQueued = false
    const wake = this.timerParked
    if (wake === undefined) return
    this.timerParked = undefined
    wake()
  }

  stopTimerFiber(): Effect.Effect<void> {
    const fiber = this.timerFiber
    return fiber === undefined ? Effect.void : Fiber.interrupt(fiber)
  }
}

const makeTimerNode = (onTimer: (now: number) => void): TimerNode => ({
  next: undefined,
  prev: undefined,
  list: undefined,
  expires: 0,
  onTimer
})

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

const workColor = (work: WorkState): number => (work.data >>> WORK_COLOR_SHIFT) & (WORK_NR_COLORS - 1)
/** The CPU recorded in `work->data` (queued for, or recorded at arming); -1 for none. */
export const workCpu = (work: WorkState): number => ((work.data >>> WORK_CPU_SHIFT) & WORK_CPU_MASK) - 1
const workSetCpu = (work: WorkState, cpu: number): void => {
  work.data = (work.data & ~(WORK_CPU_MASK << WORK_CPU_SHIFT)) | ((cpu + 1) << WORK_CPU_SHIFT)
}

/**
 * How many workers execute the item right now (work->data bits 19..26). Normally 0 or 1; more only when the same
 * item was queued on workqueues of different pools (`find_worker_executing_work()` looks per pool). `work.current` is
 * the last one started (the kernel's "last pool"); the others are found by a scan, only when the count says so.
 */
const WORK_EXEC_SHIFT = 19
/**
 * The instance of the item's last pool has ended while another (another pool) still runs: `work.current` then
 * points at a remaining instance (so cancel and the system lookup find it), but the redirect and flush_work, which
 * in the kernel look only at the last pool, see nothing.
 */
const WORK_LAST_GONE = 8
/** The worker of the item's last pool, if it still runs it (redirect, flush_work). */
const workLastRunning = (work: WorkState): Worker | undefined =>
  (work.data & WORK_LAST_GONE) !== 0 ? undefined : work.current
const WORK_EXEC_ONE = 1 << WORK_EXEC_SHIFT
const workNrExec = (work: WorkState): number => (work.data >>> WORK_EXEC_SHIFT) & 0xff

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
const workersExecuting = (sys: System, work: WorkState): Array<Worker> => {
  const n = workNrExec(work)
  if (n === 0) return []
  const last = work.current
  if (n === 1 && last !== undefined) return [last]
  return [...sys.allWorkers].filter((worker) => worker.current === work)
}

/** The system an item is queued, armed or running on (undefined when idle: nothing to cancel or wait for). */
export const workSystem = (work: WorkState): System | undefined =>
  work.pwq?.wq.system ?? (work as DelayedWorkState).timerWq?.system ?? work.current?.system
const workIsPending = (work: WorkState): boolean => (work.data & WORK_PENDING) !== 0

// ---------------------------------------------------------------------------
// the identity of a run (`current_work()` for the fibers a handler forks)
// ---------------------------------------------------------------------------

/**
 * A handler is an Effect program and forks freely (`Effect.timeout`, `Effect.race`, `Effect.forEach` with
 * concurrency): each fiber it forks is part of the run for as long as the run lasts, and never after. Effect 4
 * fibers inherit their parent's context at creation, so the run's identity is a token in the handler's context:
 *
 * - The token names its worker (`token.worker`) while it is valid; a fiber that is not the worker fiber finds
 *   the worker through it (its context's `FiberRuntimeMetrics` is the token), and is that worker's caller only while `worker.token` is this token and the worker
 *   runs an item (`callerWorkerOf`).
 * - Every fiber created with the token's context announces its start and its end through the context's
 *   `FiberRuntimeMetrics` service, which is the token (it forwards to the user's service, if any). Created
 *   during the run: it is counted in `live` until it ends. Created at any other time (a context kept and run
 *   later): the token is invalidated at once.
 * - When a run ends with a forked fiber still alive, the token is invalidated for good and the worker takes a
 *   new token (and a new context) for its next run. Otherwise the token stays: a handler that forks nothing, or
 *   whose forks end within the run (`Effect.timeout`, `Effect.race`, `forEach` with concurrency), costs no
 *   allocation per item (the context is built once per worker and captured context).
 *
 * The token is the context's `FiberRuntimeMetrics` value itself (one overlay per token): a handler that provides
 * its own `FiberRuntimeMetrics` takes the fibers it forks under it out of the run (they are not the worker, as
 * before this token existed), and never lets them keep the run's identity afterwards.
 * @internal
 */
export class RunToken implements Metric.FiberRuntimeMetricsService {
  worker: Worker | undefined // L: its worker while valid; undefined once invalidated (never valid again)
  live = 0 // L: fibers created with this token's context during a run that have not ended
  readonly inner: Metric.FiberRuntimeMetricsService | undefined // I: the user's service, to forward to
  runCtx: Context.Context<never> | undefined = undefined // I (set once, right after construction)
  constructor(worker: Worker, inner: Metric.FiberRuntimeMetricsService | undefined) {
    this.worker = worker
    this.inner = inner instanceof RunToken ? inner.inner : inner
  }
  recordFiberStart(context: Context.Context<never>): void {
    const worker = this.worker
    if (worker !== undefined) {
      if (worker.token === this && worker.current !== undefined) this.live++
      else this.worker = undefined
    }
    this.inner?.recordFiberStart(context)
  }
  recordFiberEnd(context: Context.Context<never>, exit: Exit.Exit<unknown, unknown>): void {
    if (this.live > 0) this.live--
    this.inner?.recordFiberEnd(context, exit)
  }
}

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

const isChainedWork = (wq: WorkqueueState): boolean => callerWorker()?.currentPwq?.wq === wq

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

const pwqTryIncNrActive = (pwq: Pwq): boolean => {
  if (pwq.nrActive < pwq.wq.maxActive) {
    pwq.nrActive++
    return true
  }
  return false
}

/** Put an active item on its pool's worklist (`__pwq_activate_work` / insert_work), then kick the pool. */
const poolInsertWork = (sys: System, pool: Pool, work: WorkState): void => {
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

/** @internal */
export const uniquePwqs = (wq: WorkqueueState): Array<Pwq> => (wq.unbound ? [wq.pwqs[0]!] : wq.pwqs)

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

const flusherWait = (wq: WorkqueueState, flusher: Flusher): Effect.Effect<void> =>
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
    sys.timerArm(pool.cullTimer, pool.idle[0]!.idleSince + sys.options.idleTimeout)
  }
}

/** `idle_cull_fn()`: end workers idle for IDLE_WORKER_TIMEOUT, oldest first, while there are too many. */
const poolCullIdle = (sys: System, pool: Pool, now: number): void => {
  while (tooManyWorkers(pool)) {
    const oldest = pool.idle[0]!
    const expires = oldest.idleSince + sys.options.idleTimeout
    if (expires > now) {
      sys.timerArm(pool.cullTimer, expires)
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
  if (!sys.timers.isArmed(pool.maydayTimer)) sys.timerArm(pool.maydayTimer, sys.now() + MAYDAY_INITIAL_TIMEOUT)
}

/** `pool_mayday_timeout()` + `send_mayday()`: every pwq with items on the worklist whose wq has a rescuer. */
const poolMaydayTimeout = (sys: System, pool: Pool, now: number): void => {
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
  sys.timerArm(pool.maydayTimer, now + MAYDAY_INTERVAL)
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
// CPU hogs and the lockup watchdog (wq_worker_tick, wq_cpu_intensive_report, wq_watchdog_timer_fn)
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

/** `wq_cpu_intensive_report()`: warn at the threshold count, then with exponential back-off (4, 5, 7, 11, 19…). */
const wqCpuIntensiveReport = (sys: System, name: string, wqName: string): void => {
  let count = sys.hogCounts.get(name)
  if (count === undefined) {
    if (sys.hogCounts.size >= 128) return
    count = 0
  }
  count++
  sys.hogCounts.set(name, count)
  const thresh = sys.options.cpuIntensiveWarningThresh
  const over = count + 1 - thresh
  if (count >= thresh && (over & (over - 1)) === 0) {
    sys.log(
      "Warn",
      `workqueue: ${name} hogged CPU for >${Math.round(sys.options.cpuIntensiveThresh * 1000)}us ${count} times, consider switching to WQ_UNBOUND (or WQ_CPU_INTENSIVE)`,
      { workqueue: wqName, work: name }
    )
  }
}

/**
 * `wq_watchdog_timer_fn()`: every threshold, a pool with a non-empty worklist whose progress counter has not moved
 * for the threshold is reported as a lockup, with the `show_all_workqueues()` view of what is busy.
 */
const wqWatchdogTimerFn = (sys: System, now: number): void => {
  const thresh = sys.options.watchdogThresh
  for (const pool of sys.pools) {
    if (pool.worklist.length === 0 || pool.progress !== pool.wdProgress) {
      pool.wdProgress = pool.progress
      pool.wdSince = now
      continue
    }
    const stuck = now - pool.wdSince
    if (stuck >= thresh) {
      sys.log(
        "Error",
        `BUG: workqueue lockup - pool ${poolDesc(pool)} stuck for ${Math.round(stuck / 1000)}s!\n${showWorkqueueState(sys, now)}`,
        {
          pool: pool.id
        }
      )
      pool.wdSince = now
    }
  }
  sys.timerArm(sys.watchdogTimer, now + thresh)
}

const poolDesc = (pool: Pool): string =>
  pool.kind === "unbound"
    ? `${pool.id}: unbound nice=${pool.highpri ? -20 : 0}`
    : `${pool.id}: cpus=${pool.cpu} ${pool.kind === "bh" ? (pool.highpri ? "bh-hi" : "bh") : `nice=${pool.highpri ? -20 : 0}`}`

/** `show_all_workqueues()`: busy workqueues (in-flight and pending per pwq) and busy pools (workers, what runs). */
export const showWorkqueueState = (sys: System, now: number): string => {
  const lines: Array<string> = ["Showing busy workqueues and worker pools:"]
  for (const wq of sys.workqueues) {
    const pwqs = uniquePwqs(wq).filter((pwq) => pwq.nrActive > 0 || pwq.inactive.length > 0)
    if (pwqs.length === 0) continue
    lines.push(`workqueue ${wq.name}: flags=0x${wq.flags.toString(16)}`)
    for (const pwq of pwqs) {
      lines.push(
        `  pwq ${pwq.pool.id}: ${pwq.cpu >= 0 ? `cpus=${pwq.cpu}` : "unbound"} active=${pwq.nrActive} inactive=${pwq.inactive.length}`
      )
      const inFlight = [...pwq.pool.workers].filter((w) => w.currentPwq === pwq)
      if (inFlight.length > 0) {
        lines.push(
          `    in-flight: ${inFlight.map((w) => `${w.name}:${w.current!.name} for ${Math.round((now - w.currentStart) / 1000)}s`).join(" ")}`
        )
      }
      const pending = [...pwq.pool.worklist].filter((work) => work.pwq === pwq).map((work) => work.name)
      if (pending.length > 0) lines.push(`    pending: ${pending.join(" ")}`)
      const inactive = [...pwq.inactive].map((work) => work.name)
      if (inactive.length > 0) lines.push(`    inactive: ${inactive.join(" ")}`)
    }
  }
  for (const pool of sys.pools) {
    if (pool.worklist.length === 0 && [...pool.workers].every((w) => w.current === undefined)) continue
    lines.push(
      `pool ${poolDesc(pool)} hung=${Math.round((now - pool.wdSince) / 1000)}s workers=${pool.workers.size} idle: ${pool.idle.map((w) => w.name).join(" ")}`
    )
  }
  return lines.join("\n")
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
// queueing (queue_work_on, __queue_work)
// ---------------------------------------------------------------------------

/** Outcome of a queueing step: the kernel's boolean, or the rule it broke. @internal */
export type QueueResult = boolean | WorkqueueError.WorkqueueError

/** Reject queueing on a destroyed wq, or from outside on a draining / destroying one (docs/KERNEL-MAPPING.md). */
export const queueRejection = (wq: WorkqueueState): WorkqueueError.WorkqueueError | undefined => {
  switch (wq.lifecycle) {
    case "Open":
      return undefined
    case "Destroyed":
      return WorkqueueError.make(
        "Destroyed",
        wq.name,
        wq.system.closed
          ? "cannot queue on a destroyed workqueue (its WorkqueueSystem has closed)"
          : "cannot queue on a destroyed workqueue"
      )
    case "Draining":
    case "Destroying":
      return isChainedWork(wq)
        ? undefined
        : WorkqueueError.make(
            "Draining",
            wq.name,
            `cannot queue while ${wq.lifecycle === "Draining" ? "draining" : "being destroyed"} (only chained work allowed)`
          )
  }
}

/**
 * Backpressure (ours; the kernel has none): the items holding PENDING on `wq` — armed timers plus queued items
 * not yet started (worklist, scheduled or inactive; never running ones) — are at `maxPending`. Called by every
 * public queueing entry; a timer's expiry moves an item from armed to queued and is never refused.
 */
const wqPendingFull = (wq: WorkqueueState): boolean => wq.nrQueued + wq.timerCount.armed >= wq.maxPending

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

const isCpu = (sys: System, cpu: number): boolean => Number.isInteger(cpu) && cpu >= 0 && cpu < sys.cpus

/**
 * The CPU a queueing call targets must be one of the system's: the explicit one, or without it the caller's
 * (`onCpu`), validated before any state changes.
 * @internal
 */
export const checkCpu = (
  sys: System,
  wq: WorkqueueState,
  cpu: number | undefined
): WorkqueueError.WorkqueueError | undefined => {
  if (cpu !== undefined) {
    return isCpu(sys, cpu)
      ? undefined
      : WorkqueueError.make(
          "InvalidCpu",
          wq.name,
          `CPU ${show(cpu)} is not one of the ${sys.cpus} CPUs (0..${sys.cpus - 1})`
        )
  }
  const caller = currentCpuUnsafe(sys)
  return isCpu(sys, caller)
    ? undefined
    : WorkqueueError.make(
        "InvalidCpu",
        wq.name,
        `the caller's CPU ${show(caller)} (onCpu) is not one of the ${sys.cpus} CPUs (0..${sys.cpus - 1})`
      )
}

/**
 * A work item belongs to one system: the first it is queued or armed on (`work.system`, set when that succeeds),
 * until that system has closed and the item is neither pending nor running there. Its pending bit, running
 * instances and waiters all live in that system, so queueing it on another is refused (one system's cancel_sync
 * could not wait for an instance on another). The kernel has one system; see docs/DESIGN.md §7a.
 */
const foreignSystem = (sys: System, wq: WorkqueueState, work: WorkState): WorkqueueError.WorkqueueError | undefined => {
  const owner = work.system
  if (owner === sys || owner === undefined) return undefined
  // a closed system lets go of an item once it is done there (its close may still be running it)
  if (owner.closed && work.current === undefined && (work.data & WORK_PENDING) === 0) return undefined
  return WorkqueueError.make(
    "ForeignSystem",
    wq.name,
    `work item "${work.name}" belongs to another WorkqueueSystem (the first it was queued on); a work item serves one system`
  )
}

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
  const bad = checkCpu(sys, wq, cpu) ?? foreignSystem(sys, wq, work)
  if (bad !== undefined) return bad
  if (workIsPending(work) || work.disable > 0) return false
  const rejected = queueRejection(wq)
  if (rejected !== undefined) return rejected
  if (bounded && wqPendingFull(wq)) return queueFull(wq)
  work.system = sys
  work.data |= WORK_PENDING
  insertQueued(sys, cpu, wq, work)
  return true
}

/**
 * `__queue_work()` with PENDING already owned: pick the pwq (non-reentrance redirect), colour the item, and put
 * it on the worklist if a slot is free and nothing waits before it, else at the tail of the inactive list.
 */
export const insertQueued = (sys: System, reqCpu: number | undefined, wq: WorkqueueState, work: WorkState): void => {
  let cpu = reqCpu ?? currentCpuUnsafe(sys)
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
  const trace = sys.options.tracepoint
  if (trace !== undefined) {
    trace({
      _tag: "workqueue_queue_work",
      time: sys.stampNow(),
      work,
      workqueue: wq.name,
      reqCpu: reqCpu ?? -1,
      cpu: pwq.pool.cpu,
      pool: pwq.pool.id
    })
  }
  const color = wq.workColor
  work.data = (work.data & ~(15 << WORK_COLOR_SHIFT)) | (color << WORK_COLOR_SHIFT)
  wq.nrInFlight[color]!++
  if (pwq.inactive.length === 0 && pwqTryIncNrActive(pwq)) {
    work.data &= ~WORK_INACTIVE
    poolInsertWork(sys, pwq.pool, work)
  } else {
    work.data |= WORK_INACTIVE
    pwq.inactive.push(work)
  }
}

// ---------------------------------------------------------------------------
// cancel (try_to_grab_pending, __cancel_work, __cancel_work_sync, disable/enable)
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

/** The non-waiting half of `__cancel_work()`: grab, optionally disable. */
export const cancelWorkUnsafe = (sys: System, work: WorkState, disable: boolean): boolean => {
  const pending = grabPending(sys, work)
  if (disable) workDisableInc(sys, work)
  return pending
}

/**
 * A WARN with no system at hand (the item was never queued): kept here and logged by the public wrapper through
 * the caller's own logger (`takeIdleWarning`), not a detached fiber with the default one.
 */
let idleWarning: string | undefined = undefined // L: set and taken within one synchronous step
const warnIdle = (message: string): void => {
  idleWarning = message
}

/** The warning the last idle-item step raised, if any (taken once). @internal */
export const takeIdleWarning = (): string | undefined => {
  const message = idleWarning
  idleWarning = undefined
  return message
}

/** @internal */
export const workDisableInc = (sys: System | undefined, work: WorkState): boolean => {
  if (work.disable >= WORK_OFFQ_DISABLE_MAX) {
    const message = `workqueue: work disable count overflowed ("${work.name}")`
    if (sys !== undefined) sys.warnOnce(`disable-overflow:${work.name}`, message)
    else warnIdle(message)
    return false
  }
  work.disable++
  return true
}

/** `disable_work()` on an item that is nowhere: only the count moves; it was not pending. */
export const workDisableIdle = (work: WorkState): boolean => {
  workDisableInc(undefined, work)
  return false
}

/** `enable_work()`: true iff the disable count is now 0. */
export const enableWorkUnsafe = (sys: System | undefined, work: WorkState): boolean => {
  if (work.disable === 0) {
    const message = `workqueue: work disable count underflowed ("${work.name}")`
    if (sys !== undefined) sys.warnOnce(`disable-underflow:${work.name}`, message)
    else warnIdle(message)
    return true
  }
  return --work.disable === 0
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
    const pending = grabPending(sys, work)
    if (disable) workDisableInc(sys, work)
    return Effect.ensuring(
      Effect.as(waitAllRunning(sys, work), pending),
      Effect.sync(() => {
        // enable_work(): someone may have enabled it meanwhile; never below zero (the kernel WARNs, stays at 0)
        if (held && work.disable > 0) work.disable--
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
  work.disable > 0 && work.disable === (cancellingSyncs.get(work) ?? 0) ? "Cancelling" : "Disabled"

/**
 * Wait for every instance running at the call (cancel_sync: whatever pool) — not for instances started after it
 * (someone who enabled and re-queued the item meanwhile owns those, as with the kernel's barrier).
 */
const waitAllRunning = (sys: System, work: WorkState): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const workers = workersExecuting(sys, work)
    if (workers.length === 0) return Effect.succeed(false)
    return Effect.as(
      Effect.forEach(workers, (worker) => waitWorker(worker, work), { discard: true }),
      true
    )
  })

/** Wait for `worker` to finish `work`; if it already has (the fiber may have yielded in between), at once. */
const waitWorker = (worker: Worker, work: WorkState): Effect.Effect<boolean> =>
  waitOn(
    worker.system,
    (w) => {
      if (worker.current === work) (worker.runFlushers ??= []).push(w)
      else w(true)
    },
    (w) => removeFrom(worker.runFlushers, w)
  )

/** Wait for the instance running now, if any (the barrier at the head of its worker's scheduled list). */
const waitRunning = (work: WorkState): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const worker = workLastRunning(work)
    return worker === undefined ? Effect.succeed(false) : waitWorker(worker, work)
  })

/**
 * A plain wait on a completion; interrupting it only forgets the waiter. The waiter is called inside an engine
 * step (a worker finishing an item, a cancel); it resumes the waiting fiber through the run queue, never inline,
 * so no user code runs in the middle of a step (a resumed flusher that re-queues must find the step complete).
 */
const waitOn = (sys: System, add: (w: Waiter) => void, remove: (w: Waiter) => void): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const waiter: Waiter = (value) => sys.scheduler.scheduleTask(() => resume(Effect.succeed(value)), 0)
    add(waiter)
    return Effect.sync(() => remove(waiter))
  })

// ---------------------------------------------------------------------------
// flush_work
// ---------------------------------------------------------------------------

/**
 * `flush_work()`: wait for the last queueing instance — the queued one if pending on a list, else the running
 * one. An armed-only delayed item returns false at once. True if it waited.
 */
export const flushWork = (sys: System, work: WorkState): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Effect.suspend(() => {
    const self = callerWorker()
    if (self !== undefined) {
      if (self.current === work) {
        return Effect.fail(
          WorkqueueError.make(
            "Deadlock",
            self.currentPwq!.wq.name,
            `work item "${work.name}" cannot flush_work() itself from its own handler (it would wait for itself)`
          )
        )
      }
      const ownWq = self.currentPwq!.wq
      // only an item still waiting for a slot behind the caller waits for it; an active one runs on another worker
      if (
        work.pwq !== undefined &&
        work.pwq === self.currentPwq &&
        (work.data & WORK_INACTIVE) !== 0 &&
        (ownWq.ordered || ownWq.maxActive === 1)
      ) {
        return Effect.fail(
          WorkqueueError.make(
            "Deadlock",
            ownWq.name,
            `flush_work("${work.name}") from an item of the same ${
              ownWq.ordered ? "ordered" : "max_active 1"
            } workqueue waits on itself`
          )
        )
      }
    }
    if (workIsPending(work) && work.pwq !== undefined) {
      return waitOn(
        sys,
        (w) => {
          let list = sys.workFlushers.get(work)
          if (list === undefined) {
            list = []
            sys.workFlushers.set(work, list)
            work.data |= WORK_FLUSHERS
          }
          list.push(w)
        },
        (w) => {
          const list = sys.workFlushers.get(work)
          removeFrom(list, w)
          if (list !== undefined && list.length === 0) {
            sys.workFlushers.delete(work)
            work.data &= ~WORK_FLUSHERS
          }
          // it may have moved to the running instance's waiters when the item started
          removeFrom(work.current?.runFlushers, w)
        }
      )
    }
    return waitRunning(work)
  })

// ---------------------------------------------------------------------------
// flush_workqueue, drain_workqueue
// ---------------------------------------------------------------------------

const selfDeadlock = (wq: WorkqueueState, what: string): WorkqueueError.WorkqueueError | undefined =>
  callerWorker()?.currentPwq?.wq === wq
    ? WorkqueueError.make("Deadlock", wq.name, `${what} from one of its own work items would wait for itself`)
    : undefined

/** `__flush_workqueue()`: every item queued before the call has finished on return. */
export const flushWorkqueue = (wq: WorkqueueState): Effect.Effect<void, WorkqueueError.WorkqueueError> =>
  Effect.suspend(() => {
    if (wq.lifecycle === "Destroyed") {
      return Effect.fail(WorkqueueError.make("Destroyed", wq.name, "cannot flush a destroyed workqueue"))
    }
    const bad = selfDeadlock(wq, "flush_workqueue()")
    if (bad !== undefined) return Effect.fail(bad)
    const flusher = flushStart(wq)
    return flusher === undefined ? Effect.void : flusherWait(wq, flusher)
  })

/** `drain_workqueue()`: flush until empty; only chained queueing is accepted meanwhile. */
export const drainWorkqueue = (
  sys: System,
  wq: WorkqueueState,
  destroying: boolean
): Effect.Effect<void, WorkqueueError.WorkqueueError> =>
  Effect.suspend(() => {
    const bad = selfDeadlock(wq, destroying ? "destroy_workqueue()" : "drain_workqueue()")
    if (bad !== undefined) return Effect.fail(bad)
    if (!destroying) {
      if (wq.lifecycle === "Destroyed") {
        return Effect.fail(WorkqueueError.make("Destroyed", wq.name, "cannot drain a destroyed workqueue"))
      }
      wq.nrDrainers++
      if (wq.lifecycle === "Open") wq.lifecycle = "Draining"
    }
    let tries = 0
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      if (wqIsEmpty(wq)) return Effect.void
      tries++
      if (tries === 10 || (tries % 100 === 0 && tries <= 1000)) {
        sys.log("Warn", `workqueue ${wq.name}: drain_workqueue() isn't complete after ${tries} tries`, {
          workqueue: wq.name
        })
      }
      const flusher = flushStart(wq)
      const wait = flusher === undefined ? waitEmpty(wq) : flusherWait(wq, flusher)
      return Effect.flatMap(wait, () => loop)
    })
    return destroying
      ? loop
      : Effect.ensuring(
          loop,
          Effect.sync(() => {
            if (--wq.nrDrainers === 0 && wq.lifecycle === "Draining") wq.lifecycle = "Open"
          })
        )
  })

const waitEmpty = (wq: WorkqueueState): Effect.Effect<void> =>
  Effect.asVoid(
    waitOn(
      wq.system,
      (w) => wq.drainWaiters.push(w),
      (w) => removeFrom(wq.drainWaiters, w)
    )
  )

// ---------------------------------------------------------------------------
// delayed work (queue_delayed_work_on, mod_delayed_work_on, flush_delayed_work)
// ---------------------------------------------------------------------------

/** Validate a delay: NaN and infinite are rejected; a negative delay is clamped to 0 (jiffies can't be < 0). */
export const delayMillis = (wq: WorkqueueState, millis: number): number | WorkqueueError.WorkqueueError => {
  if (Number.isNaN(millis) || !Number.isFinite(millis)) {
    return WorkqueueError.make("InvalidDelay", wq.name, `delay ${millis} ms is not a finite number of milliseconds`)
  }
  return millis <= 0 ? 0 : Math.ceil(millis)
}

/**
 * Arming a timer on a workqueue being destroyed is refused even from its own items: destroy fires the armed
 * timers once and drains, so a timer armed after that would fire on a destroyed queue (the kernel's
 * use-after-free: `destroy_workqueue()` leaves armed timers alone). Delay 0 is ordinary chained queueing and
 * stays allowed.
 */
const armRejection = (wq: WorkqueueState, ms: number): WorkqueueError.WorkqueueError | undefined =>
  ms > 0 && wq.lifecycle === "Destroying"
    ? WorkqueueError.make(
        "Draining",
        wq.name,
        "cannot arm a delayed item while being destroyed (the timer would outlive it)"
      )
    : undefined

/** `__queue_delayed_work()` with PENDING owned: delay 0 queues now, else arm the timer. */
const armDelayed = (sys: System, cpu: number | undefined, wq: WorkqueueState, dwork: DelayedWorkState, ms: number) => {
  if (ms === 0) {
    insertQueued(sys, cpu, wq, dwork)
    return
  }
  workSetCpu(dwork, cpu ?? (wq.unbound ? -1 : currentCpuUnsafe()))
  wqTimerLink(wq, dwork)
  sys.timerArm(dwork, sys.now() + ms)
}

/** Put an item being armed on `wq`'s armed list (newest first); sets `timerWq`. */
const wqTimerLink = (wq: WorkqueueState, dwork: DelayedWorkState): void => {
  const armed = wq.timerCount
  dwork.timerWq = wq
  dwork.armedPrev = undefined
  dwork.armedNext = armed.head
  if (armed.head !== undefined) armed.head.armedPrev = dwork
  armed.head = dwork
  armed.armed++
}

/** Take an item whose timer was deleted or fired off its wq's armed list; clears `timerWq`. */
const wqTimerUnlink = (dwork: DelayedWorkState): void => {
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
  const bad = checkCpu(sys, wq, cpu) ?? foreignSystem(sys, wq, dwork)
  if (bad !== undefined) return bad
  const ms = delayMillis(wq, millis)
  if (typeof ms !== "number") return ms
  if (workIsPending(dwork) || dwork.disable > 0) return false
  const rejected = queueRejection(wq)
  if (rejected !== undefined) return rejected
  const refused = armRejection(wq, ms)
  if (refused !== undefined) return refused
  if (bounded && wqPendingFull(wq)) return queueFull(wq)
  dwork.system = sys
  dwork.data |= WORK_PENDING
  armDelayed(sys, cpu, wq, dwork, ms)
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
  const bad = checkCpu(sys, wq, cpu) ?? foreignSystem(sys, wq, dwork)
  if (bad !== undefined) return bad
  const ms = delayMillis(wq, millis)
  if (typeof ms !== "number") return ms
  if (dwork.disable > 0) return false
  const rejected = queueRejection(wq)
  if (rejected !== undefined) return rejected
  const refused = armRejection(wq, ms)
  if (refused !== undefined) return refused
  // re-arming an item already pending on this same workqueue adds nothing; an item new here (idle, or pending on
  // another workqueue and moved) meets this workqueue's bound
  if (!pendingOn(sys, wq, dwork) && wqPendingFull(wq)) return queueFull(wq)
  dwork.system = sys
  const pending = grabPending(sys, dwork)
  dwork.data |= WORK_PENDING
  armDelayed(sys, cpu, wq, dwork, ms)
  return pending
}

/** `flush_delayed_work()`: an armed timer fires now, then `flush_work()`. */
export const flushDelayedWork = (
  sys: System,
  dwork: DelayedWorkState
): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Effect.suspend(() => {
    if (dwork.timerWq !== undefined && sys.timers.isArmed(dwork)) {
      sys.timers.cancel(dwork)
      delayedWorkTimerFn(sys, dwork)
    }
    return flushWork(sys, dwork)
  })

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
    sys.timers.cancel(dwork)
    delayedWorkTimerFn(sys, dwork)
  }
}

// ---------------------------------------------------------------------------
// freeze / thaw
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

/** `freeze_workqueues_begin()` and the wait on `freeze_workqueues_busy()`. */
export const freezeWorkqueues = (sys: System): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (sys.freezing) sys.log("Warn", "workqueue: freeze_workqueues_begin() while already freezing")
    sys.freezing = true
    for (const wq of sys.workqueues) if ((wq.flags & WQ_FREEZABLE) !== 0) wq.maxActive = 0
    if (!freezeBusy(sys)) return Effect.void
    return Effect.asVoid(
      waitOn(
        sys,
        (w) => sys.freezeWaiters.push(w),
        (w) => removeFrom(sys.freezeWaiters, w)
      )
    )
  })

/** `thaw_workqueues()`: restore the limits, activate what waited; a freeze still waiting returns too. */
export const thawWorkqueues = (sys: System): void => {
  if (!sys.freezing) return
  sys.freezing = false
  wakeAll(sys.freezeWaiters, true)
  for (const wq of sys.workqueues) if ((wq.flags & WQ_FREEZABLE) !== 0) wqAdjustMaxActive(sys, wq)
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const wakeAll = (waiters: Array<Waiter>, value: boolean): void => {
  const all = waiters.splice(0, waiters.length)
  for (const w of all) w(value)
}

const removeFrom = <A>(array: Array<A> | undefined, value: A): void => {
  if (array === undefined) return
  const i = array.indexOf(value)
  if (i >= 0) array.splice(i, 1)
}

// ---------------------------------------------------------------------------
// lifecycle (alloc_workqueue, destroy_workqueue, workqueue_set_max_active)
// ---------------------------------------------------------------------------

/** `WQ_NAME_LEN` */
export const WQ_NAME_LEN = 32

/** A caller's value in a message: never throws (a symbol, an object with a throwing `toString`). @internal */
export const show = (u: unknown): string => {
  if (typeof u === "string") return JSON.stringify(u)
  if (typeof u === "bigint") return `${u}n`
  try {
    return typeof u === "symbol"
      ? u.toString()
      : typeof u === "object" && u !== null
        ? Object.prototype.toString.call(u)
        : String(u)
  } catch {
    return typeof u
  }
}

/**
 * What a caller passes to `alloc_workqueue()`, checked before anything is built: a non-empty string name, flags
 * made of the public `WQ_*` bits only (a non-negative integer), an integer max_active (out of range is clamped
 * later, with the kernel's warning). The `__WQ_*` bits are the engine's: `makeOrdered` and the legacy creators
 * add them after this check.
 * @internal
 */
export const checkAllocArgs = (
  name: unknown,
  flags: unknown,
  maxActive: unknown
): WorkqueueError.WorkqueueError | undefined => {
  if (typeof name !== "string" || name.length === 0) {
    return WorkqueueError.make(
      "InvalidName",
      show(name),
      `a workqueue name must be a non-empty string, got ${show(name)}`
    )
  }
  const wqName = name.length >= WQ_NAME_LEN ? name.slice(0, WQ_NAME_LEN - 1) : name
  if (
    typeof flags !== "number" ||
    !Number.isInteger(flags) ||
    flags < 0 ||
    flags > WQ_PUBLIC_FLAGS ||
    (flags & ~WQ_PUBLIC_FLAGS) !== 0
  ) {
    return WorkqueueError.make(
      "InvalidFlags",
      wqName,
      `flags must be a combination of the WQ_* flags (0x${WQ_PUBLIC_FLAGS.toString(16)}), got ${show(flags)}`
    )
  }
  if (typeof maxActive !== "number" || !Number.isInteger(maxActive)) {
    return WorkqueueError.make(
      "InvalidMaxActive",
      wqName,
      `max_active must be an integer (0 for the default ${WQ_DFL_ACTIVE}), got ${show(maxActive)}`
    )
  }
  return undefined
}

/** `wq_clamp_max_active()` with the kernel's warning. */
export const clampMaxActive = (sys: System, name: string, n: number): number => {
  if (Number.isInteger(n) && n >= 1 && n <= WQ_MAX_ACTIVE) return n
  const clamped = Number.isNaN(n) ? 1 : Math.min(Math.max(Math.trunc(n), 1), WQ_MAX_ACTIVE)
  sys.log(
    "Warn",
    `workqueue: max_active ${n} requested for ${name} is out of range, clamping between 1 and ${WQ_MAX_ACTIVE}`,
    {
      workqueue: name
    }
  )
  return clamped
}

/** `__alloc_workqueue()`: validate flags (the WQ_BH rules), clamp max_active, build the pwqs. */
export const allocWorkqueue = (
  sys: System,
  rawName: string,
  rawFlags: number,
  rawMaxActive: number,
  makeHandle: (wq: WorkqueueState) => WorkqueueState
): WorkqueueState | WorkqueueError.WorkqueueError => {
  let flags = rawFlags
  let name = rawName
  if (name.length >= WQ_NAME_LEN) {
    name = name.slice(0, WQ_NAME_LEN - 1)
    // pr_warn_once(): once per system, not per name (a set of every long name ever seen would only grow)
    sys.warnOnce("name-too-long", `workqueue: name exceeds WQ_NAME_LEN. Truncating to: ${name}`)
  }
  if (sys.closed) {
    return WorkqueueError.make("SystemClosed", name, "cannot allocate a workqueue: its WorkqueueSystem has closed")
  }
  const bh = (flags & WQ_BH) !== 0
  if (bh) {
    if ((flags & ~WQ_BH_ALLOWS & ~(__WQ_ORDERED | __WQ_LEGACY)) !== 0 || (flags & __WQ_ORDERED) !== 0) {
      return WorkqueueError.make("InvalidFlags", name, "WQ_BH allows only WQ_HIGHPRI as another flag")
    }
    if (rawMaxActive !== 0) {
      return WorkqueueError.make("InvalidFlags", name, `WQ_BH requires max_active 0, got ${rawMaxActive}`)
    }
  }
  if ((flags & WQ_POWER_EFFICIENT) !== 0 && sys.options.powerEfficient) flags |= WQ_UNBOUND
  if ((flags & WQ_UNBOUND) !== 0) flags &= ~WQ_PERCPU
  const unbound = (flags & WQ_UNBOUND) !== 0
  const ordered = (flags & __WQ_ORDERED) !== 0
  const highpri = (flags & WQ_HIGHPRI) !== 0
  const maxActive = bh ? Infinity : clampMaxActive(sys, name, rawMaxActive === 0 ? WQ_DFL_ACTIVE : rawMaxActive)
  const wq = makeHandle({
    name,
    flags,
    ordered,
    unbound,
    bh,
    system: sys,
    savedMaxActive: maxActive,
    maxActive,
    pwqs: [],
    lifecycle: "Open",
    nrDrainers: 0,
    nrDestroyers: 0,
    workColor: 0,
    flushColor: 0,
    nrInFlight: new Int32Array(WORK_NR_COLORS),
    flushers: [],
    overflow: [],
    drainWaiters: [],
    isSystem: false,
    rescuer: undefined,
    timerCount: { armed: 0, head: undefined },
    nrQueued: 0,
    maxPending: Infinity,
    pendingWaiters: new List<PendingWaiter>(),
    nrWoken: 0
  })
  if (unbound) {
    const pool = sys.unboundPool(highpri)
    pool.refs++
    const pwq = makePwq(wq, pool, -1)
    for (let cpu = 0; cpu < sys.cpus; cpu++) wq.pwqs.push(pwq)
  } else {
    const pools = bh ? sys.bhPools : sys.boundPools
    for (let cpu = 0; cpu < sys.cpus; cpu++) {
      const pool = pools[cpu * 2 + (highpri ? 1 : 0)]!
      pool.refs++
      wq.pwqs.push(makePwq(wq, pool, cpu))
    }
  }
  if (sys.freezing && (flags & WQ_FREEZABLE) !== 0) wq.maxActive = 0
  sys.workqueues.add(wq)
  if ((flags & WQ_MEM_RECLAIM) !== 0) initRescuer(sys, wq)
  return wq
}

/**
 * `destroy_workqueue()`: reject outside queueing, fire armed timers now (docs/KERNEL-MAPPING.md), drain, stop the
 * rescuer. Idempotent: a second caller drains too and returns when the queue is gone.
 */
export const destroyWorkqueue = (sys: System, wq: WorkqueueState): Effect.Effect<void, WorkqueueError.WorkqueueError> =>
  Effect.suspend(() => {
    if (wq.lifecycle === "Destroyed") return Effect.void
    const bad = selfDeadlock(wq, "destroy_workqueue()")
    if (bad !== undefined) return Effect.fail(bad)
    wq.lifecycle = "Destroying"
    wq.nrDestroyers++
    fireArmedTimers(sys, wq)
    const destroy = Effect.andThen(
      drainWorkqueue(sys, wq, true),
      Effect.sync(() => {
        if (wq.lifecycle === "Destroyed") return
        wq.lifecycle = "Destroyed"
        sys.workqueues.delete(wq)
        sys.retired?.push(wq) // its final counts are published once
        for (const pwq of uniquePwqs(wq)) {
          pwq.pool.refs--
          if (pwq.mayday) {
            pwq.mayday = false
            removeFrom(pwq.pool.maydays, pwq)
          }
        }
        const rescuer = wq.rescuer
        if (rescuer !== undefined) {
          rescuer.pendingExit = true
          rescuer.wake?.()
        }
      })
    )
    // interrupted (a timeout, say) while draining: the workqueue is left open and usable, as an interrupted
    // drain leaves it, unless another destroy is still under way; the armed items it fired stay queued
    return Effect.ensuring(
      destroy,
      Effect.sync(() => {
        if (--wq.nrDestroyers === 0 && wq.lifecycle === "Destroying") {
          wq.lifecycle = wq.nrDrainers > 0 ? "Draining" : "Open"
        }
      })
    )
  })

/** `workqueue_set_max_active()`: BH and ordered ⇒ WARN, no-op; 0 is out of range here (becomes 1). */
export const setMaxActive = (sys: System, wq: WorkqueueState, n: number): void => {
  if (wq.bh || wq.ordered) {
    sys.log(
      "Warn",
      `workqueue: workqueue_set_max_active() on ${wq.bh ? "BH" : "ordered"} workqueue ${wq.name} ignored`,
      {
        workqueue: wq.name
      }
    )
    return
  }
  wq.savedMaxActive = clampMaxActive(sys, wq.name, n)
  wqAdjustMaxActive(sys, wq)
}

/** Close the system: destroy every workqueue (user ones first, after a flush), end workers and the timer fiber. */
export const closeSystem = (sys: System): Effect.Effect<void> =>
  Effect.gen(function* () {
    // from now on no workqueue is made (SystemClosed): one made later would have no workers, and hang
    sys.closed = true
    // a frozen system would hold its freezable items forever: thaw first (nothing accepted is dropped)
    thawWorkqueues(sys)
    const all = [...sys.workqueues]
    const user = all.filter((wq) => !wq.isSystem)
    const system = all.filter((wq) => wq.isSystem)
    // armed timers fire now, and every queue is flushed until all are quiet, before any is destroyed: an item
    // handing work to another queue (a pipeline, or schedule_work) finds it still open
    for (const wq of all) fireArmedTimers(sys, wq)
    for (let round = 0; round < 100 && all.some((wq) => !wqIsEmpty(wq)); round++) {
      for (const wq of all) yield* Effect.ignore(flushWorkqueue(wq))
    }
    for (const wq of [...user, ...system]) yield* Effect.ignore(destroyWorkqueue(sys, wq))
    sys.closing = true
    for (const worker of [...sys.allWorkers]) {
      worker.pendingExit = true
      if (worker.state === "Idle" || worker.rescuerOf !== undefined) worker.wake?.()
    }
    const fibers = [...sys.allWorkers].map((w) => w.fiber).filter((f) => f !== undefined)
    yield* Fiber.interruptAll(fibers)
    sys.allWorkers.clear()
    yield* sys.stopTimerFiber()
    // pools' cull/mayday timers and the watchdog: nothing stays armed once the system is gone
    for (const node of [...sys.timers.nodes()]) sys.timers.cancel(node)
  })
