/**
 * `begin`: a system shuts down once. The "already shutting down?" check and the write of the run it starts are
 * one synchronous step, so a second caller — in the same step, or a fiber racing it, whatever point the runtime
 * makes either yield at (its op budget, `Scheduler.MaxOpsBeforeYield`) — joins the first run instead of starting
 * a second drain.
 */
import type { WorkqueueSystem } from "@effect-workqueue/core"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Scheduler from "effect/Scheduler"
import * as Shutdown from "../../src/internal/shutdown.ts"
import { systemLayer } from "../utils/system.ts"

const BUDGETS = Array.from({ length: 32 }, (_, i) => i + 1)

describe("internal/shutdown begin: deciding to shut down and recording it are one step", () => {
  it.effect("two begins in one synchronous step share one run; the first fixes the deadline", () =>
    Effect.gen(function* () {
      const context = yield* Effect.context<WorkqueueSystem.WorkqueueSystem>()
      const [first, second] = yield* Effect.sync(() => {
        const runSync = Effect.runSyncWith(context)
        return [runSync(Shutdown.begin(50)), runSync(Shutdown.begin(999))] as const
      })
      assert.strictEqual(first, second)
      assert.strictEqual(first.deadlineMs, 50)
      const report = yield* Deferred.await(first.outcome)
      assert.strictEqual(report.outcome, "drained")
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect(
    "two fibers racing to begin share one run, wherever the runtime makes them yield (op budgets 1 to 32)",
    () =>
      Effect.gen(function* () {
        const split: Array<number> = []
        for (const ops of BUDGETS) {
          const [first, second] = yield* Effect.all([Shutdown.begin(50), Shutdown.begin(999)], {
            concurrency: "unbounded"
          }).pipe(
            Effect.tap(([first]) => Deferred.await(first.outcome)),
            Effect.provide(systemLayer({ cpus: 1 })),
            Effect.provideService(Scheduler.MaxOpsBeforeYield, ops)
          )
          if (first !== second) split.push(ops)
        }
        assert.deepStrictEqual(split, [], "op budgets at which two shutdowns started")
      })
  )
})
