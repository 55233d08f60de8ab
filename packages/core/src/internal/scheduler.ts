/**
 * The workqueue scheduler: one shared, class-ordered run queue for every fiber of a `WorkqueueSystem`.
 *
 * Effect 4 gives each fiber its own dispatcher, so priorities between fibers mean nothing by default
 * (`fiber.currentDispatcher` in `effect/src/internal/effect.ts`). Worker fibers run with this `Scheduler` instead:
 * every task they schedule (a cooperative
 * yield, a fork's start, a wake-up of an idle worker) goes into one queue bucketed by
 * `class + priority`, and the lowest number runs first. This is how `WQ_HIGHPRI` pools (the kernel's nice -20
 * workers) are served before normal pools, and how `WQ_CPU_INTENSIVE` workers are time-sliced.
 *
 * Execution is delegated to the parent scheduler (the one in force when the system was built) through "pump"
 * tasks, at most one pending at a time: a pump runs our tasks best class first, up to a budget, and schedules the
 * next pump if tasks are left. Pending parent tasks are O(1) per scheduler however many tasks are queued, and
 * the parent (the event loop: timers, I/O, other fibers) gets a turn between pumps. Under `TestClock` the parent
 * is its tracking scheduler, so `TestClock.adjust` still waits for work items to settle.
 *
 * Classes are served best first, but not strictly: while a worse class waits, one task in every
 * `FAIR_STREAK + 1` goes to it (`runBest`), so a self-requeuing `WQ_HIGHPRI` or BH chain slows normal work on its
 * CPU down instead of starving it — the kernel's highpri workers are nice -20 threads under CFS, weighted against
 * nice 0 (88761 : 1024, about 87 : 1), not strictly first. The timer class is always served first.
 *
 * The queue also answers the question concurrency management needs: is a worker runnable? A worker fiber that
 * has a task here is runnable; a busy worker with no task here and not on the JS stack is sleeping (suspended on
 * a timer, a Deferred, I/O...). See `core.ts` `poolProbe`.
 *
 * @internal
 */
import * as Fiber from "effect/Fiber"
import type * as Scheduler from "effect/Scheduler"

/** Scheduler classes, lower runs first. The timer fiber outranks every worker so expiries are never late. */
export const ClassTimer = -40
/** @internal */
export const ClassBhHighpri = -30
/** @internal */
export const ClassBh = -20
/** @internal */
export const ClassHighpri = -10
/** @internal */
export const ClassNormal = 0
/** @internal */
export const ClassCpuIntensive = 10

/** What the scheduler needs to know of a fiber that runs work: its class and a runnable counter. @internal */
export interface SchedEntity {
  schedClass: number // W: the scheduler class of this fiber's tasks
  nrQueuedTasks: number // L: tasks of this entity waiting in the run queue (> 0 means runnable)
  cpuIntensive: boolean // W: time-slice instead of counting operations
  onRunnable(): void // called when a sleeping entity schedules a task (it woke up)
  /**
   * A slice ran for this entity through the run queue and ended; `ms` is its CPU time after the last item
   * boundary inside it (see `cutSlice`): CPU-time accounting (the kernel's tick), and the moment a worker that is
   * busy with no task queued is known to have suspended.
   */
  onSlice(ms: number): void
}

/** Symbol under which a worker fiber carries its entity. @internal */
export const EntityKey: unique symbol = Symbol.for("effect-workqueue/SchedEntity")

/** @internal */
export const entityOf = (fiber: Fiber.Fiber<unknown, unknown> | undefined): SchedEntity | undefined =>
  fiber === undefined ? undefined : (fiber as any)[EntityKey]

interface Bucket {
  readonly priority: number
  tasks: Array<() => void> // L
  owners: Array<SchedEntity | undefined> // L: the entity of each task (parallel to `tasks`)
  head: number // L: index of the next task to run (run tasks are dropped in batches)
}

