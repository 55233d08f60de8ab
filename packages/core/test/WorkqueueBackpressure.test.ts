import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { DelayedWork, Work, Workqueue, WorkqueueError, WorkqueueSystem } from "../src/index.ts"
import { makeGate, makeLogCapture, makeRecorder, settle, systemLayer } from "./utils/recorder.ts"

const layer = systemLayer({ cpus: 2 })

describe("Workqueue friendly options", () => {
  it.effect("named options map to exactly one set of WQ_* flags and max_active", () =>
    Effect.gen(function* () {
      const p = yield* Workqueue.make("p", { concurrency: 4 })
      assert.strictEqual(Workqueue.flags(p) & Workqueue.WQ_UNBOUND, Workqueue.WQ_UNBOUND)
      assert.strictEqual(Workqueue.maxActive(p), 4)
      const o = yield* Workqueue.make("o", { ordered: true, highpri: true })
      const ordered = yield* Workqueue.makeOrdered("o2", { flags: Workqueue.WQ_HIGHPRI })
      assert.strictEqual(Workqueue.flags(o), Workqueue.flags(ordered), "ordered: true is alloc_ordered_workqueue")
      assert.strictEqual(Workqueue.maxActive(o), 1)
      const k = yield* Workqueue.make("k", { flags: Workqueue.WQ_FREEZABLE | Workqueue.WQ_MEM_RECLAIM, maxActive: 3 })
      const f = yield* Workqueue.make("f", { freezable: true, memReclaim: true, maxActive: 3 })
      assert.strictEqual(Workqueue.flags(f), Workqueue.flags(k), "the named form and the bitmask agree")
      const b = yield* Workqueue.make("b", { bh: true, highpri: true })
      assert.strictEqual(Workqueue.flags(b), Workqueue.WQ_BH | Workqueue.WQ_HIGHPRI)
      const percpu = yield* Workqueue.make("c", { unbound: false, cpuIntensive: true })
      assert.strictEqual(Workqueue.flags(percpu), Workqueue.WQ_PERCPU | Workqueue.WQ_CPU_INTENSIVE)
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect("conflicting options fail with InvalidOptions naming the workqueue and the rule", () =>
    Effect.gen(function* () {
      const cases: Array<[Workqueue.Options, string]> = [
        [{ ordered: true, concurrency: 4 }, "one at a time"],
        [{ ordered: true, unbound: false }, "unbound: false"],
        [{ concurrency: 2, unbound: false }, "per CPU"],
        [{ concurrency: 2, maxActive: 3 }, "conflicts with maxActive 3"],
        [{ concurrency: 0 }, "concurrency 0"],
        [{ concurrency: 1.5 }, "concurrency 1.5"],
        [{ unbound: false, flags: Workqueue.WQ_UNBOUND }, "unbound: false conflicts"],
        [{ highpri: "yes" as unknown as boolean }, "must be a boolean"],
        [{ maxPending: 0 }, "maxPending 0"],
        [{ maxPending: Number.NaN }, "maxPending NaN"],
        [{ maxPending: "5" as unknown as number }, 'maxPending "5"'],
        [{ ordered: 1 as unknown as boolean }, "must be a boolean"],
        [{ concurrency: Number.POSITIVE_INFINITY }, "concurrency Infinity"],
        // a named option meaning unbound, against WQ_PERCPU in the bitmask: a contradiction, never a silent pick
        [{ unbound: true, flags: Workqueue.WQ_PERCPU }, "unbound: true conflicts with WQ_PERCPU"],
        [{ concurrency: 2, flags: Workqueue.WQ_PERCPU }, "conflicts with WQ_PERCPU"],
        [{ ordered: true, flags: Workqueue.WQ_PERCPU }, "ordered: true is unbound; it conflicts with WQ_PERCPU"],
        [{ maxPending: -1 }, "maxPending -1"],
        [{ maxPending: 2.5 }, "maxPending 2.5"],
        [{ maxPending: Number.NEGATIVE_INFINITY }, "maxPending -Infinity"],
        [{ concurrency: Symbol("c") as unknown as number }, "concurrency Symbol(c)"]
      ]
      for (const [options, rule] of cases) {
        const error = yield* Effect.flip(Workqueue.make("bad", options))
        assert.strictEqual(error.reason, "InvalidOptions", JSON.stringify(options))
        assert.strictEqual(error.workqueue, "bad")
        assert.include(error.message, rule)
      }
      // the kernel's own rule still applies to the named form
      const bh = yield* Effect.flip(Workqueue.make("bh", { bh: true, unbound: true }))
      assert.strictEqual(bh.reason, "InvalidFlags")
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect(
    "options that are not an object (null, a number, a string, an array, a function) fail with InvalidOptions",
    () =>
      Effect.gen(function* () {
        for (const options of [null, 42, "x", [], () => 1, true, Symbol("o")] as Array<unknown>) {
          for (const make of [
            () => Workqueue.make("opts", options as Workqueue.Options),
            () => Workqueue.makeOrdered("opts", options as { flags?: number })
          ]) {
            const exit = yield* Effect.exit(make())
            assert.isTrue(
              Exit.isFailure(exit) && Cause.hasFails(exit.cause) && !Cause.hasDies(exit.cause),
              String(exit)
            )
            const error = yield* Effect.flip(make())
            assert.strictEqual(error.reason, "InvalidOptions", String(options))
            assert.strictEqual(error.workqueue, "opts")
            assert.include(error.message, "options must be a plain object")
          }
        }
        assert.lengthOf(
          (yield* WorkqueueSystem.workqueues).filter((wq) => Workqueue.name(wq) === "opts"),
          0,
          "nothing was allocated"
        )
      }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect(
    "WQ_UNBOUND | WQ_PERCPU in the bitmask: warned once per system, WQ_PERCPU dropped (the kernel's WARN)",
    () => {
      const logs = makeLogCapture()
      return Effect.gen(function* () {
        const both = Workqueue.WQ_UNBOUND | Workqueue.WQ_PERCPU
        const a = yield* Workqueue.make("both-a", { flags: both })
        const b = yield* Workqueue.make("both-b", { flags: both | Workqueue.WQ_HIGHPRI })
        const c = yield* Workqueue.makeOrdered("both-c", { flags: Workqueue.WQ_PERCPU })
        for (const wq of [a, b, c]) {
          assert.strictEqual(Workqueue.flags(wq) & Workqueue.WQ_PERCPU, 0, `${Workqueue.name(wq)}: WQ_PERCPU dropped`)
          assert.strictEqual(Workqueue.flags(wq) & Workqueue.WQ_UNBOUND, Workqueue.WQ_UNBOUND, "it is unbound")
        }
        yield* settle()
        const warnings = logs.lines.filter((l) => l.level === "Warn" && l.message.includes("WQ_PERCPU"))
        assert.lengthOf(warnings, 1, logs.text())
        assert.include(warnings[0]!.message, "WQ_UNBOUND and WQ_PERCPU both requested for both-a; dropping WQ_PERCPU")
        // the named complement alone, and the bitmask WQ_PERCPU alone, warn nothing
        yield* Workqueue.make("percpu-only", { flags: Workqueue.WQ_PERCPU })
        yield* Workqueue.make("named-percpu", { unbound: false })
        yield* settle()
        assert.lengthOf(
          logs.lines.filter((l) => l.level === "Warn" && l.message.includes("WQ_PERCPU")),
          1,
          logs.text()
        )
      }).pipe(Effect.scoped, Effect.provide(layer), Effect.provide(logs.layer))
    }
  )

  it.effect("maxPending: Infinity is accepted and means no bound, as leaving it out does", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("unbounded", { concurrency: 1, maxPending: Number.POSITIVE_INFINITY })
      assert.strictEqual(Workqueue.maxPending(wq), Number.POSITIVE_INFINITY)
      assert.strictEqual(Workqueue.maxPending(yield* Workqueue.make("default")), Number.POSITIVE_INFINITY)
      const gate = yield* makeGate
      yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
      yield* settle() // the gated item runs: it is no longer pending
      for (let i = 0; i < 100; i++) assert.isTrue(yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void)))
      assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 100, "never QueueFull")
      yield* gate.open
      yield* Workqueue.flush(wq)
    }).pipe(Effect.scoped, Effect.provide(layer))
  )
})

describe("Workqueue backpressure (maxPending)", () => {
  it.effect("queueing past maxPending fails with QueueFull; running items do not count", () =>
    Effect.gen(function* () {
      const gate = yield* makeGate
      const wq = yield* Workqueue.make("payments", { concurrency: 1, maxPending: 2 })
      const running = yield* Work.make(() => gate.await)
      yield* Workqueue.queue(wq, running)
      yield* settle()
      assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0, "a running item is not pending")
      const a = yield* Work.make(() => Effect.void)
      const b = yield* Work.make(() => Effect.void)
      const c = yield* Work.make(() => Effect.void)
      assert.isTrue(yield* Workqueue.queue(wq, a))
      assert.isTrue(yield* Workqueue.queue(wq, b), "the bound itself is allowed")
      assert.isFalse(yield* Workqueue.queue(wq, a), "already pending: false, not QueueFull")
      const full = yield* Effect.flip(Workqueue.queue(wq, c))
      assert.strictEqual(full.reason, "QueueFull")
      assert.strictEqual(full.workqueue, "payments")
      assert.include(full.message, "maxPending 2")
      assert.isFalse(Work.pendingUnsafe(c), "nothing changed for the refused item")
      // a cancel makes room at once
      assert.isTrue(yield* Work.cancel(b))
      assert.isTrue(yield* Workqueue.queue(wq, c))
      yield* gate.open
      yield* Workqueue.flush(wq)
      assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0)
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect("armed delayed items count; their expiry is never refused; modDelayed of a pending item adds nothing", () =>
    Effect.gen(function* () {
      const rec = yield* makeRecorder
      const wq = yield* Workqueue.make("later", { maxPending: 2 })
      const d1 = yield* DelayedWork.make(rec.handler("d1"))
      const d2 = yield* DelayedWork.make(rec.handler("d2"))
      assert.isTrue(yield* Workqueue.queueDelayed(wq, d1, 100))
      assert.isTrue(yield* Workqueue.queueDelayed(wq, d2, 100))
      assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 2)
      assert.isTrue(yield* Workqueue.modDelayed(wq, d1, 50), "re-arming a pending item is not a new pending item")
      const d3 = yield* DelayedWork.make(rec.handler("d3"))
      assert.strictEqual((yield* Effect.flip(Workqueue.queueDelayed(wq, d3, 10))).reason, "QueueFull")
      assert.strictEqual((yield* Effect.flip(Workqueue.modDelayed(wq, d3, 10))).reason, "QueueFull")
      yield* TestClock.adjust(100)
      yield* settle()
      assert.deepStrictEqual(yield* rec.starts, ["d1", "d2"])
      assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0)
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect("modDelayed moving a pending item to another workqueue meets the target's maxPending", () =>
    Effect.gen(function* () {
      const rec = yield* makeRecorder
      const a = yield* Workqueue.make("move-a", { maxPending: 1 })
      const b = yield* Workqueue.make("move-b", { maxPending: 1 })
      const d1 = yield* DelayedWork.make(rec.handler("d1"))
      const d2 = yield* DelayedWork.make(rec.handler("d2"))
      assert.isTrue(yield* Workqueue.queueDelayed(a, d1, 100))
      assert.isTrue(yield* Workqueue.queueDelayed(b, d2, 100))
      // armed on a, b is full: the move is refused and d1 stays armed on a
      assert.strictEqual((yield* Effect.flip(Workqueue.modDelayed(b, d1, 50))).reason, "QueueFull")
      assert.strictEqual(Workqueue.pendingCountUnsafe(a), 1)
      assert.strictEqual(Workqueue.pendingCountUnsafe(b), 1)
      // queued (not armed) on a: same rule
      assert.isTrue(yield* Workqueue.modDelayed(a, d1, 0))
      assert.strictEqual((yield* Effect.flip(Workqueue.modDelayed(b, d1, 50))).reason, "QueueFull")
      assert.strictEqual(Workqueue.pendingCountUnsafe(b), 1)
      yield* TestClock.adjust(100)
      yield* settle()
      assert.deepStrictEqual((yield* rec.starts).toSorted(), ["d1", "d2"], "the refused move lost nothing")
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect("queueWait waits for room, first come first served, and an interrupted waiter queues nothing", () =>
    Effect.gen(function* () {
      const rec = yield* makeRecorder
      const gate = yield* makeGate
      const wq = yield* Workqueue.make("bounded", { concurrency: 1, maxPending: 1 })
      yield* Workqueue.queue(wq, yield* Work.make(rec.handler("head", gate.await)))
      yield* settle()
      yield* Workqueue.queue(wq, yield* Work.make(rec.handler("p0")))
      const items = yield* Effect.forEach(["w1", "w2", "w3"], (n) => Work.make(rec.handler(n)))
      const waiters = []
      for (const item of items) {
        waiters.push(yield* Effect.forkChild(Workqueue.queueWait(wq, item), { startImmediately: true }))
      }
      yield* settle()
      assert.isTrue(
        waiters.every((f) => f.pollUnsafe() === undefined),
        "all three wait at the bound"
      )
      yield* Fiber.interrupt(waiters[1]!)
      yield* gate.open
      assert.isTrue(yield* Fiber.join(waiters[0]!))
      assert.isTrue(yield* Fiber.join(waiters[2]!))
      yield* Workqueue.flush(wq)
      assert.deepStrictEqual(yield* rec.starts, ["head", "p0", "w1", "w3"], "FIFO; the interrupted one never queued")
      assert.isFalse(Work.pendingUnsafe(items[1]!))
      assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0)
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect("a waiter interrupted right after its wake-up passes the room on to the next waiter", () =>
    Effect.gen(function* () {
      const gate = yield* makeGate
      const wq = yield* Workqueue.make("handoff", { concurrency: 1, maxPending: 1 })
      yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
      yield* settle()
      const p0 = yield* Work.make(() => Effect.void)
      yield* Workqueue.queue(wq, p0)
      const w1 = yield* Effect.forkChild(Workqueue.queueWait(wq, yield* Work.make(() => Effect.void)), {
        startImmediately: true
      })
      const w2item = yield* Work.make(() => Effect.void)
      const w2 = yield* Effect.forkChild(Workqueue.queueWait(wq, w2item), { startImmediately: true })
      yield* settle()
      // one synchronous step: the cancel wakes w1, and w1 is interrupted before it can use the room
      Work.cancelUnsafe(p0)
      w1.interruptUnsafe()
      yield* settle()
      assert.isTrue(yield* Fiber.join(w2), "w2 got the room nobody else will free (the gate is still closed)")
      assert.isTrue(Work.pendingUnsafe(w2item))
      yield* gate.open
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect("a plain queue never takes the room just freed for a woken waiter: it fails with QueueFull", () =>
    Effect.gen(function* () {
      const gate = yield* makeGate
      const wq = yield* Workqueue.make("reserved", { concurrency: 1, maxPending: 1 })
      yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
      yield* settle()
      const p0 = yield* Work.make(() => Effect.void)
      yield* Workqueue.queue(wq, p0)
      const waiterItem = yield* Work.make(() => Effect.void)
      const waiter = yield* Effect.forkChild(Workqueue.queueWait(wq, waiterItem), { startImmediately: true })
      yield* settle()
      const item = yield* Work.make(() => Effect.void)
      Work.cancelUnsafe(p0) // room opens: the waiter is woken, the room reserved for it
      const newcomer = yield* Effect.flip(Workqueue.queue(wq, item)) // same fiber, no yield in between
      assert.strictEqual(newcomer.reason, "QueueFull")
      assert.isTrue(yield* Fiber.join(waiter))
      assert.isTrue(Work.pendingUnsafe(waiterItem))
      yield* gate.open
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect("callers waiting for room when the workqueue is destroyed fail with a typed error, none hangs", () =>
    Effect.gen(function* () {
      const gate = yield* makeGate
      const scope = yield* Scope.make()
      const wq = yield* Workqueue.make("doomed", { concurrency: 1, maxPending: 1 }).pipe(Scope.provide(scope))
      yield* Workqueue.queue(wq, yield* Work.make(() => gate.await))
      yield* settle()
      yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
      const waiters = []
      for (let i = 0; i < 3; i++) {
        const item = yield* Work.make(() => Effect.void)
        waiters.push(yield* Effect.forkChild(Effect.flip(Workqueue.queueWait(wq, item)), { startImmediately: true }))
      }
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void), { startImmediately: true })
      yield* gate.open
      yield* Fiber.join(closing)
      for (const waiter of waiters) {
        const error = yield* Fiber.join(waiter)
        assert.include(["Draining", "Destroyed"], error.reason)
      }
    }).pipe(Effect.provide(layer))
  )

  it.effect("1000 waiters on maxPending 1 all get queued, in order (callback list, no Semaphore)", () =>
    Effect.gen(function* () {
      const order: Array<number> = []
      const wq = yield* Workqueue.make("many", { concurrency: 1, maxPending: 1 })
      const fibers = []
      for (let i = 0; i < 1000; i++) {
        const work = yield* Work.make(() => Effect.sync(() => order.push(i)))
        fibers.push(yield* Effect.forkChild(Workqueue.queueWait(wq, work), { startImmediately: true }))
      }
      for (const f of fibers) assert.isTrue(yield* Fiber.join(f))
      yield* Workqueue.flush(wq)
      assert.strictEqual(order.length, 1000)
      assert.deepStrictEqual(
        order,
        Array.from({ length: 1000 }, (_, i) => i)
      )
    }).pipe(Effect.scoped, Effect.provide(layer))
  )
})

describe("Workqueue outcomes", () => {
  it.effect("modDelayedOutcome says Armed, Rearmed, or Refused as Disabled / Cancelling", () =>
    Effect.gen(function* () {
      const gate = yield* makeGate
      const wq = yield* Workqueue.make("debounce")
      const dwork = yield* DelayedWork.make(() => gate.await)
      assert.strictEqual((yield* Workqueue.modDelayedOutcome(wq, dwork, 10))._tag, "Armed")
      assert.strictEqual((yield* Workqueue.modDelayedOutcome(wq, dwork, 10))._tag, "Rearmed")
      yield* TestClock.adjust(10)
      yield* settle()
      // running: a cancelSync in progress refuses every queue attempt
      const canceller = yield* Effect.forkChild(DelayedWork.cancelSync(dwork), { startImmediately: true })
      const refused = yield* Workqueue.modDelayedOutcome(wq, dwork, 10)
      assert.deepStrictEqual(refused, { _tag: "Refused", reason: "Cancelling" })
      assert.deepStrictEqual(yield* Workqueue.queueOutcome(wq, dwork), { _tag: "Refused", reason: "Cancelling" })
      yield* gate.open
      yield* Fiber.join(canceller)
      yield* Work.disable(dwork)
      assert.deepStrictEqual(yield* Workqueue.modDelayedOutcome(wq, dwork, 10), { _tag: "Refused", reason: "Disabled" })
      // the kernel-shaped boolean says false for both Armed and Refused
      yield* Work.enable(dwork)
      const other = yield* DelayedWork.make(() => Effect.void)
      assert.isFalse(yield* Workqueue.modDelayed(wq, other, 10))
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect("queueOutcome says Queued, AlreadyPending, Refused", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("w")
      const work = yield* Work.make(() => Effect.void)
      assert.strictEqual((yield* Workqueue.queueOutcome(wq, work))._tag, "Queued")
      assert.strictEqual((yield* Workqueue.queueOutcome(wq, work))._tag, "AlreadyPending")
      yield* Workqueue.flush(wq)
      yield* Work.disable(work)
      assert.deepStrictEqual(yield* Workqueue.queueOutcome(wq, work), { _tag: "Refused", reason: "Disabled" })
    }).pipe(Effect.scoped, Effect.provide(layer))
  )
})

class PaymentDeclined extends Schema.TaggedError<PaymentDeclined>()("PaymentDeclined", {
  orderId: Schema.String,
  amount: Schema.Number
}) {}

describe("Workqueue failure logs", () => {
  it.effect("a failed item's log carries the failure's tag and fields, annotated with work and workqueue", () => {
    const logs = makeLogCapture()
    return Effect.gen(function* () {
      const wq = yield* Workqueue.make("payments")
      const work = yield* Work.make(() => Effect.fail(new PaymentDeclined({ orderId: "o-1", amount: 12 })), {
        name: "charge:o-1"
      })
      yield* Workqueue.queue(wq, work)
      yield* Workqueue.flush(wq)
      const line = logs.lines.find((l) => l.message.includes("charge:o-1"))
      assert.isDefined(line, logs.text())
      assert.include(
        line!.message,
        'work item "charge:o-1" on "payments" failed: PaymentDeclined {"orderId":"o-1","amount":12}'
      )
      assert.strictEqual(line!.annotations.workqueue, "payments")
      assert.strictEqual(line!.annotations.work, "charge:o-1")
      assert.include(String(line!.annotations.failure), '"orderId":"o-1"')
      assert.isTrue(
        WorkqueueError.isWorkqueueError(
          new WorkqueueError.WorkqueueError({ reason: "QueueFull", workqueue: "x", message: "y" })
        )
      )
    }).pipe(Effect.scoped, Effect.provide(layer), Effect.provide(logs.layer))
  })
})

describe("Workqueue pending count (seeded random operations)", () => {
  it.effect("pendingCount always equals the items whose PENDING bit is set, and never exceeds maxPending", () =>
    Effect.gen(function* () {
      let seed = 12345
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        return seed % n
      }
      const wq = yield* Workqueue.make("random", { maxActive: 2, maxPending: 5 })
      const items: Array<DelayedWork.DelayedWork> = []
      for (let i = 0; i < 12; i++) items.push(yield* DelayedWork.make(() => Effect.sleep(random(3) * 5)))
      for (let step = 0; step < 3000; step++) {
        const item = items[random(items.length)]!
        const op = random(8)
        const result = yield* Effect.result(
          op === 0
            ? Workqueue.queue(wq, item)
            : op === 1
              ? Workqueue.queueDelayed(wq, item, random(20))
              : op === 2
                ? Workqueue.modDelayed(wq, item, random(20))
                : op === 3
                  ? Effect.as(DelayedWork.cancel(item), true)
                  : op === 4
                    ? Effect.as(Work.disable(item), true)
                    : op === 5
                      ? Effect.as(Work.enable(item), true)
                      : op === 6
                        ? Effect.as(TestClock.adjust(random(10)), true)
                        : Effect.as(settle(random(4)), true)
        )
        if (result._tag === "Failure") assert.strictEqual(result.failure.reason, "QueueFull")
        const pending = items.filter((w) => Work.pendingUnsafe(w)).length
        assert.strictEqual(Workqueue.pendingCountUnsafe(wq), pending, `step ${step}`)
        assert.isAtMost(pending, 5, `step ${step}`)
      }
      for (const item of items) {
        yield* Work.enable(item)
        yield* Work.enable(item)
      }
      yield* TestClock.adjust(100)
      yield* Workqueue.flush(wq)
      assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0)
    }).pipe(Effect.scoped, Effect.provide(layer))
  )
})
