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

describe("internal/shutdown reportOf: linear in workqueues and workers", () => {
  it("20 000 workqueues with a busy worker each: every count right, each workqueue's name read a constant number of times", () => {
    const N = 20_000
    let nameReads = 0
    const workqueues = Array.from({ length: N }, (_, i) => {
      const name = `wq${i}`
      return {
        get name() {
          nameReads++
          return name
        },
        armed: i % 3 === 0 ? 1 : 0,
        pwqs: [{ active: 2, inactive: 1 }]
      }
    })
    const workers = Array.from({ length: N }, (_, i) => ({
      name: `kworker/u4:${i}`,
      state: "running",
      workqueue: `wq${i}`,
      work: `job${i}`,
      runningFor: 5
    }))
    // the fields reportOf reads; the rest of a snapshot does not matter to it
    const snapshot = { workqueues, pools: [{ workers }] } as unknown as WorkqueueSystem.Snapshot
    const report = Shutdown.reportOf(snapshot, { drained: false, deadlineMs: 10, elapsedMs: 10 })
    assert.strictEqual(report.workqueues.length, N)
    assert.strictEqual(report.running.length, N)
    assert.isTrue(report.workqueues.every((wq, i) => wq.name === `wq${i}` && wq.running === 1 && wq.pending === 2))
    assert.strictEqual(report.workqueues.filter((wq) => wq.armed === 1).length, Math.ceil(N / 3))
    // a filter of the busy workers per workqueue read each name once per busy worker: N * N = 4e8 reads
    assert.isAtMost(nameReads, 2 * N)
  })
})
