/**
 * The kernel-internal structures: work items, pool workqueues, worker pools, workers, workqueues, and the
 * `System` that owns them all (its pools, its workqueues, its timers, its run queue), and the statistics table.
 * The code that moves items through them is in `core.ts`, `worker.ts` and the callers above them (see `engine.ts`);
 * this module imports none of it.
 *
 * Field rules (after kernel/workqueue.c "exclusion rules"), adapted to one JS thread:
 *
 *  I:  set by the constructor, read-only after.
 *  L:  the pool lock: read and written only inside one synchronous step (an `*Unsafe` function or a
 *      `Effect.sync` body), with no `yield*` between the read and the write. All of the engine's state machine
 *      (queueing, activation, cancel, colours) is made of such steps, so no fiber can observe a half-done move.
 *  W:  the owning worker fiber only (its own bookkeeping while it runs an item).
 *  WQ: changed only by the workqueue's own lifecycle operations (destroy, drain, setMaxActive, freeze/thaw), each
 *      a synchronous step; they never interleave mid-step.
 *
 * Diagram of where a work item can be (the `WORK_STRUCT_*` states of `kernel/workqueue.c`); every arrow is one
 * L step:
 *
 * ```
 *            queue (PENDING 0→1)          activation (max_active room)
 *   idle ────────────────────────► inactive list ─────────────► pool worklist ──► worker (running, PENDING=0)
 *    ▲  └── queueDelayed ──► timer bucket ──(expiry: queue)──┘         │                   │
 *    └───────────── cancel (unlink, PENDING 1→0) ◄────────────────────┴─── finish ◄───────┘
 * ```
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Scheduler from "effect/Scheduler"
import * as Tracer from "effect/Tracer"
import type * as WorkqueueMetrics from "../WorkqueueMetrics.ts"
import type * as WorkqueueSystem from "../WorkqueueSystem.ts"
import { fineReader, isLiveClock, liveOrigin } from "./fineClock.ts"
import { type Link, type List, type Node, WorkList } from "./list.ts"
import { type SchedEntity, WorkqueueScheduler } from "./scheduler.ts"
import { makeTimerNode, TimerBase, TimerFiber, type TimerNode } from "./timer.ts"

/** A waiter on a completion: resumed once. @internal */
export type Waiter = (value: boolean) => void

// ---------------------------------------------------------------------------
// work_struct
// ---------------------------------------------------------------------------

/**
 * The engine's `work_struct`. The public `Work` value *is* this object (one allocation per item).
 * @internal
 */
export interface WorkState extends Link {
  readonly fn: (self: any, item?: any) => Effect.Effect<void, unknown, unknown> // I: the handler factory (work->func):
  //                                   called with the item, or with its datum and the item when `hasDatum`
  readonly ctx: Context.Context<never> // I: the services captured by `Work.make`
  readonly name: string // I, on the prototype: `extra.name`, else the handler's name, else "work" / "delayed_work"
  readonly isDelayed: boolean // I, on the prototype
  readonly hasDatum: boolean // I, on the prototype: a `DataWorkState` (`Work.makeWith`)
  data: number // L: the work->data word, every bit listed in `workData.ts`
  extra: WorkExtra | undefined // L: the rarely used fields, made by `make` for a named item or by the first
  //                              disable_work() (`workExtra`); once made, kept for the item's life
  pwq: Pwq | undefined // L: the pwq it is queued on, while PENDING and on a list
  current: Worker | undefined // L: the worker executing it now (the busy hash, inverted)
  system: System | undefined // L: the system it belongs to: set by its first successful queueing or arming; another
  //                               system may take it only once that one has closed (`validate.ts` `foreignSystem`)
}

/** A work item made by `Work.makeWith`: its handler is shared, and gets this datum. @internal */
export interface DataWorkState extends WorkState {
  readonly datum: unknown // I: what `fn` gets, with the item
}

/**
 * The fields of a work item that most items never use, in one object made on first use (`workExtra`), so an item
 * without them is four fields smaller. @internal
 */
export interface WorkExtra {
  readonly name: string | undefined // I: the name given to `make`, if any
  disable: number // L: the off-queue disable count (`disable_work`; the kernel keeps it in the off-queue data bits)
}

/** The item's `WorkExtra`, made now if it has none (a disable count's first use). @internal */
export const workExtra = (work: WorkState): WorkExtra => (work.extra ??= { name: undefined, disable: 0 })

