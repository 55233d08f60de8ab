import { systemOf } from "../src/internal/service.ts"
import * as WorkqueueInternal from "../src/internal/workqueue.ts"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as WorkqueueMetrics from "../src/WorkqueueMetrics.ts"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { DelayedWork, Work, Workqueue, WorkqueueError, WorkqueueSystem } from "../src/index.ts"
import {
  makeGate,
  makeLogCapture,
  makeRecorder,
  settle,
  systemLayer,
  withSystemClosedOnSuccess
} from "./utils/recorder.ts"

const startedOn = (snap: WorkqueueSystem.Snapshot, wq: string) =>
  snap.workqueues.find((w) => w.name === wq)!.pwqs.reduce((n, p) => n + p.stats.started, 0)

describe("WorkqueueSystem", () => {
  describe("layer and system workqueues", () => {
    it.effect(
      "the layer provides the system workqueues with the kernel's names, flags and limits (workqueue_init_early)",
      () =>
        Effect.gen(function* () {
          const expected: Array<[Effect.Effect<Workqueue.Workqueue, never, WorkqueueSystem.WorkqueueSystem>, string]> =
            [
              [WorkqueueSystem.systemWq, "events"],
              [WorkqueueSystem.systemHighpriWq, "events_highpri"],
              [WorkqueueSystem.systemLongWq, "events_long"],
              [WorkqueueSystem.systemUnboundWq, "events_unbound"],
              [WorkqueueSystem.systemFreezableWq, "events_freezable"],
              [WorkqueueSystem.systemPowerEfficientWq, "events_power_efficient"],
              [WorkqueueSystem.systemFreezablePowerEfficientWq, "events_freezable_pwr_efficient"],
              [WorkqueueSystem.systemBhWq, "events_bh"],
              [WorkqueueSystem.systemBhHighpriWq, "events_bh_highpri"]
            ]
          for (const [get, name] of expected) assert.strictEqual(Workqueue.name(yield* get), name)
          const has = (wq: Workqueue.Workqueue, flag: number) => (Workqueue.flags(wq) & flag) !== 0
          assert.isTrue(has(yield* WorkqueueSystem.systemHighpriWq, Workqueue.WQ_HIGHPRI))
          assert.isTrue(has(yield* WorkqueueSystem.systemUnboundWq, Workqueue.WQ_UNBOUND))
          assert.isFalse(has(yield* WorkqueueSystem.systemWq, Workqueue.WQ_UNBOUND))
          assert.isTrue(has(yield* WorkqueueSystem.systemFreezableWq, Workqueue.WQ_FREEZABLE))
          assert.isTrue(has(yield* WorkqueueSystem.systemFreezablePowerEfficientWq, Workqueue.WQ_FREEZABLE))
          assert.isTrue(has(yield* WorkqueueSystem.systemFreezablePowerEfficientWq, Workqueue.WQ_POWER_EFFICIENT))
          assert.isTrue(has(yield* WorkqueueSystem.systemBhWq, Workqueue.WQ_BH))
          assert.isTrue(has(yield* WorkqueueSystem.systemBhHighpriWq, Workqueue.WQ_BH))
          assert.isTrue(has(yield* WorkqueueSystem.systemBhHighpriWq, Workqueue.WQ_HIGHPRI))
          assert.strictEqual(Workqueue.maxActive(yield* WorkqueueSystem.systemWq), Workqueue.WQ_DFL_ACTIVE)
          assert.strictEqual(Workqueue.maxActive(yield* WorkqueueSystem.systemUnboundWq), Workqueue.WQ_MAX_ACTIVE)
          const snap = yield* WorkqueueSystem.snapshot
          const types = Object.fromEntries(snap.workqueues.map((w) => [w.name, w.type]))
          assert.strictEqual(types["events"], "percpu")
          assert.strictEqual(types["events_unbound"], "unbound")
          assert.strictEqual(types["events_bh"], "bh")
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("schedule queues on the system per-CPU workqueue and keeps the pending-bit result (schedule_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const work = yield* Work.make(rec.handler("w"))
        assert.isTrue(yield* WorkqueueSystem.schedule(work))
        assert.isFalse(yield* WorkqueueSystem.schedule(work))
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, ["start w@0/cpu0", "end w@0/cpu0"])
        assert.strictEqual(startedOn(yield* WorkqueueSystem.snapshot, "events"), 1)
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("scheduleOn runs the item on that CPU of the system workqueue (schedule_work_on)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        assert.isTrue(yield* WorkqueueSystem.scheduleOn(3, yield* Work.make(rec.handler("w"))))
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, ["start w@0/cpu3", "end w@0/cpu3"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "scheduleDelayed and scheduleDelayedOn start exactly after the delay, on the system workqueue (schedule_delayed_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          assert.isTrue(yield* WorkqueueSystem.scheduleDelayed(yield* DelayedWork.make(rec.handler("a")), 30))
          assert.isTrue(yield* WorkqueueSystem.scheduleDelayedOn(2, yield* DelayedWork.make(rec.handler("b")), 20))
          yield* TestClock.adjust(29)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["b"])
          yield* TestClock.adjust(1)
          yield* settle()
          assert.deepStrictEqual(yield* rec.trace, [
            "start b@20/cpu2",
            "end b@20/cpu2",
            "start a@30/cpu0",
            "end a@30/cpu0"
          ])
          assert.strictEqual(startedOn(yield* WorkqueueSystem.snapshot, "events"), 2)
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "flushScheduled waits for the system workqueue and warns that it is deprecated (flush_scheduled_work)",
      () => {
        const logs = makeLogCapture()
        return Effect.gen(function* () {
          const rec = yield* makeRecorder
          yield* WorkqueueSystem.schedule(yield* Work.make(rec.handler("w", Effect.sleep(10))))
          const flusher = yield* Effect.forkChild(WorkqueueSystem.flushScheduled)
          yield* settle()
          assert.isUndefined(flusher.pollUnsafe())
          yield* TestClock.adjust(10)
          yield* Fiber.join(flusher)
          assert.deepStrictEqual(yield* rec.ends, ["w"])
          assert.isTrue(
            logs.lines.some((l) => l.level === "Warn" && l.message.includes("flush")),
            logs.text()
          )
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })), Effect.provide(logs.layer))
      }
    )

    it.effect("closing the layer flushes and destroys every workqueue it owns, system ones included (layer)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(systemLayer({ cpus: 2 }), scope)
        const service = context.mapUnsafe.get(WorkqueueSystem.WorkqueueSystem.key) as
          | WorkqueueSystem.WorkqueueSystem["Service"]
          | undefined
        assert.isDefined(service)
        yield* Effect.gen(function* () {
          const wq = yield* Workqueue.make("mine")
          yield* Workqueue.queue(wq, yield* Work.make(rec.handler("mine", Effect.yieldNow)))
          yield* WorkqueueSystem.schedule(yield* Work.make(rec.handler("system", Effect.yieldNow)))
        }).pipe(Effect.provideContext(context), Scope.provide(scope))
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual([...(yield* rec.ends)].sort(), ["mine", "system"])
        const snap = yield* Effect.provideService(WorkqueueSystem.snapshot, WorkqueueSystem.WorkqueueSystem, service!)
        assert.deepStrictEqual(snap.workqueues, [])
        assert.strictEqual(snap.timers, 0)
      })
    )

    it.effect(
      "in power-efficient mode the WQ_POWER_EFFICIENT system workqueues are unbound (workqueue.power_efficient)",
      () =>
        Effect.gen(function* () {
          const type = (snap: WorkqueueSystem.Snapshot, name: string) =>
            snap.workqueues.find((w) => w.name === name)!.type
          const efficient = yield* WorkqueueSystem.snapshot.pipe(
            Effect.provide(systemLayer({ cpus: 4, powerEfficient: true }))
          )
          assert.strictEqual(type(efficient, "events_power_efficient"), "unbound")
          assert.strictEqual(type(efficient, "events_freezable_pwr_efficient"), "unbound")
          assert.strictEqual(type(efficient, "events"), "percpu")
          const normal = yield* WorkqueueSystem.snapshot.pipe(Effect.provide(systemLayer({ cpus: 4 })))
          assert.strictEqual(type(normal, "events_power_efficient"), "percpu")
        })
    )

    it.effect(
      "closing the layer while frozen does not hang and drops nothing: held items run (layer, thaw_workqueues)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(systemLayer({ cpus: 4 }), scope)
          yield* Effect.gen(function* () {
            const freezable = yield* WorkqueueSystem.systemFreezableWq
            yield* WorkqueueSystem.freeze
            yield* Workqueue.queue(freezable, yield* Work.make(rec.handler("held")))
          }).pipe(Effect.provideContext(context), Scope.provide(scope))
          // detached: if the close hangs, the test fails here instead of timing out in its own teardown
          const closer = yield* Effect.forkDetach(Scope.close(scope, Exit.void))
          yield* settle(100).pipe(Effect.provideContext(context))
          assert.isDefined(closer.pollUnsafe(), "the layer closed")
          assert.deepStrictEqual(yield* rec.starts, ["held"])
        })
    )

    it.effect("every numeric option outside its range is a defect naming the option and the rule (layer)", () =>
      Effect.gen(function* () {
        const bad: ReadonlyArray<WorkqueueSystem.Options> = [
          { maxWorkersPerPool: 0 },
          { maxWorkersPerPool: 1.5 },
          { idleTimeout: Number.NaN },
          { idleTimeout: -1 },
          { cpuIntensiveSliceMs: 0 },
          { watchdogThresh: Number.POSITIVE_INFINITY },
          { cpuIntensiveThresh: -5 },
          { cpuIntensiveWarningThresh: 0 },
          { cpus: "2" as unknown as number },
          { cpuClock: 5 as unknown as () => number }
        ]
        for (const options of bad) {
          const exit = yield* Effect.exit(Effect.scoped(Layer.build(systemLayer(options))))
          assert.isTrue(Exit.isFailure(exit), JSON.stringify(options))
          if (Exit.isFailure(exit)) {
            const defect = String(Cause.squash(exit.cause))
            assert.include(defect, `WorkqueueSystem.layer: ${Object.keys(options)[0]} must be`)
          }
        }
        const ok = yield* Effect.exit(
          Effect.scoped(
            Layer.build(systemLayer({ maxWorkersPerPool: Number.POSITIVE_INFINITY, idleTimeout: 0, watchdogThresh: 0 }))
          )
        )
        assert.isTrue(Exit.isSuccess(ok))
      })
    )

    for (const mode of ["throws", "returns NaN", "returns a Symbol", "throws an unprintable object"] as const) {
      it.effect(
        `a cpuClock that ${mode} is replaced by performance.now, warned once and counted: every item runs`,
        () => {
          const logs = makeLogCapture()
          let calls = 0
          const cpuClock = () => {
            calls++
            if (mode === "returns NaN") return Number.NaN
            if (mode === "returns a Symbol") return Symbol("clock") as unknown as number
            if (calls >= 3 && mode === "throws") throw new Error("clock bug")
            if (calls >= 3)
              throw {
                toString() {
                  throw new Error("unprintable")
                }
              }
            return 0
          }
          return Effect.gen(function* () {
            const wq = yield* Workqueue.make("clocked", { maxActive: 1 })
            let ran = 0
            const items: Array<Work.Work> = []
            for (let i = 0; i < 5; i++) items.push(yield* Work.make(() => Effect.sync(() => ran++)))
            for (const w of items) yield* Workqueue.queue(wq, w)
            yield* Workqueue.flush(wq)
            assert.strictEqual(ran, 5)
            const callsAfterFailure = calls
            yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
            yield* Workqueue.flush(wq)
            assert.strictEqual(calls, callsAfterFailure) // the broken clock is not asked again
            assert.strictEqual((yield* WorkqueueSystem.snapshot).hookErrors, 1)
            assert.strictEqual(logs.lines.filter((l) => l.message.startsWith("cpuClock ")).length, 1)
            yield* Workqueue.destroy(wq)
          }).pipe(Effect.provide(systemLayer({ cpus: 1, cpuClock })), Effect.provide(logs.layer))
        }
      )
    }

    it.effect("a cpuClock that runs backwards charges no CPU time: cpuTime is never negative", () => {
      let t = 1_000_000
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("backwards", { maxActive: 1 })
        for (let i = 0; i < 5; i++) yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
        yield* Workqueue.flush(wq)
        const stats = yield* WorkqueueMetrics.stats
        const mine = stats.find((s) => s.name === "backwards")
        assert.isDefined(mine)
        assert.isAtLeast(mine!.cpuTime, 0)
        yield* Workqueue.destroy(wq)
      }).pipe(Effect.provide(systemLayer({ cpus: 1, cpuClock: () => (t -= 50) })))
    })

    it.effect("cpus must be an integer in 1..1024 (layer)", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(Effect.scoped(Layer.build(systemLayer({ cpus: 0 }))))
        assert.isTrue(Exit.isFailure(exit))
        const ok = yield* Effect.exit(Effect.scoped(Layer.build(systemLayer({ cpus: 1 }))))
        assert.isTrue(Exit.isSuccess(ok))
      })
    )
  })

  describe("freeze / thaw", () => {
    it.effect(
      "freeze holds new items of freezable workqueues and returns once running ones finish; thaw runs them in order (freeze_workqueues_begin / thaw_workqueues)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const freezable = yield* Workqueue.make("freezable", { flags: Workqueue.WQ_FREEZABLE })
          const normal = yield* Workqueue.make("normal")
          yield* Workqueue.queueOn(freezable, 0, yield* Work.make(rec.handler("running", gate.await)))
          yield* settle()
          const freezer = yield* Effect.forkChild(WorkqueueSystem.freeze)
          yield* settle()
          assert.isUndefined(freezer.pollUnsafe(), "waits for the running item")
          assert.isTrue((yield* WorkqueueSystem.snapshot).freezing)
          assert.isTrue(
            yield* Workqueue.queueOn(freezable, 0, yield* Work.make(rec.handler("x"))),
            "queueing still succeeds"
          )
          assert.isTrue(yield* Workqueue.queueOn(freezable, 1, yield* Work.make(rec.handler("y"))))
          assert.isTrue(yield* Workqueue.queueOn(freezable, 0, yield* Work.make(rec.handler("z"))))
          yield* Workqueue.queue(normal, yield* Work.make(rec.handler("unaffected")))
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["running", "unaffected"])
          yield* gate.open
          yield* Fiber.join(freezer)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["running", "unaffected"], "frozen items stay inactive")
          const pwqs = (yield* WorkqueueSystem.snapshot).workqueues.find((w) => w.name === "freezable")!.pwqs
          assert.deepStrictEqual(
            pwqs.map((p) => p.inactive),
            [2, 1, 0, 0]
          )
          yield* WorkqueueSystem.thaw
          yield* settle()
          const starts = (yield* rec.starts).slice(2)
          assert.deepStrictEqual([...starts].sort(), ["x", "y", "z"])
          assert.isBelow(starts.indexOf("x"), starts.indexOf("z"), "FIFO within a pwq")
          assert.isFalse((yield* WorkqueueSystem.snapshot).freezing)
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "an item already active when freezing begins still runs, and freeze waits for it (freeze_workqueues_busy)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const plain = yield* Workqueue.make("plain")
          const freezable = yield* Workqueue.make("freezable", { flags: Workqueue.WQ_FREEZABLE })
          yield* Workqueue.queueOn(plain, 0, yield* Work.make(rec.handler("hog", Effect.yieldNow)))
          yield* Workqueue.queueOn(freezable, 0, yield* Work.make(rec.handler("active", Effect.sleep(10))))
          const freezer = yield* Effect.forkChild(WorkqueueSystem.freeze)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["hog", "active"], "active items are drained, not held")
          assert.isUndefined(freezer.pollUnsafe())
          yield* TestClock.adjust(10)
          yield* Fiber.join(freezer)
          assert.deepStrictEqual(yield* rec.ends, ["hog", "active"])
          yield* WorkqueueSystem.thaw
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "a freeze still waiting when thaw comes returns once the running item finishes (freeze_workqueues_busy / thaw_workqueues)",
      () =>
        Effect.gen(function* () {
          const gate = yield* makeGate
          const freezable = yield* Workqueue.make("freezable", { flags: Workqueue.WQ_FREEZABLE })
          yield* Workqueue.queue(freezable, yield* Work.make(() => gate.await))
          yield* settle()
          const freezer = yield* Effect.forkChild(WorkqueueSystem.freeze)
          yield* settle()
          assert.isUndefined(freezer.pollUnsafe())
          yield* WorkqueueSystem.thaw
          yield* gate.open
          yield* settle()
          assert.isDefined(freezer.pollUnsafe(), "the freeze call is not left hanging forever")
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "an interrupted freeze is rolled back: the system thaws, held items run, a later freeze does not warn (freeze_kernel_threads → thaw_workqueues)",
      () => {
        const logs = makeLogCapture()
        return Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const freezable = yield* Workqueue.make("freezable", { flags: Workqueue.WQ_FREEZABLE })
          yield* Workqueue.queue(freezable, yield* Work.make(rec.handler("running", gate.await)))
          yield* settle()
          const freezer = yield* Effect.forkChild(WorkqueueSystem.freeze)
          yield* settle()
          assert.isTrue((yield* WorkqueueSystem.snapshot).freezing)
          yield* Workqueue.queue(freezable, yield* Work.make(rec.handler("held")))
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["running"], "held while the freeze waits")
          yield* Fiber.interrupt(freezer)
          assert.isFalse((yield* WorkqueueSystem.snapshot).freezing, "the abandoned freeze was rolled back")
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["running", "held"], "the held item runs after the rollback")
          const second = yield* Effect.forkChild(WorkqueueSystem.freeze)
          yield* settle()
          yield* gate.open
          yield* Fiber.join(second)
          yield* WorkqueueSystem.thaw
          yield* settle()
          assert.deepStrictEqual(
            logs.lines.filter((l) => l.level === "Warn").map((l) => l.message),
            [],
            "no 'already freezing'"
          )
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }), Effect.provide(logs.layer))
      }
    )

    it.effect(
      "an interrupted freeze leaves the freezing to another freeze still waiting (freeze_workqueues_busy)",
      () =>
        Effect.gen(function* () {
          const gate = yield* makeGate
          const freezable = yield* Workqueue.make("freezable", { flags: Workqueue.WQ_FREEZABLE })
          yield* Workqueue.queue(freezable, yield* Work.make(() => gate.await))
          yield* settle()
          const first = yield* Effect.forkChild(WorkqueueSystem.freeze)
          const second = yield* Effect.forkChild(WorkqueueSystem.freeze)
          yield* settle()
          yield* Fiber.interrupt(first)
          assert.isTrue((yield* WorkqueueSystem.snapshot).freezing, "the second freeze still owns it")
          yield* gate.open
          yield* Fiber.join(second)
          assert.isTrue((yield* WorkqueueSystem.snapshot).freezing)
          yield* WorkqueueSystem.thaw
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }), Effect.provide(makeLogCapture().layer))
    )

    it.effect("a delayed item expiring while frozen stays inactive until thaw (freeze_workqueues_begin)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const freezable = yield* WorkqueueSystem.systemFreezableWq
        yield* Workqueue.queueDelayed(freezable, yield* DelayedWork.make(rec.handler("d")), 10)
        yield* WorkqueueSystem.freeze
        yield* TestClock.adjust(10)
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, [])
        yield* TestClock.adjust(5)
        yield* WorkqueueSystem.thaw
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, ["start d@15/cpu0", "end d@15/cpu0"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("a workqueue made while frozen is frozen too; thaw without freeze is a no-op (thaw_workqueues)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        yield* WorkqueueSystem.thaw
        yield* WorkqueueSystem.freeze
        const late = yield* Workqueue.make("late", { flags: Workqueue.WQ_FREEZABLE })
        yield* Workqueue.queue(late, yield* Work.make(rec.handler("w")))
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, [])
        yield* WorkqueueSystem.thaw
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["w"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )
    it.effect("setMaxActive while frozen keeps items held; thaw applies the new limit (wq_adjust_max_active)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("frozen", { flags: Workqueue.WQ_FREEZABLE, maxActive: 1 })
        yield* WorkqueueSystem.freeze
        for (const n of ["a", "b", "c"])
          yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler(n, Effect.sleep(10))))
        yield* Workqueue.setMaxActive(wq, 3)
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, [])
        yield* WorkqueueSystem.thaw
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["a", "b", "c"])
        yield* TestClock.adjust(10)
        yield* settle()
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("an ordered freezable workqueue thaws in queueing order, one at a time (thaw_workqueues)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.makeOrdered("ordered", { flags: Workqueue.WQ_FREEZABLE })
        yield* WorkqueueSystem.freeze
        for (const [i, n] of ["a", "b", "c"].entries()) {
          yield* WorkqueueSystem.onCpu(i)(Workqueue.queue(wq, yield* Work.make(rec.handler(n, Effect.sleep(5)))))
        }
        yield* settle()
        yield* WorkqueueSystem.thaw
        for (let i = 0; i < 3; i++) {
          yield* settle()
          yield* TestClock.adjust(5)
        }
        yield* settle()
        assert.deepStrictEqual(
          (yield* rec.events).map((e) => `${e.kind} ${e.name}@${e.at}`),
          ["start a@0", "end a@5", "start b@5", "end b@10", "start c@10", "end c@15"]
        )
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("freeze with nothing running returns at once; freezing twice warns (freeze_workqueues_begin)", () => {
      const logs = makeLogCapture()
      return Effect.gen(function* () {
        yield* WorkqueueSystem.freeze
        yield* WorkqueueSystem.freeze
        yield* settle()
        assert.isTrue(
          logs.lines.some((l) => l.level === "Warn" && l.message.includes("freez")),
          logs.text()
        )
        yield* WorkqueueSystem.thaw
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })), Effect.provide(logs.layer))
    })
  })

  describe("CPUs", () => {
    it.effect(
      "currentCpu is 0 outside work items, the worker's CPU inside, and onCpu sets it (raw_smp_processor_id)",
      () =>
        Effect.gen(function* () {
          assert.strictEqual(yield* WorkqueueSystem.currentCpu, 0)
          assert.strictEqual(yield* WorkqueueSystem.onCpu(2)(WorkqueueSystem.currentCpu), 2)
          const seen: Array<number> = []
          const wq = yield* Workqueue.make("cpus")
          for (const cpu of [0, 1, 2, 3]) {
            yield* Workqueue.queueOn(
              wq,
              cpu,
              yield* Work.make(() => Effect.flatMap(WorkqueueSystem.currentCpu, (c) => Effect.sync(() => seen.push(c))))
            )
          }
          yield* settle()
          assert.deepStrictEqual([...seen].sort(), [0, 1, 2, 3])
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "queue picks the caller's CPU: onCpu outside, the worker's CPU inside a handler, not the CPU captured by Work.make (queue_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("local")
          const child = yield* Work.make(rec.handler("child"))
          const pinned = yield* Work.make(rec.handler("pinned"))
          // made "on CPU 1": that must not leak into where the handler runs or queues
          const parent = yield* WorkqueueSystem.onCpu(1)(
            Work.make(() =>
              Effect.gen(function* () {
                yield* rec.mark("start", "parent")
                yield* Workqueue.queue(wq, child)
                yield* WorkqueueSystem.onCpu(2)(Workqueue.queue(wq, pinned))
              })
            )
          )
          yield* WorkqueueSystem.onCpu(3)(Workqueue.queue(wq, parent))
          yield* settle()
          const starts = (yield* rec.events).filter((e) => e.kind === "start").map((e) => `${e.name}/cpu${e.cpu}`)
          assert.deepStrictEqual([...starts].sort(), ["child/cpu3", "parent/cpu3", "pinned/cpu2"])
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("a handler on an unbound workqueue sees a valid CPU (raw_smp_processor_id)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* WorkqueueSystem.systemUnboundWq
        yield* Workqueue.queueOn(wq, 2, yield* Work.make(rec.handler("u")))
        yield* settle()
        const cpu = (yield* rec.events)[0]!.cpu
        assert.isTrue(cpu >= 0 && cpu < 4)
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )
  })

  describe("snapshot", () => {
    it.effect(
      "snapshot shows each workqueue's queued and pending counts and its maxPending bound (undefined: none)",
      () =>
        Effect.gen(function* () {
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("bounded", { concurrency: 1, maxPending: 5 })
          yield* Workqueue.queue(wq, yield* Work.make(() => gate.await)) // running: not pending
          yield* settle()
          yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
          yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
          yield* Workqueue.queueDelayed(wq, yield* DelayedWork.make(() => Effect.void), 100)
          yield* Workqueue.make("free")
          const snap = yield* WorkqueueSystem.snapshot
          const bounded = snap.workqueues.find((w) => w.name === "bounded")!
          assert.strictEqual(bounded.queued, 2, "queued, not started (the running one is not counted)")
          assert.strictEqual(bounded.armed, 1)
          assert.strictEqual(bounded.pending, 3, "queued + armed")
          assert.strictEqual(bounded.pending, Workqueue.pendingCountUnsafe(wq), "the same count as the accessor")
          assert.strictEqual(bounded.maxPending, 5)
          const free = snap.workqueues.find((w) => w.name === "free")!
          assert.deepStrictEqual([free.queued, free.pending, free.maxPending], [0, 0, undefined])
          // plain data: a JSON round trip (a debug route) keeps every field, the absent bound included
          const back = JSON.parse(JSON.stringify(snap)) as WorkqueueSystem.Snapshot
          const backBounded = back.workqueues.find((w) => w.name === "bounded")!
          assert.deepStrictEqual([backBounded.queued, backBounded.pending, backBounded.maxPending], [2, 3, 5])
          assert.isUndefined(back.workqueues.find((w) => w.name === "free")!.maxPending, "no bound: absent, never null")
          yield* gate.open
          yield* TestClock.adjust(100)
          yield* Workqueue.flush(wq)
          const after = (yield* WorkqueueSystem.snapshot).workqueues.find((w) => w.name === "bounded")!
          assert.deepStrictEqual([after.queued, after.armed, after.pending], [0, 0, 0])
        }).pipe(withSystemClosedOnSuccess({ cpus: 2 }))
    )

    it.effect("snapshot lists every workqueue with per-pwq counts and every pool (debugfs / wq_dump.py)", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        yield* TestClock.adjust(42)
        const wq = yield* Workqueue.make("snap", { maxActive: 1 })
        yield* Workqueue.queueOn(wq, 1, yield* Work.make(() => gate.await, { name: "first" }))
        yield* Workqueue.queueOn(wq, 1, yield* Work.make(() => gate.await, { name: "second" }))
        yield* settle()
        yield* TestClock.adjust(8)
        const snap = yield* WorkqueueSystem.snapshot
        assert.strictEqual(snap.cpus, 4)
        assert.strictEqual(snap.time, 50)
        assert.isFalse(snap.freezing)
        const mine = snap.workqueues.find((w) => w.name === "snap")!
        assert.strictEqual(mine.type, "percpu")
        assert.strictEqual(mine.maxActive, 1)
        assert.strictEqual(mine.pwqs.length, 4)
        assert.deepStrictEqual(
          mine.pwqs.map((p) => [p.cpu, p.active, p.inactive]),
          [
            [0, 0, 0],
            [1, 1, 1],
            [2, 0, 0],
            [3, 0, 0]
          ]
        )
        const bound = snap.pools.filter((p) => p.kind === "bound")
        const bh = snap.pools.filter((p) => p.kind === "bh")
        assert.strictEqual(bound.length, 8, "normal + highpri per CPU")
        assert.strictEqual(bh.length, 8, "BH normal + highpri per CPU")
        assert.isAtLeast(snap.pools.filter((p) => p.kind === "unbound").length, 1)
        const pool = snap.pools.find((p) => p.id === mine.pwqs[1]!.pool)!
        assert.strictEqual(pool.cpu, 1)
        const worker = pool.workers.find((w) => w.work === "first")!
        assert.strictEqual(worker.workqueue, "snap")
        assert.strictEqual(worker.runningFor, 8)
        assert.isAtLeast(pool.busy, 1)
        assert.deepStrictEqual(
          snap.workqueues.map((w) => w.name).filter((n) => n.startsWith("events")).length,
          9,
          "the nine system workqueues"
        )
        yield* gate.open
        yield* settle()
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )
  })
})

describe("WorkqueueSystem: a closed system", () => {
  it.effect("a workqueue cannot be made once its system has closed: SystemClosed at make, never a hang", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(systemLayer({ cpus: 2 }), scope)
      const open = yield* Workqueue.make("open_at_close").pipe(Scope.provide(scope), Effect.provideContext(context))
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(Effect.scoped(Workqueue.make("late")).pipe(Effect.provideContext(context)))
      assert.strictEqual(error.reason, "SystemClosed")
      assert.strictEqual(error.workqueue, "late")
      const legacy = yield* Effect.flip(Effect.scoped(Workqueue.createSinglethread("late_st"))).pipe(
        Effect.provideContext(context)
      )
      assert.strictEqual(legacy.reason, "SystemClosed")
      // every queueing call on what the system owned fails too (the workqueues were destroyed with it)
      const work = yield* Work.make(() => Effect.void)
      const dwork = yield* DelayedWork.make(() => Effect.void)
      for (const attempt of [
        Workqueue.queue(open, work),
        Workqueue.queueOn(open, 0, work),
        Workqueue.queueDelayed(open, dwork, 10),
        Workqueue.modDelayed(open, dwork, 0),
        WorkqueueSystem.schedule(work).pipe(Effect.provideContext(context)),
        WorkqueueSystem.scheduleDelayed(dwork, 5).pipe(Effect.provideContext(context))
      ]) {
        const e = yield* Effect.flip(attempt)
        assert.strictEqual(e.reason, "Destroyed")
        assert.include(e.message, "its WorkqueueSystem has closed")
      }
      assert.isFalse(yield* Work.pending(work))
      // and waiting on them returns at once
      yield* Workqueue.destroy(open)
      assert.strictEqual((yield* Effect.flip(Workqueue.flush(open))).reason, "Destroyed")
    })
  )

  it.effect("every distinct long name is warned about once per system and not remembered (pr_warn_once)", () => {
    const logs = makeLogCapture()
    return Effect.gen(function* () {
      for (let i = 0; i < 300; i++) {
        const wq = yield* Effect.scoped(Workqueue.make(`a_workqueue_name_longer_than_31_characters_${i}`))
        assert.strictEqual(Workqueue.name(wq).length, 31)
      }
      yield* settle()
      assert.strictEqual(logs.lines.filter((l) => l.message.includes("exceeds WQ_NAME_LEN")).length, 1)
      const system = systemOf(yield* WorkqueueSystem.WorkqueueSystem)
      assert.isAtMost((system as unknown as { warnedOnce: Set<string> }).warnedOnce.size, 1)
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })), Effect.provide(logs.layer))
  })
})

