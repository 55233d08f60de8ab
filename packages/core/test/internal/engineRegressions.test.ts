/**
 * Engine behaviour under `TestClock` that the examples rely on: one `TestClock.adjust` lets every wake-up the
 * engine starts settle (these were bugs in the first engine, found by porting the examples; now regressions).
 */
import { assert, describe, it } from "@effect/vitest"
import { DelayedWork, Work, WorkqueueSystem } from "../../src/index.ts"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { systemLayer } from "../utils/recorder.ts"

describe("known engine bugs under TestClock (core 0.1.0)", () => {
  it.effect(
    "a sleeping handler lets a second item on the same per-CPU pool start at once (concurrency management)",
    () =>
      Effect.gen(function* () {
        const starts: Array<number> = []
        const program = Effect.gen(function* () {
          const item = () =>
            Work.make(() =>
              Effect.gen(function* () {
                starts.push(yield* Clock.currentTimeMillis)
                yield* Effect.sleep(100)
              })
            )
          const a = yield* item()
          const b = yield* item()
          yield* WorkqueueSystem.schedule(a)
          yield* WorkqueueSystem.schedule(b)
          yield* Work.flush(a)
          yield* Work.flush(b)
        }).pipe(Effect.provide(systemLayer(), { local: true }))
        const fiber = yield* Effect.forkChild(program)
        yield* TestClock.adjust(1000)
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(starts, [0, 0]) // observed: [0, 100] — the second worker is woken only at t=100
      })
  )

  it.effect("TestClock.adjust waits for work queued on other CPUs (schedule_work_on)", () =>
    Effect.gen(function* () {
      const program = Effect.gen(function* () {
        for (let cpu = 0; cpu < 4; cpu++) {
          const work = yield* Work.make(() => Effect.void)
          yield* WorkqueueSystem.scheduleOn(cpu, work)
          yield* Work.flush(work)
        }
      }).pipe(Effect.provide(systemLayer(), { local: true }))
      const fiber = yield* Effect.forkChild(program)
      yield* TestClock.adjust(1000)
      assert.isDefined(fiber.pollUnsafe()) // observed: still running; it finishes a few yields later
    })
  )

  it.effect("a delayed item re-armed by its handler during one adjust fires within that adjust", () =>
    Effect.gen(function* () {
      let runs = 0
      const program = Effect.gen(function* () {
        const dwork = yield* DelayedWork.make((self) =>
          Effect.gen(function* () {
            runs++
            if (runs < 5) yield* WorkqueueSystem.scheduleDelayed(self, 4)
          }).pipe(Effect.orDie)
        )
        yield* WorkqueueSystem.schedule(dwork)
      }).pipe(Effect.andThen(Effect.never), Effect.provide(systemLayer(), { local: true }))
      const fiber = yield* Effect.forkChild(program)
      yield* TestClock.adjust(1000)
      const observed = runs
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(observed, 5) // observed: fewer; adjusting in 1 ms steps gives 5
    })
  )
})