/** The off-queue disable count (`disable_work`): 0 for an item without a `WorkExtra`. @internal */
export const workDisableCount = (work: WorkState): number => (work.extra === undefined ? 0 : work.extra.disable)

/** The engine's `delayed_work`: a work item that is also a timer node. @internal */
export interface DelayedWorkState extends WorkState, TimerNode {
  // its links serve the timer buckets (a `List`: `list` says which bucket, "armed") and, once queued, a `WorkList`
  next: Node | undefined // L
  prev: Node | undefined // L
  timerWq: WorkqueueState | undefined // L: dwork->wq, set when a non-zero delay is armed (dwork->cpu: data bits)
  armedPrev: DelayedWorkState | undefined // L: links in timerWq's armed list (`timerCount.head`), while armed
  armedNext: DelayedWorkState | undefined // L
}

// ---------------------------------------------------------------------------
// pool_workqueue
// ---------------------------------------------------------------------------

/**
 * Per-pwq statistics: the public `WorkqueueMetrics.PwqStats` table, writable here. Every field is L (counted inside
 * the engine step that starts, ends, wakes or rescues an item).
 * @internal
 */
export type PwqStats = { -readonly [K in keyof WorkqueueMetrics.PwqStats]: number }

/** What the statistics table holds for one counter. @internal */
export interface PwqStatInfo {
  /** "count": an integer; "ms": milliseconds (a snapshot shows it as `<name>Ms`, rounded to µs) */
  readonly unit: "count" | "ms"
  /** the description of its `workqueue_*` Effect metric (`WorkqueueMetrics.publish`) */
  readonly description: string
}

/**
 * The statistics table: one row per counter of `WorkqueueMetrics.PwqStats`, in `wq_monitor.py`'s order. Its type
 * makes it list every counter of the interface and no other, so a new statistic is written twice only: its
 * documented field there, its row here. Everything else that lists the statistics derives from this table: the
 * engine's counters (`makeStats`), `WorkqueueMetrics.stats` and its Effect metrics (name and unit),
 * `WorkqueueSystem.snapshot`'s per-pwq stats (`WorkqueueSystem.snapshotStatUnits`) and what reads a snapshot (the
 * platform's monitor and its schema).
 * @internal
 */
export const PWQ_STATS = {
  started: { unit: "count", description: "work items started (PWQ_STAT_STARTED)" },
  completed: { unit: "count", description: "work items completed (PWQ_STAT_COMPLETED)" },
  failed: { unit: "count", description: "handlers that failed with a typed error" },
  defects: { unit: "count", description: "handlers that died or were interrupted" },
  cpuTime: { unit: "ms", description: "handler CPU time, ms (PWQ_STAT_CPU_TIME)" },
  cpuIntensive: { unit: "count", description: "automatic CPU-intensive detections (PWQ_STAT_CPU_INTENSIVE)" },
  cmWakeup: { unit: "count", description: "concurrency-management wake-ups (PWQ_STAT_CM_WAKEUP)" },
  mayday: { unit: "count", description: "maydays sent (PWQ_STAT_MAYDAY)" },
  rescued: { unit: "count", description: "items run by the rescuer (PWQ_STAT_RESCUED)" }
} as const satisfies { readonly [K in keyof PwqStats]: PwqStatInfo }

/** The names of the `PwqStats` counters, in the table's order. @internal */
export const PWQ_STAT_NAMES = Object.keys(PWQ_STATS) as ReadonlyArray<keyof PwqStats>

/** A counter's key in a snapshot (`WorkqueueSystem.PwqSnapshot.stats`): an "ms" counter is `<name>Ms`. @internal */
export type SnapshotStatKey<K extends keyof PwqStats> = (typeof PWQ_STATS)[K]["unit"] extends "ms" ? `${K}Ms` : K

/** A snapshot's per-pwq statistics, as the table derives them. @internal */
export type SnapshotStats = { readonly [K in keyof PwqStats as SnapshotStatKey<K>]: number }

/**
 * Compiles only while the public `WorkqueueSystem.PwqSnapshot.stats` is what the table derives (every counter under
 * its own name, an "ms" one as `<name>Ms`): a new "ms" counter fails here until that type names it. @internal
 */
export const SNAPSHOT_STATS_DERIVED: [WorkqueueSystem.PwqSnapshot["stats"], SnapshotStats] extends [
  SnapshotStats,
  WorkqueueSystem.PwqSnapshot["stats"]
]
  ? true
  : never = true

