import * as WorkqueueInternal from "../src/internal/workqueue.ts"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { DelayedWork, Work, Workqueue, WorkqueueError, WorkqueueSystem } from "../src/index.ts"
import {
  makeGate,
  makeLogCapture,
  makeRecorder,
  settle,
  systemLayer,
  type Event,
  withSystemClosedOnSuccess
} from "./utils/recorder.ts"

/** The per-pwq counts of workqueue `name`, as `[active, inactive]` pairs. */
const pwqCounts = (name: string) =>
  Effect.map(WorkqueueSystem.snapshot, (s) =>
    s.workqueues.find((w) => w.name === name)!.pwqs.map((p) => [p.active, p.inactive] as const)
  )

/** `start x@t` lines without the CPU. */
const startsAt = (events: ReadonlyArray<Event>) =>
  events.filter((e) => e.kind === "start").map((e) => `${e.name}@${e.at}`)

/** Is there an instant where two handlers of `events` overlap? */
const overlaps = (events: ReadonlyArray<Event>): boolean => {
  let running = 0
  for (const e of events) {
    running += e.kind === "start" ? 1 : -1
    if (running > 1) return true
  }
  return false
}

describe("Workqueue", () => {
  describe("max_active", () => {
    it.effect(
      "at most max_active items of a pwq are active; the rest activate FIFO as slots free (pwq_dec_nr_active)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("limited", { maxActive: 2 })
          const names = ["a", "b", "c", "d", "e"]
          const works = yield* Effect.forEach(names, (n) => Work.make(rec.handler(n, Effect.sleep(10))))
          for (const w of works) assert.isTrue(yield* Workqueue.queueOn(wq, 0, w))
          yield* settle()
          assert.deepStrictEqual((yield* pwqCounts("limited"))[0], [2, 3])
          assert.isTrue(Workqueue.congestedUnsafe(wq, 0))
          assert.isFalse(Workqueue.congestedUnsafe(wq, 1))
          yield* TestClock.adjust(10)
          yield* settle()
          yield* TestClock.adjust(10)
          yield* settle()
          assert.deepStrictEqual(startsAt(yield* rec.events), ["a@0", "b@0", "c@10", "d@10", "e@20"])
          assert.deepStrictEqual((yield* pwqCounts("limited"))[0], [1, 0])
          yield* TestClock.adjust(10)
          yield* settle()
          assert.deepStrictEqual((yield* pwqCounts("limited"))[0], [0, 0])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("max_active is per CPU on a per-CPU workqueue (alloc_workqueue)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("percpu", { maxActive: 1 })
        for (const [name, cpu] of [
          ["a", 0],
          ["b", 1],
          ["c", 0],
          ["d", 1]
        ] as const) {
          yield* Workqueue.queueOn(wq, cpu, yield* Work.make(rec.handler(name, Effect.sleep(10))))
        }
        yield* settle()
        yield* TestClock.adjust(10)
        yield* settle()
        yield* TestClock.adjust(10)
        yield* settle()
        const starts = (yield* rec.events).filter((e) => e.kind === "start").map((e) => `${e.name}@${e.at}/cpu${e.cpu}`)
        assert.deepStrictEqual(starts, ["a@0/cpu0", "b@0/cpu1", "c@10/cpu0", "d@10/cpu1"])
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("an unbound workqueue starts up to max_active items at once, whatever the CPU (WQ_UNBOUND)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("unbound", { flags: Workqueue.WQ_UNBOUND, maxActive: 3 })
        const names = ["a", "b", "c", "d", "e"]
        for (const [i, n] of names.entries()) {
          yield* Workqueue.queueOn(wq, i % 4, yield* Work.make(rec.handler(n, Effect.sleep(10))))
        }
        yield* settle()
        assert.deepStrictEqual(startsAt(yield* rec.events), ["a@0", "b@0", "c@0"])
        yield* TestClock.adjust(10)
        yield* settle()
        assert.deepStrictEqual(startsAt(yield* rec.events), ["a@0", "b@0", "c@0", "d@10", "e@10"])
        yield* TestClock.adjust(10)
        yield* settle()
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("an unbound workqueue runs CPU-bound items concurrently: no concurrency management (WQ_UNBOUND)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("unbound", { flags: Workqueue.WQ_UNBOUND })
        const spin = Effect.gen(function* () {
          for (let i = 0; i < 20; i++) yield* Effect.yieldNow
        })
        yield* Workqueue.queue(wq, yield* Work.make(rec.handler("a", spin)))
        yield* Workqueue.queue(wq, yield* Work.make(rec.handler("b", spin)))
        yield* settle(100)
        const kinds = (yield* rec.events).map((e) => `${e.kind} ${e.name}`)
        assert.deepStrictEqual(kinds.slice(0, 2), ["start a", "start b"])
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "make clamps an out-of-range max_active with a logged warning naming the workqueue (alloc_workqueue)",
      () => {
        const logs = makeLogCapture()
        return Effect.gen(function* () {
          const big = yield* Workqueue.make("big", { maxActive: 5000 })
          const negative = yield* Workqueue.make("negative", { maxActive: -3 })
          const dflt = yield* Workqueue.make("default")
          const zero = yield* Workqueue.make("zero", { maxActive: 0 })
          yield* settle()
          assert.strictEqual(Workqueue.maxActive(big), Workqueue.WQ_MAX_ACTIVE)
          assert.strictEqual(Workqueue.maxActive(negative), 1)
          assert.strictEqual(Workqueue.maxActive(dflt), Workqueue.WQ_DFL_ACTIVE)
          assert.strictEqual(Workqueue.maxActive(zero), Workqueue.WQ_DFL_ACTIVE)
          const warnings = logs.lines.filter((l) => l.level === "Warn").map((l) => l.message)
          assert.isTrue(
            warnings.some((m) => m.includes("max_active 5000") && m.includes("big") && m.includes("2048")),
            logs.text()
          )
          assert.isTrue(
            warnings.some((m) => m.includes("max_active -3") && m.includes("negative")),
            logs.text()
          )
          assert.isFalse(
            warnings.some((m) => m.includes("default") || m.includes("zero")),
            "0 or absent is the default"
          )
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }), Effect.provide(logs.layer))
      }
    )

    it.effect("setMaxActive(0) clamps to 1 with a warning (workqueue_set_max_active)", () => {
      const logs = makeLogCapture()
      return Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("setmax", { maxActive: 4 })
        yield* Workqueue.setMaxActive(wq, 0)
        yield* settle()
        assert.strictEqual(Workqueue.maxActive(wq), 1)
        assert.isTrue(
          logs.lines.some(
            (l) => l.level === "Warn" && l.message.includes("max_active 0") && l.message.includes("setmax")
          ),
          logs.text()
        )
        for (const n of ["a", "b"]) yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler(n, Effect.sleep(10))))
        yield* settle()
        assert.deepStrictEqual((yield* pwqCounts("setmax"))[0], [1, 1])
        yield* TestClock.adjust(20)
        yield* settle()
        assert.deepStrictEqual(startsAt(yield* rec.events), ["a@0", "b@10"])
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }), Effect.provide(logs.layer))
    })

    it.effect("raising max_active activates inactive items at once, in order (workqueue_set_max_active)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("raise", { maxActive: 1 })
        for (const n of ["a", "b", "c", "d"]) {
          yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler(n, Effect.sleep(10))))
        }
        yield* settle()
        assert.deepStrictEqual(startsAt(yield* rec.events), ["a@0"])
        yield* Workqueue.setMaxActive(wq, 3)
        yield* settle()
        assert.deepStrictEqual(startsAt(yield* rec.events), ["a@0", "b@0", "c@0"])
        assert.strictEqual(Workqueue.maxActive(wq), 3)
        yield* TestClock.adjust(10)
        yield* settle()
        assert.deepStrictEqual(startsAt(yield* rec.events), ["a@0", "b@0", "c@0", "d@10"])
        yield* TestClock.adjust(10)
        yield* settle()
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "lowering max_active lets active items finish and holds new ones until below the new limit (workqueue_set_max_active)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("lower", { maxActive: 3 })
          for (const n of ["a", "b", "c"]) {
            yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler(n, Effect.sleep(10))))
          }
          yield* settle()
          yield* Workqueue.setMaxActive(wq, 1)
          for (const n of ["d", "e"]) {
            yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler(n, Effect.sleep(10))))
          }
          yield* settle()
          assert.deepStrictEqual((yield* pwqCounts("lower"))[0], [3, 2])
          for (let i = 0; i < 3; i++) {
            yield* TestClock.adjust(10)
            yield* settle()
          }
          assert.deepStrictEqual(startsAt(yield* rec.events), ["a@0", "b@0", "c@0", "d@10", "e@20"])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("setMaxActive on an ordered workqueue is ignored with a warning (workqueue_set_max_active)", () => {
      const logs = makeLogCapture()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.makeOrdered("ordered")
        yield* Workqueue.setMaxActive(wq, 8)
        yield* settle()
        assert.strictEqual(Workqueue.maxActive(wq), 1)
        assert.isTrue(
          logs.lines.some((l) => l.level === "Warn" && l.message.includes("ordered")),
          logs.text()
        )
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }), Effect.provide(logs.layer))
    })
  })

  describe("ordered", () => {
    it.effect("an ordered workqueue runs strictly FIFO, one at a time, across CPUs (alloc_ordered_workqueue)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.makeOrdered("ordered")
        const names = ["a", "b", "c", "d", "e", "f"]
        for (const [i, n] of names.entries()) {
          const work = yield* Work.make(rec.handler(n, Effect.sleep(10)))
          yield* WorkqueueSystem.onCpu(3 - (i % 4))(Workqueue.queue(wq, work))
        }
        for (let i = 0; i < names.length; i++) {
          yield* settle()
          yield* TestClock.adjust(10)
        }
        yield* settle()
        const events = yield* rec.events
        assert.deepStrictEqual(startsAt(events), ["a@0", "b@10", "c@20", "d@30", "e@40", "f@50"])
        assert.isFalse(overlaps(events))
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "an ordered workqueue keeps queueing order for CPU-bound items queued from its own handlers (alloc_ordered_workqueue)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.makeOrdered("ordered")
          const c = yield* Work.make(rec.handler("c"))
          const b = yield* Work.make(rec.handler("b"))
          const a = yield* Work.make(() =>
            Effect.gen(function* () {
              yield* rec.mark("start", "a")
              yield* WorkqueueSystem.onCpu(2)(Workqueue.queue(wq, b))
              yield* Workqueue.queueOn(wq, 1, c)
              yield* Effect.yieldNow
              yield* rec.mark("end", "a")
            })
          )
          yield* Workqueue.queue(wq, a)
          yield* settle()
          assert.deepStrictEqual(
            (yield* rec.events).map((e) => `${e.kind} ${e.name}`),
            ["start a", "end a", "start b", "end b", "start c", "end c"]
          )
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "on an ordered workqueue an item requeueing itself goes behind the items queued before (alloc_ordered_workqueue)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.makeOrdered("ordered")
          let runs = 0
          const a = yield* Work.make((self) =>
            Effect.gen(function* () {
              const n = ++runs
              yield* rec.mark("start", `a${n}`)
              if (n === 1) yield* Workqueue.queue(wq, self)
            })
          )
          yield* Workqueue.queue(wq, a)
          yield* Workqueue.queue(wq, yield* Work.make(rec.handler("b")))
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["a1", "b", "a2"])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "createSinglethread is an ordered WQ_MEM_RECLAIM workqueue; create is per-CPU with max_active 1 (create_workqueue)",
      () =>
        Effect.gen(function* () {
          yield* Workqueue.createSinglethread("single")
          const legacy = yield* Workqueue.create("legacy")
          const snap = yield* WorkqueueSystem.snapshot
          const single = snap.workqueues.find((w) => w.name === "single")!
          const percpu = snap.workqueues.find((w) => w.name === "legacy")!
          assert.strictEqual(single.type, "ordered")
          assert.strictEqual(single.maxActive, 1)
          assert.strictEqual(single.rescuer, "kworker/R-single")
          assert.strictEqual(percpu.type, "percpu")
          assert.strictEqual(Workqueue.maxActive(legacy), 1)
          assert.strictEqual(percpu.rescuer, "kworker/R-legacy")
          assert.strictEqual(percpu.pwqs.length, 4)
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
  })

  describe("flush", () => {
    it.effect("flush waits only for items queued before the call (flush_workqueue)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const before = yield* makeGate
        const after = yield* makeGate
        const wq = yield* Workqueue.make("flush")
        yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler("before", before.await)))
        yield* settle()
        const flusher = yield* Effect.forkChild(Workqueue.flush(wq))
        yield* settle()
        yield* Workqueue.queueOn(wq, 1, yield* Work.make(rec.handler("after", after.await)))
        yield* settle()
        assert.isUndefined(flusher.pollUnsafe())
        yield* before.open
        yield* Fiber.join(flusher)
        assert.deepStrictEqual(yield* rec.ends, ["before"], "returned while the later item still runs")
        yield* after.open
        yield* settle()
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("flush includes inactive items queued before the call (flush_workqueue)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("flush", { maxActive: 1 })
        for (const n of ["a", "b", "c"]) {
          yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler(n, Effect.sleep(10))))
        }
        const flusher = yield* Effect.forkChild(Workqueue.flush(wq))
        yield* settle()
        yield* TestClock.adjust(20)
        yield* settle()
        assert.isUndefined(flusher.pollUnsafe(), "c is still running")
        yield* TestClock.adjust(10)
        yield* Fiber.join(flusher)
        assert.deepStrictEqual(yield* rec.ends, ["a", "b", "c"])
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("flush is not livelocked by a self-requeueing item (flush_workqueue)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("flush")
        let runs = 0
        let stop = false
        const work = yield* Work.make((self) =>
          Effect.gen(function* () {
            runs++
            yield* Effect.sleep(10)
            if (!stop) yield* Workqueue.queue(wq, self)
          })
        )
        yield* Workqueue.queue(wq, work)
        const flusher = yield* Effect.forkChild(Workqueue.flush(wq))
        yield* settle()
        yield* TestClock.adjust(10)
        yield* settle()
        assert.isDefined(flusher.pollUnsafe(), "returned after the instance queued before it")
        assert.strictEqual(runs, 2)
        stop = true
        yield* TestClock.adjust(10)
        yield* settle()
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("flush of an empty workqueue returns at once; concurrent flushers all complete (flush_workqueue)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("flush")
        yield* Workqueue.flush(wq)
        const gate = yield* makeGate
        yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
        const f1 = yield* Effect.forkChild(Workqueue.flush(wq))
        const f2 = yield* Effect.forkChild(Workqueue.flush(wq))
        yield* settle()
        assert.isUndefined(f1.pollUnsafe())
        assert.isUndefined(f2.pollUnsafe())
        yield* gate.open
        yield* settle()
        // bounded: a flusher that never completes fails here with a message instead of hanging in join
        assert.isDefined(f1.pollUnsafe(), "the first flusher completed once the item ran")
        assert.isDefined(f2.pollUnsafe(), "the second flusher, which came while the first waited, completed too")
        yield* Fiber.join(f1)
        yield* Fiber.join(f2)
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("an interrupted flusher doesn't hold up later flushes (flush_workqueue)", () =>
      Effect.gen(function* () {
        const first = yield* makeGate
        const second = yield* makeGate
        const wq = yield* Workqueue.make("flush")
        yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => first.await))
        const interrupted = yield* Effect.forkChild(Workqueue.flush(wq))
        yield* settle()
        yield* Fiber.interrupt(interrupted)
        yield* Workqueue.queueOn(wq, 1, yield* Work.make(() => second.await))
        const later = yield* Effect.forkChild(Workqueue.flush(wq))
        yield* settle()
        yield* second.open
        yield* settle()
        assert.isUndefined(later.pollUnsafe(), "the first item, queued before, still runs")
        yield* first.open
        yield* settle()
        assert.isDefined(later.pollUnsafe(), "the later flusher completed once both items ran")
        yield* Fiber.join(later)
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("more concurrent flushers than colours still all complete (flush_workqueue colour overflow)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("colours")
        const gates = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          () => makeGate
        )
        const flushers: Array<Fiber.Fiber<void, unknown>> = []
        for (const gate of gates) {
          yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
          flushers.push(yield* Effect.forkChild(Workqueue.flush(wq)))
          yield* settle(2)
        }
        yield* settle()
        for (const gate of gates) yield* gate.open
        yield* settle()
        const waiting = flushers.flatMap((f, i) => (f.pollUnsafe() === undefined ? [i] : []))
        assert.deepStrictEqual(waiting, [], "every flusher completed once its items ran")
        for (const f of flushers) yield* Fiber.join(f)
        const counts = yield* pwqCounts("colours")
        assert.isTrue(counts.every(([a, i]) => a === 0 && i === 0))
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
  })

  describe("drain", () => {
    it.effect(
      "drain waits for chained self-requeues; outside queueing fails with Draining and leaves the item not pending (drain_workqueue)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("drain")
          let runs = 0
          const chain = yield* Work.make((self) =>
            Effect.gen(function* () {
              const n = ++runs
              yield* rec.mark("start", `chain${n}`)
              yield* Effect.sleep(10)
              if (n < 4) assert.isTrue(yield* Workqueue.queue(wq, self))
            })
          )
          const outsider = yield* Work.make(rec.handler("outsider"))
          yield* Workqueue.queue(wq, chain)
          const drainer = yield* Effect.forkChild(Workqueue.drain(wq))
          yield* settle()
          const error = yield* Effect.flip(Workqueue.queue(wq, outsider))
          assert.strictEqual(error.reason, "Draining")
          assert.strictEqual(error.workqueue, "drain")
          assert.isFalse(yield* Work.pending(outsider))
          for (let i = 0; i < 4; i++) {
            yield* TestClock.adjust(10)
            yield* settle()
          }
          yield* Fiber.join(drainer)
          assert.deepStrictEqual(startsAt(yield* rec.events), ["chain1@0", "chain2@10", "chain3@20", "chain4@30"])
          assert.isTrue(yield* Workqueue.queue(wq, outsider), "normal queueing works again after the drain")
          yield* settle()
          assert.deepStrictEqual((yield* rec.starts).at(-1), "outsider")
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "sealShutdown ends a chain that re-queues itself forever: its own queueing fails with Draining (warned once), the drain ends",
      () => {
        const logs = makeLogCapture()
        return Effect.gen(function* () {
          const wq = yield* Workqueue.make("sealed")
          let runs = 0
          const refusals: Array<string> = []
          const chain: Work.Work = yield* Work.make((self) =>
            Effect.gen(function* () {
              runs++
              yield* Effect.sleep(10)
              const queued = yield* Effect.result(Workqueue.queue(wq, self))
              if (queued._tag === "Failure") refusals.push(`queue:${queued.failure.reason}`)
            })
          )
          const outsider = yield* DelayedWork.make(() => Effect.void)
          yield* Workqueue.queue(wq, chain)
          const drainer = yield* Effect.forkChild(Workqueue.drain(wq))
          for (let i = 0; i < 3; i++) {
            yield* TestClock.adjust(10)
            yield* settle()
          }
          assert.strictEqual(runs, 4, "the chain still runs while the drain waits")
          assert.isUndefined(drainer.pollUnsafe())
          yield* WorkqueueSystem.sealShutdown
          yield* TestClock.adjust(10)
          yield* settle()
          assert.isDefined(drainer.pollUnsafe(), "the drain ended with the chain")
          assert.strictEqual(runs, 4, "the run in progress finished; no new one started")
          assert.deepStrictEqual(refusals, ["queue:Draining"])
          // from outside: refused too (sealing implies beginShutdown)
          assert.strictEqual((yield* Effect.flip(Workqueue.queueDelayed(wq, outsider, 0))).reason, "Draining")
          const warnings = logs.lines.filter((l) => l.level === "Warn" && l.message.includes("shutdown deadline"))
          assert.strictEqual(warnings.length, 1, logs.text())
          assert.include(warnings[0]!.message, "workqueue sealed")
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }), Effect.provide(logs.layer))
      }
    )

    it.effect(
      "sealShutdown: a delayed item re-arming itself from its handler (delay 0 or not) is refused; already armed items still fire",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("sealed")
          const refusals: Array<string> = []
          let runs = 0
          const rearm: DelayedWork.DelayedWork = yield* DelayedWork.make((self) =>
            Effect.gen(function* () {
              runs++
              const armed = yield* Effect.result(Workqueue.queueDelayed(wq, self, runs === 1 ? 0 : 5))
              if (armed._tag === "Failure") refusals.push(armed.failure.reason)
            })
          )
          yield* Workqueue.queueDelayed(wq, rearm, 10)
          yield* WorkqueueSystem.sealShutdown
          yield* TestClock.adjust(10)
          yield* settle()
          assert.strictEqual(runs, 1, "the item armed before the seal fired and ran")
          assert.deepStrictEqual(refusals, ["Draining"])
          assert.isFalse(yield* Work.pending(rearm))
          yield* Workqueue.drain(wq)
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "during drain a handler may queue another item on its own workqueue, not on a draining one it doesn't belong to (is_chained_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("drain")
          const other = yield* Workqueue.make("other")
          const follower = yield* Work.make(rec.handler("follower"))
          const stranger = yield* Work.make(rec.handler("stranger"))
          let fromOther: string | undefined
          const leader = yield* Work.make(() =>
            Effect.gen(function* () {
              yield* gate.await
              assert.isTrue(yield* Workqueue.queue(wq, follower))
            })
          )
          const otherItem = yield* Work.make(() =>
            Effect.gen(function* () {
              const e = yield* Effect.flip(Workqueue.queue(wq, stranger))
              fromOther = e.reason
            })
          )
          yield* Workqueue.queue(wq, leader)
          yield* settle()
          const drainer = yield* Effect.forkChild(Workqueue.drain(wq))
          yield* settle()
          yield* Workqueue.queue(other, otherItem)
          yield* settle()
          assert.strictEqual(fromOther, "Draining", "an item of another workqueue is not chained work")
          yield* gate.open
          yield* settle()
          assert.isDefined(drainer.pollUnsafe(), "the drain completed once the leader and its follower ran")
          yield* Fiber.join(drainer)
          assert.deepStrictEqual(yield* rec.starts, ["follower"])
          assert.isFalse(yield* Work.pending(stranger))
          // the system is closed only on success: a failed assertion above leaves the leader gated, and the close
          // (which flushes every queue) would otherwise hang instead of reporting it
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
    it.effect(
      "a plain-promise continuation inside a handler is not the run: its queueUnsafe is refused during drain (docs/DESIGN.md §7)",
      () =>
        Effect.gen(function* () {
          // Pins a documented limit: the run's identity lives in fibers (the worker's and the ones its handler forks);
          // a `.then` callback runs outside every fiber, so it is "outside" as any caller is. The handler's own fiber,
          // after the promise, is chained work and may queue.
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("promise")
          const fromThen = yield* Work.make(rec.handler("fromThen"))
          const fromFiber = yield* Work.make(rec.handler("fromFiber"))
          let inThen: unknown = "not run"
          let cpuInThen = -1
          const leader = yield* Work.make(() =>
            Effect.gen(function* () {
              yield* gate.await
              yield* Effect.promise(() =>
                Promise.resolve().then(() => {
                  cpuInThen = Effect.runSync(WorkqueueSystem.currentCpu)
                  try {
                    inThen = Workqueue.queueUnsafe(wq, fromThen)
                  } catch (e) {
                    inThen = e
                  }
                })
              )
              assert.isTrue(yield* Workqueue.queue(wq, fromFiber), "the handler's fiber is still the run")
            })
          )
          yield* Workqueue.queueOn(wq, 1, leader)
          yield* settle()
          const drainer = yield* Effect.forkChild(Workqueue.drain(wq))
          yield* settle()
          yield* gate.open
          yield* settle()
          yield* Fiber.join(drainer)
          assert.isTrue(WorkqueueError.isWorkqueueError(inThen), `the .then callback was refused: ${String(inThen)}`)
          assert.strictEqual((inThen as WorkqueueError.WorkqueueError).reason, "Draining")
          assert.strictEqual(cpuInThen, 0, "nor does it see the worker's CPU (1): it is not on the worker")
          assert.deepStrictEqual(yield* rec.starts, ["fromFiber"])
          assert.isFalse(yield* Work.pending(fromThen), "the refused item is not pending")
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
    it.effect(
      "an interrupted drainer leaves the workqueue draining while another drainer remains (drain_workqueue)",
      () =>
        Effect.gen(function* () {
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("drain")
          yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
          const d1 = yield* Effect.forkChild(Workqueue.drain(wq))
          const d2 = yield* Effect.forkChild(Workqueue.drain(wq))
          yield* settle()
          const state = Effect.map(WorkqueueSystem.snapshot, (s) => s.workqueues.find((w) => w.name === "drain")!.state)
          assert.strictEqual(yield* state, "Draining")
          yield* Fiber.interrupt(d1)
          const outsider = yield* Work.make(() => Effect.void)
          assert.strictEqual((yield* Effect.flip(Workqueue.queue(wq, outsider))).reason, "Draining")
          yield* gate.open
          yield* settle()
          assert.isDefined(d2.pollUnsafe(), "the remaining drainer completed once the item ran")
          yield* Fiber.join(d2)
          assert.strictEqual(yield* state, "Open")
          assert.isTrue(yield* Workqueue.queue(wq, outsider))
          yield* settle()
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
  })

  describe("drain (interrupts)", () => {
    // found by the torture suite (a ping-pong queue refused with Draining though no drain ran): the drainer count was
    // incremented one step before the decrement was installed, and an interrupt landing between the two (the fiber
    // yielding at its op budget) left the workqueue Draining for good
    it.effect("a drain interrupted at any step of its start leaves the workqueue Open (drain_workqueue)", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("drain")
        yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
        const state = Effect.map(WorkqueueSystem.snapshot, (s) => s.workqueues.find((w) => w.name === "drain")!.state)
        // a scheduler that yields at every operation boundary, so the interrupt can land between any two of them
        const everyStep: Scheduler.Scheduler = {
          executionMode: "async",
          shouldYield: () => true,
          makeDispatcher: () => new Scheduler.MixedScheduler().makeDispatcher()
        }
        for (let turns = 0; turns < 30; turns++) {
          const drainer = yield* Effect.forkDetach(
            Effect.provideService(Workqueue.drain(wq), Scheduler.Scheduler, everyStep)
          )
          for (let i = 0; i < turns; i++) yield* Effect.yieldNow
          yield* Fiber.interrupt(drainer)
          assert.strictEqual(
            yield* state,
            "Open",
            `a drain interrupted after ${turns} turn(s) left the workqueue draining`
          )
        }
        assert.isTrue(yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void)), "outside queueing works")
        yield* gate.open
        yield* settle()
      }).pipe(withSystemClosedOnSuccess({ cpus: 2 }))
    )
  })

  describe("destroy", () => {
    it.effect("destroy drains queued items, then later queueing fails with Destroyed (destroy_workqueue)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("destroy", { maxActive: 1 })
        for (const n of ["a", "b", "c"]) {
          yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler(n, Effect.sleep(10))))
        }
        const destroyer = yield* Effect.forkChild(Workqueue.destroy(wq))
        yield* settle()
        const late = yield* Work.make(rec.handler("late"))
        const during = yield* Effect.flip(Workqueue.queue(wq, late))
        assert.strictEqual(during.reason, "Draining")
        yield* TestClock.adjust(30)
        yield* Fiber.join(destroyer)
        assert.deepStrictEqual(yield* rec.ends, ["a", "b", "c"])
        const after = yield* Effect.flip(Workqueue.queue(wq, late))
        assert.strictEqual(after.reason, "Destroyed")
        assert.strictEqual(after.workqueue, "destroy")
        assert.isFalse(yield* Work.pending(late))
        const snap = yield* WorkqueueSystem.snapshot
        assert.isUndefined(
          snap.workqueues.find((w) => w.name === "destroy"),
          "released"
        )
        // flush/drain of a destroyed queue is the kernel's use-after-free: a typed error (docs/KERNEL-MAPPING.md);
        // destroy stays idempotent
        assert.strictEqual((yield* Effect.flip(Workqueue.flush(wq))).reason, "Destroyed")
        assert.strictEqual((yield* Effect.flip(Workqueue.drain(wq))).reason, "Destroyed")
        yield* Workqueue.destroy(wq)
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("destroy is idempotent, also with the scope's close (destroy_workqueue)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Effect.scoped(
          Effect.gen(function* () {
            const wq = yield* Workqueue.make("scoped")
            yield* Workqueue.queue(wq, yield* Work.make(rec.handler("a", Effect.yieldNow)))
            yield* Workqueue.destroy(wq)
            yield* Workqueue.destroy(wq)
            return wq
          })
        )
        assert.deepStrictEqual(yield* rec.ends, ["a"])
        const exit = yield* Effect.exit(Workqueue.destroy(wq))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(
          (yield* Effect.flip(Workqueue.queue(wq, yield* Work.make(() => Effect.void)))).reason,
          "Destroyed"
        )
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("two concurrent destroys both wait for the drain (destroy_workqueue)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("twice")
        yield* Workqueue.queue(wq, yield* Work.make(rec.handler("a", Effect.sleep(10))))
        const d1 = yield* Effect.forkChild(Workqueue.destroy(wq))
        const d2 = yield* Effect.forkChild(Workqueue.destroy(wq))
        yield* settle()
        assert.isUndefined(d1.pollUnsafe())
        assert.isUndefined(d2.pollUnsafe(), "the second caller does not return before the queue is gone")
        yield* TestClock.adjust(10)
        yield* settle()
        assert.isDefined(d1.pollUnsafe(), "the first destroy completed once the item ran")
        assert.isDefined(d2.pollUnsafe(), "the second destroy completed once the queue was gone")
        yield* Fiber.join(d1)
        yield* Fiber.join(d2)
        assert.deepStrictEqual(yield* rec.ends, ["a"])
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("closing the workqueue's scope drains it before release (destroy_workqueue)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const fiber = yield* Effect.forkChild(
          Effect.scoped(
            Effect.gen(function* () {
              const wq = yield* Workqueue.make("scoped")
              for (const n of ["a", "b"]) yield* Workqueue.queue(wq, yield* Work.make(rec.handler(n, Effect.sleep(10))))
            })
          )
        )
        yield* settle()
        assert.isUndefined(fiber.pollUnsafe(), "the scope's close waits for the items")
        yield* TestClock.adjust(10)
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(yield* rec.ends, ["a", "b"])
        const snap = yield* WorkqueueSystem.snapshot
        assert.isUndefined(snap.workqueues.find((w) => w.name === "scoped"))
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
  })

  describe("fireArmed", () => {
    it.effect("fires every armed item now, earliest first, and drain then waits for them (flush_delayed_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("armed", { maxActive: 1 })
        yield* Workqueue.queueDelayed(wq, yield* DelayedWork.make(rec.handler("late")), "60 seconds")
        yield* Workqueue.queueDelayed(wq, yield* DelayedWork.make(rec.handler("early")), "1 second")
        assert.strictEqual(yield* Workqueue.fireArmed(wq), 2)
        assert.strictEqual(yield* Workqueue.fireArmed(wq), 0, "nothing is armed any more")
        yield* Workqueue.drain(wq)
        assert.deepStrictEqual(yield* rec.ends, ["early", "late"])
        const snap = yield* WorkqueueSystem.snapshot
        assert.strictEqual(snap.workqueues.find((w) => w.name === "armed")?.armed, 0)
      }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
    )
  })

  describe("accessors", () => {
    it.effect("name, flags and maxActive are readable synchronously (alloc_workqueue)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("attrs", {
          flags: Workqueue.WQ_HIGHPRI | Workqueue.WQ_FREEZABLE,
          maxActive: 7
        })
        assert.isTrue(Workqueue.isWorkqueue(wq))
        assert.isFalse(Workqueue.isWorkqueue({}))
        assert.strictEqual(Workqueue.name(wq), "attrs")
        assert.strictEqual(wq.name, "attrs")
        assert.strictEqual(Workqueue.flags(wq) & Workqueue.WQ_HIGHPRI, Workqueue.WQ_HIGHPRI)
        assert.strictEqual(Workqueue.flags(wq) & Workqueue.WQ_FREEZABLE, Workqueue.WQ_FREEZABLE)
        assert.strictEqual(Workqueue.maxActive(wq), 7)
        assert.deepStrictEqual(
          [Workqueue.WQ_MAX_ACTIVE, Workqueue.WQ_DFL_ACTIVE, Workqueue.WQ_UNBOUND_MAX_ACTIVE],
          [2048, 1024, 2048]
        )
        const flags = [
          Workqueue.WQ_UNBOUND,
          Workqueue.WQ_FREEZABLE,
          Workqueue.WQ_MEM_RECLAIM,
          Workqueue.WQ_HIGHPRI,
          Workqueue.WQ_CPU_INTENSIVE,
          Workqueue.WQ_SYSFS,
          Workqueue.WQ_POWER_EFFICIENT,
          Workqueue.WQ_BH
        ]
        assert.strictEqual(new Set(flags).size, flags.length, "distinct bits")
        assert.isTrue(
          flags.every((f) => f > 0 && (f & (f - 1)) === 0),
          "single bits"
        )
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("a name of 32 characters or more is truncated to 31 with a warning (WQ_NAME_LEN)", () => {
      const logs = makeLogCapture()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("x".repeat(40))
        assert.strictEqual(Workqueue.name(wq), "x".repeat(31))
        const short = yield* Workqueue.make("y".repeat(31))
        assert.strictEqual(Workqueue.name(short), "y".repeat(31), "31 characters fit")
        yield* settle()
        const warnings = logs.lines.filter((l) => l.level === "Warn" && l.message.includes("x".repeat(31)))
        assert.strictEqual(warnings.length, 1, logs.text())
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }), Effect.provide(logs.layer))
    })
  })
})

