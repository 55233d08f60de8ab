import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scheduler from "effect/Scheduler"
import { Job, Work, Workqueue } from "../../src/index.ts"
import { systemLayer } from "../utils/recorder.ts"

/**
 * A parent scheduler that counts the tasks its dispatchers hold: scheduled and not yet run. The workqueue
 * scheduler's pumps are such tasks; `maxPending` is the most that were ever waiting at once.
 */
const countingScheduler = () => {
  const inner = new Scheduler.MixedScheduler()
  const stats = { pending: 0, maxPending: 0, scheduled: 0 }
  const scheduler: Scheduler.Scheduler = {
    executionMode: inner.executionMode,
    shouldYield: (fiber) => inner.shouldYield(fiber),
    makeDispatcher() {
      const dispatcher = inner.makeDispatcher()
      return {
        scheduleTask(task, priority) {
          stats.scheduled++
          if (++stats.pending > stats.maxPending) stats.maxPending = stats.pending
          dispatcher.scheduleTask(() => {
            stats.pending--
            task()
          }, priority)
        },
        flush: () => dispatcher.flush()
      }
    }
  }
  return { stats, layer: Layer.succeed(Scheduler.Scheduler, scheduler) }
}

const CYCLES = 20_000
/** Round trips of the request/reply loops: enough pumps' item budgets (2048 items each) to count turns. */
const RR_CYCLES = 200_000

/** `queue` + `flush` in a loop, the way a request handler would hand one job off and wait for it. */
const flushLoop = (flavour: "Workqueue.flush" | "Work.flush") =>
  Effect.gen(function* () {
    const wq = yield* Workqueue.make("loop")
    const work = yield* Work.make(() => Effect.void)
    for (let i = 0; i < CYCLES; i++) {
      yield* Workqueue.queue(wq, work)
      if (flavour === "Workqueue.flush") yield* Workqueue.flush(wq)
      else yield* Work.flush(work)
    }
  })

/**
 * Request/reply: queue an item whose handler completes a Deferred, await the reply, again. The handler's
 * `Deferred.succeed` resumes the waiting fiber inline (on the worker's stack), which queues the next request before
 * the worker takes it in the same continuation: without an item budget the loop never leaves one run-queue task.
 */
const requestReplyLoop = (flavour: "Deferred" | "Job", cycles: number) =>
  Effect.gen(function* () {
    const wq = yield* Workqueue.make("rr")
    if (flavour === "Job") {
      for (let i = 0; i < cycles; i++) yield* Job.join(yield* Job.submit(wq, Effect.succeed(i)))
      return
    }
    let reply = Deferred.makeUnsafe<void>()
    const work = yield* Work.make(() => Deferred.succeed(reply, undefined))
    for (let i = 0; i < cycles; i++) {
      reply = Deferred.makeUnsafe<void>()
      yield* Workqueue.queue(wq, work)
      yield* Deferred.await(reply)
    }
  })

/**
 * The event loop's turns (a setImmediate chain) and another fiber's turns (it only yields, so it runs once per turn
 * of Effect's default scheduler) while `body` runs; no timer is involved, so the counts do not depend on speed.
 */
const countTurns = <E, R>(body: Effect.Effect<void, E, R>) =>
  Effect.gen(function* () {
    let ticks = 0
    let stop = false
    const tick = () => {
      ticks++
      if (!stop) setImmediate(tick)
    }
    setImmediate(tick)
    let fiberTurns = 0
    const other = yield* Effect.forkDetach(
      Effect.forever(
        Effect.andThen(
          Effect.yieldNow,
          Effect.sync(() => void fiberTurns++)
        )
      )
    )
    yield* body
    stop = true
    yield* Effect.sync(() => other.interruptUnsafe())
    return { ticks, fiberTurns }
  })