/** The key of counter `name` in a snapshot (see `SnapshotStatKey`). @internal */
export const snapshotStatKey = <K extends keyof PwqStats>(name: K): SnapshotStatKey<K> =>
  (PWQ_STATS[name].unit === "ms" ? `${name}Ms` : name) as SnapshotStatKey<K>

/** The name of counter `name`'s Effect metric: `workqueue_` + its name in snake case (+ `_ms` for an "ms" one). @internal */
export const statMetricName = (name: keyof PwqStats): string =>
  `workqueue_${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}${PWQ_STATS[name].unit === "ms" ? "_ms" : ""}`

/**
 * The job counters of one workqueue (`Job`'s `workqueue_job_*` metrics): one row per counter, its Effect metric's
 * name and description. They are kept in the workqueue (`WorkqueueState.jobStats`) and published by
 * `WorkqueueMetrics.publish` with the `workqueue_*` statistics, under the same rule: deltas per workqueue, a
 * destroyed workqueue's final counts once. Counting straight into the global metric registry instead would leave
 * a series per workqueue name behind for ever, published or not.
 * @internal
 */
export const JOB_STATS = {
  timeouts: { metric: "workqueue_job_timeouts", description: "job attempts interrupted by their timeout" },
  retries: { metric: "workqueue_job_retries", description: "failed job attempts queued again" },
  deadLetters: { metric: "workqueue_job_dead_letters", description: "jobs that failed after their last attempt" }
} as const

/** The names of the job counters, in the table's order. @internal */
export type JobStatName = keyof typeof JOB_STATS

/** @internal */
export const JOB_STAT_NAMES = Object.keys(JOB_STATS) as ReadonlyArray<JobStatName>

/** One Effect counter per job counter (exported as `Job.timeouts` & co.), named and described by the table. @internal */
export const jobCounters = Object.fromEntries(
  JOB_STAT_NAMES.map((key) => [
    key,
    Metric.counter(JOB_STATS[key].metric, { description: JOB_STATS[key].description, incremental: true })
  ])
) as { readonly [K in JobStatName]: Metric.Counter<number> }

/** `struct pool_workqueue`. @internal */
export interface Pwq {
  readonly wq: WorkqueueState // I
  readonly pool: Pool // I
  readonly cpu: number // I: the CPU slot (-1 for the unbound dfl_pwq)
  nrActive: number // L: active items (worklist + running), <= wq.maxActive
  readonly inactive: WorkList<WorkState> // L: held back by max_active, freezing
  readonly stats: PwqStats // L
  mayday: boolean // L: on its pool's mayday list
}

// ---------------------------------------------------------------------------
// worker_pool and worker
// ---------------------------------------------------------------------------

/** Kind of pool: bound per-CPU (normal / highpri), BH per-CPU, or unbound by attributes. @internal */
export type PoolKind = "bound" | "bh" | "unbound"

/** `struct worker_pool`. @internal */
export interface Pool {
  readonly id: number // I: pool id (wq_dump.py)
  readonly kind: PoolKind // I
  readonly cpu: number // I: -1 for unbound
  readonly highpri: boolean // I: nice -20
  readonly worklist: WorkList<WorkState> // L: active items waiting for a worker, FIFO shared by every wq of the pool
  readonly workers: Set<Worker> // L
  readonly idle: Array<Worker> // L: idle workers, LIFO (the kernel's idle_list)
  nrRunning: number // L: concurrency-managed workers busy and not sleeping (pool->nr_running)
  nrWaking: number // L: workers woken or created that have not picked an item yet
  readonly maxWorkers: number // I: the per-pool worker cap (a pool that can't create workers → mayday)
  progress: number // L: bumped when an item is added to an empty worklist or starts (the watchdog's stamp, as a counter)
  probeRequested: boolean // L: a concurrency-management probe is pending (see `core.ts` `poolProbe`)
  readonly usedIds: Set<number> // L: worker ids in use (lowest free id is reused)
  readonly cullTimer: TimerNode // I: the idle-cull timer (idle_worker_timeout)
  readonly maydayTimer: TimerNode // I: the mayday timer (pool_mayday_timeout)
  readonly maydays: Array<Pwq> // L: pwqs asking for their rescuer
  refs: number // L: pwqs using this pool (wq_dump.py "ref")
  wdProgress: number // L: the progress counter the watchdog saw last
  wdSince: number // L: `System.monoNow` since which the watchdog saw no progress (elapsed time: a wall-clock step
  //   neither reports a lockup nor hides one)
}

