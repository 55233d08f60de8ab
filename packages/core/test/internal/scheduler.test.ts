import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { DelayedWork, Work, Workqueue, WorkqueueSystem } from "../../src/index.ts"
import { FAIR_STREAK } from "../../src/internal/scheduler.ts"
import { systemLayer } from "../utils/recorder.ts"

describe("WorkqueueScheduler", () => {
  it.effect(
    "a handler that suspends lets the next item of its bound pool start in the same turn (wq_worker_sleeping)",
    () =>
      Effect.gen(function* () {
        const starts: Array<number> = []
        for (let i = 0; i < 3; i++) {
          yield* WorkqueueSystem.schedule(
            yield* Work.make(() =>
              Effect.gen(function* () {
                starts.push(yield* Clock.currentTimeMillis)
                yield* Effect.sleep(100)
              })
            )
          )
        }
        // one adjust: the workers' chain of wake-ups settles before TestClock moves time
        yield* TestClock.adjust(1000)
        assert.deepStrictEqual(starts, [0, 0, 0])
      }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect(
    "a delayed item re-armed by its own handler fires every period within one adjust (queue_delayed_work)",
    () =>
      Effect.gen(function* () {
        const times: Array<number> = []
        const periodic: DelayedWork.DelayedWork = yield* DelayedWork.make((self) =>
          Effect.gen(function* () {
            times.push(yield* Clock.currentTimeMillis)
            if (times.length < 5) yield* WorkqueueSystem.scheduleDelayed(self, 4)
          }).pipe(Effect.orDie)
        )
        yield* WorkqueueSystem.scheduleDelayed(periodic, 4)
        yield* TestClock.adjust(1000)
        assert.deepStrictEqual(times, [4, 8, 12, 16, 20])
      }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect("CPU-bound handlers that only yield keep the pool at one running item (keep_working)", () =>
    Effect.gen(function* () {
      const trace: Array<string> = []
      for (const name of ["a", "b"]) {
        yield* WorkqueueSystem.schedule(
          yield* Work.make(() =>
            Effect.gen(function* () {
              for (let i = 0; i < 3; i++) {
                trace.push(`${name}${i}`)
                yield* Effect.yieldNow
              }
            })
          )
        )
      }
      yield* TestClock.adjust(0)
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      assert.deepStrictEqual(trace, ["a0", "a1", "a2", "b0", "b1", "b2"])
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  describe("bounded fairness: a chain of a better class slows worse ones on its CPU, never starves them", () => {
    /**
     * A self-requeuing chain on `chainWq` (CPU 0) and, queued right after it, one item per `others` workqueue on
     * the same CPU: each records how many chain runs had started when it began. The chain stops once every other
     * item ran, or after a bound of test-fiber turns (the assertion then reports the starvation; no hang).
     */
    const race = (chain: Workqueue.Options, yieldEachRun: boolean, others: ReadonlyArray<Workqueue.Options>) =>
      Effect.gen(function* () {
        const chainWq = yield* Workqueue.make("chain", chain)
        let runs = 0
        let stopped = false
        const self: Work.Work = yield* Work.make(() =>
          Effect.suspend(() => {
            runs++
            if (stopped) return Effect.void
            const again = Effect.sync(() => void Workqueue.queueOnUnsafe(chainWq, 0, self))
            return yieldEachRun ? Effect.andThen(Effect.yieldNow, again) : again
          })
        )
        const startedAt: Array<number | undefined> = others.map(() => undefined)
        yield* Workqueue.queueOn(chainWq, 0, self)
        for (let i = 0; i < others.length; i++) {
          const wq = yield* Workqueue.make(`other${i}`, others[i]!)
          yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.sync(() => (startedAt[i] = runs))))
        }
        for (let turn = 0; turn < 1_000 && startedAt.includes(undefined); turn++) yield* Effect.yieldNow
        stopped = true
        yield* Workqueue.flush(chainWq)
        return startedAt
      }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 })))

    it.effect(
      "a WQ_HIGHPRI chain whose runs each yield (one run-queue task each): the normal item runs after FAIR_STREAK of them",
      () =>
        Effect.gen(function* () {
          const [normal] = yield* race({ highpri: true }, true, [{}])
          assert.strictEqual(normal, FAIR_STREAK)
        })
    )

    it.effect(
      "a WQ_BH chain (its worker runs 10 items per task, BH_WORKER_RESTARTS): the normal item runs after FAIR_STREAK tasks",
      () =>
        Effect.gen(function* () {
          const [normal] = yield* race({ bh: true }, false, [{}])
          assert.strictEqual(normal, FAIR_STREAK * 10)
        })
    )

    it.effect(
      "a BH chain starving two classes: the fair turns go round them, highpri at the first, normal at the second",
      () =>
        Effect.gen(function* () {
          const [highpri, normal] = yield* race({ bh: true }, false, [{ highpri: true }, {}])
          assert.deepStrictEqual([highpri, normal], [FAIR_STREAK * 10, 2 * FAIR_STREAK * 10])
        })
    )

    it.effect("short of a streak the order is strict: a highpri item queued after a normal one still runs first", () =>
      Effect.gen(function* () {
        const order: Array<string> = []
        const normal = yield* Workqueue.make("n")
        const highpri = yield* Workqueue.make("h", { highpri: true })
        yield* Workqueue.queueOn(normal, 0, yield* Work.make(() => Effect.sync(() => order.push("normal"))))
        yield* Workqueue.queueOn(highpri, 0, yield* Work.make(() => Effect.sync(() => order.push("highpri"))))
        yield* Workqueue.flush(normal)
        yield* Workqueue.flush(highpri)
        assert.deepStrictEqual(order, ["highpri", "normal"])
      }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1 })))
    )
  })
})
