/**
 * Run an example's `program` under the `TestClock` of `it.effect` and return what it printed.
 *
 * The `WorkqueueSystem` layer is built here, inside the test body, so its timer fiber and workers use the
 * TestClock, with the CPU clock frozen (`TestWorkqueue.frozenCpuClock`): the output never depends on machine speed. The program is forked and the clock is moved by `limit` in one `TestClock.adjust`, the way a user
 * would test it (the engine's wake-ups settle inside each step of the adjust; see packages/core/test/internal/engineRegressions.test.ts);
 * a program still running then fails the test.
 */
import { assert } from "@effect/vitest"
import { WorkqueueSystem } from "@effect-workqueue/core"
import { TestWorkqueue } from "@effect-workqueue/testing"
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
      program.pipe(
        Effect.provide(
          // the CPU clock frozen: the printed schedule must not depend on machine speed (a slice of real time over
          // cpuIntensiveThresh would flag an item CPU-intensive and reorder what runs)
          WorkqueueSystem.layer({ cpus: options.cpus ?? 4, cpuClock: TestWorkqueue.frozenCpuClock }),
          { local: true }
        )
      )
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
