import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Work, Workqueue, WorkqueueMetrics } from "../../src/index.ts"
import { makeLogCapture, systemLayer } from "../utils/recorder.ts"

/**
 * CPU-time accounting and CPU-hog detection (`wq_worker_tick()`, `wq_cpu_intensive_report()`), all on an
 * injected CPU clock: a handler "burns" CPU by moving the clock, so every figure below is exact.
 */
describe("CPU-hog accounting (internal/worker.ts wqWorkerTick, internal/scheduler.ts cutSlice)", () => {
  const statsOf = (name: string) => Effect.map(WorkqueueMetrics.stats, (all) => all.find((s) => s.name === name)!)

  it.effect("a synchronous handler that runs 200 ms is charged 200 ms and detected as a hog after the fact", () => {
    const cpu = { now: 0 }
    return Effect.gen(function* () {
      const wq = yield* Workqueue.make("sync")
      const hog = yield* Work.make(() => Effect.sync(() => void (cpu.now += 200)), { name: "busy_loop" })
      yield* Workqueue.queue(wq, hog)
      yield* Workqueue.flush(wq)
      const stats = yield* statsOf("sync")
      assert.strictEqual(stats.cpuTime, 200)
      assert.strictEqual(stats.cpuIntensive, 1)
    }).pipe(Effect.provide(systemLayer({ cpus: 1, cpuClock: () => cpu.now })))
  })

  it.effect("five synchronous 30 ms hogs: five detections, warned at counts 4 and 5 (wq_cpu_intensive_report)", () => {
    const cpu = { now: 0 }
    const logs = makeLogCapture()
    return Effect.gen(function* () {
      const wq = yield* Workqueue.make("hogs")
      const hog = yield* Work.make(() => Effect.sync(() => void (cpu.now += 30)), { name: "hog_fn" })
      for (let i = 0; i < 5; i++) {
        yield* Workqueue.queue(wq, hog)
        yield* Workqueue.flush(wq)
      }
      const stats = yield* statsOf("hogs")
      assert.strictEqual(stats.cpuIntensive, 5)
      assert.strictEqual(stats.cpuTime, 150)
      const warnings = logs.lines.filter((l) => l.message.includes("hog_fn hogged CPU"))
      assert.strictEqual(warnings.length, 2)
      assert.include(warnings[0]!.message, "4 times")
      assert.include(warnings[1]!.message, "5 times")
    }).pipe(Effect.provide(systemLayer({ cpus: 1, cpuClock: () => cpu.now })), Effect.provide(logs.layer))
  })

  it.effect("a slice's CPU time is charged to the items that ran in it, not to the one running at its end", () => {
    const cpu = { now: 0 }
    return Effect.gen(function* () {
      const busy = yield* Workqueue.make("busy")
      const victim = yield* Workqueue.make("victim")
      const quick = yield* Effect.forEach(Array.from({ length: 50 }), (_, i) =>
        Work.make(() => Effect.sync(() => void (cpu.now += 1)), { name: `quick${i}` })
      )
      const sleeper = yield* Work.make(() => Effect.sleep(0), { name: "sleeper" })
      // one synchronous step: all 51 items start in the same worker slice, the sleeper last
      yield* Effect.sync(() => {
        for (const w of quick) Workqueue.queueUnsafe(busy, w)
        Workqueue.queueUnsafe(victim, sleeper)
      })
      yield* Workqueue.flush(busy)
      yield* Workqueue.flush(victim)
      const b = yield* statsOf("busy")
      const v = yield* statsOf("victim")
      assert.strictEqual(b.cpuTime, 50)
      assert.strictEqual(b.cpuIntensive, 0, "1 ms each: none is a hog")
      assert.strictEqual(v.cpuTime, 0)
      assert.strictEqual(v.cpuIntensive, 0)
    }).pipe(Effect.provide(systemLayer({ cpus: 1, cpuClock: () => cpu.now })))
  })

  it.effect("CPU-intensive time slices end on the injected CPU clock (WQ_CPU_INTENSIVE)", () => {
    const cpu = { now: 0 }
    return Effect.gen(function* () {
      const wq = yield* Workqueue.make("crunch", { flags: Workqueue.WQ_CPU_INTENSIVE })
      const trace: Array<string> = []
      // 2000 operations of 0.01 ms each: 20 ms of CPU per item, in 2 ms slices
      const cruncher = (name: string) =>
        Work.make(
          () =>
            Effect.forEach(
              Array.from({ length: 2000 }),
              () =>
                Effect.sync(() => {
                  cpu.now += 0.01
                  if (trace[trace.length - 1] !== name) trace.push(name)
                }),
              { discard: true }
            ),
          { name }
        )
      const a = yield* cruncher("a")
      const b = yield* cruncher("b")
      yield* Effect.sync(() => {
        Workqueue.queueUnsafe(wq, a)
        Workqueue.queueUnsafe(wq, b)
      })
      yield* Workqueue.flush(wq)
      // both start at once (CPU-intensive items leave concurrency management) and take turns slice by slice
      assert.isAtLeast(trace.length, 6, `interleaving: ${trace.join("")}`)
    }).pipe(Effect.provide(systemLayer({ cpus: 1, cpuClock: () => cpu.now, cpuIntensiveSliceMs: 2 })))
  })
})
