import { systemOf } from "../src/internal/service.ts"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { TestClock } from "effect/testing"
import * as Tracer from "effect/Tracer"
import { DelayedWork, Job, Work, Workqueue, WorkqueueMetrics, WorkqueueSystem } from "../src/index.ts"
import { makeLogCapture, settle, steppedDateNow, systemLayer, withSystemClosedOnSuccess } from "./utils/recorder.ts"

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
    }).pipe(Effect.provide(systemLayer({ cpus: 2 })), Effect.provide(makeLogCapture().layer))
  )

  it.effect("chargeCpuTime adds time spent off the event loop to the running item's pwq only (PWQ_STAT_CPU_TIME)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("charged")
      const other = yield* Workqueue.make("other")
      const results: Array<boolean> = []
      const work = yield* Work.make(() =>
        Effect.gen(function* () {
          results.push(yield* WorkqueueMetrics.chargeCpuTime(40))
          results.push(yield* WorkqueueMetrics.chargeCpuTime(-1))
          results.push(yield* WorkqueueMetrics.chargeCpuTime(Number.NaN))
          results.push(yield* WorkqueueMetrics.chargeCpuTime(Number.POSITIVE_INFINITY))
        })
      )
      yield* Workqueue.queue(wq, work)
      yield* Workqueue.queue(other, yield* Work.make(() => Effect.void))
      yield* Workqueue.flush(wq)
      yield* Workqueue.flush(other)
      results.push(yield* WorkqueueMetrics.chargeCpuTime(40)) // outside any item
      assert.deepStrictEqual(results, [true, false, false, false, false])
      const stats = yield* WorkqueueMetrics.stats
      assert.isTrue(stats.find((s) => s.name === "charged")!.cpuTime >= 40)
      assert.isTrue(stats.find((s) => s.name === "other")!.cpuTime < 40)
      assert.strictEqual(stats.find((s) => s.name === "charged")!.cpuIntensive, 0)
    }).pipe(Effect.scoped, Effect.provide(systemLayer()))
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
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect("publish names one counter per statistic, workqueue_<name in snake case> (_ms for CPU time)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("named")
      yield* Workqueue.queue(wq, yield* Work.make(() => Effect.fail("no")))
      yield* Workqueue.flush(wq)
      yield* Workqueue.queue(wq, yield* Work.make(() => Effect.die("dead")))
      yield* Workqueue.flush(wq)
      yield* WorkqueueMetrics.publish
      // a counter appears once it has counted something: every one published has a name from this list
      const names = [
        "workqueue_started",
        "workqueue_completed",
        "workqueue_failed",
        "workqueue_defects",
        "workqueue_cpu_time_ms",
        "workqueue_cpu_intensive",
        "workqueue_cm_wakeup",
        "workqueue_mayday",
        "workqueue_rescued",
        "workqueue_in_flight"
      ]
      const ids = new Set((yield* Metric.snapshot).map((m) => m.id).filter((id) => id.startsWith("workqueue_")))
      for (const id of ids) assert.include(names, id)
      for (const id of ["workqueue_started", "workqueue_completed", "workqueue_failed", "workqueue_defects"]) {
        assert.isTrue(ids.has(id), id)
      }
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect("the watchdog's show-state line of a bounded workqueue shows its pending count against maxPending", () => {
    const logs = makeLogCapture()
    return Effect.gen(function* () {
      const wq = yield* Workqueue.make("stuck-bounded", { maxPending: 4 })
      const gate = yield* Deferred.make<void>()
      yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Deferred.await(gate), { name: "blocker" }))
      yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.void, { name: "starved" }))
      yield* Workqueue.queueDelayed(wq, yield* DelayedWork.make(() => Effect.void), 5000)
      yield* settle()
      yield* TestClock.adjust(2000)
      const report = logs.lines.find((l) => l.message.includes("BUG: workqueue lockup"))
      assert.isDefined(report, logs.text())
      assert.include(report!.message, "workqueue stuck-bounded: flags=0x0 pending=2/4", "1 queued + 1 armed, of 4")
      yield* Deferred.succeed(gate, undefined)
      yield* Workqueue.flush(wq)
    }).pipe(
      Effect.provide(systemLayer({ cpus: 1, maxWorkersPerPool: 1, watchdogThresh: 1000 })),
      Effect.provide(logs.layer)
    )
  })

  it.live("the watchdog measures elapsed time: a wall-clock step neither inflates a lockup nor silences it", () => {
    const logs = makeLogCapture()
    const reports = () => logs.lines.filter((l) => l.message.includes("BUG: workqueue lockup"))
    // polls the live clock until the nth report; the bound is a hang guard (the threshold is 100 ms)
    const untilReports = (n: number) =>
      Effect.gen(function* () {
        while (reports().length < n) yield* Effect.sleep("20 millis")
      }).pipe(Effect.timeout("20 seconds"))
    return Effect.gen(function* () {
      const step = yield* steppedDateNow
      const wq = yield* Workqueue.make("stepped-lockup")
      const gate = yield* Deferred.make<void>()
      yield* Effect.gen(function* () {
        yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Deferred.await(gate), { name: "blocker" }))
        yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.void, { name: "starved" }))
        yield* untilReports(1)
        step(3_600_000) // an hour forward: before, the next report said "stuck for 3600s" after 0.1 s more
        yield* untilReports(2)
        assert.include(reports()[1]!.message, "stuck for 0s", reports()[1]!.message)
        step(0) // and back: before, the watchdog was silent for the hour (the hang guard failed it)
        yield* untilReports(3)
        assert.include(reports()[2]!.message, "stuck for 0s", reports()[2]!.message)
      }).pipe(Effect.ensuring(Deferred.succeed(gate, undefined)))
      yield* Workqueue.flush(wq)
    }).pipe(
      Effect.scoped,
      Effect.provide(systemLayer({ cpus: 1, maxWorkersPerPool: 1, watchdogThresh: 100 })),
      Effect.provide(logs.layer)
    )
  })

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
      assert.notInclude(report!.message, "pending=", "an unbounded workqueue shows no maxPending count")
      yield* Deferred.succeed(gate, undefined)
      yield* Workqueue.flush(wq)
    }).pipe(
      Effect.provide(systemLayer({ cpus: 1, maxWorkersPerPool: 1, watchdogThresh: 1000 })),
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
      }).pipe(Effect.provide(systemLayer({ cpus: 1, cpuClock: () => cpuNow })), Effect.provide(logs.layer))
    }
  )

  describe("tracepoints (include/trace/events/workqueue.h)", () => {
    const traced = (events: Array<WorkqueueMetrics.Tracepoint>) =>
      systemLayer({ cpus: 4, tracepoint: (tp) => events.push(tp) })
    // the events carry the item itself (the kernel's work pointer); compare by its name
    const of = (events: Array<WorkqueueMetrics.Tracepoint>, work: string) =>
      events
        .filter((e) => e.work.name === work)
        .map((e) => {
          const { time: _time, work: item, ...rest } = e
          return { ...rest, work: item.name }
        })

    it.effect("queue, activate, execute start and end carry the kernel's fields (trace_workqueue_*)", () => {
      const events: Array<WorkqueueMetrics.Tracepoint> = []
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("traced")
        yield* Workqueue.queueOn(wq, 2, yield* Work.make(() => Effect.void, { name: "w" }))
        yield* Workqueue.flush(wq)
        assert.deepStrictEqual(of(events, "w"), [
          { _tag: "workqueue_queue_work", work: "w", workqueue: "traced", reqCpu: 2, cpu: 2, pool: 4 },
          { _tag: "workqueue_activate_work", work: "w", workqueue: "traced", pool: 4 },
          { _tag: "workqueue_execute_start", work: "w", workqueue: "traced", worker: "kworker/2:0", cpu: 2, pool: 4 },
          { _tag: "workqueue_execute_end", work: "w", workqueue: "traced", worker: "kworker/2:0", outcome: "success" }
        ])
      }).pipe(Effect.provide(traced(events)))
    })

    it.effect("a non-reentrance redirect shows req_cpu != cpu (__queue_work)", () => {
      const events: Array<WorkqueueMetrics.Tracepoint> = []
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("redirect")
        const gate = yield* Deferred.make<void>()
        const work = yield* Work.make(() => Deferred.await(gate), { name: "r" })
        yield* Workqueue.queueOn(wq, 0, work)
        yield* settle()
        yield* Workqueue.queueOn(wq, 1, work)
        const queued = events.filter((e) => e._tag === "workqueue_queue_work" && e.work === work)
        assert.deepStrictEqual(
          queued.map((e) => (e._tag === "workqueue_queue_work" ? [e.reqCpu, e.cpu] : [])),
          [
            [0, 0],
            [1, 0]
          ]
        )
        yield* Deferred.succeed(gate, undefined)
        yield* Workqueue.flush(wq)
      }).pipe(Effect.provide(traced(events)))
    })

    it.effect(
      "no queue_work when refused or while a timer is armed; it comes at expiry; activate waits for max_active",
      () => {
        const events: Array<WorkqueueMetrics.Tracepoint> = []
        return Effect.gen(function* () {
          const wq = yield* Workqueue.make("limits", { maxActive: 1 })
          const disabled = yield* Work.make(() => Effect.void, { name: "disabled" })
          yield* Work.disable(disabled)
          assert.isFalse(yield* Workqueue.queue(wq, disabled))
          const later = yield* DelayedWork.make(() => Effect.void, { name: "later" })
          yield* Workqueue.queueDelayed(wq, later, 100)
          assert.deepStrictEqual(of(events, "disabled"), [])
          assert.deepStrictEqual(of(events, "later"), [])
          const gate = yield* Deferred.make<void>()
          yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Deferred.await(gate), { name: "first" }))
          yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.void, { name: "second" }))
          yield* settle()
          assert.deepStrictEqual(
            of(events, "second").map((e) => e._tag),
            ["workqueue_queue_work"]
          )
          yield* Deferred.succeed(gate, undefined)
          yield* TestClock.adjust(100)
          yield* Workqueue.flush(wq)
          assert.deepStrictEqual(
            of(events, "second").map((e) => e._tag),
            ["workqueue_queue_work", "workqueue_activate_work", "workqueue_execute_start", "workqueue_execute_end"]
          )
          const expiry = events.find((e) => e.work === later && e._tag === "workqueue_queue_work")
          assert.strictEqual(expiry?.time, 100)
        }).pipe(Effect.provide(traced(events)))
      }
    )

    it.effect("a failing handler ends with outcome failure, a dying one with defect", () => {
      const events: Array<WorkqueueMetrics.Tracepoint> = []
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("outcomes")
        yield* Workqueue.queue(wq, yield* Work.make(() => Effect.fail("no"), { name: "f" }))
        yield* Workqueue.queue(wq, yield* Work.make(() => Effect.die("bug"), { name: "d" }))
        yield* Workqueue.flush(wq)
        const outcome = (name: string) =>
          events.flatMap((e) => (e._tag === "workqueue_execute_end" && e.work.name === name ? [e.outcome] : []))
        assert.deepStrictEqual([outcome("f"), outcome("d")], [["failure"], ["defect"]])
      }).pipe(Effect.provide(traced(events)), Effect.provide(makeLogCapture().layer))
    })

    for (const kind of [
      "workqueue_queue_work",
      "workqueue_activate_work",
      "workqueue_execute_start",
      "workqueue_execute_end"
    ] as const) {
      for (const thrown of ["an Error", "an unprintable object"] as const)
        it.effect(
          `a sink that throws ${thrown} on ${kind} drops that event only: every item runs, flush and destroy return`,
          () => {
            const logs = makeLogCapture()
            let seen = 0
            return Effect.gen(function* () {
              const wq = yield* Workqueue.make("sinkbug", { maxActive: 1 })
              let ran = 0
              const items: Array<Work.Work> = []
              for (let i = 0; i < 5; i++) items.push(yield* Work.make(() => Effect.sync(() => ran++)))
              for (const w of items) assert.isTrue(yield* Workqueue.queue(wq, w))
              yield* Workqueue.flush(wq)
              assert.strictEqual(ran, 5)
              assert.deepStrictEqual(items.filter(Work.pendingUnsafe), [])
              const snap = yield* WorkqueueSystem.snapshot
              assert.strictEqual(snap.hookErrors, 4) // the 2nd to 5th events of the kind threw
              yield* Workqueue.destroy(wq)
              const warned = logs.lines.filter((l) => l.message.includes(`tracepoint sink threw on ${kind}`))
              assert.strictEqual(warned.length, 1) // once per kind
              assert.include(warned[0]!.message, 'workqueue "sinkbug"')
            }).pipe(
              Effect.provide(
                systemLayer({
                  cpus: 1,
                  tracepoint: (tp) => {
                    if (tp._tag === kind && tp.workqueue === "sinkbug" && ++seen >= 2) {
                      // an object whose toString throws: the guard must not throw while reporting it
                      throw thrown === "an Error"
                        ? new Error("sink bug")
                        : {
                            toString() {
                              throw new Error("unprintable")
                            }
                          }
                    }
                  }
                })
              ),
              Effect.provide(logs.layer)
            )
          }
        )
    }
  })

  describe("a sink calling back in: every tracepoint comes where the engine's state is consistent", () => {
    // the sink reacts once, to the first event of `kind` on `work` (no try/catch: a throw would count in hookErrors)
    const reacting = () => {
      const hook: { on: ((tp: WorkqueueMetrics.Tracepoint) => void) | undefined } = { on: undefined }
      const options = { cpus: 2, tracepoint: (tp: WorkqueueMetrics.Tracepoint) => hook.on?.(tp) }
      const layer = systemLayer(options)
      // the system and every workqueue made in the body close only if the body succeeds: a failed assertion
      // fails the test instead of hanging in the close of a workqueue it left stuck
      const closedOnSuccess = withSystemClosedOnSuccess(options)
      const once = (kind: WorkqueueMetrics.Tracepoint["_tag"], work: Work.Work, react: () => void) => {
        hook.on = (tp) => {
          if (tp._tag !== kind || tp.work !== work) return
          hook.on = undefined
          react()
        }
      }
      return { layer, once, closedOnSuccess }
    }
    const noHookErrors = Effect.map(WorkqueueSystem.snapshot, (snap) => assert.strictEqual(snap.hookErrors, 0))

    for (const kind of ["workqueue_queue_work", "workqueue_activate_work"] as const) {
      it.effect(
        `Work.cancelUnsafe on ${kind} of the item cancels it: it never runs, and it can be queued again`,
        () => {
          const { layer, once } = reacting()
          return Effect.gen(function* () {
            const wq = yield* Workqueue.make("reent")
            let runs = 0
            const work = yield* Work.make(() => Effect.sync(() => runs++))
            let cancelled: boolean | undefined
            once(kind, work, () => (cancelled = Work.cancelUnsafe(work)))
            assert.isTrue(yield* Workqueue.queue(wq, work))
            assert.isTrue(cancelled)
            assert.isFalse(Work.pendingUnsafe(work))
            assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0)
            yield* Workqueue.flush(wq)
            assert.strictEqual(runs, 0)
            assert.isTrue(yield* Workqueue.queue(wq, work))
            yield* Workqueue.flush(wq)
            assert.strictEqual(runs, 1)
            yield* noHookErrors
          }).pipe(Effect.provide(layer))
        }
      )
    }

    // how many items wait inactive on `name`'s pwqs, read synchronously (no worker has run yet)
    const inactiveOn = (name: string) =>
      Effect.map(WorkqueueSystem.snapshot, (snap) =>
        snap.workqueues.find((w) => w.name === name)!.pwqs.reduce((n, p) => n + p.inactive, 0)
      )

    it.effect("the sink queues Y on X's queue_work and cancels X: Y takes a free slot, later items too", () => {
      const { closedOnSuccess, once } = reacting()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("w", { maxActive: 4 })
        const ran: Array<string> = []
        const make = (name: string) => Work.make(() => Effect.sync(() => ran.push(name)), { name })
        const x = yield* make("x")
        const y = yield* make("y")
        const z = yield* make("z")
        once("workqueue_queue_work", x, () => {
          assert.isTrue(Workqueue.queueUnsafe(wq, y))
          assert.isTrue(Work.cancelUnsafe(x))
        })
        assert.isTrue(yield* Workqueue.queue(wq, x))
        // before the fix Y stayed inactive for good with all four slots free, and Z lined up behind it
        assert.strictEqual(yield* inactiveOn("w"), 0)
        assert.isTrue(yield* Workqueue.queue(wq, z))
        assert.strictEqual(yield* inactiveOn("w"), 0)
        yield* Workqueue.flush(wq)
        assert.deepStrictEqual(ran, ["y", "z"])
        yield* noHookErrors
      }).pipe(closedOnSuccess)
    })

    it.effect("the sink queues Y on X's queue_work (no cancel): both take a slot, max_active is kept", () => {
      const { closedOnSuccess, once } = reacting()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("w", { maxActive: 4 })
        const ran: Array<string> = []
        const make = (name: string) => Work.make(() => Effect.sync(() => ran.push(name)), { name })
        const x = yield* make("x")
        const y = yield* make("y")
        once("workqueue_queue_work", x, () => assert.isTrue(Workqueue.queueUnsafe(wq, y)))
        assert.isTrue(yield* Workqueue.queue(wq, x))
        // before the fix Y waited inactive with three slots free until X ended (X waiting on Y deadlocked)
        assert.strictEqual(yield* inactiveOn("w"), 0)
        yield* Workqueue.flush(wq)
        assert.sameMembers(ran, ["x", "y"])
        yield* noHookErrors
      }).pipe(closedOnSuccess)
    })

    it.effect("ordered: the sink queues Y on X's queue_work: X then Y, one at a time", () => {
      const { closedOnSuccess, once } = reacting()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.makeOrdered("o")
        const ran: Array<string> = []
        const make = (name: string) => Work.make(() => Effect.sync(() => ran.push(name)), { name })
        const x = yield* make("x")
        const y = yield* make("y")
        once("workqueue_queue_work", x, () => assert.isTrue(Workqueue.queueUnsafe(wq, y)))
        assert.isTrue(yield* Workqueue.queue(wq, x))
        assert.strictEqual(yield* inactiveOn("o"), 1)
        yield* Workqueue.flush(wq)
        assert.deepStrictEqual(ran, ["x", "y"])
        yield* noHookErrors
      }).pipe(closedOnSuccess)
    })

    it.effect(
      "a cancel whose freed slot activates the next item: the sink cancels that one too, the third runs",
      () => {
        const { layer, once } = reacting()
        return Effect.gen(function* () {
          const wq = yield* Workqueue.make("reent", { maxActive: 1 })
          const ran: Array<string> = []
          const [a, b, c] = yield* Effect.forEach(["a", "b", "c"], (name) =>
            Work.make(() => Effect.sync(() => ran.push(name)), { name })
          )
          // queued in one step: a is active, b and c wait for max_active
          for (const w of [a!, b!, c!]) assert.isTrue(Workqueue.queueUnsafe(wq, w))
          let nested: boolean | undefined
          once("workqueue_activate_work", b!, () => (nested = Work.cancelUnsafe(b!)))
          assert.isTrue(Work.cancelUnsafe(a!))
          assert.isTrue(nested)
          assert.deepStrictEqual([a!, b!, c!].map(Work.pendingUnsafe), [false, false, true])
          yield* Workqueue.flush(wq)
          assert.deepStrictEqual(ran, ["c"])
          yield* noHookErrors
        }).pipe(Effect.provide(layer))
      }
    )

    it.effect("modDelayedUnsafe on workqueue_queue_work of another item queues the delayed item now", () => {
      const { layer, once } = reacting()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("reent")
        const ran: Array<string> = []
        const work = yield* Work.make(() => Effect.sync(() => ran.push("work")))
        const dwork = yield* DelayedWork.make(() => Effect.sync(() => ran.push("dwork")))
        assert.isTrue(yield* Workqueue.queueDelayed(wq, dwork, "1 hour"))
        let modded: boolean | undefined
        once("workqueue_queue_work", work, () => (modded = Workqueue.modDelayedUnsafe(wq, dwork, 0)))
        assert.isTrue(yield* Workqueue.queue(wq, work))
        assert.isTrue(modded)
        yield* Workqueue.flush(wq)
        assert.sameMembers(ran, ["work", "dwork"])
        assert.strictEqual(ran.length, 2)
        yield* noHookErrors
      }).pipe(Effect.provide(layer))
    })

    it.effect(
      "modDelayedUnsafe on workqueue_activate_work of the item itself re-arms it: it runs at its new expiry",
      () => {
        const { layer, once } = reacting()
        return Effect.gen(function* () {
          const wq = yield* Workqueue.make("reent", { maxActive: 1 })
          let runs = 0
          const dwork = yield* DelayedWork.make(() => Effect.sync(() => runs++))
          let modded: boolean | undefined
          once("workqueue_activate_work", dwork, () => (modded = Workqueue.modDelayedUnsafe(wq, dwork, 100)))
          assert.isTrue(yield* Workqueue.queueDelayed(wq, dwork, 0))
          assert.isTrue(modded)
          assert.isTrue(Work.pendingUnsafe(dwork))
          assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 1)
          yield* settle()
          assert.strictEqual(runs, 0)
          yield* TestClock.adjust(100)
          yield* Workqueue.flush(wq)
          assert.strictEqual(runs, 1)
          yield* noHookErrors
        }).pipe(Effect.provide(layer))
      }
    )

    it.effect(
      "a modDelayed whose freed slot activates the next item: the sink cancels the re-queued item there",
      () => {
        const { layer, once } = reacting()
        return Effect.gen(function* () {
          const wq = yield* Workqueue.make("reent", { maxActive: 1 })
          const ran: Array<string> = []
          const dwork = yield* DelayedWork.make(() => Effect.sync(() => ran.push("dwork")))
          const next = yield* Work.make(() => Effect.sync(() => ran.push("next")))
          // one step: dwork active, next inactive
          assert.isTrue(Workqueue.queueDelayedUnsafe(wq, dwork, 0))
          assert.isTrue(Workqueue.queueUnsafe(wq, next))
          let cancelled: boolean | undefined
          once("workqueue_activate_work", next, () => (cancelled = Work.cancelUnsafe(dwork)))
          // re-queued now: behind next, whose activation comes after, with dwork already back on its pwq
          assert.isTrue(Workqueue.modDelayedUnsafe(wq, dwork, 0))
          assert.isTrue(cancelled)
          assert.isFalse(Work.pendingUnsafe(dwork))
          yield* Workqueue.flush(wq)
          assert.deepStrictEqual(ran, ["next"])
          yield* noHookErrors
        }).pipe(Effect.provide(layer))
      }
    )

    it.effect("queueUnsafe of the item on workqueue_execute_start runs it once more, after this run", () => {
      const { layer, once } = reacting()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("reent", { maxActive: 4 })
        let runs = 0
        let running = 0
        let overlapped = false
        const work = yield* Work.make(() =>
          Effect.gen(function* () {
            if (++running > 1) overlapped = true
            yield* Effect.yieldNow
            runs++
            running--
          })
        )
        let requeued: boolean | undefined
        once("workqueue_execute_start", work, () => (requeued = Workqueue.queueUnsafe(wq, work)))
        assert.isTrue(yield* Workqueue.queue(wq, work))
        yield* Workqueue.flush(wq)
        yield* Workqueue.flush(wq)
        assert.isTrue(requeued)
        assert.strictEqual(runs, 2)
        assert.isFalse(overlapped, "non-reentrance")
        yield* noHookErrors
      }).pipe(Effect.provide(layer))
    })

    it.effect("queueUnsafe of the item on each workqueue_execute_end runs it again, as often as asked", () => {
      const hook: { left: number } = { left: 3 }
      const state: { wq?: Workqueue.Workqueue; work?: Work.Work } = {}
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("reent")
        let runs = 0
        const work = yield* Work.make(() => Effect.sync(() => runs++))
        state.wq = wq
        state.work = work
        assert.isTrue(yield* Workqueue.queue(wq, work))
        for (let i = 0; i < 4; i++) yield* Workqueue.flush(wq)
        assert.strictEqual(runs, 4)
        assert.isFalse(Work.pendingUnsafe(work))
        yield* noHookErrors
      }).pipe(
        Effect.provide(
          systemLayer({
            cpus: 2,
            tracepoint: (tp) => {
              if (tp._tag === "workqueue_execute_end" && tp.work === state.work && hook.left-- > 0)
                assert.isTrue(Workqueue.queueUnsafe(state.wq!, state.work))
            }
          })
        )
      )
    })

    it.effect("Job.submitUnsafe on workqueue_execute_start submits a job that completes", () => {
      const { layer, once } = reacting()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("reent")
        const work = yield* Work.make(() => Effect.void)
        let job: Job.Job<number, unknown> | undefined
        once("workqueue_execute_start", work, () => (job = Job.submitUnsafe(wq, Effect.succeed(5))))
        assert.isTrue(yield* Workqueue.queue(wq, work))
        yield* Workqueue.flush(wq)
        assert.isDefined(job)
        assert.strictEqual(yield* Job.join(job!), 5)
        yield* noHookErrors
      }).pipe(Effect.provide(layer))
    })

    for (const seed of [1, 2, 3, 4]) {
      it.effect(
        `seed ${seed}: a sink calling queue, cancel and modDelayed at random on every event loses no item, corrupts no count`,
        () => {
          // a fixed-seed LCG: the same calls at the same events every run
          let state = seed
          const random = () => {
            state = (state * 1103515245 + 12345) % 2147483648
            return state / 2147483648
          }
          interface Item {
            readonly work: Work.Work
            readonly delayed: boolean
            queued: number // instances this test added: queue true, modDelayed false (it was idle)
            cancelled: number // instances a cancel took back: cancel true
            runs: number
          }
          const items: Array<Item> = []
          const wqs: Array<Workqueue.Workqueue> = []
          const unexpected: Array<string> = []
          let on = false
          let depth = 0
          const call = () => {
            const item = items[Math.floor(random() * items.length)]!
            const wq = wqs[Math.floor(random() * wqs.length)]!
            const r = random()
            if (r < 0.35) {
              if (Workqueue.queueUnsafe(wq, item.work)) item.queued++
            } else if (r < 0.6) {
              if (Work.cancelUnsafe(item.work)) item.cancelled++
            } else if (item.delayed) {
              if (!Workqueue.modDelayedUnsafe(wq, item.work as DelayedWork.DelayedWork, random() < 0.5 ? 0 : 3))
                item.queued++
            }
          }
          const guarded = () => {
            try {
              call()
            } catch (e) {
              unexpected.push(String(e))
            }
          }
          const layer = systemLayer({
            cpus: 2,
            watchdogThresh: 0,
            tracepoint: () => {
              if (!on || depth >= 3 || random() >= 0.3) return
              depth++
              guarded()
              depth--
            }
          })
          return Effect.gen(function* () {
            for (let k = 0; k < 4; k++) {
              wqs.push(yield* Workqueue.make(`w${k}`, { maxActive: 1 + k, highpri: k === 3 }))
            }
            for (let i = 0; i < 12; i++) {
              const item: Item = { work: undefined!, delayed: i % 3 === 0, queued: 0, cancelled: 0, runs: 0 }
              const run = Effect.sync(() => void item.runs++)
              ;(item as { work: Work.Work }).work = item.delayed
                ? yield* DelayedWork.make(() => run)
                : yield* Work.make(() => (i % 2 === 0 ? run : Effect.andThen(Effect.sleep(1), run)))
              items.push(item)
            }
            on = true
            for (let step = 0; step < 400; step++) {
              guarded()
              if (random() < 0.2) yield* TestClock.adjust(1)
            }
            on = false
            for (let round = 0; round < 3; round++) {
              for (const wq of wqs) yield* Workqueue.fireArmed(wq)
              yield* TestClock.adjust(10)
              for (const wq of wqs) yield* Workqueue.flush(wq)
            }
            assert.deepStrictEqual(unexpected, [])
            assert.isAbove(
              items.reduce((n, item) => n + item.queued, 0),
              100
            )
            // every instance added either ran or was taken back by a cancel; nothing is left pending
            assert.deepStrictEqual(
              items.flatMap((item, i) =>
                item.runs + item.cancelled !== item.queued || Work.pendingUnsafe(item.work)
                  ? [{ i, queued: item.queued, cancelled: item.cancelled, runs: item.runs }]
                  : []
              ),
              []
            )
            for (const wq of wqs) assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0)
            yield* noHookErrors
          }).pipe(Effect.scoped, Effect.provide(layer))
        }
      )
    }

    it.effect("a sink cancelling a timer that fireArmed has not fired yet: it stays cancelled, the rest fire", () => {
      const { layer, once } = reacting()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("reent")
        const ran: Array<string> = []
        const [d1, d2, d3] = yield* Effect.forEach(["d1", "d2", "d3"], (name) =>
          DelayedWork.make(() => Effect.sync(() => ran.push(name)), { name })
        )
        yield* Workqueue.queueDelayed(wq, d1!, 100)
        yield* Workqueue.queueDelayed(wq, d2!, 200)
        yield* Workqueue.queueDelayed(wq, d3!, 300)
        let cancelled: boolean | undefined
        once("workqueue_queue_work", d1!, () => (cancelled = DelayedWork.cancelUnsafe(d2!)))
        yield* Workqueue.fireArmed(wq)
        assert.isTrue(cancelled)
        yield* Workqueue.flush(wq)
        assert.deepStrictEqual(ran, ["d1", "d3"])
        assert.isFalse(Work.pendingUnsafe(d2!))
        yield* noHookErrors
      }).pipe(Effect.provide(layer))
    })
  })

  it.effect("with spans on, a handler runs in a root span named after its work item, never the caller's child", () => {
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span: (options) => {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    return Effect.gen(function* () {
      const wq = yield* Workqueue.make("spanned")
      const work = yield* Work.make(() => Effect.void, { name: "handler_span" })
      yield* Workqueue.queueOn(wq, 1, work).pipe(Effect.withSpan("caller"))
      yield* Workqueue.flush(wq)
      const span = spans.find((s) => s.name === "handler_span")
      assert.isDefined(span)
      assert.isTrue(Option.isNone(span!.parent), "the caller's span is not its parent")
      assert.strictEqual(span!.attributes.get("workqueue.name"), "spanned")
      assert.strictEqual(span!.attributes.get("workqueue.worker"), "kworker/1:0")
      assert.strictEqual(span!.attributes.get("workqueue.cpu"), 1)
    }).pipe(Effect.provide(systemLayer({ cpus: 2, spans: true })), Effect.withTracer(tracer))
  })
})

