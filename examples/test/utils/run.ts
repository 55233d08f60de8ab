/**
 * Run an example's `program` under the `TestClock` of `it.effect` and return what it printed.
 *
 * The `WorkqueueSystem` layer is built here, inside the test body, so its timer fiber and workers use the
 * TestClock. The program is forked and the clock is moved by `limit` in one `TestClock.adjust`, the way a user
 * would test it (the engine's wake-ups settle inside each step of the adjust; see packages/core/test/internal/engineRegressions.test.ts);
 * a program still running then fails the test.
 */
import { assert } from "@effect/vitest"
import { WorkqueueSystem } from "@effect-workqueue/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock, TestConsole } from "effect/testing"

export const runExample = <E>(
  program: Effect.Effect<void, E, WorkqueueSystem.WorkqueueSystem>,
  options: { readonly limit: Duration.Input; readonly cpus?: number }
): Effect.Effect<Array<string>, E> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(
      program.pipe(Effect.provide(WorkqueueSystem.layer({ cpus: options.cpus ?? 4 }), { local: true }))
    )
    yield* TestClock.adjust(options.limit)
    assert.isDefined(
      fiber.pollUnsafe(),
      `the example did not finish within ${Duration.toMillis(Duration.fromInputUnsafe(options.limit))} ms of virtual time`
    )
    yield* Fiber.join(fiber)
    // Lines the logger wrote (the engine's WARNs carry a fiber id and wall time) are not the example's output.
    return (yield* TestConsole.logLines).map(String).filter((line) => !/^\[[\d:.]+\] [A-Z]+ \(#\d+\)/.test(line))
  })