/** Worker lifecycle, as a tagged union rather than booleans. @internal */
export type WorkerState = "Idle" | "Busy" | "Dying"

/** `struct worker`: a long-lived fiber that runs items inline. @internal */
export interface Worker extends SchedEntity {
  readonly id: number // I: per-pool id (-1 for a rescuer)
  pool: Pool // I, except for rescuers (L: the pool being rescued)
  readonly name: string // I: kworker-style name
  readonly rescuerOf: WorkqueueState | undefined // I: set for a rescuer (kworker/R-<wq>)
  readonly system: System // I
  fiber: Fiber.Fiber<unknown, unknown> | undefined // I (set right after fork)
  state: WorkerState // L
  current: WorkState | undefined // L: current_work
  currentPwq: Pwq | undefined // L: current_pwq
  currentColor: number // L: current_color
  currentCpu: number // L: the CPU of the current item (raw_smp_processor_id() inside it)
  currentStart: number // L: ms on the Clock when the current item started
  sleeping: boolean // L: suspended inside the current item (left nr_running)
  counted: boolean // L: counted in pool.nrRunning
  readonly scheduled: WorkList<WorkState> // L: items assigned to this worker (non-reentrance collisions, the
  //                                           rescuer's batch); each is in `System.scheduledOn` while there
  runFlushers: Array<Waiter> | undefined // L: flush_work/cancel_sync waiters on the running instance
  lastDesc: string // L: the last workqueue it ran for (comm "-desc")
  idleSince: number // L: ms on the Clock when it went idle
  wake: (() => void) | undefined // I once its loop is built (`makeParking`): resumes the parked fiber, or makes its next park return
  pendingExit: boolean // L: told to exit (culled / system closing)
  waking: boolean // L: counted in pool.nrWaking (woken or created, not yet at its first step)
  runMs: number // L: CPU ms of the current item since it started or last woke (CPU-hog detection)
  token: RunToken | undefined // W: the run identity in the handler's context (`RunToken` below); set at a start
}

// ---------------------------------------------------------------------------
// workqueue_struct
// ---------------------------------------------------------------------------

/** Lifecycle of a workqueue (tagged, not booleans). @internal */
export type WqLifecycle = "Open" | "Draining" | "Destroying" | "Destroyed"

/** A `flush_workqueue` waiter. @internal */
export interface Flusher {
  color: number // L: its flush colour; -1 while on the overflow list
  resume: Waiter | undefined // L
}

/** `struct workqueue_struct`. @internal */
export interface WorkqueueState {
  readonly name: string // I
  readonly flags: number // I: WQ_* plus __WQ_ORDERED / __WQ_LEGACY
  readonly ordered: boolean // I
  readonly unbound: boolean // I
  readonly bh: boolean // I
  readonly system: System // I
  isSystem: boolean // I: one of the system_*_wq
  savedMaxActive: number // WQ: the configured max_active
  maxActive: number // WQ: the effective limit (0 while frozen)
  readonly pwqs: Array<Pwq> // I: per-CPU slots (all the same dfl_pwq for unbound/ordered)
  lifecycle: WqLifecycle // WQ
  nrDrainers: number // WQ
  nrDestroyers: number // WQ: destroy calls under way (an interrupted one reopens the wq only if it was the last)
  workColor: number // L: colour stamped on newly queued items
  flushColor: number // L: the oldest colour still being flushed (== workColor when none)
  readonly nrInFlight: Int32Array // L: items in flight per colour (queued or running)
  readonly flushers: Array<Flusher> // L: waiting flushers, colour order
  readonly overflow: Array<Flusher> // L: flushers waiting for a free colour
  readonly drainWaiters: Array<Waiter> // L: woken whenever the wq may have become empty
  rescuer: Worker | undefined // WQ
  /**
   * L: the delayed items armed for this wq, a count and an intrusive list (`armedPrev`/`armedNext`, newest
   * first), so destroy fires exactly its own timers without walking the system's timer structure.
   */
  readonly timerCount: { armed: number; head: DelayedWorkState | undefined }
  nrQueued: number // L: items queued on its pwqs (worklist, scheduled or inactive) and not started: work.pwq.wq === this
  maxPending: number // I (set right after alloc): bound on nrQueued + timerCount.armed for new queueing; Infinity: none
  readonly pendingWaiters: List<PendingWaiter> // L: `Workqueue.queueWait` callers waiting for nrQueued + armed < maxPending
  /**
   * L: waiters woken and not yet back to retry: the room each was woken for stays reserved for it, so one freed
   * slot wakes one waiter, a burst of freed slots in one step wakes as many, and none loses its turn to another
   * waiter or a newcomer (without it, waiters woken together raced and the losers went back in reverse order).
   */
  nrWoken: number // L (see above)
  /** L: the job counters (`JOB_STATS`), bumped by the workqueue's jobs, read by `WorkqueueMetrics.publish` */
  readonly jobStats: Record<JobStatName, number>
}

