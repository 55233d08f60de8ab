/**
 * The kernel-internal structures: work items, pool workqueues, worker pools, workers, workqueues.
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
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { List, type Node } from "./list.ts"
import type { SchedEntity } from "./scheduler.ts"
import type { RunToken, System } from "./engine.ts"
import type { TimerNode } from "./timer.ts"

// ---------------------------------------------------------------------------
// work->data bits (wq.h `enum work_bits`)
// ---------------------------------------------------------------------------

/** @internal */
export const WORK_PENDING = 1
/** @internal */
export const WORK_INACTIVE = 2
/** the item has flush_work waiters on its queued instance */
export const WORK_FLUSHERS = 4
/** @internal */
export const WORK_COLOR_SHIFT = 4
/** bits 8..18 hold CPU + 1 (0: none): the CPU it was queued for, or recorded at arming (`dwork->cpu`) */
export const WORK_CPU_SHIFT = 8
/** @internal */
export const WORK_CPU_MASK = 0x7ff
/** @internal */
export const WORK_NR_COLORS = 16
/** @internal */
export const WORK_OFFQ_DISABLE_MAX = 65535

/** A waiter on a completion: resumed once. @internal */
export type Waiter = (value: boolean) => void

// ---------------------------------------------------------------------------
// work_struct
// ---------------------------------------------------------------------------

/**
 * The engine's `work_struct`. The public `Work` value *is* this object (one allocation per item).
 * @internal
 */
export interface WorkState extends Node {
  readonly fn: (self: any) => Effect.Effect<void, unknown, unknown> // I: the handler factory (work->func)
  readonly ctx: Context.Context<never> // I: the services captured by `Work.make`
  readonly ownName: string | undefined // I: the name given to `make`, if any
  readonly name: string // I, on the prototype: `ownName`, else the handler's name, else "work" / "delayed_work"
  readonly isDelayed: boolean // I, on the prototype
  data: number // L: WORK_PENDING | WORK_INACTIVE | WORK_FLUSHERS | colour << 4 | (cpu + 1) << 8
  disable: number // L: the off-queue disable count (`disable_work`)
  pwq: Pwq | undefined // L: the pwq it is queued on, while PENDING and on a list
  current: Worker | undefined // L: the worker executing it now (the busy hash, inverted)
  system: System | undefined // L: the system it belongs to: set by its first successful queueing or arming; another
  //                               system may take it only once that one has closed (engine `foreignSystem`)
}

/** The engine's `delayed_work`: a work item that is also a timer node. @internal */
export interface DelayedWorkState extends WorkState, TimerNode {
  timerWq: WorkqueueState | undefined // L: dwork->wq, set when a non-zero delay is armed (dwork->cpu: data bits)
  armedPrev: DelayedWorkState | undefined // L: links in timerWq's armed list (`timerCount.head`), while armed
  armedNext: DelayedWorkState | undefined // L
}

// ---------------------------------------------------------------------------
// pool_workqueue
// ---------------------------------------------------------------------------

/** Per-pwq statistics, `enum pool_workqueue_stats` (wq_monitor.py columns). @internal */
export interface PwqStats {
  started: number // L: PWQ_STAT_STARTED
  completed: number // L: PWQ_STAT_COMPLETED
  failed: number // L: handler typed failures (ours; the kernel has none)
  defects: number // L: handler defects and interruptions (ours)
  cpuTime: number // L: PWQ_STAT_CPU_TIME: ms of JS-thread time, sampled per scheduler slice (see scheduler.ts)
  cpuIntensive: number // L: PWQ_STAT_CPU_INTENSIVE (automatic hog detection)
  cmWakeup: number // L: PWQ_STAT_CM_WAKEUP
  mayday: number // L: PWQ_STAT_MAYDAY
  rescued: number // L: PWQ_STAT_RESCUED
}