/** @internal */
export class WorkqueueScheduler implements Scheduler.Scheduler {
  readonly executionMode: "sync" | "async"
  readonly parent: Scheduler.Scheduler
  readonly parentDispatcher: Scheduler.SchedulerDispatcher
  /** Time slice of CPU-intensive workers, in ms (`WQ_CPU_INTENSIVE`). */
  readonly sliceMs: number
  private buckets: Array<Bucket> = [] // L: sorted by priority
  private size = 0 // L: tasks in all buckets
  private readonly dispatcher: Scheduler.SchedulerDispatcher // I: the parent scheduler's, where pumps run
  private readonly pump: () => void
  /**
   * A pump is on the parent's queue and has not started (L). At most one pump is ever pending, so a loop
   * that queues and flushes forever costs the parent one task per pump, never one per task (a pump per task
   * once piled up 1.47M pending no-op pumps in one parent batch and starved the event loop).
   */
  private pumpScheduled = false // L
  readonly probes: Array<() => void> = [] // L: run when the parent gets to them (see `requestProbe`)
  private probeScheduled = false // L

  /** Measures slices (CPU time), `performance.now` unless a test injects a clock. */
  readonly cpuClock: () => number // I

  constructor(parent: Scheduler.Scheduler, sliceMs: number, cpuClock: () => number) {
    this.cpuClock = cpuClock
    this.parent = parent
    this.executionMode = parent.executionMode
    this.parentDispatcher = parent.makeDispatcher()
    this.sliceMs = sliceMs
    this.pump = () => this.runOne()
    const self = this
    this.dispatcher = {
      scheduleTask(task, priority) {
        self.scheduleTask(task, priority)
      },
      flush() {
        self.parentDispatcher.flush()
      }
    }
  }

  shouldYield(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    const entity = entityOf(fiber)
    if (entity !== undefined && entity.cpuIntensive) {
      // Time-sliced (a custom `Scheduler.shouldYield`, `effect/src/Scheduler.ts`): a new slice starts when the op count
      // drops (the run loop restarted); the clock is read about every 256 operations.
      const ops = fiber.currentOpCount
      const slice: Slice = ((fiber as any)[SliceKey] ??= { start: this.cpuClock(), lastOps: ops, lastCheck: ops })
      if (ops < slice.lastOps) {
        slice.start = this.cpuClock()
        slice.lastCheck = ops
      }
      slice.lastOps = ops
      if (ops - slice.lastCheck < 256) return false
      slice.lastCheck = ops
      return this.cpuClock() - slice.start >= this.sliceMs
    }
    // inside a pump, every operation of every fiber on this scheduler (workers, the fibers their handlers fork, a
    // Job's attempt) counts against the pump's operation budget (see `PUMP_BUDGET_OPS`). Counted only: the pump
    // ends at a task or item boundary, never by making an arbitrary fiber yield here — a fiber that a handler runs
    // synchronously (`Effect.runSyncExit` with the handler's services, as `Job.submitUnsafe` does for a retry
    // schedule's first step) would then flush the parent from inside the pump (a hostile review hung it so)
    if (this.pumping > 0) this.opsRun++
    return this.parent.shouldYield(fiber)
  }

  makeDispatcher(): Scheduler.SchedulerDispatcher {
    return this.dispatcher
  }

  /** Queue a task; the class comes from the fiber that schedules it (a yield, or a fork from a worker). */
  scheduleTask(task: () => void, priority: number, owner?: SchedEntity): void {
    const entity = owner ?? entityOf(Fiber.getCurrent())
    let effective = priority
    if (entity !== undefined) {
      effective += entity.schedClass
      if (entity.nrQueuedTasks++ === 0) entity.onRunnable()
    }
    const bucket = this.bucketFor(effective)
    bucket.tasks.push(task)
    bucket.owners.push(entity)
    this.size++
    if (!this.pumpScheduled) {
      this.pumpScheduled = true
      this.parentDispatcher.scheduleTask(this.pump, 0)
    }
  }

  /** Run `probe` once the run queue has had a chance to drain (after the current parent batch). */
  requestProbe(probe: () => void): void {
    this.probes.push(probe)
    if (!this.probeScheduled) {
      this.probeScheduled = true
      this.parentDispatcher.scheduleTask(this.runProbes, 1)
    }
  }