/** A `Workqueue.queueWait` caller parked until the workqueue has room (a node: O(1) removal on interrupt). @internal */
export interface PendingWaiter extends Node {
  woken: boolean // L: set by `wqWakePendingWaiter` when it takes the waiter off the list and reserves its room
  readonly wake: () => void // resumes the waiting fiber through the run queue, never inline
}

/** Zero counters for a new pwq. @internal */
export const makeStats = (): PwqStats => {
  const stats = {} as PwqStats
  for (const key of PWQ_STAT_NAMES) stats[key] = 0
  return stats
}

/** Zero job counters for a new workqueue. @internal */
export const makeJobStats = (): Record<JobStatName, number> => {
  const stats = {} as Record<JobStatName, number>
  for (const key of JOB_STAT_NAMES) stats[key] = 0
  return stats
}

/** @internal */
export const makePwq = (wq: WorkqueueState, pool: Pool, cpu: number): Pwq => ({
  wq,
  pool,
  cpu,
  nrActive: 0,
  inactive: new WorkList<WorkState>(),
  stats: makeStats(),
  mayday: false
})

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
  readonly tracepoint: ((tp: WorkqueueMetrics.Tracepoint<WorkState>) => void) | undefined
  /** run each handler in a root span named after its work item */
  readonly spans: boolean
}

/**
 * What the system runs that lives above the structures: the idle cull and the mayday timer of each pool and worker
 * creation (`worker.ts`), the lockup watchdog (`diagnostics.ts`). Passed in by `makeSystem`, so the structures (and
 * `core.ts`, which kicks pools) never import the code that creates workers.
 * @internal
 */
export interface SystemFns {
  readonly cullIdle: (sys: System, pool: Pool, now: number) => void
  readonly maydayTimeout: (sys: System, pool: Pool, now: number) => void
  readonly watchdog: (sys: System, now: number) => void
  /** `create_worker()`: false when the pool is at its worker cap or the system is closing */
  readonly createWorker: (sys: System, pool: Pool) => boolean
}

/** @internal */
/** `String(u)` for a log line, for any value: a Symbol, or an object whose `toString` throws, never throws here. */
const printable = (u: unknown): string => {
  try {
    return typeof u === "symbol" ? u.toString() : String(u)
  } catch {
    return `<unprintable ${typeof u}>`
  }
}