describe("WorkqueueScheduler pumps (internal/scheduler.ts)", () => {
  for (const flavour of ["Deferred", "Job"] as const) {
    it.live(
      `a request/reply loop (${flavour === "Deferred" ? "queue + a handler completing a Deferred + Deferred.await" : "Job.submit + Job.join"}) gives the event loop and other fibers a turn at least every 4096 round trips`,
      () =>
        Effect.gen(function* () {
          // control: the same number of hand-offs written with plain Deferreds (about one turn per cycle)
          const control = yield* countTurns(
            Effect.gen(function* () {
              for (let i = 0; i < RR_CYCLES; i++) {
                const d = yield* Deferred.make<void>()
                yield* Effect.forkChild(Deferred.succeed(d, undefined))
                yield* Deferred.await(d)
              }
            })
          )
          const loop = yield* countTurns(requestReplyLoop(flavour, RR_CYCLES))
          // a turn per pump's item budget (2048 items): 200 000 round trips give about 97; before the budget, 4 to 11
          assert.isAtLeast(
            loop.ticks,
            RR_CYCLES / 4096,
            `event-loop turns during ${RR_CYCLES} round trips (control: ${control.ticks})`
          )
          assert.isAtLeast(
            loop.fiberTurns,
            RR_CYCLES / 4096,
            `other fiber's turns during ${RR_CYCLES} round trips (control: ${control.fiberTurns})`
          )
        }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 }))),
      { timeout: 120_000 }
    )
  }

  for (const kind of ["synchronous", "suspending"] as const) {
    it.live(
      `a submission loop does not run ahead of workers whose items are ${kind}: pending items stay within a pump's item budget or two`,
      () =>
        Effect.gen(function* () {
          // a fiber queueing fresh items in a loop spends an operation or more per item and yields every 2048
          // operations; the workers run as many items per pump, so the backlog stays bounded (with a 64-item budget
          // it grew to nearly the whole submission: ~93 000 of 100 000). A suspending item needs a run-queue task;
          // a task that ends an item counts against the item budget, not the 64 tasks (counted against the 64, 16
          // workers ran 64 items per pump against the submitter's ~1000 per turn)
          const wq = yield* Workqueue.make(`submitter-${kind}`, {
            unbound: true,
            concurrency: kind === "synchronous" ? 1 : 16
          })
          let maxPending = 0
          let ran = 0
          const body = Effect.sync(() => void ran++)
          const handler = kind === "synchronous" ? () => body : () => Effect.andThen(Effect.yieldNow, body)
          for (let i = 0; i < 100_000; i++) {
            yield* Workqueue.queue(wq, yield* Work.make(handler))
            const pending = Workqueue.pendingCountUnsafe(wq)
            if (pending > maxPending) maxPending = pending
          }
          yield* Workqueue.flush(wq)
          assert.strictEqual(ran, 100_000)
          assert.isAtMost(maxPending, 4 * 2048, "most items pending at once during the loop")
        }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 }))),
      { timeout: 120_000 }
    )
  }

  it.live(
    "items that each run a long slice still give the event loop a turn: a pump ends after sixteen fibers' operations",
    () =>
      Effect.gen(function* () {
        // 2 000 items of ~1 000 operations each, none suspending: every task ends an item, so only the operation
        // budget (16 x 2048) ends a pump before the item budget (2048 items, here all of them in one pump)
        const wq = yield* Workqueue.make("long-slices", { unbound: true, concurrency: 16 })
        const ITEMS = 2_000
        let ran = 0
        const counted = yield* countTurns(
          Effect.gen(function* () {
            for (let i = 0; i < ITEMS; i++) {
              yield* Workqueue.queue(
                wq,
                yield* Work.make(() =>
                  Effect.gen(function* () {
                    for (let k = 0; k < 1_000; k++) yield* Effect.sync(() => k)
                    ran++
                  })
                )
              )
            }
            yield* Workqueue.flush(wq)
          })
        )
        assert.strictEqual(ran, ITEMS)
        // about 2 000 x 1 000 / 32 768 = 61 pumps; without the operation budget 1 or 2
        assert.isAtLeast(counted.ticks, 30, `event-loop turns during ${ITEMS} long items`)
        assert.isAtLeast(counted.fiberTurns, 30, `other fiber's turns during ${ITEMS} long items`)
      }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 }))),
    { timeout: 120_000 }
  )

  for (const flavour of ["Workqueue.flush", "Work.flush"] as const) {
    it.live(
      `pending pumps stay bounded over ${CYCLES} queue + ${flavour} cycles`,
      () => {
        const counting = countingScheduler()
        return Effect.gen(function* () {
          yield* flushLoop(flavour)
          // one pump at a time per scheduler, plus the probe task and the timer fiber's own turns
          assert.isAtMost(counting.stats.maxPending, 4, `max pending parent tasks over ${CYCLES} cycles`)
          assert.isAbove(counting.stats.scheduled, 100, "the loop did go through the parent scheduler")
        }).pipe(Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 }).pipe(Layer.provide(counting.layer))))
      },
      { timeout: 120_000 }
    )
  }

  it.live(
    "timers and other fibers get turns during a long queue + flush loop, like a Deferred ping-pong",
    () =>
      Effect.gen(function* () {
        // the event loop's own turns (a setTimeout chain) and another fiber's turns, counted per cycle of the loop
        let ticks = 0
        let stop = false
        const tick = () => {
          ticks++
          if (!stop) setImmediate(tick)
        }
        setImmediate(tick)
        let fiberTurns = 0
        const other = yield* Effect.forkChild(
          Effect.forever(
            Effect.andThen(
              Effect.sleep(0),
              Effect.sync(() => void fiberTurns++)
            )
          )
        )
        // control: the same number of hand-offs written with plain Deferreds
        const controlTicks0 = ticks
        for (let i = 0; i < CYCLES; i++) {
          const d = yield* Deferred.make<void>()
          yield* Effect.forkChild(Deferred.succeed(d, undefined))
          yield* Deferred.await(d)
        }
        const controlTicks = ticks - controlTicks0
        const ticks0 = ticks
        const turns0 = fiberTurns
        yield* flushLoop("Workqueue.flush")
        const loopTicks = ticks - ticks0
        const loopTurns = fiberTurns - turns0
        stop = true
        yield* Effect.sync(() => other.interruptUnsafe())
        // generous: a timer turn every 200 cycles (the control gets about one per cycle or two)
        assert.isAtLeast(loopTicks, CYCLES / 200, `event-loop turns during ${CYCLES} cycles (control: ${controlTicks})`)
        assert.isAtLeast(loopTurns, CYCLES / 200, `other fiber's turns during ${CYCLES} cycles`)
      }).pipe(Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 }))),
    { timeout: 120_000 }
  )
})