  private runProbes = (): void => {
    this.probeScheduled = false
    const probes = this.probes.splice(0, this.probes.length)
    for (let i = 0; i < probes.length; i++) probes[i]!()
  }

  /** Tasks waiting in the run queue. */
  get queued(): number {
    return this.size
  }

  private bucketFor(priority: number): Bucket {
    const buckets = this.buckets
    let i = 0
    for (; i < buckets.length; i++) {
      const b = buckets[i]!
      if (b.priority === priority) return b
      if (b.priority > priority) break
    }
    const bucket: Bucket = { priority, tasks: [], owners: [], head: 0 }
    buckets.splice(i, 0, bucket)
    return bucket
  }

  /** The entity whose task is running now (undefined outside our tasks). */
  currentOwner: SchedEntity | undefined = undefined // L: set by the pump around each task

  /**
   * L: `cpuClock` at the start of the running slice, or at its last item boundary (`cutSlice`). A slice can run
   * several items (synchronous handlers finish inside it): each boundary charges the time since the mark to the
   * item that ended, so a slice's CPU time goes to the items that ran in it (`wq_worker_tick()` charges each
   * tick to the item running in it), and `onSlice` gets only what ran after the last boundary.
   */
  private sliceMark = 0 // L
  /**
   * L: `cpuClock` at the end of the slice that just ran in this pump, while nothing ran since (the next slice
   * starts there: one clock read per task, not two); -1 when unknown (a pump's start, after an untracked task).
   */
  private lastEnd = -1

  /** Inside a slice (`currentOwner` set): the CPU time since the slice started or the last cut, and cut here. */
  cutSlice(): number {
    const now = this.cpuClock()
    // a clock that runs backwards (a user's cpuClock) charges nothing, never a negative time
    const ms = now > this.sliceMark ? now - this.sliceMark : 0
    this.sliceMark = now
    return ms
  }

  /**
   * The system Clock read once at the start of each pump: time stamps taken inside a pump (an item's start)
   * use it instead of reading the clock per item. Exact under TestClock (time does not move within a turn);
   * with the real clock, late by at most one pump.
   */
  stamp = 0 // L: set by the pump at the start of each turn
  /**
   * Work items that ended since this pump started (L; reset by each pump). A worker runs its next item in the same
   * continuation as the last (no run-queue task per item), and a handler that completes a Deferred resumes the
   * waiting fiber inline: a request/reply loop (queue, await the reply, queue again) then runs inside ONE task,
   * which the task budget never ends. Items are counted against `PUMP_BUDGET_ITEMS` too: see `itemDone`.
   */
  private itemsRun = 0

  /**
   * An item ended on a worker: true when the pump's item budget is spent, or inside a pump its operation budget,
   * and the worker must go back through the run queue (`Effect.yieldNow`) before its next item, so the pump ends
   * and the parent (the event loop: timers, I/O, other fibers) gets a turn. Counted, not timed: the schedule stays
   * deterministic.
   */
  itemDone(): boolean {
    return ++this.itemsRun >= PUMP_BUDGET_ITEMS || (this.pumping > 0 && this.opsRun >= PUMP_BUDGET_OPS)
  }

  /**
   * Fiber operations run in this pump (L; reset by each pump): one per task, plus one per operation of any fiber on
   * this scheduler (counted in `shouldYield`, which Effect's run loop calls before each one). See `PUMP_BUDGET_OPS`.
   */
  private opsRun = 0
  /** Pumps on the JS stack (L): operations are counted only inside one (a nested pump is a parent flush). */
  private pumping = 0

  /** Reads the system Clock (set by the engine). */
  readClock: () => number = () => 0

  /**
   * `readClock` for the pump's stamp, which runs on the parent scheduler's turn outside any fiber: a Clock that
   * throws (a patched `Date.now`) keeps the last stamp instead of throwing out of the event loop's callback, which
   * ended the process.
   */
  private safeClock(): number {
    try {
      return this.readClock()
    } catch {
      return this.stamp
    }
  }