describe("WorkqueueSystem: warnings remember nothing per distinct name", () => {
  it.effect("per-item WARN_ONCE keys are capped: 300 distinct BH items that suspend warn at most 129 times", () => {
    const logs = makeLogCapture()
    return Effect.gen(function* () {
      const bh = yield* WorkqueueSystem.systemBhWq
      for (let i = 0; i < 300; i++) {
        yield* Workqueue.queue(bh, yield* Work.make(() => Effect.sleep(1), { name: `bh_item_${i}` }))
        yield* settle(5)
        yield* TestClock.adjust(1)
        yield* settle(5)
      }
      const warnings = logs.lines.filter((l) => l.message.includes("BH handlers must not sleep")).length
      assert.isAtLeast(warnings, 100)
      assert.isAtMost(warnings, 129)
      const system = systemOf(yield* WorkqueueSystem.WorkqueueSystem)
      assert.isAtMost((system as unknown as { warnedOnce: Set<string> }).warnedOnce.size, 130)
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })), Effect.provide(logs.layer))
  })
})

describe("WorkqueueSystem: a run's identity follows the fibers its handler forks, for as long as the run lasts", () => {
  it.effect("flushing its own workqueue inside Effect.timeout fails with Deadlock, not a timeout (lockdep)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("self_flush")
      let failure: unknown = "not run"
      const work = yield* Work.make(() =>
        Effect.timeout(Workqueue.flush(wq), "1 second").pipe(
          Effect.flip,
          Effect.map((e) => {
            failure = e
          })
        )
      )
      yield* Workqueue.queue(wq, work)
      yield* settle()
      yield* TestClock.adjust("2 seconds") // a handler waiting on itself would time out here
      yield* settle()
      assert.isTrue(WorkqueueError.isWorkqueueError(failure), String(failure))
      assert.strictEqual((failure as WorkqueueError.WorkqueueError).reason, "Deadlock")
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect(
    "destroy, drain or cancelSync of itself from a forked fiber of the run fail with Deadlock (lockdep)",
    () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("self_forked")
        const reasons: Array<unknown> = []
        const reasonOf = (exit: Exit.Exit<unknown, unknown>) =>
          Exit.isFailure(exit) ? (Cause.squash(exit.cause) as WorkqueueError.WorkqueueError).reason : "succeeded"
        const work: Work.Work = yield* Work.make((self) =>
          Effect.gen(function* () {
            const child = yield* Effect.forkChild(Effect.exit(Effect.timeout(Workqueue.destroy(wq), "1 second")))
            reasons.push(reasonOf(yield* Fiber.join(child)))
            reasons.push(reasonOf(yield* Effect.exit(Effect.raceFirst(Workqueue.drain(wq), Effect.never))))
            reasons.push(reasonOf(yield* Effect.exit(Effect.timeout(Work.cancelSync(self), "1 second"))))
            reasons.push(reasonOf(yield* Effect.exit(Effect.timeout(Work.flush(self), "1 second"))))
          })
        )
        yield* Workqueue.queue(wq, work)
        yield* settle()
        for (let i = 0; i < 5; i++) {
          yield* TestClock.adjust("1 second") // waits on itself would time out here, one after the other
          yield* settle()
        }
        assert.deepStrictEqual(reasons, ["Deadlock", "Deadlock", "Deadlock", "Deadlock"])
        assert.strictEqual(WorkqueueInternal.toState(wq).lifecycle, "Open")
      }).pipe(withSystemClosedOnSuccess({ cpus: 2 })) // on the old engine a failure would hang in the close
  )

  it.effect("currentCpu in Effect.race, forEach with concurrency and forkChild fibers is the worker's CPU", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("percpu")
      const seen: Array<number> = []
      const record = Effect.flatMap(WorkqueueSystem.currentCpu, (cpu) => Effect.sync(() => seen.push(cpu)))
      const work = yield* Work.make(() =>
        Effect.gen(function* () {
          yield* Effect.race(record, Effect.never)
          yield* Effect.forEach([1, 2, 3], () => record, { concurrency: 3, discard: true })
          const child = yield* Effect.forkChild(Effect.andThen(Effect.yieldNow, record))
          yield* Fiber.join(child)
          yield* Effect.timeout(record, "1 second")
        })
      )
      yield* Workqueue.queueOn(wq, 3, work)
      yield* Workqueue.flush(wq)
      assert.deepStrictEqual(seen, [3, 3, 3, 3, 3, 3])
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 4 })))
  )

  it.effect("chained queueing during drain from the handler's forked fibers is accepted (is_chained_work)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("chain_forked")
      let runs = 0
      const leaves = yield* Effect.forEach([1, 2, 3], () => Work.make(() => Effect.sync(() => void runs++)))
      const gate = yield* makeGate
      const head = yield* Work.make(() =>
        Effect.andThen(
          gate.await,
          Effect.forEach(leaves, (leaf) => Workqueue.queue(wq, leaf), { concurrency: "unbounded", discard: true })
        ).pipe(Effect.orDie)
      )
      yield* Workqueue.queue(wq, head)
      yield* settle()
      const drainer = yield* Effect.forkChild(Workqueue.drain(wq))
      yield* settle()
      yield* gate.open
      yield* Fiber.join(drainer)
      assert.strictEqual(runs, 3)
    }).pipe(Effect.scoped, Effect.provide(makeLogCapture().layer), Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("a fiber that outlives its run is not the worker: no Deadlock, no chained queueing, no worker CPU", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("outlived")
      const release = yield* Deferred.make<void>()
      const after: Array<unknown> = []
      const stray = yield* Work.make(() => Effect.void)
      const forker = yield* Work.make(() =>
        Effect.asVoid(
          Effect.forkDetach(
            Effect.gen(function* () {
              yield* Deferred.await(release)
              after.push(yield* WorkqueueSystem.currentCpu)
              after.push(yield* Effect.flip(Workqueue.queue(wq, stray)))
              after.push(yield* Effect.exit(Workqueue.flush(wq)))
            })
          )
        )
      )
      // the same worker (CPU 1's only one) runs a second item of the same context while the stray fiber acts
      const gate = yield* makeGate
      const second = yield* Work.make(() => gate.await)
      yield* Workqueue.queueOn(wq, 1, forker)
      yield* settle()
      yield* Workqueue.queueOn(wq, 1, second)
      yield* settle()
      const drainer = yield* Effect.forkChild(Workqueue.drain(wq))
      yield* settle()
      yield* Deferred.succeed(release, undefined)
      yield* settle()
      yield* gate.open
      yield* Fiber.join(drainer)
      yield* settle()
      assert.strictEqual(after[0], 0)
      assert.strictEqual((after[1] as WorkqueueError.WorkqueueError).reason, "Draining")
      assert.isTrue(Exit.isSuccess(after[2] as Exit.Exit<void, unknown>), String(after[2]))
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2, maxWorkersPerPool: 1 })))
  )

  it.effect(
    "the user's FiberRuntimeMetrics still sees the handler's fibers; forks under their own are not the worker",
    () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("metrics_forward")
        let started = 0
        let ended = 0
        const service: Metric.FiberRuntimeMetricsService = {
          recordFiberStart: () => void started++,
          recordFiberEnd: () => void ended++
        }
        const seen: Array<number> = []
        const record = Effect.flatMap(WorkqueueSystem.currentCpu, (cpu) => Effect.sync(() => void seen.push(cpu)))
        const work = yield* Work.make(() =>
          Effect.gen(function* () {
            yield* Effect.forEach([1, 2], () => record, { concurrency: 2, discard: true })
            // forked under a service of the handler's own: not the run's (and so never after it either)
            yield* Fiber.join(
              yield* Effect.forkChild(record).pipe(
                Effect.provideService(Metric.FiberRuntimeMetrics, Metric.FiberRuntimeMetricsImpl)
              )
            )
          })
        ).pipe(Effect.provideService(Metric.FiberRuntimeMetrics, service))
        yield* Workqueue.queueOn(wq, 1, work)
        yield* Workqueue.flush(wq)
        assert.deepStrictEqual(seen, [1, 1, 0])
        assert.isAtLeast(started, 2)
        assert.strictEqual(started, ended)
      }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("a handler that forks nothing, or whose forks end within the run, builds no context per item", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("no_fork", { maxActive: 1 })
      const contexts = new Set<unknown>()
      const items = yield* Effect.forEach([1, 2, 3, 4, 5, 6], () =>
        Work.make(() => Effect.withFiber((fiber) => Effect.sync(() => void contexts.add(fiber.context))))
      )
      for (const item of items) yield* Workqueue.queueOn(wq, 0, item)
      yield* Workqueue.flush(wq)
      assert.strictEqual(contexts.size, 1)
      // a forking handler spends its token: the next run gets a new context
      const forking = yield* Work.make(() =>
        Effect.withFiber((fiber) => Effect.sync(() => void contexts.add(fiber.context))).pipe(
          Effect.andThen(Effect.forkChild(Effect.void))
        )
      )
      yield* Workqueue.queueOn(wq, 0, forking)
      yield* Workqueue.flush(wq)
      yield* Workqueue.queueOn(wq, 0, items[0]!)
      yield* Workqueue.flush(wq)
      assert.strictEqual(contexts.size, 2)
      // forks that end within the run (a timeout, a race) leave the token valid: still no context per item
      const timed = yield* Effect.forEach([1, 2, 3], () =>
        Work.make(() =>
          Effect.timeout(
            Effect.withFiber((fiber) => Effect.sync(() => void contexts.add(fiber.context))),
            "1 second"
          ).pipe(Effect.andThen(Effect.withFiber((fiber) => Effect.sync(() => void contexts.add(fiber.context)))))
        )
      )
      for (const item of timed) yield* Workqueue.queueOn(wq, 0, item)
      yield* Workqueue.flush(wq)
      assert.strictEqual(contexts.size, 2)
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1, maxWorkersPerPool: 1 })))
  )
  it.effect("closing the system's scope from one of its items neither hangs nor keeps taking outside work", () => {
    const logs = makeLogCapture()
    return Effect.gen(function* () {
      const scope = yield* Scope.make()
      const ctx = yield* Layer.buildWithScope(systemLayer({ cpus: 1 }), scope)
      const closeReturned = yield* Deferred.make<void>()
      yield* Effect.gen(function* () {
        yield* WorkqueueSystem.schedule(
          yield* Work.make(() =>
            Effect.andThen(Scope.close(scope, Exit.void), Deferred.succeed(closeReturned, undefined))
          )
        )
        yield* Deferred.await(closeReturned) // the close returned inside the handler (it used to hang there)
        const scheduled = yield* Effect.flip(WorkqueueSystem.schedule(yield* Work.make(() => Effect.void)))
        assert.strictEqual(scheduled.reason, "Destroyed")
        const made = yield* Effect.flip(Effect.scoped(Workqueue.make("late")))
        assert.strictEqual(made.reason, "SystemClosed")
        yield* settle()
        assert.strictEqual((yield* WorkqueueSystem.snapshot).workqueues.length, 0) // the close completed
      }).pipe(Effect.provide(ctx))
      assert.include(logs.text(), "the WorkqueueSystem's scope closed from one of its own work items")
    }).pipe(Effect.provide(logs.layer))
  })
})
