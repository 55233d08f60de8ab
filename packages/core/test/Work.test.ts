import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Fiber from "effect/Fiber"
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

class Greeting extends Context.Service<Greeting, { readonly text: string }>()("test/Greeting") {}

describe("Work", () => {
  describe("pending bit", () => {
    it.effect("queue returns true on an idle item, then false while pending and changes nothing (queue_work_on)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("pending", { maxActive: 1 })
        const blocker = yield* Work.make(rec.handler("blocker", gate.await))
        const x = yield* Work.make(rec.handler("x"))
        const y = yield* Work.make(rec.handler("y"))
        const other = yield* Workqueue.make("other")
        assert.isTrue(yield* Workqueue.queueOn(wq, 0, blocker))
        assert.isTrue(yield* Workqueue.queueOn(wq, 0, x))
        assert.isTrue(yield* Workqueue.queueOn(wq, 0, y))
        yield* settle()
        // x is pending (inactive behind the blocker): every further attempt is refused and moves nothing
        assert.isFalse(yield* Workqueue.queueOn(wq, 0, x))
        assert.isFalse(yield* Workqueue.queueOn(wq, 3, x), "not moved to another CPU")
        assert.isFalse(yield* Workqueue.queue(other, x), "not moved to another workqueue")
        assert.isTrue(yield* Work.pending(x))
        yield* gate.open
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, [
          "start blocker@0/cpu0",
          "end blocker@0/cpu0",
          "start x@0/cpu0",
          "end x@0/cpu0",
          "start y@0/cpu0",
          "end y@0/cpu0"
        ])
        const snap = yield* WorkqueueSystem.snapshot
        const otherSnap = snap.workqueues.find((w) => w.name === "other")!
        assert.strictEqual(
          otherSnap.pwqs.reduce((n, p) => n + p.stats.started, 0),
          0,
          "nothing ran on the other workqueue"
        )
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("pending is true while queued and false once only running (work_pending)", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("pending")
        const work = yield* Work.make(() => gate.await)
        assert.isFalse(yield* Work.pending(work))
        yield* Workqueue.queue(wq, work)
        assert.isTrue(yield* Work.pending(work))
        assert.isTrue(Work.pendingUnsafe(work))
        yield* settle()
        assert.isFalse(yield* Work.pending(work), "PENDING is cleared while it runs")
        assert.deepStrictEqual(Work.busyUnsafe(work), { pending: false, running: true })
        yield* gate.open
        yield* settle()
        assert.deepStrictEqual(Work.busyUnsafe(work), { pending: false, running: false })
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "PENDING is cleared before the handler runs, so it can queue itself again: true once, then false (process_one_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("requeue")
          const results: Array<boolean> = []
          let runs = 0
          const work = yield* Work.make((self) =>
            Effect.gen(function* () {
              yield* rec.mark("start", "w")
              runs++
              if (runs === 1) {
                results.push(yield* Workqueue.queue(wq, self))
                results.push(yield* Workqueue.queue(wq, self))
              }
              yield* rec.mark("end", "w")
            })
          )
          yield* Workqueue.queue(wq, work)
          yield* settle()
          assert.deepStrictEqual(results, [true, false])
          assert.strictEqual(runs, 2, "at most one extra instance")
          assert.deepStrictEqual(yield* rec.starts, ["w", "w"])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "a running item queued from outside returns true once, false after, and runs exactly once more (queue_work_on)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("requeue")
          const work = yield* Work.make(rec.handler("w", gate.await))
          yield* Workqueue.queue(wq, work)
          yield* settle()
          assert.isTrue(yield* Workqueue.queue(wq, work))
          assert.isFalse(yield* Workqueue.queue(wq, work))
          assert.isFalse(yield* Workqueue.queue(wq, work))
          yield* gate.open
          yield* settle()
          assert.deepStrictEqual(yield* rec.trace, ["start w@0/cpu0", "end w@0/cpu0", "start w@0/cpu0", "end w@0/cpu0"])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
  })

  describe("non-reentrance", () => {
    it.effect(
      "queued on another CPU while running, it runs after, on the CPU where it runs, never overlapping (__queue_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("reentrance")
          let runs = 0
          const work = yield* Work.make(() =>
            Effect.gen(function* () {
              runs++
              yield* rec.mark("start", `w${runs}`)
              yield* Effect.sleep(10)
              yield* rec.mark("end", `w${runs}`)
            })
          )
          assert.isTrue(yield* Workqueue.queueOn(wq, 1, work))
          yield* settle()
          assert.isTrue(yield* Workqueue.queueOn(wq, 3, work), "queued again while running")
          yield* settle()
          assert.strictEqual(runs, 1, "the second instance waits for the first")
          yield* TestClock.adjust(10)
          yield* settle()
          yield* TestClock.adjust(10)
          yield* settle()
          assert.deepStrictEqual(yield* rec.trace, [
            "start w1@0/cpu1",
            "end w1@10/cpu1",
            "start w2@10/cpu1",
            "end w2@20/cpu1"
          ])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("on an unbound workqueue a second instance never overlaps the running one (__queue_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("unbound", { flags: Workqueue.WQ_UNBOUND })
        let runs = 0
        const work = yield* Work.make(() =>
          Effect.gen(function* () {
            runs++
            const n = runs
            yield* rec.mark("start", `w${n}`)
            yield* Effect.sleep(10)
            yield* rec.mark("end", `w${n}`)
          })
        )
        yield* Workqueue.queueOn(wq, 0, work)
        yield* settle()
        assert.isTrue(yield* Workqueue.queueOn(wq, 2, work))
        yield* settle()
        yield* TestClock.adjust(10)
        yield* settle()
        yield* TestClock.adjust(10)
        yield* settle()
        const events = yield* rec.events
        assert.deepStrictEqual(
          events.map((e) => `${e.kind} ${e.name}@${e.at}`),
          ["start w1@0", "end w1@10", "start w2@10", "end w2@20"]
        )
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
    it.effect(
      "an item requeueing itself onto another CPU from its own handler runs again after it, on its own CPU (__queue_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("self")
          let runs = 0
          const work = yield* Work.make((self) =>
            Effect.gen(function* () {
              const n = ++runs
              yield* rec.mark("start", `w${n}`)
              if (n === 1) assert.isTrue(yield* Workqueue.queueOn(wq, 2, self))
              yield* Effect.yieldNow
              yield* rec.mark("end", `w${n}`)
            })
          )
          yield* Workqueue.queueOn(wq, 0, work)
          yield* settle()
          assert.deepStrictEqual(yield* rec.trace, [
            "start w1@0/cpu0",
            "end w1@0/cpu0",
            "start w2@0/cpu0",
            "end w2@0/cpu0"
          ])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("the redirected instance takes the running pwq's max_active slot in turn (__queue_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("redirect", { maxActive: 1 })
        let runs = 0
        const work = yield* Work.make(() =>
          Effect.gen(function* () {
            const n = ++runs
            yield* rec.mark("start", `w${n}`)
            yield* Effect.sleep(10)
            yield* rec.mark("end", `w${n}`)
          })
        )
        yield* Workqueue.queueOn(wq, 0, work)
        yield* settle()
        yield* Workqueue.queueOn(wq, 1, work)
        const pwqs = (yield* WorkqueueSystem.snapshot).workqueues.find((w) => w.name === "redirect")!.pwqs
        assert.deepStrictEqual(
          pwqs.map((p) => [p.active, p.inactive]),
          [
            [1, 1],
            [0, 0],
            [0, 0],
            [0, 0]
          ],
          "queued behind the running instance on CPU 0's pwq, not on CPU 1's"
        )
        yield* TestClock.adjust(10)
        yield* settle()
        yield* TestClock.adjust(10)
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, [
          "start w1@0/cpu0",
          "end w1@10/cpu0",
          "start w2@10/cpu0",
          "end w2@20/cpu0"
        ])
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("queued on another workqueue of the same pool, it waits for the running instance (assign_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const one = yield* Workqueue.make("one")
        const two = yield* Workqueue.make("two")
        let runs = 0
        const work = yield* Work.make(() =>
          Effect.gen(function* () {
            const n = ++runs
            yield* rec.mark("start", `w${n}`)
            yield* Effect.sleep(10)
            yield* rec.mark("end", `w${n}`)
          })
        )
        yield* Workqueue.queueOn(one, 2, work)
        yield* settle()
        assert.isTrue(yield* Workqueue.queueOn(two, 2, work))
        yield* settle()
        assert.strictEqual(runs, 1, "the dispatch collision serialises the two executions")
        yield* TestClock.adjust(10)
        yield* settle()
        yield* TestClock.adjust(10)
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, [
          "start w1@0/cpu2",
          "end w1@10/cpu2",
          "start w2@10/cpu2",
          "end w2@20/cpu2"
        ])
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
  })

  describe("make", () => {
    it.effect("Work.make captures the caller's services, so queueing needs none (INIT_WORK)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("services")
        const seen: Array<string> = []
        const work = yield* Work.make(() =>
          Effect.gen(function* () {
            const greeting = yield* Greeting
            seen.push(greeting.text)
          })
        ).pipe(Effect.provideService(Greeting, { text: "hello" }))
        yield* Workqueue.queue(wq, work)
        yield* settle()
        assert.deepStrictEqual(seen, ["hello"])
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("the name defaults to the handler's function name and can be given (INIT_WORK)", () =>
      Effect.gen(function* () {
        function namedHandler() {
          return Effect.void
        }
        const a = yield* Work.make(namedHandler)
        const b = yield* Work.make(() => Effect.void, { name: "custom" })
        assert.strictEqual(a.name, "namedHandler")
        assert.strictEqual(b.name, "custom")
        assert.isTrue(Work.isWork(a))
        assert.isFalse(Work.isWork({}))
        assert.deepStrictEqual(JSON.parse(JSON.stringify(b)), { _id: "Work", name: "custom", state: "idle" })
      })
    )
    it.effect(
      "Work.makeWith: one shared handler gets each item's datum and the item, with the maker's services; the item is an ordinary Work (INIT_WORK, container_of)",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("datum", { maxActive: 1 })
          const seen: Array<string> = []
          const items: Array<Work.Work> = []
          function handle(datum: { readonly n: number }, self: Work.Work) {
            return Effect.gen(function* () {
              seen.push(`${(yield* Greeting).text}:${datum.n}:${items.indexOf(self)}`)
            })
          }
          for (let n = 0; n < 3; n++) {
            items.push(yield* Work.makeWith(handle, { n }).pipe(Effect.provideService(Greeting, { text: `g${n}` })))
          }
          const named = yield* Work.makeWith(handle, { n: 9 }, { name: "custom" }).pipe(
            Effect.provideService(Greeting, { text: "g9" })
          )
          assert.strictEqual(items[0]!.name, "handle", "named by the shared handler")
          assert.strictEqual(named.name, "custom")
          assert.isTrue(Work.isWork(items[0]))
          assert.isTrue(yield* Workqueue.queue(wq, items[0]!))
          assert.isTrue(yield* Workqueue.queue(wq, items[1]!))
          assert.isFalse(yield* Workqueue.queue(wq, items[1]!), "pending: the second queue changes nothing")
          assert.isTrue(yield* Workqueue.queue(wq, items[2]!))
          assert.isTrue(yield* Work.cancel(items[2]!), "still pending behind the others: cancelled")
          yield* Workqueue.flush(wq)
          assert.deepStrictEqual(seen, ["g0:0:0", "g1:1:1"])
          assert.isTrue(yield* Workqueue.queue(wq, items[2]!), "queued again after the cancel")
          yield* Workqueue.flush(wq)
          assert.deepStrictEqual(seen, ["g0:0:0", "g1:1:1", "g2:2:2"])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("Work.makeWith dies with InvalidArgument for a handler that is not a function, as make does", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(Work.makeWith(42 as unknown as (n: number) => Effect.Effect<void>, 1))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const error = Cause.squash(exit.cause) as WorkqueueError.WorkqueueError
          assert.strictEqual(error.reason, "InvalidArgument")
          assert.include(error.message, "the handler must be a function")
        }
      })
    )

    it.effect(
      "one Work.make effect run twice makes two items, each with the services of the fiber that ran it (INIT_WORK)",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("services")
          const seen: Array<string> = []
          const makeItem = Work.make(() =>
            Effect.gen(function* () {
              seen.push((yield* Greeting).text)
            })
          )
          const a = yield* makeItem.pipe(Effect.provideService(Greeting, { text: "first" }))
          const b = yield* makeItem.pipe(Effect.provideService(Greeting, { text: "second" }))
          assert.notStrictEqual(a, b)
          yield* Workqueue.queue(wq, b)
          yield* Workqueue.queue(wq, a)
          yield* settle()
          assert.deepStrictEqual(seen, ["second", "first"])
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      'an unnamed item is named by its handler, else "work" / "delayed_work", in failure logs and tracepoints (INIT_WORK)',
      () => {
        const logs = makeLogCapture()
        const traced: Array<string> = []
        return Effect.gen(function* () {
          const wq = yield* Workqueue.make("names")
          function namedFailure() {
            return Effect.fail("boom")
          }
          const items = [
            yield* Work.make(namedFailure),
            yield* Work.make(() => Effect.fail("boom")),
            yield* DelayedWork.make(() => Effect.fail("boom")),
            yield* Work.make(namedFailure, { name: "given" })
          ]
          assert.deepStrictEqual(
            items.map((w) => w.name),
            ["namedFailure", "work", "delayed_work", "given"]
          )
          for (const item of items) yield* Workqueue.queue(wq, item)
          yield* settle()
          const logged = logs.lines.filter((l) => l.level === "Error").map((l) => l.annotations["work"])
          assert.deepStrictEqual(logged, ["namedFailure", "work", "delayed_work", "given"], logs.text())
          assert.deepStrictEqual(traced, ["namedFailure", "work", "delayed_work", "given"])
        }).pipe(
          Effect.provide(
            systemLayer({
              cpus: 4,
              tracepoint: (event) => {
                if (event._tag === "workqueue_queue_work") traced.push(event.work.name)
              }
            })
          ),
          Effect.provide(logs.layer)
        )
      }
    )
  })

  describe("flush", () => {
    it.effect("Work.flush returns false at once for an item that was never queued (flush_work)", () =>
      Effect.gen(function* () {
        const work = yield* Work.make(() => Effect.void)
        assert.isFalse(yield* Work.flush(work))
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("Work.flush waits for a pending instance and returns true, then false once idle (flush_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("flush")
        const work = yield* Work.make(rec.handler("w", Effect.sleep(10)))
        yield* Workqueue.queue(wq, work)
        const flusher = yield* Effect.forkChild(Work.flush(work))
        yield* settle()
        assert.isUndefined(flusher.pollUnsafe(), "still waiting while the item sleeps")
        yield* TestClock.adjust(10)
        assert.isTrue(yield* Fiber.join(flusher))
        assert.deepStrictEqual(yield* rec.ends, ["w"])
        assert.isFalse(yield* Work.flush(work))
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("Work.flush waits for a running (not pending) instance and returns true (flush_work)", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("flush")
        const work = yield* Work.make(() => gate.await)
        yield* Workqueue.queue(wq, work)
        yield* settle()
        const flusher = yield* Effect.forkChild(Work.flush(work))
        yield* settle()
        assert.isUndefined(flusher.pollUnsafe())
        yield* gate.open
        assert.isTrue(yield* Fiber.join(flusher))
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "Work.flush of an item both running and queued again waits for the queued instance to finish (flush_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gates = [yield* makeGate, yield* makeGate]
          const wq = yield* Workqueue.make("flush")
          let runs = 0
          const work = yield* Work.make(() =>
            Effect.suspend(() => {
              const n = runs++
              return rec.handler(`w${n}`, gates[n]!.await)()
            })
          )
          yield* Workqueue.queueOn(wq, 0, work)
          yield* settle()
          assert.isTrue(yield* Workqueue.queueOn(wq, 0, work), "queued again while the first instance runs")
          assert.deepStrictEqual(Work.busyUnsafe(work), { pending: true, running: true })
          const flusher = yield* Effect.forkChild(Work.flush(work))
          yield* settle()
          assert.isUndefined(flusher.pollUnsafe(), "waits while the first instance runs")
          yield* gates[0]!.open
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["w0", "w1"])
          assert.isUndefined(flusher.pollUnsafe(), "flush_work returned before the queued instance ran to its end")
          yield* gates[1]!.open
          yield* settle()
          assert.isDefined(flusher.pollUnsafe(), "flush_work returned once the queued instance finished")
          assert.isTrue(yield* Fiber.join(flusher))
          assert.deepStrictEqual(yield* rec.ends, ["w0", "w1"])
        }).pipe(withSystemClosedOnSuccess({ cpus: 2 }))
    )

    it.effect(
      "Work.flush returns after the instance current at the call, even if it requeues itself (flush_work)",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("flush")
          let runs = 0
          const work = yield* Work.make((self) =>
            Effect.gen(function* () {
              runs++
              yield* Effect.sleep(10)
              if (runs < 3) yield* Workqueue.queue(wq, self)
            })
          )
          yield* Workqueue.queue(wq, work)
          const flusher = yield* Effect.forkChild(Work.flush(work))
          yield* settle()
          yield* TestClock.adjust(10)
          assert.isTrue(yield* Fiber.join(flusher))
          assert.strictEqual(runs, 2, "the requeued instance has started (or is pending), not waited for")
          yield* TestClock.adjust(20)
          yield* settle()
          assert.strictEqual(runs, 3)
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
  })

  describe("cancel", () => {
    it.effect("cancel returns true for a pending item, which then never runs (cancel_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("cancel", { maxActive: 1 })
        const blocker = yield* Work.make(rec.handler("blocker", gate.await))
        const victim = yield* Work.make(rec.handler("victim"))
        yield* Workqueue.queue(wq, blocker)
        yield* Workqueue.queue(wq, victim)
        yield* settle()
        assert.isTrue(yield* Work.cancel(victim))
        assert.isFalse(yield* Work.pending(victim))
        assert.isFalse(yield* Work.cancel(victim), "nothing left to cancel")
        yield* gate.open
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["blocker"])
        const snap = yield* WorkqueueSystem.snapshot
        const pwq = snap.workqueues.find((w) => w.name === "cancel")!.pwqs[0]!
        assert.deepStrictEqual([pwq.active, pwq.inactive], [0, 0])
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("cancel of a running-only item returns false and does not wait (cancel_work)", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("cancel")
        const work = yield* Work.make(() => gate.await)
        yield* Workqueue.queue(wq, work)
        yield* settle()
        assert.isFalse(yield* Work.cancel(work))
        assert.isTrue(Work.busyUnsafe(work).running)
        yield* gate.open
        yield* settle()
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "cancel of an active (not yet started) item gives back its slot to the next inactive one (cancel_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("cancel", { maxActive: 1 })
          const a = yield* Work.make(rec.handler("a"))
          const b = yield* Work.make(rec.handler("b"))
          yield* Workqueue.queue(wq, a)
          yield* Workqueue.queue(wq, b)
          assert.isTrue(yield* Work.cancel(a), "a is active on the worklist, not started yet")
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["b"])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "cancelSync waits for a running instance and blocks its self-requeue; returns false (cancel_work_sync)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("cancel")
          const requeued: Array<boolean> = []
          const work = yield* Work.make((self) =>
            Effect.gen(function* () {
              yield* rec.mark("start", "w")
              yield* gate.await
              if (requeued.length === 0) requeued.push(yield* Workqueue.queue(wq, self))
              yield* rec.mark("end", "w")
            })
          )
          yield* Workqueue.queue(wq, work)
          yield* settle()
          const canceller = yield* Effect.forkChild(Work.cancelSync(work))
          yield* settle()
          assert.isUndefined(canceller.pollUnsafe(), "waits for the running instance")
          yield* gate.open
          assert.isFalse(yield* Fiber.join(canceller), "it was running, not pending")
          assert.deepStrictEqual(requeued, [false], "the self-requeue during cancelSync is refused")
          assert.deepStrictEqual(Work.busyUnsafe(work), { pending: false, running: false })
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["w"])
          assert.isTrue(yield* Workqueue.queue(wq, work), "queueable again after cancelSync returned")
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["w", "w"])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "cancelSync returns true if the running handler had already requeued it, and that instance never runs (__cancel_work_sync)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("cancel")
          let requeued: boolean | undefined
          const work = yield* Work.make((self) =>
            Effect.gen(function* () {
              yield* rec.mark("start", "w")
              if (requeued === undefined) requeued = yield* Workqueue.queue(wq, self)
              yield* gate.await
              yield* rec.mark("end", "w")
            })
          )
          yield* Workqueue.queue(wq, work)
          yield* settle()
          assert.strictEqual(requeued, true)
          assert.deepStrictEqual(Work.busyUnsafe(work), { pending: true, running: true })
          const canceller = yield* Effect.forkChild(Work.cancelSync(work))
          yield* settle()
          assert.isUndefined(canceller.pollUnsafe())
          yield* gate.open
          assert.isTrue(yield* Fiber.join(canceller))
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["w"], "the requeued instance never runs")
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("cancelSync on an idle item returns false at once (cancel_work_sync)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("cancel")
        const work = yield* Work.make(() => Effect.void)
        assert.isFalse(yield* Work.cancelSync(work))
        yield* Workqueue.queue(wq, work)
        yield* settle()
        assert.isFalse(yield* Work.cancelSync(work))
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
    it.effect(
      "cancel of an inactive item releases its Work.flush waiters and lets Workqueue.flush complete (try_to_grab_pending)",
      () =>
        Effect.gen(function* () {
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("cancel", { maxActive: 1 })
          yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
          const victim = yield* Work.make(() => Effect.void)
          yield* Workqueue.queue(wq, victim)
          const workFlusher = yield* Effect.forkChild(Work.flush(victim))
          const wqFlusher = yield* Effect.forkChild(Workqueue.flush(wq))
          yield* settle()
          assert.isUndefined(workFlusher.pollUnsafe())
          assert.isTrue(yield* Work.cancel(victim))
          yield* settle()
          assert.isDefined(workFlusher.pollUnsafe(), "the flush barrier glued behind it is not stranded")
          assert.isUndefined(wqFlusher.pollUnsafe(), "the running item is still in flight")
          yield* gate.open
          yield* Fiber.join(wqFlusher)
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "a Work.flush waiter released by cancel that queues the item again finds the cancel complete: colours stay exact (try_to_grab_pending)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("cancel", { maxActive: 1 })
          yield* Workqueue.queue(wq, yield* Work.make(rec.handler("blocker", gate.await)))
          const work = yield* Work.make(rec.handler("w"))
          yield* Workqueue.queue(wq, work)
          const requeuer = yield* Effect.forkChild(
            Effect.gen(function* () {
              const waited = yield* Work.flush(work)
              const queued = yield* Workqueue.queue(wq, work)
              return [waited, queued] as const
            })
          )
          yield* settle()
          assert.isTrue(yield* Work.cancel(work))
          assert.deepStrictEqual(yield* Fiber.join(requeuer), [true, true])
          yield* gate.open
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["blocker", "w"])
          const flusher = yield* Effect.forkChild(Workqueue.flush(wq))
          yield* settle()
          assert.isDefined(flusher.pollUnsafe(), "no colour left counting an item that is gone")
          const pwq = (yield* WorkqueueSystem.snapshot).workqueues.find((w) => w.name === "cancel")!.pwqs[0]!
          assert.deepStrictEqual([pwq.active, pwq.inactive], [0, 0])
          yield* Workqueue.queue(wq, work)
          yield* Workqueue.flush(wq)
          assert.deepStrictEqual(yield* rec.starts, ["blocker", "w", "w"])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "two concurrent cancelSyncs both wait for the running instance and leave the item enabled (cancel_work_sync)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("cancel")
          const work = yield* Work.make(rec.handler("w", gate.await))
          yield* Workqueue.queue(wq, work)
          yield* settle()
          const c1 = yield* Effect.forkChild(Work.cancelSync(work))
          const c2 = yield* Effect.forkChild(Work.cancelSync(work))
          yield* settle()
          assert.isUndefined(c1.pollUnsafe())
          assert.isUndefined(c2.pollUnsafe())
          yield* gate.open
          assert.isFalse(yield* Fiber.join(c1))
          assert.isFalse(yield* Fiber.join(c2))
          assert.isTrue(yield* Workqueue.queue(wq, work), "the temporary disable counts were given back")
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["w", "w"])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("an interrupted cancelSync gives back its temporary disable (cancel_work_sync)", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("cancel")
        const work = yield* Work.make(() => gate.await)
        yield* Workqueue.queue(wq, work)
        yield* settle()
        const canceller = yield* Effect.forkChild(Work.cancelSync(work))
        yield* settle()
        assert.isFalse(yield* Workqueue.queue(wq, work), "refused while cancelSync is in progress")
        yield* Fiber.interrupt(canceller)
        assert.isTrue(yield* Workqueue.queue(wq, work), "queueable again once the canceller is gone")
        yield* gate.open
        yield* settle()
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "an unbalanced Work.enable during cancelSync warns naming the item and workqueue and leaves the cancel's hold (enable_work WARN)",
      () => {
        const logs = makeLogCapture()
        return Effect.gen(function* () {
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("cancelling")
          const work = yield* Work.make(() => gate.await, { name: "victim" })
          yield* Workqueue.queue(wq, work)
          yield* settle()
          const canceller = yield* Effect.forkChild(Work.cancelSync(work))
          yield* settle()
          assert.isFalse(yield* Work.enable(work), "the cancel's +1 is not the caller's to give back")
          assert.isFalse(yield* Workqueue.queue(wq, work), "still refused while the cancel waits")
          assert.deepStrictEqual(
            logs.lines.filter((l) => l.level === "Warn").map((l) => [l.message, l.annotations]),
            [
              [
                'workqueue: enable_work("victim") on cancelling while cancel_work_sync() holds its disable count: ' +
                  "work disable count underflowed, ignored until the cancel returns",
                { workqueue: "cancelling", work: "victim" }
              ]
            ]
          )
          yield* gate.open
          assert.isFalse(yield* Fiber.join(canceller), "the cancel completes normally")
          assert.isFalse(Work.busyUnsafe(work).running)
          assert.isTrue(yield* Workqueue.queue(wq, work), "the cancel gave back its own +1: enabled")
          yield* Workqueue.flush(wq)
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }), Effect.provide(logs.layer))
      }
    )

    it.effect("an interrupted Work.flush leaves the item to run normally (flush_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("flush", { maxActive: 1 })
        yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
        const work = yield* Work.make(rec.handler("w"))
        yield* Workqueue.queue(wq, work)
        const flusher = yield* Effect.forkChild(Work.flush(work))
        yield* settle()
        yield* Fiber.interrupt(flusher)
        yield* gate.open
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["w"])
        assert.isFalse(yield* Work.flush(work))
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
  })

  describe("cancel (non-reentrance)", () => {
    it.effect(
      "cancel of an instance parked behind its running self on the same pool returns true; it never runs and flushes complete (assign_work, try_to_grab_pending)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const one = yield* Workqueue.make("one")
          const two = yield* Workqueue.make("two")
          let runs = 0
          const work = yield* Work.make(() =>
            Effect.gen(function* () {
              const n = ++runs
              yield* rec.mark("start", `w${n}`)
              if (n === 1) yield* gate.await
            })
          )
          yield* Workqueue.queueOn(one, 0, work)
          yield* settle()
          yield* Workqueue.queueOn(two, 0, work)
          yield* Workqueue.queueOn(one, 0, yield* Work.make(rec.handler("other")))
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["w1", "other"], "the pool went on past the parked instance")
          const workFlusher = yield* Effect.forkChild(Work.flush(work))
          const wqFlusher = yield* Effect.forkChild(Workqueue.flush(two))
          yield* settle()
          assert.isTrue(yield* Work.cancel(work))
          yield* settle()
          assert.isDefined(workFlusher.pollUnsafe())
          assert.isDefined(wqFlusher.pollUnsafe())
          const canceller = yield* Effect.forkChild(Work.cancelSync(work))
          yield* settle()
          assert.isUndefined(canceller.pollUnsafe(), "the first instance still runs")
          yield* gate.open
          assert.isFalse(yield* Fiber.join(canceller))
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["w1", "other"])
          const pool = (yield* WorkqueueSystem.snapshot).pools[0]!
          assert.deepStrictEqual([pool.nrRunning, pool.worklist, pool.idle], [0, 0, pool.workers.length])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
  })

  describe("disable / enable", () => {
    it.effect(
      "disable counts: queueing returns false until every disable is matched by an enable (disable_work / enable_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("disable")
          const work = yield* Work.make(rec.handler("w"))
          assert.isFalse(yield* Work.disable(work), "was not pending")
          assert.isFalse(yield* Work.disable(work))
          assert.isFalse(yield* Workqueue.queue(wq, work))
          assert.isFalse(yield* Work.pending(work))
          assert.isFalse(yield* Work.enable(work), "count 2 -> 1")
          assert.isFalse(yield* Workqueue.queue(wq, work))
          assert.isTrue(yield* Work.enable(work), "count 1 -> 0")
          assert.isTrue(yield* Workqueue.queue(wq, work))
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["w"])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("the disable count saturates at 65535 (disable_work)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("disable")
        const work = yield* Work.make(() => Effect.void)
        for (let i = 0; i < 65_536; i++) yield* Work.disable(work)
        let enabled = false
        let enables = 0
        while (!enabled) {
          enabled = yield* Work.enable(work)
          enables++
        }
        assert.strictEqual(enables, 65_535, "the 65 536th disable did not count")
        assert.isTrue(yield* Workqueue.queue(wq, work))
        yield* settle()
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("disable of a pending item removes it and returns true (disable_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("disable", { maxActive: 1 })
        const blocker = yield* Work.make(rec.handler("blocker", gate.await))
        const work = yield* Work.make(rec.handler("w"))
        yield* Workqueue.queue(wq, blocker)
        yield* Workqueue.queue(wq, work)
        assert.isTrue(yield* Work.disable(work))
        assert.isFalse(yield* Work.pending(work))
        yield* gate.open
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["blocker"])
        assert.isTrue(yield* Work.enable(work))
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("enable at count 0 stays 0 and returns true (enable_work)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("enable")
        const work = yield* Work.make(() => Effect.void)
        assert.isTrue(yield* Work.enable(work))
        yield* Workqueue.queue(wq, work)
        yield* settle()
        assert.isTrue(yield* Work.enable(work))
        assert.isTrue(yield* Workqueue.queue(wq, work), "still enabled")
        yield* settle()
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "an item on no system warns through the caller's own logger, each call (enable_work / disable_work WARN)",
      () => {
        const logs = makeLogCapture()
        return Effect.gen(function* () {
          const work = yield* Work.make(() => Effect.void, { name: "lonely" })
          assert.isTrue(yield* Work.enable(work))
          assert.isTrue(yield* Work.enable(work))
          assert.isFalse(yield* Work.cancel(work), "nothing to cancel, nothing to warn")
          for (let i = 0; i < 65_535; i++) yield* Work.disable(work)
          assert.strictEqual(logs.lines.length, 2, logs.text())
          assert.isFalse(yield* Work.disable(work))
          assert.isFalse(yield* Work.disableSync(work))
          assert.deepStrictEqual(
            logs.lines.map((l) => [l.level, l.message]),
            [
              ["Warn", 'workqueue: work disable count underflowed ("lonely")'],
              ["Warn", 'workqueue: work disable count underflowed ("lonely")'],
              ["Warn", 'workqueue: work disable count overflowed ("lonely")'],
              ["Warn", 'workqueue: work disable count overflowed ("lonely")']
            ]
          )
        }).pipe(Effect.provide(logs.layer))
      }
    )

    it.effect("disableSync waits for a running instance and leaves the item disabled (disable_work_sync)", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("disable")
        const work = yield* Work.make(() => gate.await)
        yield* Workqueue.queue(wq, work)
        yield* settle()
        const disabler = yield* Effect.forkChild(Work.disableSync(work))
        yield* settle()
        assert.isUndefined(disabler.pollUnsafe())
        yield* gate.open
        assert.isFalse(yield* Fiber.join(disabler))
        assert.isFalse(Work.busyUnsafe(work).running)
        assert.isFalse(yield* Workqueue.queue(wq, work), "still disabled after the sync wait")
        assert.isTrue(yield* Work.enable(work))
        assert.isTrue(yield* Workqueue.queue(wq, work))
        yield* settle()
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )
  })

  describe("an item queued on two workqueues of different pools (find_worker_executing_work looks per pool)", () => {
    it.effect(
      "the two instances may overlap; cancelSync waits for both (find_worker_executing_work, cancel_work_sync)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const bound = yield* Workqueue.make("bound_wq")
          const unbound = yield* Workqueue.make("unbound_wq", { flags: Workqueue.WQ_UNBOUND })
          const work = yield* Work.make(rec.handler("shared", gate.await))
          assert.isTrue(yield* Workqueue.queueOn(bound, 0, work))
          yield* settle()
          assert.isTrue(yield* Workqueue.queue(unbound, work))
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["shared", "shared"], "different pools: both run at once")
          const canceller = yield* Effect.forkChild(Work.cancelSync(work))
          yield* settle()
          assert.isUndefined(canceller.pollUnsafe(), "cancelSync waits while an instance runs")
          yield* gate.open
          yield* settle()
          assert.deepStrictEqual(yield* rec.ends, ["shared", "shared"])
          assert.isFalse(yield* Fiber.join(canceller))
        }).pipe(withSystemClosedOnSuccess({ cpus: 2 }))
    )

    it.effect(
      "the last-started instance finishing first: cancelSync still waits for the one left on the other pool (cancel_work_sync)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const bound = yield* Workqueue.make("bound_wq")
          const unbound = yield* Workqueue.make("unbound_wq", { flags: Workqueue.WQ_UNBOUND })
          let instance = 0
          // the first instance (bound pool, CPU 0) waits on the gate; the second (unbound pool, started last) returns
          const work = yield* Work.make(() =>
            Effect.suspend(() => (++instance === 1 ? rec.handler("first", gate.await)() : rec.handler("second")()))
          )
          assert.isTrue(yield* Workqueue.queueOn(bound, 0, work))
          yield* settle()
          assert.isTrue(yield* Workqueue.queue(unbound, work))
          yield* settle()
          assert.deepStrictEqual(yield* rec.ends, ["second"], "the last-started instance has finished")
          const canceller = yield* Effect.forkChild(Work.cancelSync(work))
          yield* settle()
          assert.isUndefined(
            canceller.pollUnsafe(),
            "cancelSync returned while the first instance still runs on the bound pool (it waited only for the last pool)"
          )
          yield* gate.open
          yield* settle()
          assert.deepStrictEqual(yield* rec.ends, ["second", "first"])
          assert.isFalse(yield* Fiber.join(canceller))
        }).pipe(withSystemClosedOnSuccess({ cpus: 2 }))
    )

    it.effect("in one pool the second instance still waits for the first (assign_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const gate = yield* makeGate
        const a = yield* Workqueue.make("a_wq", { flags: Workqueue.WQ_UNBOUND })
        const b = yield* Workqueue.make("b_wq", { flags: Workqueue.WQ_UNBOUND })
        const other = yield* Workqueue.make("other_wq")
        const work = yield* Work.make(rec.handler("w", gate.await))
        yield* Workqueue.queueOn(other, 1, work) // an instance on a bound pool
        yield* settle()
        assert.isTrue(yield* Workqueue.queue(a, work)) // and one on the unbound pool, started last
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["w", "w"])
        assert.isTrue(yield* Workqueue.queue(b, work)) // same unbound pool as the running a-instance: serialised
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["w", "w"], "not a third concurrent instance in one pool")
        yield* gate.open
        yield* Workqueue.flush(b)
        assert.deepStrictEqual(yield* rec.starts, ["w", "w", "w"])
      }).pipe(withSystemClosedOnSuccess({ cpus: 2 }))
    )
  })

  it.effect(
    "flush of an item already holding a slot on the caller's max_active 1 pwq waits, no Deadlock (flush_work)",
    () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("lowered", { maxActive: 2 })
        const rec = yield* makeRecorder
        const b = yield* Work.make(rec.handler("b"))
        let flushed: boolean | string = "not yet"
        const a = yield* Work.make(() =>
          Effect.gen(function* () {
            // b is active (it took the second slot) but not started: lowering max_active does not take it back
            yield* Workqueue.setMaxActive(wq, 1)
            flushed = yield* Effect.orElseSucceed(Work.flush(b), () => "Deadlock")
          })
        )
        yield* Workqueue.queueOn(wq, 0, a)
        yield* Workqueue.queueOn(wq, 0, b)
        yield* Workqueue.flush(wq)
        assert.strictEqual(flushed as boolean | string, true)
        assert.deepStrictEqual(yield* rec.ends, ["b"])
      }).pipe(withSystemClosedOnSuccess({ cpus: 1 }))
  )
})

