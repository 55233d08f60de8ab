/**
 * Waiting: the plain waits on a completion (a worker finishing an item, the freezer), `flush_work()`,
 * `flush_delayed_work()`, `flush_workqueue()` and `drain_workqueue()`. Waiters are callbacks resumed through the run
 * queue, never inline, so no user code runs in the middle of an engine step.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as WorkqueueError from "./error.ts"
import {
  callerWorker,
  flusherWait,
  flushStart,
  removeFrom,
  workersExecuting,
  workIsPending,
  wqIsEmpty
} from "./core.ts"
import { delayedWorkTimerFn } from "./queue.ts"
import {
  type DelayedWorkState,
  type System,
  type Waiter,
  type Worker,
  type WorkqueueState,
  type WorkState
} from "./state.ts"
import { WORK_FLUSHERS, WORK_INACTIVE, workLastRunning } from "./workData.ts"

// ---------------------------------------------------------------------------
// waits (a completion, the running instances)
// ---------------------------------------------------------------------------

/**
 * Wait for every instance running at the call (cancel_sync: whatever pool) — not for instances started after it
 * (someone who enabled and re-queued the item meanwhile owns those, as with the kernel's barrier).
 */
export const waitAllRunning = (sys: System, work: WorkState): Effect.Effect<boolean> =>
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
 *
 * `add` runs in a later primitive than the caller's decision to wait, and the runtime may make the fiber yield in
 * between (its op budget, `Scheduler.shouldYield`): the completion may already have happened, with no waiter to
 * call. So `add` decides again, in its own step: it registers the waiter, or calls it at once if the wait is over.
 */
export const waitOn = (sys: System, add: (w: Waiter) => void, remove: (w: Waiter) => void): Effect.Effect<boolean> =>
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
          // decided again here: the fiber may have yielded since the check above (see `waitOn`), and the queued
          // instance started (wait for it as the running one) or also ended (it was waited for)
          if (!workIsPending(work) || work.pwq === undefined) {
            const worker = workLastRunning(work)
            if (worker !== undefined && worker.current === work) (worker.runFlushers ??= []).push(w)
            else w(true)
            return
          }
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

export const selfDeadlock = (wq: WorkqueueState, what: string): WorkqueueError.WorkqueueError | undefined =>
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
  // uninterruptible from the drainer count's increment until its decrement is installed (the wait stays
  // interruptible): an interrupt landing between the two left the workqueue Draining for good
  Effect.uninterruptibleMask((restore) => drainWorkqueueMasked(sys, wq, destroying, restore))

const drainWorkqueueMasked = (
  sys: System,
  wq: WorkqueueState,
  destroying: boolean,
  restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
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
      ? restore(loop)
      : Effect.ensuring(
          restore(loop),
          Effect.sync(() => {
            if (--wq.nrDrainers === 0 && wq.lifecycle === "Draining") wq.lifecycle = "Open"
          })
        )
  })

const waitEmpty = (wq: WorkqueueState): Effect.Effect<void> =>
  Effect.asVoid(
    waitOn(
      wq.system,
      // decided again here (see `waitOn`): the queue may have emptied since the caller's check, waking no one
      (w) => (wqIsEmpty(wq) ? w(true) : wq.drainWaiters.push(w)),
      (w) => removeFrom(wq.drainWaiters, w)
    )
  )

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
