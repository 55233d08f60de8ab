import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import * as Schedule from "effect/Schedule"
import { DelayedWork, Job, Work, Workqueue, WorkqueueError, WorkqueueSystem } from "../src/index.ts"
import { makeGate, settle, systemLayer, withSystemClosedOnSuccess } from "./utils/recorder.ts"

/** Asserts the error is a `WorkqueueError` for `reason` that names workqueue `name` in its field and message. */
const assertRule = (error: unknown, reason: WorkqueueError.Reason, name: string) => {
  assert.isTrue(WorkqueueError.isWorkqueueError(error), String(error))
  const e = error as WorkqueueError.WorkqueueError
  assert.strictEqual(e._tag, "WorkqueueError")
  assert.strictEqual(e.reason, reason, e.message)
  assert.strictEqual(e.workqueue, name)
  assert.include(e.message, `workqueue "${name}"`)
}

/** Runs `f` inside a handler of `wq` and returns the error it failed with (or undefined). */
const failureInHandler = <E, R>(wq: Workqueue.Workqueue, f: (self: Work.Work) => Effect.Effect<unknown, E, R>) =>
  Effect.gen(function* () {
    let failure: E | undefined
    let ran = false
    const work = yield* Work.make((self) =>
      Effect.gen(function* () {
        ran = true
        const exit = yield* Effect.flip(f(self))
        failure = exit
      })
    )
    yield* Workqueue.queue(wq, work)
    yield* settle()
    assert.isTrue(ran, "the handler ran (and did not hang)")
    return failure
  })

