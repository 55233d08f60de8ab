/**
 * Waits survive a runtime yield anywhere. Effect's run loop may make a fiber yield between any two primitives once
 * its op budget is spent (`Scheduler.shouldYield`, `Scheduler.MaxOpsBeforeYield`): between a caller's decision to
 * wait and the registration of its waiter, or between a worker going idle and parking. Whatever completes in that
 * window (the item ran, the queue emptied, a wake-up came) must not be lost. Each budget from 1 to 48 puts the
 * yield at another point of the same loop; the loops need no clock, so the schedule is fixed by the budget. A lost
 * wake-up shows as a loop that never ends: the live-clock timeout is a hang guard, not a speed budget.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import { DelayedWork, Job, Work, Workqueue, WorkqueueSystem } from "../../src/index.ts"
import { systemLayer } from "../utils/recorder.ts"

const BUDGETS = Array.from({ length: 48 }, (_, i) => i + 1)
const CYCLES = 40

/**
 * Run `body` once per op budget, each on its own system with every fiber's budget at `ops`, all side by side; the
 * budgets whose run had not ended when the others had (and a generous hang guard passed) are reported.
 */
const hung = (
  name: string,
  body: Effect.Effect<void, unknown, WorkqueueSystem.WorkqueueSystem>
): Effect.Effect<void, unknown> =>
  Effect.gen(function* () {
    const ended = new Set<number>()
    const runs = yield* Effect.forEach(BUDGETS, (ops) =>
      Effect.forkChild(
        body.pipe(
          Effect.provide(systemLayer({ cpus: 2, watchdogThresh: 0 })),
          Effect.andThen(Effect.sync(() => void ended.add(ops))),
          Effect.provideService(Scheduler.MaxOpsBeforeYield, ops)
        )
      )
    )
    yield* Effect.timeoutOption(Fiber.joinAll(runs), "20 seconds")
    yield* Fiber.interruptAll(runs)
    assert.deepStrictEqual(
      BUDGETS.filter((ops) => !ended.has(ops)),
      [],
      `${name}: op budgets whose loop never ended`
    )
  })

