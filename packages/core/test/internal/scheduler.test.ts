import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { DelayedWork, Work, WorkqueueSystem } from "../../src/index.ts"
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
})