/** `struct pool_workqueue`. @internal */
export interface Pwq {
  readonly wq: WorkqueueState // I
  readonly pool: Pool // I
  readonly cpu: number // I: the CPU slot (-1 for the unbound dfl_pwq)
  nrActive: number // L: active items (worklist + running), <= wq.maxActive
  readonly inactive: List<WorkState> // L: held back by max_active, freezing
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
  readonly worklist: List<WorkState> // L: active items waiting for a worker, FIFO shared by every wq of the pool
  readonly workers: Set<Worker> // L
  readonly idle: Array<Worker> // L: idle workers, LIFO (the kernel's idle_list)
  nrRunning: number // L: concurrency-managed workers busy and not sleeping (pool->nr_running)
  nrWaking: number // L: workers woken or created that have not picked an item yet
  readonly maxWorkers: number // I: the per-pool worker cap (a pool that can't create workers → mayday)
  progress: number // L: bumped when an item is added to an empty worklist or starts (the watchdog's stamp, as a counter)
  probeRequested: boolean // L: a concurrency-management probe is pending (see engine `poolProbe`)
  readonly usedIds: Set<number> // L: worker ids in use (lowest free id is reused)
  readonly cullTimer: TimerNode // I: the idle-cull timer (idle_worker_timeout)
  readonly maydayTimer: TimerNode // I: the mayday timer (pool_mayday_timeout)
  readonly maydays: Array<Pwq> // L: pwqs asking for their rescuer
  refs: number // L: pwqs using this pool (wq_dump.py "ref")
  wdProgress: number // L: the progress counter the watchdog saw last
  wdSince: number // L: ms on the Clock since which the watchdog saw no progress
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
  readonly scheduled: List<WorkState> // L: items assigned to this worker (non-reentrance collisions)
  runFlushers: Array<Waiter> | undefined // L: flush_work/cancel_sync waiters on the running instance
  lastDesc: string // L: the last workqueue it ran for (comm "-desc")
  idleSince: number // L: ms on the Clock when it went idle
  wake: (() => void) | undefined // L: resumes the parked worker fiber
  pendingExit: boolean // L: told to exit (culled / system closing)
  waking: boolean // L: counted in pool.nrWaking (woken or created, not yet at its first step)
  runMs: number // L: CPU ms of the current item since it started or last woke (CPU-hog detection)
  token: RunToken | undefined // W: the run identity in the handler's context (engine `RunToken`); set at a start
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
  nrWoken: number
}

/** A `Workqueue.queueWait` caller parked until the workqueue has room (a node: O(1) removal on interrupt). @internal */
export interface PendingWaiter extends Node {
  woken: boolean // L: set by `wqWakePendingWaiter` when it takes the waiter off the list and reserves its room
  readonly wake: () => void // resumes the waiting fiber through the run queue, never inline
}

/** The system: CPUs, pools, system workqueues, timers. See `engine.ts`. @internal */
export interface SystemState {
  readonly cpus: number // I
  readonly workqueues: Set<WorkqueueState> // L
  readonly boundPools: Array<Pool> // I: index cpu*2 (+1 highpri)
  readonly bhPools: Array<Pool> // I: index cpu*2 (+1 highpri)
  readonly unboundPools: Map<string, Pool> // L: by attributes
  readonly pools: Array<Pool> // L: every pool by id
  freezing: boolean // WQ
  closing: boolean // WQ: workers and the timer fiber are being stopped (the last phase of closing)
  closed: boolean // WQ: the system layer has begun to close: no new workqueue (engine `allocWorkqueue`)
}

/** @internal */
export const makeStats = (): PwqStats => ({
  started: 0,
  completed: 0,
  failed: 0,
  defects: 0,
  cpuTime: 0,
  cpuIntensive: 0,
  cmWakeup: 0,
  mayday: 0,
  rescued: 0
})

/** @internal */
export const makePwq = (wq: WorkqueueState, pool: Pool, cpu: number): Pwq => ({
  wq,
  pool,
  cpu,
  nrActive: 0,
  inactive: new List<WorkState>(),
  stats: makeStats(),
  mayday: false
})
