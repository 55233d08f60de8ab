/**
 * The workers, arranged like kernel/workqueue.c: creating, parking and culling them, maydays → CPU hogs → the
 * worker loop (`worker_thread()`, `process_one_work()`) and how a handler runs on it → the rescuer → wiring the
 * system's own timers and worker creation (`makeSystem`). The policy the workers follow and the accounting they
 * update (activation, flush colours, concurrency management) are in `core.ts`, below this module; field rules: see
 * the legend in `state.ts`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import {
  findWorkerExecuting,
  keepWorking,
  kickPool,
  needMoreWorker,
  poolIsManaged,
  poolRequestProbe,
  pwqDecNrActive,
  removeFrom,
  scheduleOn,
  takeScheduled,
  tooManyWorkers,
  workerSleeping,
  workersExecuting,
  workerWakeFromSleep,
  wqDecNrInFlight,
  wqPendingDec
} from "./core.ts"
import { wqCpuIntensiveReport, wqWatchdogTimerFn } from "./diagnostics.ts"
import { WQ_CPU_INTENSIVE } from "./flags.ts"
import { WorkList } from "./list.ts"
import { ClassBh, ClassBhHighpri, ClassCpuIntensive, ClassHighpri, ClassNormal, EntityKey } from "./scheduler.ts"
import {
  type DataWorkState,
  type Pool,
  type RunToken,
  System,
  type SystemOptions,
  type Worker,
  type WorkqueueState,
  type WorkState
} from "./state.ts"
import {
  WORK_EXEC_ONE,
  WORK_FLUSHERS,
  WORK_INACTIVE,
  WORK_LAST_GONE,
  WORK_PENDING,
  workColor,
  workCpu,
  workNrExec
} from "./workData.ts"

/** `IDLE_WORKER_TIMEOUT`, 300 s */
export const IDLE_WORKER_TIMEOUT = 300_000
/** `MAYDAY_INTERVAL` */
export const MAYDAY_INTERVAL = 100
/** `RESCUER_BATCH` */
export const RESCUER_BATCH = 16
/** `BH_WORKER_RESTARTS` */
const BH_WORKER_RESTARTS = 10