describe("WorkqueueError", () => {
  it.effect(
    "queueing on a destroyed workqueue fails with Destroyed and leaves the item not pending (destroy_workqueue)",
    () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("gone")
        yield* Workqueue.destroy(wq)
        const work = yield* Work.make(() => Effect.void)
        const dwork = yield* DelayedWork.make(() => Effect.void)
        assertRule(yield* Effect.flip(Workqueue.queue(wq, work)), "Destroyed", "gone")
        assertRule(yield* Effect.flip(Workqueue.queueOn(wq, 1, work)), "Destroyed", "gone")
        assertRule(yield* Effect.flip(Workqueue.queueDelayed(wq, dwork, 10)), "Destroyed", "gone")
        assertRule(yield* Effect.flip(Workqueue.queueDelayed(wq, dwork, 0)), "Destroyed", "gone")
        assertRule(yield* Effect.flip(Workqueue.modDelayed(wq, dwork, 10)), "Destroyed", "gone")
        assert.isFalse(yield* Work.pending(work))
        assert.isFalse(yield* DelayedWork.pending(dwork))
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
  )

  it.effect(
    "queueing from outside on a draining or being-destroyed workqueue fails with Draining (drain_workqueue)",
    () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const draining = yield* Workqueue.make("draining")
        const destroying = yield* Workqueue.make("destroying")
        yield* Workqueue.queue(draining, yield* Work.make(() => gate.await))
        yield* Workqueue.queue(destroying, yield* Work.make(() => gate.await))
        yield* settle()
        const drainer = yield* Effect.forkChild(Workqueue.drain(draining))
        const destroyer = yield* Effect.forkChild(Workqueue.destroy(destroying))
        yield* settle()
        const work = yield* Work.make(() => Effect.void)
        const dwork = yield* DelayedWork.make(() => Effect.void)
        assertRule(yield* Effect.flip(Workqueue.queue(draining, work)), "Draining", "draining")
        assertRule(yield* Effect.flip(Workqueue.queueDelayed(draining, dwork, 5)), "Draining", "draining")
        assertRule(yield* Effect.flip(Workqueue.modDelayed(draining, dwork, 5)), "Draining", "draining")
        assertRule(yield* Effect.flip(Workqueue.queue(destroying, work)), "Draining", "destroying")
        assert.isFalse(yield* Work.pending(work))
        assert.isFalse(yield* DelayedWork.pending(dwork))
        yield* gate.open
        yield* Fiber.join(drainer)
        yield* Fiber.join(destroyer)
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
  )

  it.effect.each([
    ["WQ_UNBOUND", Workqueue.WQ_UNBOUND],
    ["WQ_FREEZABLE", Workqueue.WQ_FREEZABLE],
    ["WQ_MEM_RECLAIM", Workqueue.WQ_MEM_RECLAIM],
    ["WQ_CPU_INTENSIVE", Workqueue.WQ_CPU_INTENSIVE],
    ["WQ_SYSFS", Workqueue.WQ_SYSFS],
    ["WQ_POWER_EFFICIENT", Workqueue.WQ_POWER_EFFICIENT]
  ] as const)("WQ_BH | %s fails with InvalidFlags (alloc_workqueue)", ([, flag]) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Workqueue.make("bh_bad", { flags: Workqueue.WQ_BH | flag }))
      assertRule(error, "InvalidFlags", "bh_bad")
      const snap = yield* WorkqueueSystem.snapshot
      assert.isUndefined(
        snap.workqueues.find((w) => w.name === "bh_bad"),
        "nothing was allocated"
      )
    }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
  )

  it.effect(
    "WQ_BH with a non-zero max_active, or ordered, fails with InvalidFlags; WQ_BH | WQ_HIGHPRI is fine (alloc_workqueue)",
    () =>
      Effect.gen(function* () {
        assertRule(
          yield* Effect.flip(Workqueue.make("bh_max", { flags: Workqueue.WQ_BH, maxActive: 1 })),
          "InvalidFlags",
          "bh_max"
        )
        assertRule(
          yield* Effect.flip(Workqueue.makeOrdered("bh_ordered", { flags: Workqueue.WQ_BH })),
          "InvalidFlags",
          "bh_ordered"
        )
        const ok = yield* Workqueue.make("bh_hi", { flags: Workqueue.WQ_BH | Workqueue.WQ_HIGHPRI })
        assert.strictEqual(Workqueue.name(ok), "bh_hi")
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
  )

  it.effect("a CPU outside 0..cpus-1 fails with InvalidCpu and changes nothing (queue_work_on)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("cpus")
      const work = yield* Work.make(() => Effect.void)
      const dwork = yield* DelayedWork.make(() => Effect.void)
      for (const cpu of [-1, 4, 1.5, Number.NaN]) {
        assertRule(yield* Effect.flip(Workqueue.queueOn(wq, cpu, work)), "InvalidCpu", "cpus")
        assertRule(yield* Effect.flip(Workqueue.queueDelayedOn(wq, cpu, dwork, 10)), "InvalidCpu", "cpus")
        assertRule(yield* Effect.flip(Workqueue.modDelayedOn(wq, cpu, dwork, 10)), "InvalidCpu", "cpus")
      }
      assertRule(yield* Effect.flip(WorkqueueSystem.scheduleOn(9, work)), "InvalidCpu", "events")
      assertRule(yield* Effect.flip(WorkqueueSystem.scheduleDelayedOn(9, dwork, 1)), "InvalidCpu", "events")
      assert.isFalse(yield* Work.pending(work))
      assert.isFalse(yield* DelayedWork.pending(dwork))
    }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
  )

  it.effect(
    "queueing from a fiber onCpu(n) with n outside 0..cpus-1 fails with InvalidCpu and leaves nothing pending (queue_work)",
    () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("oncpu")
        const work = yield* Work.make(() => Effect.void)
        const dwork = yield* DelayedWork.make(() => Effect.void)
        const exit = yield* Effect.exit(WorkqueueSystem.onCpu(7)(Workqueue.queue(wq, work)))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasFails(exit.cause), `a typed failure, got ${String(exit)}`)
        assertRule(yield* Effect.flip(WorkqueueSystem.onCpu(7)(Workqueue.queue(wq, work))), "InvalidCpu", "oncpu")
        assert.isFalse(yield* Work.pending(work), "nothing left pending")
        assertRule(
          yield* Effect.flip(WorkqueueSystem.onCpu(4)(Workqueue.queueDelayed(wq, dwork, 10))),
          "InvalidCpu",
          "oncpu"
        )
        assert.isFalse(yield* DelayedWork.pending(dwork))
        yield* Workqueue.flush(wq)
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
  )

  it.effect("a NaN or infinite delay fails with InvalidDelay and arms nothing (queue_delayed_work_on)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("delays")
      const dwork = yield* DelayedWork.make(() => Effect.void)
      for (const delay of [Number.NaN, Infinity, -Infinity, Duration.infinity]) {
        assertRule(yield* Effect.flip(Workqueue.queueDelayed(wq, dwork, delay)), "InvalidDelay", "delays")
        assertRule(yield* Effect.flip(Workqueue.modDelayed(wq, dwork, delay)), "InvalidDelay", "delays")
      }
      assert.isFalse(yield* DelayedWork.pending(dwork))
      const snap = yield* WorkqueueSystem.snapshot
      assert.strictEqual(snap.workqueues.find((w) => w.name === "delays")!.armed, 0)
    }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
  )

  it.effect("a refused value is shown short: a 1 MB string or key is cut, a function by its name, not its source", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("short-messages")
      const dwork = yield* DelayedWork.make(() => Effect.void)
      const huge = "z".repeat(1_000_000)
      const secret = function leak() {
        return "source text"
      }
      for (const delay of [huge, { [huge]: Number.NaN }, { seconds: secret }, secret] as Array<unknown>) {
        const e = yield* Effect.flip(Workqueue.queueDelayed(wq, dwork, delay as Duration.Input))
        assertRule(e, "InvalidDelay", "short-messages")
        assert.isBelow(e.message.length, 400, `a ${e.message.length}-character message`)
        assert.notInclude(e.message, "source text")
      }
      const e = yield* Effect.flip(Workqueue.queueDelayed(wq, dwork, secret as unknown as Duration.Input))
      assert.include(e.message, "function leak")
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect("a duration object or pair with a NaN in it fails with InvalidDelay, never a shorter delay", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("nan-fields")
      const dwork = yield* DelayedWork.make(() => Effect.void)
      // Effect skips a NaN field and reads a pair with a NaN as 0: `{ seconds: NaN }` ran at once, and
      // `{ seconds: 1, milliseconds: NaN }` as 1 s
      const cases: Array<[Duration.Input, string]> = [
        [{ seconds: Number.NaN }, "{ seconds: NaN }"],
        [{ seconds: 1, milliseconds: Number.NaN }, "{ seconds: 1, milliseconds: NaN }"],
        [[Number.NaN, 0], "[NaN, 0]"],
        [[1, Number.NaN], "[1, NaN]"],
        // every field a number, the total NaN: Effect reads it as 0
        [{ seconds: Infinity, milliseconds: -Infinity }, "{ seconds: Infinity, milliseconds: -Infinity }"],
        [{ weeks: 1e304, hours: -1e304 }, "{ weeks: 1e+304, hours: -1e+304 }"],
        [[Infinity, -Infinity], "[Infinity, -Infinity]"],
        // holes: Effect's check skips them, and its total is NaN, read as 0
        // oxlint-disable-next-line no-sparse-arrays
        [[, 1] as unknown as Duration.Input, "[, 1]"],
        [new Array(2) as unknown as Duration.Input, "[, ]"]
      ]
      for (const [delay, shown] of cases) {
        for (const e of [
          yield* Effect.flip(Workqueue.queueDelayed(wq, dwork, delay)),
          yield* Effect.flip(Workqueue.modDelayed(wq, dwork, delay)),
          yield* Effect.flip(Job.submit(wq, Effect.void, { delay }))
        ]) {
          assertRule(e, "InvalidDelay", "nan-fields")
          assert.include(e.message, shown)
        }
        assert.throws(() => Workqueue.queueDelayedUnsafe(wq, dwork, delay), /InvalidDelay|not a finite duration/)
      }
      assert.isFalse(yield* DelayedWork.pending(dwork))
      // the same fields without the NaN are durations
      assert.isTrue(yield* Workqueue.queueDelayed(wq, dwork, { seconds: 1 }))
      assert.isTrue(yield* DelayedWork.cancel(dwork))
      // a field is read once: a getter that would say NaN the second time is the duration it said the first
      let reads = 0
      const fickle = {
        get seconds() {
          return ++reads === 1 ? 1 : Number.NaN
        }
      }
      assert.isTrue(yield* Workqueue.queueDelayed(wq, dwork, fickle))
      assert.strictEqual(reads, 1)
      assert.isTrue(yield* DelayedWork.cancel(dwork))
    }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
  )

  describe("Deadlock", () => {
    it.effect(
      "a handler flushing, draining or destroying its own workqueue fails with Deadlock (flush_workqueue, lockdep)",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("self")
          assertRule(yield* failureInHandler(wq, () => Workqueue.flush(wq)), "Deadlock", "self")
          assertRule(yield* failureInHandler(wq, () => Workqueue.drain(wq)), "Deadlock", "self")
          assertRule(yield* failureInHandler(wq, () => Workqueue.destroy(wq)), "Deadlock", "self")
          const events = yield* WorkqueueSystem.systemWq
          assertRule(yield* failureInHandler(events, () => WorkqueueSystem.flushScheduled), "Deadlock", "events")
          assert.isTrue(
            yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void)),
            "the workqueue is still usable"
          )
          yield* settle()
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "an item flushing or cancel-syncing itself from its handler fails with Deadlock (flush_work, cancel_work_sync)",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("itself")
          assertRule(yield* failureInHandler(wq, (self) => Work.flush(self)), "Deadlock", "itself")
          assertRule(yield* failureInHandler(wq, (self) => Work.cancelSync(self)), "Deadlock", "itself")
          assertRule(yield* failureInHandler(wq, (self) => Work.disableSync(self)), "Deadlock", "itself")
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("a delayed item flushing itself from its handler fails with Deadlock (flush_delayed_work)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("delayed_self")
        let failure: unknown
        const dwork = yield* DelayedWork.make((self) =>
          Effect.gen(function* () {
            failure = yield* Effect.flip(DelayedWork.flush(self))
          })
        )
        yield* Workqueue.queueDelayed(wq, dwork, 5)
        yield* TestClock.adjust(5)
        yield* settle()
        assertRule(failure, "Deadlock", "delayed_self")
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "on an ordered workqueue, a handler flushing an item queued behind it fails with Deadlock (flush_work, lockdep)",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.makeOrdered("ordered")
          const behind = yield* Work.make(() => Effect.void)
          let failure: unknown
          const front = yield* Work.make(() =>
            Effect.gen(function* () {
              yield* Workqueue.queue(wq, behind)
              failure = yield* Effect.flip(Work.flush(behind))
            })
          )
          yield* Workqueue.queue(wq, front)
          yield* settle()
          assertRule(failure, "Deadlock", "ordered")
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("a handler flushing another workqueue or another item is not a deadlock (flush_workqueue)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("a")
        const other = yield* Workqueue.make("b")
        const sibling = yield* Work.make(() => Effect.void)
        let result: ReadonlyArray<unknown> | undefined
        const work = yield* Work.make(() =>
          Effect.gen(function* () {
            yield* Workqueue.queue(other, sibling)
            const waited = yield* Work.flush(sibling)
            yield* Workqueue.flush(other)
            result = [waited]
          })
        )
        yield* Workqueue.queue(wq, work)
        yield* settle()
        assert.deepStrictEqual(result, [true])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )
  })

  it("isWorkqueueError recognises only WorkqueueError values (errors)", () => {
    const e = new WorkqueueError.WorkqueueError({ reason: "Destroyed", workqueue: "x", message: 'workqueue "x": gone' })
    assert.isTrue(WorkqueueError.isWorkqueueError(e))
    assert.isFalse(WorkqueueError.isWorkqueueError(new Error("nope")))
    assert.isFalse(WorkqueueError.isWorkqueueError({ _tag: "Other" }))
  })

  it.effect("onCpu with a negative or fractional CPU fails queueing with InvalidCpu (raw_smp_processor_id)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("bad_cpu")
      const work = yield* Work.make(() => Effect.void)
      for (const cpu of [-2, 1.5, Number.NaN]) {
        const error = yield* Effect.flip(WorkqueueSystem.onCpu(cpu)(Workqueue.queue(wq, work)))
        assert.strictEqual(error.reason, "InvalidCpu")
        assert.strictEqual(error.workqueue, "bad_cpu")
        assert.isFalse(yield* Work.pending(work))
      }
    }).pipe(Effect.provide(systemLayer({ cpus: 2 })))
  )
})