describe("Work: a work item belongs to one system", () => {
  /** Two independent systems, each in its own scope. */
  const twoSystems = (cpusA: number, cpusB: number) =>
    Effect.gen(function* () {
      const scopeA = yield* Scope.make()
      const scopeB = yield* Scope.make()
      const a = yield* Layer.buildWithScope(systemLayer({ cpus: cpusA }), scopeA)
      const b = yield* Layer.buildWithScope(systemLayer({ cpus: cpusB }), scopeB)
      return { a, b, scopeA, scopeB }
    })

  it.effect("queueing an item on a second system fails with ForeignSystem while it belongs to the first", () =>
    Effect.gen(function* () {
      const { a, b, scopeA, scopeB } = yield* twoSystems(2, 2)
      const wqA = yield* Workqueue.make("on_a").pipe(Scope.provide(scopeA), Effect.provideContext(a))
      const wqB = yield* Workqueue.make("on_b").pipe(Scope.provide(scopeB), Effect.provideContext(b))
      const gate = yield* makeGate
      let runs = 0
      const work = yield* Work.make(() =>
        Effect.andThen(
          gate.await,
          Effect.sync(() => void runs++)
        )
      )
      assert.isTrue(yield* Workqueue.queue(wqA, work))
      yield* settle().pipe(Effect.provideContext(a))
      // running on A: an instance on B could not be waited for by A's cancelSync
      const error = yield* Effect.flip(Workqueue.queue(wqB, work))
      assert.strictEqual(error.reason, "ForeignSystem")
      assert.strictEqual(error.workqueue, "on_b")
      assert.include(error.message, "belongs to another WorkqueueSystem")
      const dwork = yield* DelayedWork.make(() => Effect.void)
      yield* Workqueue.queueDelayed(wqA, dwork, 10)
      assert.strictEqual((yield* Effect.flip(Workqueue.modDelayed(wqB, dwork, 0))).reason, "ForeignSystem")
      assert.strictEqual((yield* Effect.flip(Workqueue.queueDelayed(wqB, dwork, 5))).reason, "ForeignSystem")
      // cancelSync therefore means what it says: neither pending nor running anywhere
      const canceller = yield* Effect.forkChild(Work.cancelSync(work))
      yield* settle().pipe(Effect.provideContext(a))
      assert.isUndefined(canceller.pollUnsafe())
      yield* gate.open
      yield* Fiber.join(canceller)
      assert.strictEqual(runs, 1)
      assert.deepStrictEqual(Work.busyUnsafe(work), { pending: false, running: false })
      // still refused when idle: it belongs to A until A closes
      assert.strictEqual((yield* Effect.flip(Workqueue.queue(wqB, work))).reason, "ForeignSystem")
      yield* Effect.ignore(DelayedWork.cancelSync(dwork))
      yield* Scope.close(scopeA, Exit.void)
      // A has closed: B may take it
      assert.isTrue(yield* Workqueue.queue(wqB, work))
      yield* Workqueue.flush(wqB)
      assert.strictEqual(runs, 2)
      yield* Scope.close(scopeB, Exit.void)
    })
  )

  it.effect(
    "a handler of an 8-CPU system queueing a fresh item on a 2-CPU system's per-CPU queue uses that system's CPUs",
    () =>
      Effect.gen(function* () {
        const { a, b, scopeA, scopeB } = yield* twoSystems(8, 2)
        const wqA = yield* Workqueue.make("big").pipe(Scope.provide(scopeA), Effect.provideContext(a))
        const wqB = yield* Workqueue.make("small", { flags: Workqueue.WQ_PERCPU }).pipe(
          Scope.provide(scopeB),
          Effect.provideContext(b)
        )
        let cpuOnB = -1
        const onB = yield* Work.make(() => Effect.map(WorkqueueSystem.currentCpu, (cpu) => void (cpuOnB = cpu)))
        let result: unknown
        const handler = yield* Work.make(() =>
          Effect.map(Effect.exit(Workqueue.queue(wqB, onB)), (exit) => void (result = exit))
        )
        yield* Workqueue.queueOn(wqA, 5, handler)
        yield* Workqueue.flush(wqA)
        yield* Workqueue.flush(wqB)
        assert.isTrue(Exit.isSuccess(result as Exit.Exit<boolean, unknown>), String(result))
        assert.strictEqual(cpuOnB, 0)
        yield* Scope.close(scopeA, Exit.void)
        yield* Scope.close(scopeB, Exit.void)
      })
  )
})