/**
 * Work that runs on another fiber than the worker's: a handler that forks a child and joins it, or a Job (its attempt
 * is a child started inside the worker's slice). The child's end resumes the worker inline, which ends the item, so
 * the task counts against the item budget; the child's operations must count against the pump's operation budget,
 * or one pump runs up to 2048 such items of ~2000 operations each before the event loop gets a turn.
 * Counted, not timed: event-loop turns (a setImmediate chain) against the operations the children ran.
 */
let ops = 0
const heavy = (n: number) =>
  Effect.gen(function* () {
    for (let k = 0; k < n; k++) yield* Effect.sync(() => void ops++)
  })

const measure = <E, R>(body: Effect.Effect<void, E, R>) =>
  Effect.gen(function* () {
    let ticks = 0
    let stop = false
    let last = ops
    let maxBetween = 0
    const tick = () => {
      ticks++
      if (ops - last > maxBetween) maxBetween = ops - last
      last = ops
      if (!stop) setImmediate(tick)
    }
    setImmediate(tick)
    const ops0 = ops
    yield* body
    stop = true
    if (ops - last > maxBetween) maxBetween = ops - last
    return { ticks, maxBetween, total: ops - ops0 }
  })

const ITEMS = 4_000
const OPS = 1_500
/** Sixteen fibers' operations (the pump's operation budget), with room for a pump's overshoot: 8 x 2048 x 16. */
const MAX_OPS_BETWEEN_TURNS = 8 * 16 * 2048