export class System {
  readonly cpus: number // I
  readonly options: SystemOptions // I
  readonly workqueues = new Set<WorkqueueState>() // L
  readonly boundPools: Array<Pool> = [] // I: index cpu*2 (+1 highpri)
  readonly bhPools: Array<Pool> = [] // I: index cpu*2 (+1 highpri)
  readonly unboundPools = new Map<string, Pool>() // L: by attributes
  readonly pools: Array<Pool> = [] // L: every pool by id
  freezing = false // WQ
  closing = false // WQ: workers and the timer fiber are being stopped (the last phase of closeSystem)
  closed = false // WQ: closeSystem has begun: no new workqueue (SystemClosed); its own are flushed, destroyed
  //   and outside queueing (not from one of this system's items) fails with Destroyed
  shuttingDown = false // WQ: set once by beginShutdown, never cleared: outside queueing fails with Draining
  sealed = false // WQ: set once by sealShutdown (a shutdown past its deadline), never cleared: every queueing and
  //   arming fails with Draining, from the system's own items too, so a chain that re-queues itself ends
  readonly scheduler: WorkqueueScheduler // I
  readonly clock: Clock.Clock // I
  private readonly fineReader: () => number // I: `clock` below the millisecond (`fineClock.ts`)
  private readonly liveClock: boolean // I: `clock` is Effect's live Clock (`isLiveClock`)
  /**
   * L: the live readings' origin the armed timers are in (NaN: no reading yet); `fineNow` moves the timers when the
   * origin moved (a wall-clock step), in the step that reads it.
   */
  private timersOrigin = Number.NaN
  /** L: the sum of the wall-clock steps `fineNow` has shifted the timers by (0 on any Clock but the live one). */
  private steps = 0
  readonly baseCtx: Context.Context<never> // I: context of every worker fiber
  readonly timers: TimerBase // L
  readonly timerFiber: TimerFiber // I: fires `timers` (timer.ts)
  readonly workFlushers = new Map<WorkState, Array<Waiter>>() // L: flush_work waiters on queued instances
  /**
   * L: the worker whose scheduled list holds each item on one (a work item has no list pointer: on no scheduled
   * list, a queued item is on its pwq's inactive list if WORK_INACTIVE, else on its pool's worklist). Written only
   * by `scheduleOn` / `takeScheduled` and a grab (`core.ts`); rare: collisions and the rescuer's batches.
   */
  readonly scheduledOn = new Map<WorkState, Worker>()
  readonly freezeWaiters: Array<Waiter> = [] // L
  readonly allWorkers = new Set<Worker>() // L
  readonly letterFibers = new Set<Fiber.Fiber<void>>() // L: the fibers of jobs' dead-letter handlers still running
  //   (added by `Job` when it forks one, removed by the fiber's end); closeSystem waits for them with the items
  private readonly runCtxCache = new WeakMap<Context.Context<never>, Context.Context<never>>() // L
  private readonly warnedOnce = new Set<string>() // L
  hookErrors = 0 // L: calls of a user hook (`tracepoint`, `cpuClock`) that threw or gave a non-finite time
  retired: Array<WorkqueueState> | undefined = undefined // L: destroyed since the last metrics publication (kept
  //   only once something publishes: WorkqueueMetrics.publish sets it, drains it each time)
  readonly hogCounts = new Map<string, number>() // L: wq_cpu_intensive_report() per work name (at most 128)
  readonly watchdogTimer: TimerNode // I
  private readonly fns: SystemFns // I: what the system's timers run and how it creates workers (`worker.ts` makeSystem)