describe("Workqueue: an interrupted destroy", () => {
  it.effect("leaves the workqueue open and usable; a later destroy completes (destroy_workqueue)", () =>
    Effect.gen(function* () {
      const gate = yield* makeGate
      yield* Effect.gen(function* () {
        const wq = yield* Workqueue.make("interrupted")
        let runs = 0
        yield* Workqueue.queue(
          wq,
          yield* Work.make(() =>
            Effect.andThen(
              gate.await,
              Effect.sync(() => void runs++)
            )
          )
        )
        yield* settle()
        const timedOut = yield* Effect.forkChild(Effect.timeout(Workqueue.destroy(wq), "10 millis"))
        yield* settle()
        yield* TestClock.adjust(20)
        const exit = yield* Fiber.await(timedOut)
        assert.isTrue(Exit.isFailure(exit))
        // the destroy did not happen: outside queueing works again
        assert.strictEqual(WorkqueueInternal.toState(wq).lifecycle, "Open")
        const queued = yield* Effect.exit(Workqueue.queue(wq, yield* Work.make(() => Effect.sync(() => void runs++))))
        assert.isTrue(Exit.isSuccess(queued), String(queued))
        yield* gate.open
        yield* Workqueue.flush(wq)
        assert.strictEqual(runs, 2)
        yield* Workqueue.destroy(wq)
        assert.strictEqual(
          (yield* Effect.flip(Workqueue.queue(wq, yield* Work.make(() => Effect.void)))).reason,
          "Destroyed"
        )
      }).pipe(Effect.ensuring(gate.open), Effect.scoped) // a failed assertion must not hang in the scope's destroy
    }).pipe(Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("the armed items an interrupted destroy fired stay queued and run; the queue stays usable", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("fired")
      const gate = yield* makeGate
      let ran = 0
      yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
      const dwork = yield* DelayedWork.make(() => Effect.sync(() => void ran++))
      yield* Workqueue.queueDelayed(wq, dwork, "1 hour")
      yield* settle()
      const destroyer = yield* Effect.forkChild(Workqueue.destroy(wq))
      yield* settle()
      yield* Fiber.interrupt(destroyer)
      yield* gate.open
      yield* Workqueue.flush(wq)
      assert.strictEqual(ran, 1)
      assert.isTrue(yield* Workqueue.queueDelayed(wq, dwork, 10))
      yield* TestClock.adjust(10)
      yield* Workqueue.flush(wq)
      assert.strictEqual(ran, 2)
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("while another destroy is still under way, it stays Destroying (destroy_workqueue)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("two_destroyers")
      const gate = yield* makeGate
      yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
      yield* settle()
      const patient = yield* Effect.forkChild(Workqueue.destroy(wq))
      const impatient = yield* Effect.forkChild(Workqueue.destroy(wq))
      yield* settle()
      yield* Fiber.interrupt(impatient)
      assert.strictEqual(
        (yield* Effect.flip(Workqueue.queue(wq, yield* Work.make(() => Effect.void)))).reason,
        "Draining"
      )
      yield* gate.open
      yield* Fiber.join(patient)
      assert.strictEqual(WorkqueueInternal.toState(wq).lifecycle, "Destroyed")
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )
  it.effect(
    "a scope closed from its own workqueue's item refuses outside work at once and destroys once the item returns",
    () => {
      const logs = makeLogCapture()
      return Effect.gen(function* () {
        const scope = yield* Scope.make()
        const wq = yield* Workqueue.make("own").pipe(Scope.provide(scope))
        const closed = yield* Deferred.make<string>()
        const gate = yield* Deferred.make<void>()
        yield* Workqueue.queue(
          wq,
          yield* Work.make(() =>
            Effect.gen(function* () {
              yield* Scope.close(scope, Exit.void)
              // the item's own chained work still flows: the background destroy drains it
              const chained = yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
              yield* Deferred.succeed(closed, `chained ${chained}`)
              yield* Deferred.await(gate)
            })
          )
        )
        assert.strictEqual(yield* Deferred.await(closed), "chained true")
        const outside = yield* Effect.flip(Workqueue.queue(wq, yield* Work.make(() => Effect.void)))
        assert.strictEqual(outside.reason, "Draining") // being destroyed: outside work refused at once
        assert.include(logs.text(), "workqueue own: its scope closed from one of its own work items")
        yield* Deferred.succeed(gate, undefined)
        yield* settle()
        const after = yield* Effect.flip(Workqueue.queue(wq, yield* Work.make(() => Effect.void)))
        assert.strictEqual(after.reason, "Destroyed")
        assert.isUndefined((yield* WorkqueueSystem.snapshot).workqueues.find((w) => w.name === "own"))
      }).pipe(Effect.provide(systemLayer({ cpus: 1 })), Effect.provide(logs.layer))
    }
  )

  it.effect("destroying a system workqueue fails naming the rule; it stays usable", () =>
    Effect.gen(function* () {
      const events = yield* WorkqueueSystem.systemWq
      const error = yield* Effect.flip(Workqueue.destroy(events))
      assert.strictEqual(error.reason, "InvalidArgument")
      assert.strictEqual(error.workqueue, "events")
      assert.include(error.message, "only the WorkqueueSystem's close destroys it")
      assert.isTrue(yield* WorkqueueSystem.schedule(yield* Work.make(() => Effect.void)))
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )
})