describe("WorkqueueScheduler pumps: operations of fibers other than the workers (internal/scheduler.ts)", () => {
  for (const flavour of ["fork + join", "Job.submit"] as const) {
    it.live(
      `items whose work runs on a child fiber (${flavour}) still give the event loop a turn every few pump budgets of operations`,
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("hostile", { unbound: true, concurrency: 16 })
          const m = yield* measure(
            Effect.gen(function* () {
              if (flavour === "Job.submit") {
                const jobs = []
                for (let i = 0; i < ITEMS; i++) jobs.push(yield* Job.submit(wq, heavy(OPS)))
                for (const j of jobs) yield* Job.join(j)
              } else {
                for (let i = 0; i < ITEMS; i++) {
                  yield* Workqueue.queue(
                    wq,
                    yield* Work.make(() => Effect.flatMap(Effect.forkChild(heavy(OPS)), Fiber.join))
                  )
                }
                yield* Workqueue.flush(wq)
              }
            })
          )
          assert.strictEqual(m.total, ITEMS * OPS)
          // the same items run inline (no child) get ~180 turns, at most ~57k operations apart; counting only the
          // workers' operations gave these 3 to 9 turns, ~1.5M operations apart
          assert.isAtMost(
            m.maxBetween,
            MAX_OPS_BETWEEN_TURNS,
            `most child operations between two event-loop turns (turns: ${m.ticks})`
          )
          assert.isAtLeast(m.ticks, 20, "event-loop turns during 6M operations")
        }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 }))),
      { timeout: 120_000 }
    )
  }
})

/**
 * A parent scheduler like Effect's default (batches by priority on setImmediate, `flush` runs tasks until none is
 * left) except that one `flush` gives up after `FLUSH_GUARD` batches and counts it as a runaway. With Effect's own
 * `MixedScheduler` the runaway below never ends: the process spins in one synchronous `flush` forever, so a
 * test written against it would hang the suite instead of failing.
 */
const FLUSH_GUARD = 10_000
const guardedScheduler = () => {
  const stats = { flushes: 0, runaways: 0, maxBatches: 0 }
  const scheduler: Scheduler.Scheduler = {
    executionMode: "async",
    shouldYield: (fiber) => fiber.currentOpCount >= 2048,
    makeDispatcher() {
      let buckets: Array<[number, Array<() => void>]> = []
      let armed = false
      const runBatch = () => {
        const batch = buckets
        buckets = []
        for (const [, tasks] of batch) for (const task of tasks) task()
      }
      return {
        scheduleTask(task, priority) {
          let i = 0
          while (i < buckets.length && buckets[i]![0] < priority) i++
          if (i < buckets.length && buckets[i]![0] === priority) buckets[i]![1].push(task)
          else buckets.splice(i, 0, [priority, [task]])
          if (!armed) {
            armed = true
            setImmediate(() => {
              armed = false
              runBatch()
            })
          }
        },
        flush() {
          stats.flushes++
          let n = 0
          while (buckets.length > 0) {
            if (++n > FLUSH_GUARD) {
              stats.runaways++
              return
            }
            runBatch()
          }
          if (n > stats.maxBatches) stats.maxBatches = n
        }
      }
    }
  }
  return { stats, layer: Layer.succeed(Scheduler.Scheduler, scheduler) }
}

