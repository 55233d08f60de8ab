/**
 * The test kit's own contract: `TestWorkqueue.layer` winds its system down at scope close, so a test fails with its
 * own message (issue 12, defect 11: a failed assertion while a handler slept on TestClock used to hang the scope close
 * and show only timeouts); `idle` reads the run queue through a typed API.
 */
import { assert, describe, it } from "@effect/vitest"
import { Work, Workqueue } from "@effect-workqueue/core"
import { TestWorkqueue } from "@effect-workqueue/testing"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

const squashed = (exit: Exit.Exit<unknown, unknown>): unknown =>
  Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined

describe("TestWorkqueue", () => {
  describe("layer: wind-down at scope close", () => {
    it.effect("a failed assertion while a handler sleeps on TestClock fails with its own message, not a hang", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(
          Effect.gen(function* () {
            const wq = yield* Workqueue.make("wq")
            yield* Workqueue.queue(wq, yield* Work.make(() => Effect.sleep(1000)))
            yield* TestWorkqueue.settle()
            assert.strictEqual(1, 2, "the test's own message")
          }).pipe(Effect.provide(TestWorkqueue.layer()))
        )
        const error = squashed(exit)
        assert.instanceOf(error, Error)
        assert.include((error as Error).message, "the test's own message")
      })
    )

    it.effect("a passing test whose handler still sleeps on TestClock closes: the clock is moved until it ends", () =>
      Effect.gen(function* () {
        let endedAt = -1
        const exit = yield* Effect.exit(
          Effect.gen(function* () {
            const wq = yield* Workqueue.make("wq")
            yield* Workqueue.queue(
              wq,
              yield* Work.make(() =>
                Effect.andThen(
                  Effect.sleep(5000),
                  Effect.map(Clock.currentTimeMillis, (t) => {
                    endedAt = t
                  })
                )
              )
            )
            yield* TestWorkqueue.settle()
          }).pipe(Effect.provide(TestWorkqueue.layer()))
        )
        assert.isTrue(Exit.isSuccess(exit), String(squashed(exit)))
        assert.isAtLeast(endedAt, 5000, "the handler ran to its end during the wind-down")
      })
    )

    it.effect("a handler that never ends fails a passing test with WindDownError naming it (no hang)", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(
          Effect.gen(function* () {
            const wq = yield* Workqueue.make("stuckwq")
            const never = yield* Deferred.make<void>()
            yield* Workqueue.queue(wq, yield* Work.make(() => Deferred.await(never), { name: "stuck_item" }))
            yield* TestWorkqueue.settle()
          }).pipe(Effect.provide(TestWorkqueue.layer({ windDownAdvanceMs: 60_000 })))
        )
        const error = squashed(exit)
        assert.instanceOf(error, TestWorkqueue.WindDownError)
        const report = (error as TestWorkqueue.WindDownError).report
        assert.include(report, `running: stuck_item on workqueue "stuckwq"`)
        assert.include(report, `workqueue "stuckwq" (Destroying): 1 active`)
      })
    )

    it.effect("a failing test with a handler that never ends keeps its own failure (the report is only logged)", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(
          Effect.gen(function* () {
            const wq = yield* Workqueue.make("wq")
            yield* Workqueue.queue(wq, yield* Work.make(() => Effect.never))
            yield* TestWorkqueue.settle()
            return yield* Effect.fail("the test's own failure")
          }).pipe(Effect.provide(TestWorkqueue.layer({ windDownAdvanceMs: 60_000 })))
        )
        assert.deepStrictEqual(exit, Exit.fail("the test's own failure"))
      })
    )
  })

  describe("idle", () => {
    it.effect(
      "is false while an item waits to run and true once the system has settled (WorkqueueSystem.runQueue)",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("wq")
          yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
          assert.isFalse(yield* TestWorkqueue.idle, "a worker wake-up is queued")
          yield* TestWorkqueue.settle()
          assert.isTrue(yield* TestWorkqueue.idle)
        }).pipe(Effect.provide(TestWorkqueue.layer()))
    )
  })
})