// ---------------------------------------------------------------------------
// worker creation, parking, culling (create_worker, worker_enter_idle, idle_cull_fn, maydays)
// ---------------------------------------------------------------------------

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
    scheduled: new WorkList<WorkState>(),
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
  for (let item = takeScheduled(sys, worker); item !== undefined; item = takeScheduled(sys, worker)) {
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
const workerNextWork = (sys: System, worker: Worker, afterWake: boolean): WorkState | undefined => {
  const pool = worker.pool
  const scheduled = worker.scheduled.length === 0 ? undefined : takeScheduled(sys, worker)
  if (scheduled !== undefined) return scheduled
  if (!afterWake && !keepWorking(pool)) return undefined
  for (let work = pool.worklist.head; work !== undefined; work = pool.worklist.head) {
    pool.worklist.remove(work)
    // assign_work(): the same item running on another worker of this pool runs there next (non-reentrance)
    const collision = findWorkerExecuting(pool, work)
    if (collision !== undefined && collision !== worker) {
      scheduleOn(sys, collision, work)
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
  // the start step is complete (the kernel emits this after dropping pool->lock, right before the call): a sink
  // may call back in, queueing this item again (it runs after this run: non-reentrance) or cancelling others
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
}

/**
 * `process_one_work()` after the call: one L step. `handoff`: the worker picks its next item right after this
 * step, in the same synchronous run (`workerNextWork`), so on an unbound or BH pool an item this step activates is
 * left to it, unkicked, when it will be the one taking it (nothing scheduled on it, `keep_working()`); otherwise
 * the pool is kicked.
 */
const workerFinishWork = (
  sys: System,
  worker: Worker,
  work: WorkState,
  failure: Cause.Cause<unknown> | undefined,
  handoff = false
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
  // a concurrency-managed pool is kicked as before: there the kick also asks for the probe that notices a sleeping
  // worker (`poolRequestProbe`), which keeps its CM wake-ups where they were
  const direct = handoff && !poolIsManaged(pool)
  if (pwqDecNrActive(sys, pwq, !direct) && direct && !(worker.scheduled.length === 0 && keepWorking(pool))) {
    kickPool(sys, pool)
  }
  wqDecNrInFlight(pwq.wq, worker.currentColor)
  if (flushers !== undefined) for (const f of flushers) f(true)
}

/**
 * A worker's parking spot: `park` suspends its fiber until `wake`, which resumes it through the run queue. A worker
 * is wakeable from the step that makes it idle (`workerEnterIdle` puts it on the idle list; a maydays' rescuer sets
 * its state), but the runtime may make its fiber yield before `park`'s callback runs (the op budget,
 * `Scheduler.shouldYield`, can strike between any two primitives): a wake-up in that window is kept and `park`
 * returns at once, as the kernel's `wake_up_process()` sets a task running before it sleeps so its `schedule()`
 * does not. Without it the wake-up was lost (`worker.wake` was still undefined) and a flush waited forever.
 */
const makeParking = (sys: System, worker: Worker): Effect.Effect<void> => {
  let parked: (() => void) | undefined // L: resumes the parked fiber, while it is parked
  let woken = false // L: a wake-up came while not parked; the next park returns at once
  worker.wake = () => {
    const resume = parked
    if (resume === undefined) {
      woken = true
      return
    }
    parked = undefined
    sys.scheduler.scheduleTask(resume, 0, worker)
  }
  return Effect.callback<void>((resume) => {
    if (woken) {
      woken = false
      resume(Effect.void)
      return
    }
    parked = () => resume(Effect.void)
  })
}

const workerLoop = (sys: System, worker: Worker): Effect.Effect<void> => {
  let afterWake = true // W: the worker just woke (its pool counts it in nrWaking until its next pick)
  let bhRestarts = 0 // W: items this worker has run (a BH worker yields the thread every BH_WORKER_RESTARTS)
  const park = makeParking(sys, worker)
  const afterPark: Effect.Effect<void> = Effect.suspend(() => {
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
    // a BH worker yields the thread every BH_WORKER_RESTARTS items; and when the pump's item budget is spent, the
    // worker goes back through the run queue, so the parent (the event loop) gets a turn (a request/reply loop —
    // the handler completes a Deferred whose waiter, resumed inline, queues the next request — otherwise never
    // leaves this continuation). Decided before the finish step: only a worker that picks its next item right
    // after it takes the item that step activates (`handoff`)
    const yieldNext = (worker.pool.kind === "bh" && ++bhRestarts % BH_WORKER_RESTARTS === 0) || sys.scheduler.itemDone()
    workerFinishWork(sys, worker, work, failure, failure === undefined && !yieldNext)
    if (yieldNext) {
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
    const work = workerNextWork(sys, worker, afterWake)
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
  const onExit = {
    onSuccess: (_: unknown) => {
      if (frameSlot !== undefined) (frame as any)[frameSlot] = undefined
      return after(worker.current!, undefined)
    },
    onFailure: (cause: Cause.Cause<unknown>) => {
      if (frameSlot !== undefined) (frame as any)[frameSlot] = undefined
      return after(worker.current!, cause)
    }
  }
  // One continuation frame per worker, reused for every item (no allocation per item): a `matchCauseEffect`
  // whose handler slot is set before each run and cleared when the frame resumes — it is off the fiber's stack
  // by then, and a worker runs one item at a time. If Effect's frame has not exactly one field holding the
  // handler (`handlerSlotOf`), a fresh frame per item instead.
  const frame = Effect.matchCauseEffect(handlerSlotProbe, onExit)
  const frameSlot = handlerSlotOf(frame)
  let lastCtx: Context.Context<never> | undefined // W: the captured context of the worker's last item
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
      handler = work.hasDatum ? work.fn((work as DataWorkState).datum, work) : work.fn(work)
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
    if (frameSlot === undefined) return Effect.matchCauseEffect(handler as Effect.Effect<void, unknown, never>, onExit)
    ;(frame as any)[frameSlot] = handler
    return frame
  }
}

/** A placeholder handler, to find the slot of a `matchCauseEffect` frame that holds it. */
const handlerSlotProbe: Effect.Effect<void, unknown> = Effect.void
/** The own field of `frame` that holds `handlerSlotProbe`, if exactly one does. */
const handlerSlotOf = (frame: object): string | undefined => {
  const slots = Object.keys(frame).filter((key) => (frame as any)[key] === handlerSlotProbe)
  return slots.length === 1 ? slots[0] : undefined
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
  // a wake-up while it is busy (a mayday, the system closing) makes its next park return at once: it looks again
  const park = makeParking(sys, rescuer)
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
  const scheduled = takeScheduled(sys, rescuer)
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
            scheduleOn(sys, collision, work)
          } else {
            scheduleOn(sys, rescuer, work)
            n++
          }
        }
        work = next
      }
      if (n === RESCUER_BATCH && pool.worklist.length > 0) {
        pwq.mayday = true
        pool.maydays.push(pwq)
      }
      const first = takeScheduled(sys, rescuer)
      if (first !== undefined) return first
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------
// the system's own timers (pool cull, mayday, watchdog) and worker creation
// ---------------------------------------------------------------------------

/**
 * A system with its own timers and worker creation wired to the engine (the structures in `state.ts` never import
 * this module, and `core.ts` reaches `createWorker` only through the system).
 */
export const makeSystem = (ctx: Context.Context<never>, options: SystemOptions): System =>
  new System(ctx, options, {
    cullIdle: poolCullIdle,
    maydayTimeout: poolMaydayTimeout,
    watchdog: wqWatchdogTimerFn,
    createWorker
  })