  constructor(ctx: Context.Context<never>, options: SystemOptions, fns: SystemFns) {
    this.fns = fns
    this.cpus = options.cpus
    this.options = this.guardHooks(options)
    const parent = Context.get(ctx, Scheduler.Scheduler)
    this.scheduler = new WorkqueueScheduler(parent, options.cpuIntensiveSliceMs, this.options.cpuClock)
    this.scheduler.readClock = () => this.clock.currentTimeMillisUnsafe()
    this.clock = Context.get(ctx, Clock.Clock)
    this.fineReader = fineReader(this.clock)
    this.liveClock = isLiveClock(this.clock)
    this.timers = new TimerBase(this.clock.currentTimeMillisUnsafe())
    this.baseCtx = Context.add(Context.omit(Tracer.ParentSpan, CurrentCpu)(ctx), Scheduler.Scheduler, this.scheduler)
    this.timerFiber = new TimerFiber(
      this.timers,
      this.scheduler,
      () => this.now(),
      () => this.fineNow(),
      this.liveClock,
      (message) => this.log("Error", message)
    )
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      this.boundPools.push(this.makePool("bound", cpu, false), this.makePool("bound", cpu, true))
    }
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      this.bhPools.push(this.makePool("bh", cpu, false), this.makePool("bh", cpu, true))
    }
    this.watchdogTimer = makeTimerNode((now) => fns.watchdog(this, now))
  }

  /** Arm the lockup watchdog (`wq_watchdog_set_thresh()`). */
  startWatchdog(): void {
    if (this.options.watchdogThresh > 0)
      this.timerFiber.arm(this.watchdogTimer, this.now() + this.options.watchdogThresh)
  }

  /** `create_worker()` for `pool` (`worker.ts`): false when the pool is at its worker cap or the system is closing. */
  createWorker(pool: Pool): boolean {
    return this.fns.createWorker(this, pool)
  }

  now(): number {
    return this.clock.currentTimeMillisUnsafe()
  }

  /**
   * The Clock below the millisecond, for the timers (`fineClock.ts`): arming and expiry are decided on it. On the
   * live Clock a reading that re-anchored (the wall clock stepped since the timers' last reading, here or in another
   * system) first moves the armed timers by the step (`TimerFiber.shift`): a delay counts the time that passes,
   * not the wall clock's jumps. The first reading only records the frame: timers armed before it used the Clock's
   * milliseconds, which a reading agrees with to within one.
   */
  fineNow(): number {
    const fine = this.fineReader()
    if (this.liveClock) {
      const origin = liveOrigin()
      if (origin !== this.timersOrigin) {
        const step = origin - this.timersOrigin
        // NaN before the first reading; never NaN or infinite after it (`liveFineNow` keeps the frame on a broken
        // wall reading), and a broken step must not poison the timers' epoch for good
        if (Number.isFinite(step)) {
          this.timerFiber.shift(step)
          this.steps += step
        }
        this.timersOrigin = origin
      }
    }
    return fine
  }

  /**
   * Elapsed time in ms, for what measures how long something lasted across timer expiries (the lockup watchdog):
   * the fine reading without the wall-clock steps it shifted the timers by — the live Clock's monotonic time, any
   * other Clock's own time (a `TestClock`'s, exactly).
   */
  monoNow(): number {
    const fine = this.fineNow()
    return fine - this.steps
  }

  /** The Clock, or inside a scheduler pump the pump's stamp (the same time, without a clock read). */
  stampNow(): number {
    return this.scheduler.currentOwner !== undefined ? this.scheduler.stamp : this.clock.currentTimeMillisUnsafe()
  }

  makePool(kind: PoolKind, cpu: number, highpri: boolean): Pool {
    const sys = this
    const fns = this.fns
    const pool: Pool = {
      id: this.pools.length,
      kind,
      cpu,
      highpri,
      worklist: new WorkList<WorkState>(),
      workers: new Set(),
      idle: [],
      nrRunning: 0,
      nrWaking: 0,
      maxWorkers: kind === "bh" ? 1 : this.options.maxWorkersPerPool,
      progress: 0,
      probeRequested: false,
      usedIds: new Set(),
      cullTimer: makeTimerNode((now) => fns.cullIdle(sys, pool, now)),
      maydayTimer: makeTimerNode((now) => fns.maydayTimeout(sys, pool, now)),
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

  /**
   * The user's synchronous hooks, guarded: they run inside the engine's steps, where a throw would leave a step
   * half done (an item PENDING on no list, a worker that never starts its item). A `tracepoint` that throws is
   * counted (`hookErrors`) and warned about once per event kind; the step goes on. A `cpuClock` that throws or
   * returns a non-finite number is counted, warned about once, and replaced by `performance.now` for the rest of
   * the system's life (its readings no longer compare with the broken clock's).
   */
  private guardHooks(options: SystemOptions): SystemOptions {
    const tracepoint = options.tracepoint
    const userClock = options.cpuClock
    let clock: () => number = userClock
    // the guard itself must not throw: a thrown value (or a clock's return value) may be a Symbol or an object whose
    // toString throws, and the guard runs inside engine steps
    const hookFailed = (key: string, message: string, cause: unknown) => {
      this.hookErrors++
      try {
        this.warnOnce(key, message, cause === undefined ? undefined : { cause: printable(cause) })
      } catch {
        // the log itself failed (a broken logger): the count above still says it happened
      }
    }
    return {
      ...options,
      tracepoint:
        tracepoint === undefined
          ? undefined
          : (tp) => {
              try {
                tracepoint(tp)
              } catch (cause) {
                hookFailed(
                  `tracepoint:${tp._tag}`,
                  `tracepoint sink threw on ${tp._tag} (workqueue "${tp.workqueue}"): event dropped, the engine goes on; further throws on ${tp._tag} are counted (snapshot hookErrors), not logged`,
                  cause
                )
              }
            },
      cpuClock: () => {
        if (clock !== userClock) return clock()
        let t: number
        try {
          t = userClock()
          if (typeof t === "number" && Number.isFinite(t)) return t
        } catch (cause) {
          clock = () => performance.now()
          hookFailed("cpuClock", "cpuClock threw: performance.now measures handler CPU time from now on", cause)
          return clock()
        }
        clock = () => performance.now()
        hookFailed(
          "cpuClock",
          `cpuClock returned ${printable(t)}, not a finite number: performance.now measures handler CPU time from now on`,
          undefined
        )
        return clock()
      }
    }
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
}

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
/** @internal */
export const uniquePwqs = (wq: WorkqueueState): Array<Pwq> => (wq.unbound ? [wq.pwqs[0]!] : wq.pwqs)