describe("WorkqueueMetrics: each workqueue's deltas are its own", () => {
  const count = (snapshot: ReadonlyArray<Metric.Metric.Snapshot>, id: string, name: string): number | undefined =>
    (
      snapshot.find((m) => m.id === id && (m.attributes as any)?.workqueue === name)?.state as
        | { count: number }
        | undefined
    )?.count

  it.effect("two workqueues whose names agree in their first 31 characters do not corrupt each other", () =>
    Effect.gen(function* () {
      const prefix = "x".repeat(31)
      const a = yield* Workqueue.make(`${prefix}a`)
      yield* Workqueue.make(`${prefix}b`)
      for (let i = 0; i < 10; i++) yield* Workqueue.queue(a, yield* Work.make(() => Effect.void))
      yield* Workqueue.flush(a)
      for (let i = 0; i < 3; i++) {
        yield* WorkqueueMetrics.publish
        assert.strictEqual(count(yield* Metric.snapshot, "workqueue_completed", prefix), 10, `publish ${i + 1}`)
      }
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1 })), Effect.provide(makeLogCapture().layer))
  )

  it.effect("a workqueue made, used and destroyed between two publications has its final counts published once", () =>
    Effect.gen(function* () {
      yield* WorkqueueMetrics.publish
      yield* Effect.scoped(
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("ephemeral")
          for (let i = 0; i < 3; i++) yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
        })
      )
      yield* WorkqueueMetrics.publish
      assert.strictEqual(count(yield* Metric.snapshot, "workqueue_completed", "ephemeral"), 3)
      yield* WorkqueueMetrics.publish
      assert.strictEqual(count(yield* Metric.snapshot, "workqueue_completed", "ephemeral"), 3)
      const system = systemOf(yield* WorkqueueSystem.WorkqueueSystem)
      assert.strictEqual(system.retired?.length, 0)
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect("layer refuses an intervalMs that is not a finite number > 0", () =>
    Effect.gen(function* () {
      for (const intervalMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, "10"] as Array<unknown>) {
        const exit = yield* Effect.exit(
          Effect.scoped(Layer.build(WorkqueueMetrics.layer({ intervalMs: intervalMs as number })))
        )
        assert.isTrue(Exit.isFailure(exit))
      }
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )
})