describe("waits and wake-ups across a runtime yield (flush.ts waitOn, core.ts flusherWait, worker.ts makeParking)", () => {
  it.live(
    "queue + Work.flush: the flusher is not lost when the item starts (or ends) before its waiter registers (flush_work)",
    () =>
      hung(
        "queue + Work.flush",
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("loop")
          const work = yield* Work.make(() => Effect.void)
          for (let i = 0; i < CYCLES; i++) {
            yield* Workqueue.queue(wq, work)
            yield* Work.flush(work)
          }
        }).pipe(Effect.scoped)
      ),
    { timeout: 600_000 }
  )

  it.live(
    "queue + Workqueue.drain: the drainer is not lost when the queue empties before its waiter registers (drain_workqueue)",
    () =>
      hung(
        "queue + drain",
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("loop", { maxActive: 1 })
          const works = yield* Effect.forEach([0, 1, 2], () => Work.make(() => Effect.yieldNow))
          for (let i = 0; i < CYCLES; i++) {
            for (const w of works) yield* Workqueue.queue(wq, w)
            yield* Workqueue.drain(wq)
          }
        }).pipe(Effect.scoped)
      ),
    { timeout: 600_000 }
  )

  it.live(
    "freeze while an item runs: the freezer is not lost when the item ends before its waiter registers (freeze_workqueues_busy)",
    () =>
      hung(
        "freeze",
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("frz", { flags: Workqueue.WQ_FREEZABLE })
          const work = yield* Work.make(() => Effect.yieldNow)
          for (let i = 0; i < CYCLES; i++) {
            yield* Workqueue.queue(wq, work)
            yield* WorkqueueSystem.freeze
            yield* WorkqueueSystem.thaw
            yield* Work.flush(work)
          }
        }).pipe(Effect.scoped)
      ),
    { timeout: 600_000 }
  )

  it.live(
    "queueWait on a full queue: the waiter is not lost when room is made before it registers (maxPending)",
    () =>
      hung(
        "queueWait",
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("full", { maxPending: 1 })
          const works = yield* Effect.forEach([0, 1], () => Work.make(() => Effect.void))
          const waiter = yield* Effect.forkChild(
            Effect.gen(function* () {
              for (let i = 0; i < CYCLES; i++) for (const w of works) yield* Workqueue.queueWait(wq, w)
            })
          )
          yield* Fiber.join(waiter)
          yield* Workqueue.flush(wq)
        }).pipe(Effect.scoped)
      ),
    { timeout: 600_000 }
  )
  it.live(
    "queue + Workqueue.flush: the colour flusher is not lost when its colour completes before it waits (__flush_workqueue)",
    () =>
      hung(
        "queue + Workqueue.flush",
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("colours", { maxActive: 2 })
          const works = yield* Effect.forEach([0, 1, 2], () => Work.make(() => Effect.yieldNow))
          for (let i = 0; i < CYCLES; i++) {
            for (const w of works) yield* Workqueue.queue(wq, w)
            yield* Workqueue.flush(wq)
          }
        }).pipe(Effect.scoped)
      ),
    { timeout: 600_000 }
  )

  it.live(
    "queue + Work.cancelSync: the canceller is not lost when the running instance ends before it waits (__cancel_work_sync)",
    () =>
      hung(
        "queue + cancelSync",
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("cancel")
          const work = yield* Work.make(() => Effect.andThen(Effect.yieldNow, Effect.yieldNow))
          for (let i = 0; i < CYCLES; i++) {
            yield* Workqueue.queue(wq, work)
            // let the item start for some budgets and not for others: both the grab and the wait are crossed
            if (i % 2 === 1) yield* Effect.yieldNow
            yield* Work.cancelSync(work)
          }
        }).pipe(Effect.scoped)
      ),
    { timeout: 600_000 }
  )

  it.live(
    "queue + Work.disableSync / enable: the disabler is not lost when the running instance ends before it waits (disable_work_sync)",
    () =>
      hung(
        "queue + disableSync",
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("disable")
          const work = yield* Work.make(() => Effect.andThen(Effect.yieldNow, Effect.yieldNow))
          for (let i = 0; i < CYCLES; i++) {
            yield* Workqueue.queue(wq, work)
            if (i % 2 === 1) yield* Effect.yieldNow
            yield* Work.disableSync(work)
            yield* Work.enable(work)
          }
        }).pipe(Effect.scoped)
      ),
    { timeout: 600_000 }
  )

  it.live(
    "queue + Workqueue.destroy: the destroyer is not lost when the queue empties before it waits (destroy_workqueue)",
    () =>
      hung(
        "queue + destroy",
        Effect.gen(function* () {
          for (let i = 0; i < CYCLES; i++) {
            const scope = yield* Scope.make()
            const wq = yield* Workqueue.make(`gone${i}`, { maxActive: 1 }).pipe(Scope.provide(scope))
            for (let j = 0; j < 3; j++) yield* Workqueue.queue(wq, yield* Work.make(() => Effect.yieldNow))
            yield* Workqueue.destroy(wq)
            yield* Scope.close(scope, Exit.void)
          }
        })
      ),
    { timeout: 600_000 }
  )

  it.live(
    "queueDelayed + DelayedWork.flush: the flusher is not lost when the fired item runs before it waits (flush_delayed_work)",
    () =>
      hung(
        "queueDelayed + DelayedWork.flush",
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("delayed")
          const dwork = yield* DelayedWork.make(() => Effect.yieldNow)
          for (let i = 0; i < CYCLES; i++) {
            // armed far in the future: only the flush can make it run
            yield* Workqueue.queueDelayed(wq, dwork, "1 hour")
            yield* DelayedWork.flush(dwork)
          }
        }).pipe(Effect.scoped)
      ),
    { timeout: 600_000 }
  )

  it.live(
    "Job.submit + Job.join / Job.await: the joiner is not lost when the job ends before it waits (a Deferred)",
    () =>
      hung(
        "submit + join",
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("jobs", { maxActive: 2 })
          for (let i = 0; i < CYCLES; i++) {
            const a = yield* Job.submit(wq, Effect.as(Effect.yieldNow, i))
            const b = yield* Job.submit(wq, Effect.succeed(i))
            assert.strictEqual(yield* Job.join(a), i)
            assert.isTrue(Exit.isSuccess(yield* Job.await(b)))
          }
        }).pipe(Effect.scoped)
      ),
    { timeout: 600_000 }
  )
})