describe("WorkqueueError: input validation (alloc_workqueue, workqueue_set_max_active)", () => {
  const cases: ReadonlyArray<readonly [string, unknown]> = [
    ["the internal __WQ_ORDERED bit", 1 << 17],
    ["the internal __WQ_DESTROYING bit", 1 << 15],
    ["the internal __WQ_LEGACY bit", 1 << 18],
    ["an undefined high bit", 1 << 30],
    ["a bit above 32 bits", 2 ** 40],
    ["NaN", Number.NaN],
    ["1.5 (which would act as WQ_BH)", 1.5],
    ["a negative number", -1],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["a numeric string", "1"],
    ["an object", {}]
  ]
  for (const [what, flags] of cases) {
    it.effect(`flags with ${what} fail with InvalidFlags and allocate nothing (alloc_workqueue)`, () =>
      Effect.gen(function* () {
        const before = (yield* WorkqueueSystem.workqueues).length
        assertRule(
          yield* Effect.flip(Effect.scoped(Workqueue.make("flagged", { flags: flags as number }))),
          "InvalidFlags",
          "flagged"
        )
        assertRule(
          yield* Effect.flip(Effect.scoped(Workqueue.makeOrdered("ordered_flagged", { flags: flags as number }))),
          "InvalidFlags",
          "ordered_flagged"
        )
        assert.strictEqual((yield* WorkqueueSystem.workqueues).length, before)
      }).pipe(Effect.provide(systemLayer({ cpus: 2 })))
    )
  }

  it.effect("every public WQ_* flag is still accepted (alloc_workqueue)", () =>
    Effect.gen(function* () {
      for (const flags of [
        Workqueue.WQ_UNBOUND | Workqueue.WQ_FREEZABLE | Workqueue.WQ_MEM_RECLAIM | Workqueue.WQ_HIGHPRI,
        Workqueue.WQ_CPU_INTENSIVE | Workqueue.WQ_SYSFS | Workqueue.WQ_POWER_EFFICIENT | Workqueue.WQ_PERCPU,
        Workqueue.WQ_BH | Workqueue.WQ_HIGHPRI
      ]) {
        const wq = yield* Effect.scoped(Workqueue.make("ok_flags", { flags }))
        assert.isTrue(Workqueue.isWorkqueue(wq))
      }
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("a per-CPU queue cannot be made 'ordered' by the internal bit: setMaxActive still applies", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Workqueue.make("sneaky", { flags: Workqueue.WQ_PERCPU | (1 << 17) }))
      assert.isTrue(Exit.isFailure(exit))
      const wq = yield* Workqueue.make("honest", { flags: Workqueue.WQ_PERCPU })
      yield* Workqueue.setMaxActive(wq, 3)
      assert.strictEqual(Workqueue.maxActive(wq), 3)
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("a maxActive that is not an integer fails with InvalidMaxActive (wq_clamp_max_active)", () =>
    Effect.gen(function* () {
      for (const maxActive of [Number.NaN, 1.5, Number.POSITIVE_INFINITY, "4", {}] as Array<unknown>) {
        assertRule(
          yield* Effect.flip(Effect.scoped(Workqueue.make("limited", { maxActive: maxActive as number }))),
          "InvalidMaxActive",
          "limited"
        )
      }
      const wq = yield* Workqueue.make("limited", { maxActive: 4 })
      for (const n of [Number.NaN, 2.5, Number.NEGATIVE_INFINITY, "8", undefined] as Array<unknown>) {
        assertRule(yield* Effect.flip(Workqueue.setMaxActive(wq, n as number)), "InvalidMaxActive", "limited")
        assert.strictEqual(Workqueue.maxActive(wq), 4)
      }
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("a name that is not a non-empty string fails with InvalidName, never a defect (alloc_workqueue)", () =>
    Effect.gen(function* () {
      for (const name of [undefined, null, 42, "", Symbol("s"), {}, () => "f"] as Array<unknown>) {
        const exit = yield* Effect.exit(Effect.scoped(Workqueue.make(name as string)))
        assert.isTrue(Exit.isFailure(exit), String(typeof name))
        const error = yield* Effect.flip(Effect.scoped(Workqueue.make(name as string)))
        assert.strictEqual(error.reason, "InvalidName")
        assert.include(error.message, "name must be a non-empty string")
        assert.strictEqual(typeof error.workqueue, "string")
      }
      for (const name of [undefined, 7] as Array<unknown>) {
        assert.strictEqual(
          (yield* Effect.flip(Effect.scoped(Workqueue.makeOrdered(name as string)))).reason,
          "InvalidName"
        )
      }
    }).pipe(Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("onCpu(-1) is a CPU like any other, not 'unset': queueing fails with InvalidCpu", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("minus_one")
      const work = yield* Work.make(() => Effect.void)
      assertRule(yield* Effect.flip(WorkqueueSystem.onCpu(-1)(Workqueue.queue(wq, work))), "InvalidCpu", "minus_one")
      const dwork = yield* DelayedWork.make(() => Effect.void)
      assertRule(
        yield* Effect.flip(WorkqueueSystem.onCpu(-1)(Workqueue.queueDelayed(wq, dwork, 10))),
        "InvalidCpu",
        "minus_one"
      )
      assert.isFalse(yield* Work.pending(work))
      assert.isFalse(yield* DelayedWork.pending(dwork))
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )
})

describe("WorkqueueError: arguments a JavaScript caller may get wrong (InvalidArgument)", () => {
  const notItems: ReadonlyArray<unknown> = [undefined, null, 0, Number.NaN, "w", Symbol("w"), {}, [], () => 1, 1n]
  it.effect("a value that is not a Work, DelayedWork or Workqueue fails with InvalidArgument, never a defect", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("args")
      const work = yield* Work.make(() => Effect.void)
      for (const v of notItems) {
        assertRule(yield* Effect.flip(Workqueue.queue(wq, v as Work.Work)), "InvalidArgument", "args")
        assertRule(yield* Effect.flip(Workqueue.queueOn(wq, 0, v as Work.Work)), "InvalidArgument", "args")
        assertRule(
          yield* Effect.flip(Workqueue.queueDelayed(wq, v as DelayedWork.DelayedWork, 1)),
          "InvalidArgument",
          "args"
        )
        assertRule(
          yield* Effect.flip(Workqueue.modDelayed(wq, v as DelayedWork.DelayedWork, 1)),
          "InvalidArgument",
          "args"
        )
        for (const call of [
          Effect.suspend(() => Workqueue.queue(v as Workqueue.Workqueue, work)),
          Effect.suspend(() => Workqueue.flush(v as Workqueue.Workqueue)),
          Effect.suspend(() => Workqueue.drain(v as Workqueue.Workqueue)),
          Effect.suspend(() => Workqueue.destroy(v as Workqueue.Workqueue)),
          Effect.suspend(() => Workqueue.setMaxActive(v as Workqueue.Workqueue, 2))
        ]) {
          const exit = yield* Effect.exit(call)
          assert.isTrue(Exit.isFailure(exit) && Cause.hasFails(exit.cause), String(exit))
          assert.strictEqual((yield* Effect.flip(call)).reason, "InvalidArgument")
        }
      }
      // a plain Work is not a DelayedWork
      assertRule(
        yield* Effect.flip(Workqueue.queueDelayed(wq, work as unknown as DelayedWork.DelayedWork, 1)),
        "InvalidArgument",
        "args"
      )
      // an *On call needs a CPU
      assertRule(
        yield* Effect.flip(Workqueue.queueOn(wq, undefined as unknown as number, work)),
        "InvalidArgument",
        "args"
      )
      assert.isFalse(yield* Work.pending(work))
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect(
    "Work.make and DelayedWork.make refuse a handler that is not a function with a clear defect (no error channel)",
    () =>
      Effect.gen(function* () {
        for (const fn of [undefined, null, 1, "f", {}] as Array<unknown>) {
          for (const make of [Work.make, DelayedWork.make] as Array<(f: any) => Effect.Effect<unknown>>) {
            const exit = yield* Effect.exit(make(fn))
            assert.isTrue(Exit.isFailure(exit))
            if (Exit.isFailure(exit)) assert.include(String(Cause.squash(exit.cause)), "the handler must be a function")
          }
        }
        const named = yield* Effect.exit(Work.make(() => Effect.void, { name: 42 as unknown as string }))
        assert.isTrue(Exit.isFailure(named))
      })
  )
})

// ---------------------------------------------------------------------------
// the bad-value table: every public call, every argument, every JavaScript type
// ---------------------------------------------------------------------------

/** A `Proxy` whose every trap throws: the type tests must not let its errors escape (they answer "not one"). */
const hostileProxy = (): object =>
  new Proxy(
    {},
    {
      has() {
        throw new Error("PROXY-HAS")
      },
      get() {
        throw new Error("PROXY-GET")
      },
      getPrototypeOf() {
        throw new Error("PROXY-PROTO")
      },
      ownKeys() {
        throw new Error("PROXY-KEYS")
      }
    }
  )

describe("WorkqueueError: bad input of every type fails typed — never a defect, a throw from an Effect call, a hang", () => {
  /** The values a JavaScript caller may pass anywhere: every type, and the API's own values in the wrong place. */
  const table = (own: {
    readonly work: Work.Work
    readonly dwork: DelayedWork.DelayedWork
    readonly wq: Workqueue.Workqueue
    readonly job: Job.Job<unknown, unknown>
  }): ReadonlyArray<readonly [string, unknown]> => [
    ["null", null],
    ["undefined", undefined],
    ["42", 42],
    ['"x"', "x"],
    ["{}", {}],
    ["[]", []],
    ["NaN", Number.NaN],
    ["a function", () => 1],
    ["a symbol", Symbol("bad")],
    ["a bigint", 1n],
    ["a Work", own.work],
    ["a DelayedWork", own.dwork],
    ["a Workqueue", own.wq],
    ["a Job", own.job],
    ["a Proxy whose traps throw", hostileProxy()]
  ]

  /**
   * Calls `call` and asserts the whole contract: the call itself does not throw, it returns an Effect, and that
   * Effect fails (within the hang guard) with a `WorkqueueError` of `reason` and no defect. Returns the error.
   */
  const failsTyped = (label: string, call: () => unknown, reason: WorkqueueError.Reason) =>
    Effect.gen(function* () {
      let effect: unknown
      try {
        effect = call()
      } catch (thrown) {
        assert.fail(`${label}: threw synchronously: ${String(thrown)}`)
      }
      assert.isTrue(Effect.isEffect(effect), `${label}: returned ${typeof effect}, not an Effect`)
      const exit = yield* Effect.exit(
        Effect.timeoutOrElse(effect as Effect.Effect<unknown, unknown>, {
          duration: "1 hour", // virtual time: a hang guard only
          orElse: () => Effect.die(`${label}: hung`)
        })
      )
      assert.isTrue(Exit.isFailure(exit), `${label}: succeeded`)
      if (Exit.isSuccess(exit)) return undefined
      assert.isFalse(Cause.hasDies(exit.cause), `${label}: died: ${Cause.pretty(exit.cause)}`)
      const error = Cause.squash(exit.cause)
      assert.isTrue(WorkqueueError.isWorkqueueError(error), `${label}: failed with ${String(error)}`)
      const e = error as WorkqueueError.WorkqueueError
      assert.strictEqual(e.reason, reason, `${label}: ${e.message}`)
      if (e.workqueue === "") {
        // no workqueue at hand (the bad value is in its place): the bad value is never presented as a name
        assert.notInclude(e.message, 'workqueue "', `${label}: no workqueue, none named`)
      } else {
        assert.include(e.message, `workqueue "${e.workqueue}"`, `${label}: the message names the workqueue`)
      }
      return e
    })

  /** Asserts a synchronous call throws the typed `WorkqueueError` of `reason` (the `*Unsafe` convention). */
  const throwsTyped = (label: string, call: () => unknown, reason: WorkqueueError.Reason) => {
    let thrown: unknown = undefined
    let returned = false
    try {
      call()
      returned = true
    } catch (e) {
      thrown = e
    }
    assert.isFalse(returned, `${label}: returned instead of throwing`)
    assert.isTrue(WorkqueueError.isWorkqueueError(thrown), `${label}: threw ${String(thrown)}`)
    assert.strictEqual((thrown as WorkqueueError.WorkqueueError).reason, reason, label)
  }

  const setup = Effect.gen(function* () {
    const wq = yield* Workqueue.make("table")
    const work = yield* Work.make(() => Effect.void)
    const dwork = yield* DelayedWork.make(() => Effect.void)
    const job = (yield* Job.submit(wq, Effect.succeed(1))) as Job.Job<unknown, unknown>
    yield* Job.await(job)
    return { wq, work, dwork, job }
  })

  it.effect("a value that is not a Workqueue where one is required: InvalidArgument, for every call", () =>
    Effect.gen(function* () {
      const own = yield* setup
      const { work, dwork } = own
      for (const [name, v] of table(own)) {
        if (v === own.wq) continue
        const wq = v as Workqueue.Workqueue
        const calls: ReadonlyArray<readonly [string, () => unknown]> = [
          ["queue", () => Workqueue.queue(wq, work)],
          ["queueOn", () => Workqueue.queueOn(wq, 0, work)],
          ["queueDelayed", () => Workqueue.queueDelayed(wq, dwork, 10)],
          ["queueDelayedOn", () => Workqueue.queueDelayedOn(wq, 0, dwork, 10)],
          ["modDelayed", () => Workqueue.modDelayed(wq, dwork, 10)],
          ["modDelayedOn", () => Workqueue.modDelayedOn(wq, 0, dwork, 10)],
          ["queueOutcome", () => Workqueue.queueOutcome(wq, work)],
          ["modDelayedOutcome", () => Workqueue.modDelayedOutcome(wq, dwork, 10)],
          ["queueWait", () => Workqueue.queueWait(wq, work)],
          ["queueWait (data-last)", () => Workqueue.queueWait(work)(wq)],
          ["flush", () => Workqueue.flush(wq)],
          ["drain", () => Workqueue.drain(wq)],
          ["destroy", () => Workqueue.destroy(wq)],
          ["fireArmed", () => Workqueue.fireArmed(wq)],
          ["setMaxActive", () => Workqueue.setMaxActive(wq, 2)],
          ["Job.submit", () => Job.submit(wq, Effect.succeed(1))],
          ["Job.submit (attempt function)", () => Job.submit(wq, () => Effect.succeed(1))],
          ["Job.submit (with options)", () => Job.submit(wq, Effect.succeed(1), { id: "j" })],
          ["Job.submit (data-last)", () => Job.submit(Effect.succeed(1))(wq)],
          ["Job.run", () => Job.run(wq, Effect.succeed(1))],
          ["Job.run (data-last)", () => Job.run(Effect.succeed(1), {})(wq)]
        ]
        for (const [call, f] of calls) yield* failsTyped(`${call}(${name})`, f, "InvalidArgument")
        const sync: ReadonlyArray<readonly [string, () => unknown]> = [
          ["name", () => Workqueue.name(wq)],
          ["flags", () => Workqueue.flags(wq)],
          ["maxActive", () => Workqueue.maxActive(wq)],
          ["maxPending", () => Workqueue.maxPending(wq)],
          ["pendingCountUnsafe", () => Workqueue.pendingCountUnsafe(wq)],
          ["congestedUnsafe", () => Workqueue.congestedUnsafe(wq, 0)],
          ["queueUnsafe", () => Workqueue.queueUnsafe(wq, work)],
          ["Job.submitUnsafe", () => Job.submitUnsafe(wq, Effect.succeed(1))]
        ]
        for (const [call, f] of sync) throwsTyped(`${call}(${name})`, f, "InvalidArgument")
        assert.isFalse(WorkqueueSystem.isSystemWorkqueue(wq), `isSystemWorkqueue(${name}) is false`)
      }
      assert.isFalse(yield* Work.pending(work), "nothing was queued")
      assert.isFalse(yield* DelayedWork.pending(dwork), "nothing was armed")
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect(
    "a value that is not a Work (a DelayedWork for the delayed calls) where one is required: InvalidArgument",
    () =>
      Effect.gen(function* () {
        const own = yield* setup
        const { wq } = own
        for (const [name, v] of table(own)) {
          const calls: Array<readonly [string, () => unknown]> = []
          if (v !== own.work && v !== own.dwork) {
            const work = v as Work.Work
            calls.push(
              ["queueOutcome", () => Workqueue.queueOutcome(wq, work)],
              // a workqueue in first position is data-first (its item missing): covered by the D3 spec below
              ...(Workqueue.isWorkqueue(v)
                ? []
                : ([["queueOutcome (data-last)", () => Workqueue.queueOutcome(work)(wq)]] as const)),
              ["queueWait", () => Workqueue.queueWait(wq, work)],
              ["schedule", () => WorkqueueSystem.schedule(work)],
              ["Work.pending", () => Work.pending(work)],
              ["Work.cancel", () => Work.cancel(work)],
              ["Work.disable", () => Work.disable(work)],
              ["Work.enable", () => Work.enable(work)],
              ["Work.flush", () => Work.flush(work)],
              ["Work.cancelSync", () => Work.cancelSync(work)],
              ["Work.disableSync", () => Work.disableSync(work)]
            )
            throwsTyped(`Work.pendingUnsafe(${name})`, () => Work.pendingUnsafe(work), "InvalidArgument")
            throwsTyped(`Work.cancelUnsafe(${name})`, () => Work.cancelUnsafe(work), "InvalidArgument")
            throwsTyped(`Work.busyUnsafe(${name})`, () => Work.busyUnsafe(work), "InvalidArgument")
          }
          if (v !== own.dwork) {
            const dwork = v as DelayedWork.DelayedWork
            calls.push(
              ["modDelayedOutcome", () => Workqueue.modDelayedOutcome(wq, dwork, 1)],
              ...(Workqueue.isWorkqueue(v)
                ? []
                : ([["modDelayedOutcome (data-last)", () => Workqueue.modDelayedOutcome(dwork, 1)(wq)]] as const)),
              ["queueDelayed", () => Workqueue.queueDelayed(wq, dwork, 1)],
              ["modDelayed", () => Workqueue.modDelayed(wq, dwork, 1)],
              ["scheduleDelayed", () => WorkqueueSystem.scheduleDelayed(dwork, 1)],
              ["DelayedWork.flush", () => DelayedWork.flush(dwork)]
            )
          }
          for (const [call, f] of calls) yield* failsTyped(`${call}(${name})`, f, "InvalidArgument")
        }
        assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0, "nothing was queued or armed")
      }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("a value that is not a Job: InvalidArgument from await, join, cancel; never written to", () =>
    Effect.gen(function* () {
      const own = yield* setup
      for (const [name, v] of table(own)) {
        if (v === own.job) continue
        const job = v as Job.Job<unknown, unknown>
        yield* failsTyped(`Job.await(${name})`, () => Job.await(job), "InvalidArgument")
        yield* failsTyped(`Job.join(${name})`, () => Job.join(job), "InvalidArgument")
        yield* failsTyped(`Job.cancel(${name})`, () => Job.cancel(job), "InvalidArgument")
        throwsTyped(`Job.pollUnsafe(${name})`, () => Job.pollUnsafe(job), "InvalidArgument")
        throwsTyped(`Job.attemptsUnsafe(${name})`, () => Job.attemptsUnsafe(job), "InvalidArgument")
      }
      // a look-alike (the public TypeId) is still not a job, and nothing is written onto it
      const lookalike = Object.freeze({ [Job.TypeId]: {}, id: "fake", workqueue: "table" })
      yield* failsTyped("Job.cancel(a look-alike)", () => Job.cancel(lookalike as never), "InvalidArgument")
      const plain = {}
      yield* failsTyped("Job.cancel({})", () => Job.cancel(plain as never), "InvalidArgument")
      assert.deepStrictEqual(Object.keys(plain), [], "cancel wrote nothing onto the caller's object")
      assert.deepStrictEqual(Object.keys(own.work), Object.keys(yield* Work.make(() => Effect.void)))
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect(
    "Job.submit's effect and every option are checked: type and allowed values, InvalidOptions / InvalidArgument",
    () =>
      Effect.gen(function* () {
        const own = yield* setup
        const { wq } = own
        for (const [name, v] of table(own)) {
          if (typeof v === "function") continue // a function is the attempt form
          yield* failsTyped(
            `submit effect ${name}`,
            () => Job.submit(wq, v as Effect.Effect<number>),
            "InvalidArgument"
          )
          throwsTyped(
            `submitUnsafe effect ${name}`,
            () => Job.submitUnsafe(wq, v as Effect.Effect<number>),
            "InvalidArgument"
          )
        }
        const options: ReadonlyArray<readonly [string, unknown, WorkqueueError.Reason, string]> = [
          ["options null", null, "InvalidOptions", "options must be a plain object"],
          ["options 42", 42, "InvalidOptions", "options must be a plain object"],
          ["options []", [], "InvalidOptions", "options must be a plain object"],
          ["id 42", { id: 42 }, "InvalidOptions", "id must be a string"],
          ["id {}", { id: {} }, "InvalidOptions", "id must be a string"],
          ["retrySchedule {}", { retrySchedule: {} }, "InvalidOptions", "retrySchedule must be a Schedule"],
          ["retrySchedule 42", { retrySchedule: 42 }, "InvalidOptions", "retrySchedule must be a Schedule"],
          [
            "retrySchedule a function",
            { retrySchedule: () => 1 },
            "InvalidOptions",
            "retrySchedule must be a Schedule"
          ],
          ['whenFull "block"', { whenFull: "block" }, "InvalidOptions", 'whenFull must be "fail" or "wait"'],
          ["whenFull true", { whenFull: true }, "InvalidOptions", 'whenFull must be "fail" or "wait"'],
          ['maxAttempts "3"', { maxAttempts: "3" }, "InvalidOptions", "maxAttempts"],
          ["maxAttempts 0", { maxAttempts: 0 }, "InvalidOptions", "maxAttempts"],
          ["maxAttempts 1.5", { maxAttempts: 1.5 }, "InvalidOptions", "maxAttempts"],
          ["maxAttempts NaN", { maxAttempts: Number.NaN }, "InvalidOptions", "maxAttempts"],
          ["timeout 0", { timeout: 0 }, "InvalidOptions", "timeout"],
          ["timeout {}", { timeout: {} }, "InvalidOptions", "timeout"],
          ["timeout 'soon'", { timeout: "soon" }, "InvalidOptions", "timeout"],
          ["deadLetter 42", { deadLetter: 42 }, "InvalidOptions", "deadLetter must be a function"],
          ["delay {}", { delay: {} }, "InvalidDelay", "not a duration"],
          ["delay 'soon'", { delay: "soon" }, "InvalidDelay", "not a duration"],
          ["delay NaN", { delay: Number.NaN }, "InvalidDelay", ""],
          ["delay Infinity", { delay: Number.POSITIVE_INFINITY }, "InvalidDelay", ""]
        ]
        for (const [label, o, reason, rule] of options) {
          const e = yield* failsTyped(
            `submit ${label}`,
            () => Job.submit(wq, Effect.succeed(1), o as Job.Options<never>),
            reason
          )
          assert.strictEqual(e?.workqueue, "table", label)
          assert.include(e?.message, rule, label)
          yield* failsTyped(`run ${label}`, () => Job.run(wq, Effect.succeed(1), o as Job.Options<never>), reason)
          throwsTyped(
            `submitUnsafe ${label}`,
            () => Job.submitUnsafe(wq, Effect.succeed(1), o as Job.Options<never>),
            reason
          )
        }
        const interrupt = yield* failsTyped(
          "run interruptJob 'yes'",
          () => Job.run(wq, Effect.succeed(1), { interruptJob: "yes" as unknown as boolean }),
          "InvalidOptions"
        )
        assert.include(interrupt?.message, "interruptJob must be a boolean")
        assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0, "no refused job was queued")
        // the accepted forms still work: every allowed value of every option
        const ok = yield* Job.run(
          wq,
          ({ attempts }) => (attempts < 2 ? Effect.fail("again") : Effect.succeed(attempts)),
          {
            id: "ok",
            delay: { milliseconds: 1 },
            timeout: "1 hour",
            retrySchedule: Schedule.spaced("1 millis"),
            maxAttempts: Number.POSITIVE_INFINITY,
            deadLetter: () => Effect.void,
            whenFull: "wait",
            interruptJob: true
          }
        ).pipe(
          Effect.forkChild({ startImmediately: true }),
          Effect.tap(() => TestClock.adjust(10)),
          Effect.flatMap(Fiber.join)
        )
        assert.strictEqual(ok, 2)
      }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("Job.submit decides data-first from its arguments: a bad workqueue first is refused, not curried", () =>
    Effect.gen(function* () {
      const own = yield* setup
      for (const [name, v] of table(own)) {
        if (v === own.wq) continue
        // the hostile review's case: submit(nonWq, effect) returned a function
        const result = Job.submit(v as Workqueue.Workqueue, Effect.succeed(1))
        assert.isTrue(Effect.isEffect(result), `submit(${name}, effect) is an Effect, not a function`)
        const run = Job.run(v as Workqueue.Workqueue, () => Effect.succeed(1), undefined)
        assert.isTrue(Effect.isEffect(run), `run(${name}, effect, undefined) is an Effect`)
      }
      // the data-last forms still curry
      const curried = Job.submit(Effect.succeed(5), { id: "curried" })
      assert.isFunction(curried)
      assert.strictEqual(yield* Job.join(yield* own.wq.pipe(curried)), 5)
      assert.strictEqual(yield* own.wq.pipe(Job.run(() => Effect.succeed(6))), 6)
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("a job effect function that returns no Effect ends the job with a defect in its own Exit, contained", () =>
    Effect.gen(function* () {
      const own = yield* setup
      const job = yield* Job.submit(own.wq, (() => 42) as unknown as () => Effect.Effect<number>)
      const exit = yield* Job.await(job)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), "the job's Exit says what happened")
      if (Exit.isFailure(exit)) {
        assert.include(String(Cause.squash(exit.cause)), "its effect function returned 42, not an Effect")
      }
      assert.isTrue(yield* Job.submit(own.wq, Effect.succeed(1)).pipe(Effect.flatMap(Job.join), Effect.as(true)))
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  /** A getter that throws: reading the option must be refused with the rule, never escape as a raw Error. */
  const throwingGetter = (key: string): object =>
    Object.defineProperty({}, key, {
      enumerable: true,
      get() {
        throw new Error("GETTER")
      }
    })

  /** Runs `f` with `Object.prototype[key] = value`, always restoring it. */
  const withPolluted = <A, E, R>(key: string, value: unknown, f: () => Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        ;(Object.prototype as Record<string, unknown>)[key] = value
      }),
      f,
      () =>
        Effect.sync(() => {
          delete (Object.prototype as Record<string, unknown>)[key]
        })
    )

  it.effect("the type guards answer false for a Proxy whose traps throw, never throw themselves", () =>
    Effect.gen(function* () {
      const proxy = hostileProxy()
      assert.isFalse(Work.isWork(proxy))
      assert.isFalse(DelayedWork.isDelayedWork(proxy))
      assert.isFalse(Workqueue.isWorkqueue(proxy))
      assert.isFalse(Job.isJob(proxy))
      const own = yield* setup
      assert.isTrue(Work.isWork(own.work) && DelayedWork.isDelayedWork(own.dwork) && Job.isJob(own.job))
      assert.isTrue(Workqueue.isWorkqueue(own.wq))
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("options are read once inside a guard: a throwing getter is InvalidOptions at every constructor", () =>
    Effect.gen(function* () {
      const own = yield* setup
      for (const key of ["flags", "maxActive", "highpri", "maxPending"]) {
        const e = yield* failsTyped(
          `make {get ${key}}`,
          () => Workqueue.make("getter", throwingGetter(key)),
          "InvalidOptions"
        )
        assert.strictEqual(e?.workqueue, "getter")
        assert.include(e?.message, "reading the options threw")
      }
      yield* failsTyped(
        "makeOrdered {get flags}",
        () => Workqueue.makeOrdered("g", throwingGetter("flags")),
        "InvalidOptions"
      )
      for (const key of ["id", "delay", "deadLetter", "whenFull"]) {
        const o = throwingGetter(key) as Job.Options<never>
        yield* failsTyped(`submit {get ${key}}`, () => Job.submit(own.wq, Effect.succeed(1), o), "InvalidOptions")
        yield* failsTyped(`run {get ${key}}`, () => Job.run(own.wq, Effect.succeed(1), o), "InvalidOptions")
        throwsTyped(`submitUnsafe {get ${key}}`, () => Job.submitUnsafe(own.wq, Effect.succeed(1), o), "InvalidOptions")
      }
      // the item constructors have no error channel: they die with the typed error (their one defect)
      for (const make of [Work.make, DelayedWork.make] as const) {
        const exit = yield* Effect.exit(make(() => Effect.void, throwingGetter("name") as { name?: string }))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
        const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.isTrue(WorkqueueError.isWorkqueueError(defect), String(defect))
        assert.strictEqual((defect as WorkqueueError.WorkqueueError).reason, "InvalidOptions")
      }
      assert.strictEqual(Workqueue.pendingCountUnsafe(own.wq), 0, "no refused job was queued")
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("a missing or swapped argument runs data-first and fails typed, never returns a function", () =>
    Effect.gen(function* () {
      const own = yield* setup
      const { wq, work, dwork } = own
      const cases: ReadonlyArray<readonly [string, () => unknown, WorkqueueError.Reason, string]> = [
        ["queueOn(wq, work)", () => (Workqueue.queueOn as Function)(wq, work), "InvalidArgument", "a CPU is required"],
        [
          "queueDelayedOn(wq, dwork, 5)",
          () => (Workqueue.queueDelayedOn as Function)(wq, dwork, 5),
          "InvalidArgument",
          "a CPU is required"
        ],
        [
          "modDelayedOn(wq, dwork, 5)",
          () => (Workqueue.modDelayedOn as Function)(wq, dwork, 5),
          "InvalidArgument",
          "a CPU is required"
        ],
        [
          "queueDelayed(wq, dwork)",
          () => (Workqueue.queueDelayed as Function)(wq, dwork),
          "InvalidDelay",
          "delay undefined"
        ],
        [
          "modDelayed(wq, dwork)",
          () => (Workqueue.modDelayed as Function)(wq, dwork),
          "InvalidDelay",
          "delay undefined"
        ],
        ["queue(wq)", () => (Workqueue.queue as Function)(wq), "InvalidArgument", "not a Work: undefined"],
        ["queueWait(wq)", () => (Workqueue.queueWait as Function)(wq), "InvalidArgument", "not a Work"],
        ["queueOutcome(wq)", () => (Workqueue.queueOutcome as Function)(wq), "InvalidArgument", "not a Work"],
        [
          "modDelayedOutcome(wq, dwork)",
          () => (Workqueue.modDelayedOutcome as Function)(wq, dwork),
          "InvalidDelay",
          "delay undefined"
        ],
        ["setMaxActive(wq)", () => (Workqueue.setMaxActive as Function)(wq), "InvalidMaxActive", "got undefined"],
        [
          "submit(effect, wq)",
          () => (Job.submit as Function)(Effect.succeed(1), wq),
          "InvalidArgument",
          "the workqueue comes first"
        ],
        [
          "run(effect, wq)",
          () => (Job.run as Function)(Effect.succeed(1), wq),
          "InvalidArgument",
          "the workqueue comes first"
        ],
        [
          "scheduleDelayedOn(dwork, 5)",
          () => (WorkqueueSystem.scheduleDelayedOn as Function)(dwork, 5),
          "InvalidArgument",
          "a CPU is required"
        ],
        [
          "scheduleOn(work)",
          () => (WorkqueueSystem.scheduleOn as Function)(work),
          "InvalidArgument",
          "a CPU is required"
        ]
      ]
      for (const [label, call, reason, rule] of cases) {
        const e = yield* failsTyped(label, call, reason)
        assert.include(e?.message, rule, label)
      }
      // the data-last forms still curry
      assert.isTrue(yield* wq.pipe(Workqueue.queueOn(0, work)))
      assert.isTrue(yield* wq.pipe(Workqueue.queueDelayed(dwork, "1 hour")))
      yield* wq.pipe(Workqueue.setMaxActive(3))
      assert.strictEqual(Workqueue.maxActive(wq), 3)
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("WQ_BH | WQ_PERCPU is a BH workqueue, as the kernel's __WQ_BH_ALLOWS has it (alloc_workqueue)", () =>
    Effect.gen(function* () {
      // WQ_PERCPU is the explicit complement of WQ_UNBOUND; a BH workqueue is per-CPU, so the kernel allows it
      const bitmask = yield* Workqueue.make("bh_percpu", { flags: Workqueue.WQ_BH | Workqueue.WQ_PERCPU })
      const named = yield* Workqueue.make("bh_named", { bh: true, unbound: false, highpri: true })
      assert.strictEqual(Workqueue.flags(bitmask), Workqueue.WQ_BH | Workqueue.WQ_PERCPU)
      assert.strictEqual(Workqueue.flags(named), Workqueue.WQ_BH | Workqueue.WQ_PERCPU | Workqueue.WQ_HIGHPRI)
      // every other flag stays refused, named or in the bitmask
      yield* failsTyped("bh + unbound", () => Workqueue.make("bh_u", { bh: true, unbound: true }), "InvalidFlags")
      yield* failsTyped("bh + freezable", () => Workqueue.make("bh_f", { bh: true, freezable: true }), "InvalidFlags")
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("an inherited property is never an option: a polluted Object.prototype changes no make or submit", () =>
    Effect.gen(function* () {
      const own = yield* setup
      const flags = yield* withPolluted("flags", Workqueue.WQ_BH, () =>
        Effect.map(Workqueue.make("clean", {}), Workqueue.flags)
      )
      assert.strictEqual(flags, 0)
      const maxActive = yield* withPolluted("maxActive", 7, () =>
        Effect.map(Workqueue.make("clean2"), Workqueue.maxActive)
      )
      assert.strictEqual(maxActive, 1024)
      const ordered = yield* withPolluted("highpri", true, () =>
        Effect.map(Workqueue.makeOrdered("clean3", {}), Workqueue.flags)
      )
      assert.strictEqual(ordered & Workqueue.WQ_HIGHPRI, 0)
      for (const options of [{}, undefined]) {
        const value = yield* withPolluted("delay", "1 hour", () =>
          Effect.flatMap(Job.submit(own.wq, Effect.succeed(1), options), Job.join)
        )
        assert.strictEqual(value, 1, "the job ran at once: no inherited delay")
      }
      // an object whose options live on its prototype is not a plain object: refused, not half-read
      const e = yield* failsTyped(
        "make(Object.create({maxActive: 7}))",
        () => Workqueue.make("proto", Object.create({ maxActive: 7 })),
        "InvalidOptions"
      )
      assert.include(e?.message, "plain object")
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("an unknown option key or a non-plain options object is refused with InvalidOptions naming the key", () =>
    Effect.gen(function* () {
      const own = yield* setup
      const { wq } = own
      const cases: ReadonlyArray<readonly [string, () => unknown, string]> = [
        ["make {maxActvie}", () => Workqueue.make("typo", { maxActvie: 4 } as Workqueue.Options), '"maxActvie"'],
        ["makeOrdered {maxActive}", () => Workqueue.makeOrdered("o", { maxActive: 4 } as never), '"maxActive"'],
        ["makeOrdered {concurrency}", () => Workqueue.makeOrdered("o", { concurrency: 2 } as never), '"concurrency"'],
        [
          "makeOrdered {unbound: false}",
          () => Workqueue.makeOrdered("o", { unbound: false }),
          "unbound: false contradicts"
        ],
        ["submit {maxAtempts}", () => Job.submit(wq, Effect.succeed(1), { maxAtempts: 1 } as never), '"maxAtempts"'],
        ["submit {timout}", () => Job.submit(wq, Effect.succeed(1), { timout: 5 } as never), '"timout"'],
        [
          "submit {interruptJob}",
          () => Job.submit(wq, Effect.succeed(1), { interruptJob: false } as never),
          '"interruptJob"'
        ],
        ["run {retries}", () => Job.run(wq, Effect.succeed(1), { retries: 3 } as never), '"retries"'],
        ["make(new Map())", () => Workqueue.make("map", new Map() as never), "plain object"],
        ["make(new Date())", () => Workqueue.make("date", new Date() as never), "plain object"],
        ["make(a Workqueue)", () => Workqueue.make("wq", wq as never), "plain object"],
        ["submit(wq, effect, a Workqueue)", () => Job.submit(wq, Effect.succeed(1), wq as never), "plain object"],
        ["submit(wq, effect, a Work)", () => Job.submit(wq, Effect.succeed(1), own.work as never), "plain object"]
      ]
      for (const [label, call, rule] of cases) {
        const e = yield* failsTyped(label, call, "InvalidOptions")
        assert.include(e?.message, rule, label)
      }
      throwsTyped(
        "submitUnsafe {timout}",
        () => Job.submitUnsafe(wq, Effect.succeed(1), { timout: 5 } as never),
        "InvalidOptions"
      )
      const item = yield* Effect.exit(Work.make(() => Effect.void, { nmae: "x" } as never))
      assert.isTrue(Exit.isFailure(item) && String(Cause.squash(item.cause)).includes('"nmae"'))
      // makeOrdered honours highpri (alloc_ordered_workqueue takes any flags), null-prototype options are plain
      const ordered = yield* Workqueue.makeOrdered("ordered_hi", { highpri: true })
      assert.strictEqual(Workqueue.flags(ordered) & Workqueue.WQ_HIGHPRI, Workqueue.WQ_HIGHPRI)
      assert.strictEqual(Workqueue.maxActive(ordered), 1)
      const bare = Object.assign(Object.create(null), { maxActive: 5 })
      assert.strictEqual(Workqueue.maxActive(yield* Workqueue.make("bare", bare)), 5)
      // run keeps its own key
      assert.strictEqual(yield* Job.run(wq, Effect.succeed(2), { interruptJob: false }), 2)
      assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0, "no refused job was queued")
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("null is a value, not an omitted option: refused by the option's rule everywhere", () =>
    Effect.gen(function* () {
      const own = yield* setup
      const cases: ReadonlyArray<readonly [string, () => unknown, WorkqueueError.Reason]> = [
        ["make {maxPending: null}", () => Workqueue.make("n1", { maxPending: null } as never), "InvalidOptions"],
        ["make {maxActive: null}", () => Workqueue.make("n2", { maxActive: null } as never), "InvalidMaxActive"],
        ["make {flags: null}", () => Workqueue.make("n3", { flags: null } as never), "InvalidFlags"],
        ["make {concurrency: null}", () => Workqueue.make("n4", { concurrency: null } as never), "InvalidOptions"],
        ["make {highpri: null}", () => Workqueue.make("n5", { highpri: null } as never), "InvalidOptions"],
        [
          "submit {maxAttempts: null}",
          () => Job.submit(own.wq, Effect.succeed(1), { maxAttempts: null } as never),
          "InvalidOptions"
        ],
        ["submit {id: null}", () => Job.submit(own.wq, Effect.succeed(1), { id: null } as never), "InvalidOptions"],
        [
          "submit {timeout: null}",
          () => Job.submit(own.wq, Effect.succeed(1), { timeout: null } as never),
          "InvalidOptions"
        ]
      ]
      for (const [label, call, reason] of cases) {
        const e = yield* failsTyped(label, call, reason)
        assert.include(e?.message, "null", label)
      }
      // undefined is the option omitted
      assert.strictEqual(Workqueue.maxPending(yield* Workqueue.make("u", { maxPending: undefined })), Infinity)
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("setMaxActive on a destroyed workqueue fails with Destroyed and changes nothing", () =>
    Effect.gen(function* () {
      const wq = yield* Effect.scoped(Workqueue.make("gone", { maxActive: 2 }))
      const e = yield* failsTyped("setMaxActive(destroyed, 7)", () => Workqueue.setMaxActive(wq, 7), "Destroyed")
      assert.strictEqual(e?.workqueue, "gone")
      assert.strictEqual(Workqueue.maxActive(wq), 2)
    }).pipe(Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("congestedUnsafe checks its CPU as every other call does: InvalidCpu thrown", () =>
    Effect.gen(function* () {
      const own = yield* setup
      for (const cpu of [2, -1, 1.5, Number.NaN, undefined, "0", Object.create(null)]) {
        throwsTyped(
          `congestedUnsafe(wq, ${String(typeof cpu)})`,
          () => Workqueue.congestedUnsafe(own.wq, cpu as number),
          "InvalidCpu"
        )
      }
      assert.isFalse(Workqueue.congestedUnsafe(own.wq, 1))
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("a Job handle exposes its id and workqueue only: nothing reaches its item or its state", () =>
    Effect.gen(function* () {
      const own = yield* setup
      const job = yield* Job.submit(own.wq, Effect.succeed(1), { delay: "1 hour", id: "hidden" })
      assert.deepStrictEqual(Object.keys(job), [])
      assert.deepStrictEqual(Reflect.ownKeys(job), [])
      for (const field of ["wq", "options", "dwork", "deferred", "fiber", "done", "exit", "attempts", "cancelled"]) {
        assert.isUndefined((job as unknown as Record<string, unknown>)[field], field)
      }
      assert.strictEqual(job.id, "hidden")
      assert.strictEqual(job.workqueue, "table")
      assert.throws(() => {
        ;(job as { id: string }).id = "other"
      })
      assert.strictEqual(job.id, "hidden", "the id cannot be overwritten")
      assert.deepStrictEqual(JSON.parse(JSON.stringify(job)), {
        _id: "Job",
        id: "hidden",
        workqueue: "table",
        state: "pending",
        attempts: 0
      })
      assert.strictEqual(String(job), "Job(hidden)")
      // the job still completes through its own calls
      yield* Workqueue.fireArmed(own.wq)
      assert.strictEqual(yield* Job.join(job), 1)
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("a job's own item, seen through a tracepoint, is refused by every public item and queueing call", () => {
    const seen: Array<Work.Work> = []
    return Effect.gen(function* () {
      const wq = yield* Workqueue.make("traced")
      const job = yield* Job.submit(wq, Effect.never)
      const item = seen.find(DelayedWork.isDelayedWork)
      assert.isDefined(item, "the tracepoint named the job's item")
      const dwork = item as DelayedWork.DelayedWork
      const calls: ReadonlyArray<readonly [string, () => unknown]> = [
        ["DelayedWork.cancel", () => DelayedWork.cancel(dwork)],
        ["DelayedWork.cancelSync", () => DelayedWork.cancelSync(dwork)],
        ["DelayedWork.flush", () => DelayedWork.flush(dwork)],
        ["Work.disable", () => Work.disable(dwork)],
        ["Work.cancel", () => Work.cancel(dwork)],
        ["Workqueue.modDelayed", () => Workqueue.modDelayed(wq, dwork, 0)],
        ["Workqueue.queue", () => Workqueue.queue(wq, dwork)],
        ["WorkqueueSystem.schedule", () => WorkqueueSystem.schedule(dwork)]
      ]
      for (const [label, call] of calls) {
        const e = yield* failsTyped(label, call, "InvalidArgument")
        assert.include(e?.message, "a job's own item", label)
      }
      throwsTyped("Work.cancelUnsafe", () => Work.cancelUnsafe(dwork), "InvalidArgument")
      throwsTyped("Workqueue.queueUnsafe", () => Workqueue.queueUnsafe(wq, dwork), "InvalidArgument")
      // the job is intact: the Job calls still act on it, and the workqueue serves other jobs
      assert.isTrue(yield* Job.cancel(job))
      assert.isTrue(Exit.hasInterrupts(yield* Job.await(job)))
      assert.strictEqual(yield* Job.run(wq, Effect.succeed(7)), 7)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        systemLayer({
          cpus: 2,
          tracepoint: (tp) => {
            if (tp._tag === "workqueue_queue_work" || tp._tag === "workqueue_execute_start") seen.push(tp.work)
          }
        })
      )
    )
  })

  it.effect("options are copied once after validation: a later write to the caller's object changes nothing", () =>
    Effect.gen(function* () {
      const own = yield* setup
      const letters: Array<string> = []
      const options: Record<string, unknown> = {
        id: "copied",
        deadLetter: (letter: Job.DeadLetter<unknown>) => Effect.sync(() => letters.push(letter.id))
      }
      const job = yield* Job.submit(own.wq, Effect.fail("no"), options as Job.Options<string>)
      options.deadLetter = 42
      options.id = "changed"
      yield* Job.await(job)
      assert.deepStrictEqual(letters, ["copied"], "the validated handler got the letter")
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

  it.effect("messages show the value given and name values by kind, never a bad value as a workqueue", () =>
    Effect.gen(function* () {
      const own = yield* setup
      const soon = yield* failsTyped(
        "queueDelayed(wq, dwork, 'soon')",
        () => Workqueue.queueDelayed(own.wq, own.dwork, "soon" as never),
        "InvalidDelay"
      )
      assert.include(soon?.message, '"soon"')
      assert.notInclude(soon?.message, "NaN")
      const notWork = yield* failsTyped("Work.cancel(42)", () => Work.cancel(42 as never), "InvalidArgument")
      assert.strictEqual(notWork?.workqueue, "")
      assert.strictEqual(notWork?.message, "not a Work: 42")
      const wqAsWork = yield* failsTyped(
        "queue(wq, wq)",
        () => Workqueue.queue(own.wq, own.wq as never),
        "InvalidArgument"
      )
      assert.include(wqAsWork?.message, 'not a Work: Workqueue("table")')
      const jobAsWq = yield* failsTyped("flush(job)", () => Workqueue.flush(own.job as never), "InvalidArgument")
      assert.include(jobAsWq?.message, "not a Workqueue: Job(")
      const workAsJob = yield* failsTyped("Job.await(work)", () => Job.await(own.work as never), "InvalidArgument")
      assert.include(workAsJob?.message, "not a Job: Work(")
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )
})
