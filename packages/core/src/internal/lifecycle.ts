/**
 * The lifecycle of workqueues and of the system: freeze and thaw, `alloc_workqueue()`, `destroy_workqueue()`,
 * `workqueue_set_max_active()`, and closing the system (flush, destroy, stop the workers and the timer fiber).
 * Fields these change are the WQ-rule ones of `state.ts`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as WorkqueueError from "./error.ts"
import { callerWorker, freezeBusy, removeFrom, wakeAll, wqAdjustMaxActive, wqIsEmpty } from "./core.ts"
import {
  WQ_BH,
  WQ_BH_ALLOWS,
  WQ_DFL_ACTIVE,
  WQ_FREEZABLE,
  WQ_HIGHPRI,
  __WQ_LEGACY,
  WQ_MAX_ACTIVE,
  WQ_MEM_RECLAIM,
  WQ_NAME_LEN,
  __WQ_ORDERED,
  WQ_PERCPU,
  WQ_POWER_EFFICIENT,
  WQ_UNBOUND
} from "./flags.ts"
import { drainWorkqueue, flushWorkqueue, selfDeadlock, waitOn } from "./flush.ts"
import { List } from "./list.ts"
import { fireArmedTimers } from "./queue.ts"
import { makeJobStats, makePwq, type PendingWaiter, type System, uniquePwqs, type WorkqueueState } from "./state.ts"
import { WORK_NR_COLORS } from "./workData.ts"
import { initRescuer } from "./worker.ts"

// ---------------------------------------------------------------------------
// freeze / thaw
// ---------------------------------------------------------------------------

/**
 * `freeze_workqueues_begin()` and the wait on `freeze_workqueues_busy()`.
 *
 * A freeze whose wait is interrupted failed (the caller gave up on it): it is rolled back with `thaw_workqueues()`,
 * as the kernel's freezer does when `try_to_freeze_tasks()` times out (`freeze_kernel_threads()` →
 * `thaw_kernel_threads()`, kernel/power/process.c), so the system is not left half-frozen with no one to thaw it.
 * Only the last waiting freeze rolls back: while another freeze call still waits, the freezing is its.
 */
export const freezeWorkqueues = (sys: System): Effect.Effect<void> =>
  // uninterruptible from freeze_workqueues_begin() until the rollback is installed (the wait stays interruptible)
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      if (sys.freezing) sys.log("Warn", "workqueue: freeze_workqueues_begin() while already freezing")
      sys.freezing = true
      for (const wq of sys.workqueues) if ((wq.flags & WQ_FREEZABLE) !== 0) wq.maxActive = 0
      if (!freezeBusy(sys)) return Effect.void
      const wait = waitOn(
        sys,
        // decided again (see `waitOn`): the last active item may have ended, or a thaw come, since the check above
        (w) => (sys.freezing && freezeBusy(sys) ? sys.freezeWaiters.push(w) : w(true)),
        (w) => removeFrom(sys.freezeWaiters, w)
      )
      return Effect.onInterrupt(Effect.asVoid(restore(wait)), () =>
        Effect.sync(() => {
          if (sys.freezeWaiters.length === 0) thawWorkqueues(sys)
        })
      )
    })
  )

/** `thaw_workqueues()`: restore the limits, activate what waited; a freeze still waiting returns too. */
export const thawWorkqueues = (sys: System): void => {
  if (!sys.freezing) return
  sys.freezing = false
  wakeAll(sys.freezeWaiters, true)
  for (const wq of sys.workqueues) if ((wq.flags & WQ_FREEZABLE) !== 0) wqAdjustMaxActive(sys, wq)
}

// ---------------------------------------------------------------------------
// lifecycle (alloc_workqueue, destroy_workqueue, workqueue_set_max_active)
// ---------------------------------------------------------------------------

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
      return WorkqueueError.make("InvalidFlags", name, "WQ_BH allows only WQ_HIGHPRI and WQ_PERCPU as other flags")
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
    nrWoken: 0,
    jobStats: makeJobStats()
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

/**
 * The finaliser of `Workqueue.make`'s scope. A scope closed from one of the workqueue's own items cannot wait
 * for the destroy (it would wait for itself: `destroy_workqueue()` from its own work, which the kernel WARNs on),
 * and a finaliser has no error channel: outside queueing is refused at once (the workqueue is Destroying), a
 * warning names the workqueue, and the destroy finishes in the background once that item returns.
 */
export const releaseWorkqueue = (sys: System, wq: WorkqueueState): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (selfDeadlock(wq, "destroy_workqueue()") === undefined) return Effect.ignore(destroyWorkqueue(sys, wq))
    if (wq.lifecycle === "Destroyed") return Effect.void
    sys.log(
      "Warn",
      `workqueue ${wq.name}: its scope closed from one of its own work items (destroy_workqueue() from its own work would wait for itself): outside queueing is refused now, the destroy completes once that item returns`,
      { workqueue: wq.name }
    )
    wq.lifecycle = "Destroying"
    wq.nrDestroyers++
    Effect.runForkWith(sys.baseCtx)(
      Effect.ensuring(
        Effect.ignore(destroyWorkqueue(sys, wq)),
        Effect.sync(() => {
          if (--wq.nrDestroyers === 0 && wq.lifecycle === "Destroying") {
            wq.lifecycle = wq.nrDrainers > 0 ? "Draining" : "Open"
          }
        })
      )
    )
    return Effect.void
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
  Effect.suspend(() => {
    if (callerWorker() === undefined) return closeSystemNow(sys)
    // closed from one of the system's own items: the close waits for every item, that one included, and ends its
    // worker: it cannot run there. It begins now (no workqueue is made, outside queueing fails) and completes in
    // the background once that item returns.
    sys.closed = true
    sys.log(
      "Warn",
      "workqueue: the WorkqueueSystem's scope closed from one of its own work items: the close completes in the background once that item returns"
    )
    Effect.runForkWith(sys.baseCtx)(closeSystemNow(sys))
    return Effect.void
  })

const closeSystemNow = (sys: System): Effect.Effect<void> =>
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
    // a job's dead-letter handler runs in a fiber of its own, not on a worker: it is waited for as a running item
    // is (it may queue work), and it is the job's own to stop (`Job.cancel`)
    for (let round = 0; round < 100 && (all.some((wq) => !wqIsEmpty(wq)) || sys.letterFibers.size > 0); round++) {
      for (const wq of all) yield* Effect.ignore(flushWorkqueue(wq))
      if (sys.letterFibers.size > 0) yield* Fiber.awaitAll([...sys.letterFibers])
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
    yield* sys.timerFiber.stop()
    // pools' cull/mayday timers and the watchdog: nothing stays armed once the system is gone
    for (const node of [...sys.timers.nodes()]) sys.timers.cancel(node)
  })