  /**
   * A pump: run our tasks, best class first, until the queue is empty, `PUMP_BUDGET_TASKS` tasks ran that ended
   * no item, `PUMP_BUDGET_ITEMS` work items ended, their slices spent `PUMP_BUDGET_OPS` operations, or a
   * time-sliced (CPU-intensive) slice ran. Running everything that is ready in one parent task means a chain of
   * wake-ups (a worker suspends, the next one starts) completes within one turn of the parent scheduler, which
   * is also what lets `TestClock.adjust` see it settle; the budget is a count, not a time, so the schedule is
   * deterministic. Tasks left at the budget get the next pump, queued behind what the parent already holds.
   */
  private runOne(): void {
    // from here on a task scheduled by what this pump runs schedules the next pump
    this.pumpScheduled = false
    this.itemsRun = 0
    this.opsRun = 0
    if (this.size > 0) this.stamp = this.safeClock()
    this.lastEnd = -1
    // a task that ended a work item is counted by the item budget, not the task budget (see `PUMP_BUDGET_TASKS`)
    let tasks = 0
    this.pumping++
    try {
      while (
        tasks < PUMP_BUDGET_TASKS &&
        this.size > 0 &&
        this.itemsRun < PUMP_BUDGET_ITEMS &&
        this.opsRun < PUMP_BUDGET_OPS
      ) {
        const items = this.itemsRun
        if (this.runBest()) break
        if (!(this.itemsRun > items)) tasks++
      }
    } finally {
      this.pumping--
    }
    // tasks left at the budget (or after a time slice) get one more pump, behind what the parent has queued
    if (this.size > 0 && !this.pumpScheduled) {
      this.pumpScheduled = true
      this.parentDispatcher.scheduleTask(this.pump, 0)
    }
  }

  /**
   * Tasks run in a row from the best bucket while a worse one waited (L): after `FAIR_STREAK` of them the next
   * task comes from a waiting worse bucket (see `fairPick`). Reset when the best bucket is the only one with tasks
   * and by each fair turn; timer-class tasks leave it alone.
   */
  private streak = 0
  /** The bucket priority the last fair turn went to (L): fair turns go round the waiting worse buckets. */
  private lastFair = Number.NEGATIVE_INFINITY

  /**
   * Bounded fairness: the bucket a fair turn goes to, among the non-empty buckets after `best` (index), the first
   * one worse than the last fair turn's, else the first: with several classes starved, each gets a turn in
   * rotation. One exists: the caller found tasks outside `best`.
   */
  private fairPick(best: number): number {
    const buckets = this.buckets
    let first = -1
    for (let j = best + 1; j < buckets.length; j++) {
      const c = buckets[j]!
      if (c.head >= c.tasks.length) continue
      if (first < 0) first = j
      if (c.priority > this.lastFair) {
        this.lastFair = c.priority
        return j
      }
    }
    this.lastFair = buckets[first]!.priority
    return first
  }

  /** Run the best task; true if it was a CPU-intensive slice (the event loop gets a turn after it). */
  private runBest(): boolean {
    const buckets = this.buckets
    for (let i = 0; i < buckets.length; i++) {
      let b = buckets[i]!
      if (b.head < b.tasks.length) {
        // bounded fairness (see the module doc): one cheap test per task. The timer class is never passed over and
        // leaves the streak as it is (a timer firing in the middle of a chain neither ends nor extends it)
        if (b.priority < ClassBhHighpri) {
          // the timer fiber
        } else if (b.tasks.length - b.head === this.size) {
          this.streak = 0
        } else if (++this.streak > FAIR_STREAK) {
          this.streak = 0
          b = buckets[this.fairPick(i)]!
        }
        const task = b.tasks[b.head]!
        const owner = b.owners[b.head]
        b.tasks[b.head] = undefined as any
        b.owners[b.head] = undefined
        b.head++
        if (b.head === b.tasks.length) {
          b.tasks.length = 0
          b.owners.length = 0
          b.head = 0
        } else if (b.head > 1024 && b.head * 2 > b.tasks.length) {
          b.tasks = b.tasks.slice(b.head)
          b.owners = b.owners.slice(b.head)
          b.head = 0
        }
        this.size--
        this.opsRun++ // every task counts one, whatever fiber operations it runs besides
        if (owner === undefined) {
          this.lastEnd = -1
          task()
          return false
        }
        owner.nrQueuedTasks--
        const previous = this.currentOwner
        this.currentOwner = owner
        // one clock read per task: the end of the previous slice in this pump is the start of this one
        this.sliceMark = this.lastEnd >= 0 ? this.lastEnd : this.cpuClock()
        this.lastEnd = -1
        try {
          task()
        } finally {
          this.currentOwner = previous
        }
        const intensive = owner.cpuIntensive
        const end = this.cpuClock()
        // a clock that runs backwards (a user's cpuClock) charges nothing, never a negative time
        const ms = end > this.sliceMark ? end - this.sliceMark : 0
        // a slice nested in this one (a task that flushed the parent) resumes charging from here
        this.sliceMark = end
        this.lastEnd = previous === undefined ? end : -1
        owner.onSlice(ms)
        return intensive
      }
    }
    return false
  }
}