describe("Work: arguments a JavaScript caller may get wrong", () => {
  it.effect("every Work and DelayedWork operation given a non-item fails with InvalidArgument, never a defect", () =>
    Effect.gen(function* () {
      for (const v of [undefined, null, 1, "w", {}, Symbol("w")] as Array<unknown>) {
        const w = v as Work.Work
        const d = v as DelayedWork.DelayedWork
        for (const op of [
          Work.pending(w),
          Work.cancel(w),
          Work.cancelSync(w),
          Work.flush(w),
          Work.disable(w),
          Work.disableSync(w),
          Work.enable(w),
          DelayedWork.cancel(d),
          DelayedWork.cancelSync(d),
          DelayedWork.flush(d)
        ] as Array<Effect.Effect<unknown, unknown>>) {
          const exit = yield* Effect.exit(op)
          assert.isTrue(Exit.isFailure(exit) && Cause.hasFails(exit.cause) && !Cause.hasDies(exit.cause), String(exit))
          const error = yield* Effect.flip(op)
          assert.isTrue(WorkqueueError.isWorkqueueError(error), String(error))
          assert.strictEqual((error as WorkqueueError.WorkqueueError).reason, "InvalidArgument")
          assert.match((error as WorkqueueError.WorkqueueError).message, /not a (Delayed)?Work/)
        }
      }
    })
  )
})
