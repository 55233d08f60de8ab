import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { TestClock } from "effect/testing"
import { Work, Workqueue, WorkqueueMetrics, WorkqueueSystem } from "../src/index.ts"
import { makeLogCapture, settle } from "./utils/recorder.ts"

describe("WorkqueueMetrics", () => {
  it.effect("stats count started, completed, failed and defects per workqueue (wq_monitor.py, PWQ_STAT_*)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("stats", { maxActive: 4 })
      for (let i = 0; i < 3; i++) yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
      yield* Workqueue.queue(wq, yield* Work.make(() => Effect.fail("boom"), { name: "failing" }))
      yield* Workqueue.queue(wq, yield* Work.make(() => Effect.die("bug"), { name: "dying" }))
      yield* Workqueue.flush(wq)
      const stats = (yield* WorkqueueMetrics.stats).find((s) => s.name === "stats")!
      assert.strictEqual(stats.started, 5)
      assert.strictEqual(stats.completed, 5)
      assert.strictEqual(stats.inFlight, 0)
      assert.strictEqual(stats.failed, 1)
      assert.strictEqual(stats.defects, 1)
      assert.strictEqual(stats.unbound, false)
      assert.strictEqual(stats.memReclaim, false)
    }).pipe(Effect.provide(WorkqueueSystem.layer({ cpus: 2 })), Effect.provide(makeLogCapture().layer))
  )

  it.effect("publish exposes workqueue_* counters with a workqueue attribute, as deltas", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("published")
      yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
      yield* Workqueue.flush(wq)
      yield* WorkqueueMetrics.publish
      yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
      yield* Workqueue.flush(wq)
      yield* WorkqueueMetrics.publish
      const snapshot = yield* Metric.snapshot
      const completed = snapshot.find(
        (m) => m.id === "workqueue_completed" && (m.attributes as any)?.workqueue === "published"
      )
      assert.strictEqual((completed?.state as { count: number } | undefined)?.count, 2)
    }).pipe(Effect.provide(WorkqueueSystem.layer({ cpus: 1 })))
  )

  it.effect("the watchdog reports a pool that makes no progress for the threshold (wq_watchdog_timer_fn)", () => {
    const logs = makeLogCapture()
    return Effect.gen(function* () {
      const wq = yield* Workqueue.make("stuck")
      const gate = yield* Deferred.make<void>()
      yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Deferred.await(gate), { name: "blocker" }))
      yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.void, { name: "starved" }))
      yield* settle()
      yield* TestClock.adjust(999)
      assert.isFalse(logs.text().includes("lockup"))
      yield* TestClock.adjust(1001)
      const report = logs.lines.find((l) => l.message.includes("BUG: workqueue lockup"))
      assert.isDefined(report)
      assert.include(report!.message, "pool 0: cpus=0 nice=0 stuck for")
      assert.include(report!.message, "workqueue stuck:")
      assert.include(report!.message, "in-flight: kworker/0:0:blocker")
      assert.include(report!.message, "pending: starved")
      yield* Deferred.succeed(gate, undefined)
      yield* Workqueue.flush(wq)
    }).pipe(
      Effect.provide(WorkqueueSystem.layer({ cpus: 1, maxWorkersPerPool: 1, watchdogThresh: 1000 })),
      Effect.provide(logs.layer)
    )
  })

  it.effect(
    "a handler running past the CPU-hog threshold becomes CPU-intensive, warned with back-off (wq_cpu_intensive_report)",
    () => {
      const logs = makeLogCapture()
      let cpuNow = 0
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("hogs")
        const hog = yield* Work.make(
          () =>
            Effect.sync(() => {
              cpuNow += 15 // burn 15 ms of "CPU" (the injected clock) before yielding
            }).pipe(Effect.andThen(Effect.yieldNow)),
          { name: "hog_fn" }
        )
        const warnings: Array<number> = []
        for (let run = 1; run <= 7; run++) {
          yield* Workqueue.queue(wq, hog)
          yield* Workqueue.flush(wq)
          warnings.push(logs.lines.filter((l) => l.message.includes("hog_fn hogged CPU")).length)
        }
        // reports at counts 4, 5 and 7 (count + 1 - 4 is a power of two)
        assert.deepStrictEqual(warnings, [0, 0, 0, 1, 2, 2, 3])
        assert.include(logs.text(), "hogged CPU for >10000us 4 times, consider switching to WQ_UNBOUND")
        const stats = (yield* WorkqueueMetrics.stats).find((s) => s.name === "hogs")!
        assert.strictEqual(stats.cpuIntensive, 7)
        assert.isAtLeast(stats.cpuTime, 7 * 15)
      }).pipe(Effect.provide(WorkqueueSystem.layer({ cpus: 1, cpuClock: () => cpuNow })), Effect.provide(logs.layer))
    }
  )
})