/**
 * Bounded fairness between classes: after this many tasks in a row of the best class while a worse class waits,
 * one task of a worse class runs. CFS's weights of nice -20 and nice 0 (`sched_prio_to_weight[]`,
 * kernel/sched/core.c: 88761 and 1024) give the highpri worker about 87 times the normal one's CPU; here the unit
 * is a run-queue task, not CPU time. @internal
 */
export const FAIR_STREAK = 87

/**
 * How many of our tasks that end no work item one pump may run before the parent scheduler (and the event loop)
 * gets a turn. A task that ends an item counts against `PUMP_BUDGET_ITEMS` instead: a worker whose items suspend
 * once needs a task per item, and a fiber submitting in a loop queues up to `PUMP_BUDGET_ITEMS` items per turn, so
 * the workers keep pace only if a pump can run as many such tasks. When every task counted here, 16 workers of
 * suspending items ran 64 items per pump against the submitter's ~1000 per turn: the whole submission piled up
 * pending (200k jobs: ~68 MB of heap left at the end, every pending item copied by the scavenger, 2.4× slower).
 * Tasks that end nothing (a handler yielding in a loop, a waiter resumed) still give the parent a turn every 64.
 * @internal
 */
export const PUMP_BUDGET_TASKS = 64

/**
 * How many fiber operations one pump may run: sixteen fibers' turns (`Scheduler.MaxOpsBeforeYield` is 2048 by
 * default), what Effect's own scheduler would give sixteen fibers of their own in one of its batches. Every fiber on
 * this scheduler counts, not only workers (`shouldYield` counts each operation): a handler that forks a child and
 * joins it, or a Job (its attempt is a child started inside the worker's slice), runs its work on another fiber,
 * and the child's end resumes the worker inline, so counting the workers' operations alone let one pump run ~2048
 * such items of ~2000 operations each (about 1.5M operations, 3 event-loop turns for 4000 items; a hostile review
 * found it). Once the budget is spent the pump ends after the task that is running, and a worker ending an item
 * in it goes back through the run queue (`itemDone`) instead of starting the next one inline. @internal
 */
export const PUMP_BUDGET_OPS = 16 * 2048

/**
 * How many work items may end within one pump (whatever number of tasks ran them) before the parent scheduler gets a
 * turn. @internal
 *
 * The same number as Effect's default operation budget of a fiber (`Scheduler.MaxOpsBeforeYield`, 2048), and for
 * a reason both ways: a fiber submitting in a loop spends at least one operation per item, so it queues at most this
 * many items per turn and the workers, running as many per pump, keep pace with it — with 64 a million-item
 * submission loop ran ahead of its workers, piled up ~940 000 pending items (~180 MB) and ran 2.3 times slower;
 * and a request/reply loop (a handler's Deferred resuming the waiter inline) still gives the event loop a turn every
 * 2048 round trips, a few milliseconds, instead of one per ~33 000 before the budget existed.
 */
export const PUMP_BUDGET_ITEMS = 2048

interface Slice {
  start: number // L: the clock reading when the slice began
  lastOps: number // L
  lastCheck: number // L
}
const SliceKey = Symbol.for("effect-workqueue/Slice")