describe("WorkqueueScheduler pumps never make a fiber run synchronously inside them yield (internal/scheduler.ts)", () => {
  it.live(
    "Job.submitUnsafe with a retrySchedule, called in a batch from a handler, returns: its synchronous first step does not flush the parent scheduler into a pump that never ends",
    () => {
      const guarded = guardedScheduler()
      return Effect.gen(function* () {
        const fan = yield* Workqueue.make("fan")
        const jobs = yield* Workqueue.make("jobs")
        let submitted = 0
        let ran = 0
        const errors: Array<string> = []
        // a handler that hands a batch of jobs off from one synchronous callback (an event fan-out): each
        // submitUnsafe builds the first step of its retrySchedule in Effect.runSyncExit, in the system's context.
        // If spending the pump's operation budget (16 x 2048) made shouldYield return true for the step's fiber
        // (as it once did), that fiber would yield onto the workqueue scheduler; runSyncExit flushes that fiber's
        // dispatcher, i.e. the parent's, and the parent's flush runs a nested pump and then a pool probe that sees
        // the fan worker (on the stack, busy) as runnable with the jobs pending on its pool, and asks for another
        // probe, forever. The pump's operation budget therefore only counts in shouldYield; it ends the pump at task
        // and item boundaries.
        const fanWork = yield* Work.make(() =>
          Effect.sync(() => {
            for (let i = 0; i < 20_000; i++) {
              try {
                Job.submitUnsafe(
                  jobs,
                  Effect.sync(() => void ran++),
                  { retrySchedule: Schedule.recurs(2) }
                )
                submitted++
              } catch (e) {
                if (errors.length < 3) errors.push(String(e))
              }
            }
          })
        )
        yield* Workqueue.queue(fan, fanWork)
        yield* Workqueue.flush(fan)
        yield* Workqueue.flush(jobs)
        assert.deepStrictEqual(errors, [], "submitUnsafe threw")
        assert.strictEqual(
          guarded.stats.runaways,
          0,
          `a synchronous parent flush ran ${FLUSH_GUARD}+ batches (flushes: ${guarded.stats.flushes}); with Effect's MixedScheduler it never returns`
        )
        assert.strictEqual(submitted, 20_000)
        assert.strictEqual(ran, 20_000)
      }).pipe(
        Effect.scoped,
        Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 }).pipe(Layer.provide(guarded.layer)))
      )
    },
    { timeout: 120_000 }
  )
  it.live(
    "a handler running an effect longer than a fiber's slice synchronously in its own services returns, with items pending on its pool",
    () => {
      const guarded = guardedScheduler()
      return Effect.gen(function* () {
        // Effect.runSyncExit(Effect.provideContext(e, services)) inside a handler: e runs on the workqueue
        // scheduler, yields at its own 2048-operation budget, and runSyncExit flushes the parent from inside the
        // worker's slice. A pool probe in that flush saw the worker (on the stack) running with items pending and
        // asked for another probe, which ran in the same flush, forever
        const wq = yield* Workqueue.make("sync-in-handler")
        let ran = 0
        let exitTag = "none"
        const long = Effect.gen(function* () {
          for (let k = 0; k < 5_000; k++) yield* Effect.sync(() => k)
          return "long"
        })
        const before = []
        for (let i = 0; i < 100; i++) before.push(yield* Work.make(() => Effect.sync(() => void ran++)))
        const runsSync = yield* Work.make(() =>
          Effect.gen(function* () {
            const services = yield* Effect.context<never>()
            exitTag = Effect.runSyncExit(Effect.provideContext(long, services))._tag
          })
        )
        for (const work of before) yield* Workqueue.queue(wq, work)
        yield* Workqueue.queue(wq, runsSync)
        for (let i = 0; i < 100; i++) yield* Workqueue.queue(wq, yield* Work.make(() => Effect.sync(() => void ran++)))
        yield* Workqueue.flush(wq)
        assert.strictEqual(guarded.stats.runaways, 0, "a synchronous parent flush that never ended")
        assert.strictEqual(exitTag, "Success")
        assert.strictEqual(ran, 200)
      }).pipe(
        Effect.scoped,
        Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 }).pipe(Layer.provide(guarded.layer)))
      )
    },
    { timeout: 120_000 }
  )
})
