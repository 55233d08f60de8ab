import { assert, describe, it } from "@effect/vitest"
import { DelayedWork, Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { TestWorkqueue, WorkRecorder } from "@effect-workqueue/testing"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

describe("WorkRecorder", () => {
  it.effect("records start and end with virtual time and the worker's CPU", () =>
    Effect.gen(function* () {
      const rec = yield* WorkRecorder.make
      const wq = yield* Workqueue.make("wq")
      yield* Workqueue.queueOn(wq, 1, yield* Work.make(rec.handler("a", Effect.sleep(5))))
      yield* TestWorkqueue.settle()
      assert.deepStrictEqual(yield* rec.trace, ["start a@0/cpu1"])
      yield* TestWorkqueue.advance(5)
      assert.deepStrictEqual(yield* rec.trace, ["start a@0/cpu1", "end a@5/cpu1"])
      const events = yield* rec.events
      assert.strictEqual(events[1]?.outcome, "success")
    }).pipe(Effect.provide(TestWorkqueue.layer()))
  )

  it.effect("records the outcome of failing and dying handlers, and the worker goes on", () =>
    Effect.gen(function* () {
      const rec = yield* WorkRecorder.make
      const wq = yield* Workqueue.makeOrdered("wq")
      yield* Workqueue.queue(wq, yield* Work.make(rec.handler("f", Effect.fail("boom"))))
      yield* Workqueue.queue(wq, yield* Work.make(rec.handler("d", Effect.die("boom"))))
      yield* Workqueue.queue(wq, yield* Work.make(rec.handler("ok")))
      yield* TestWorkqueue.settle()
      const ends = (yield* rec.events).filter((e) => e.kind === "end").map((e) => `${e.name}:${e.outcome}`)
      assert.deepStrictEqual(ends, ["f:failure", "d:defect", "ok:success"])
      assert.deepStrictEqual(yield* rec.starts, ["f", "d", "ok"])
    }).pipe(Effect.provide(TestWorkqueue.layer()))
  )

  it.effect("a gated handler finishes only when the test opens its gate", () =>
    Effect.gen(function* () {
      const rec = yield* WorkRecorder.make
      const gate = yield* WorkRecorder.makeGate
      const wq = yield* Workqueue.make("wq", { maxActive: 1 })
      const a = yield* Work.make(rec.gated("a", gate))
      const b = yield* Work.make(rec.handler("b"))
      yield* Workqueue.queueOn(wq, 0, a)
      yield* Workqueue.queueOn(wq, 0, b)
      yield* TestWorkqueue.settle()
      assert.deepStrictEqual(yield* rec.starts, ["a"], "max_active 1: b waits for a")
      assert.deepStrictEqual(yield* rec.ends, [])
      yield* gate.open
      yield* TestWorkqueue.settle()
      assert.deepStrictEqual(yield* rec.ends, ["a", "b"])
    }).pipe(Effect.provide(TestWorkqueue.layer()))
  )

  it.effect("gates can be closed again; mark and clear work from the test fiber", () =>
    Effect.gen(function* () {
      const rec = yield* WorkRecorder.make
      const gate = yield* WorkRecorder.makeGate
      yield* gate.open
      yield* gate.await
      yield* gate.close
      const waiting = yield* Effect.forkChild(gate.await)
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe())
      yield* gate.open
      yield* Fiber.join(waiting)
      yield* WorkqueueSystem.onCpu(1)(rec.mark("start", "t"))
      assert.deepStrictEqual(yield* rec.trace, ["start t@0/cpu1"])
      yield* rec.clear
      assert.deepStrictEqual(yield* rec.events, [])
    }).pipe(Effect.provide(TestWorkqueue.layer()))
  )
})

describe("TestWorkqueue", () => {
  it.effect("layer defaults to 2 CPUs and accepts options", () =>
    Effect.gen(function* () {
      assert.strictEqual((yield* WorkqueueSystem.snapshot).cpus, 2)
      const three = yield* Effect.provide(WorkqueueSystem.snapshot, TestWorkqueue.layer({ cpus: 3 }), { local: true })
      assert.strictEqual(three.cpus, 3)
    }).pipe(Effect.provide(TestWorkqueue.layer()))
  )

  it.effect("settle runs everything runnable without moving the clock; advance fires timers", () =>
    Effect.gen(function* () {
      const rec = yield* WorkRecorder.make
      const wq = yield* Workqueue.make("wq")
      const dwork = yield* DelayedWork.make(rec.handler("dw"))
      const chain = yield* Work.make(rec.handler("chain"))
      const first = yield* Work.make(rec.handler("first", Effect.asVoid(Workqueue.queue(wq, chain))))
      yield* Workqueue.queueDelayed(wq, dwork, 10)
      yield* Workqueue.queue(wq, first)
      yield* TestWorkqueue.settle()
      assert.deepStrictEqual(yield* rec.ends, ["first", "chain"], "a chained item runs within one settle")
      assert.isTrue(yield* TestWorkqueue.idle)
      assert.isTrue(yield* DelayedWork.pending(dwork), "the clock did not move")
      yield* TestWorkqueue.advance(9)
      assert.isTrue(yield* DelayedWork.pending(dwork))
      yield* TestWorkqueue.advance(1)
      assert.deepStrictEqual(yield* rec.trace, [
        "start first@0/cpu0",
        "end first@0/cpu0",
        "start chain@0/cpu0",
        "end chain@0/cpu0",
        "start dw@10/cpu0",
        "end dw@10/cpu0"
      ])
    }).pipe(Effect.provide(TestWorkqueue.layer()))
  )
})
