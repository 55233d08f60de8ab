import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { DelayedWork, Work, Workqueue, WorkqueueSystem } from "../src/index.ts"
import {
  makeGate,
  makeRecorder,
  settle,
  steppedDateNow,
  systemLayer,
  withSystemClosedOnSuccess
} from "./utils/recorder.ts"

/** Delayed items armed for the workqueue `name` (its timers in the system's timer structure). */
const armedOn = (name: string) =>
  Effect.map(WorkqueueSystem.snapshot, (s) => s.workqueues.find((w) => w.name === name)?.armed ?? 0)

/** Every armed timer of the system (delayed items, plus the system's own: watchdog, culling, maydays). */
const timers = Effect.map(WorkqueueSystem.snapshot, (s) => s.timers)

/** Effect's live Clock, except that its readings throw while `setBroken(true)` holds (a patched `Date.now`). */
const breakableClock = (): { readonly clock: Clock.Clock; readonly setBroken: (broken: boolean) => void } => {
  const base = Context.get(Context.empty(), Clock.Clock)
  let broken = false
  const reading =
    <A>(read: () => A) =>
    (): A => {
      if (broken) throw new Error("broken Clock")
      return read()
    }
  return {
    clock: {
      ...base,
      currentTimeMillisUnsafe: reading(() => base.currentTimeMillisUnsafe()),
      currentTimeNanosUnsafe: reading(() => base.currentTimeNanosUnsafe())
    },
    setBroken: (b) => {
      broken = b
    }
  }
}

describe("DelayedWork", () => {
  describe("queueDelayed", () => {
    it.effect("an item armed at t with delay d starts exactly at t+d (queue_delayed_work_on)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("delayed")
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        yield* TestClock.adjust(5)
        assert.isTrue(yield* Workqueue.queueDelayed(wq, dwork, "100 millis"))
        assert.isTrue(yield* DelayedWork.pending(dwork), "pending while armed")
        assert.strictEqual(yield* armedOn("delayed"), 1)
        yield* TestClock.adjust(99)
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, [], "never early")
        yield* TestClock.adjust(1)
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, ["start d@105/cpu0", "end d@105/cpu0"])
        assert.isFalse(yield* DelayedWork.pending(dwork))
        assert.strictEqual(yield* armedOn("delayed"), 0)
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "items with the same expiry fire in arming order, distinct expiries earliest first (__queue_delayed_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("delayed")
          const names = ["a", "b", "c", "d"]
          const same = yield* Effect.forEach(names, (n) => DelayedWork.make(rec.handler(n)))
          for (const d of same) yield* Workqueue.queueDelayed(wq, d, 50)
          const late = yield* DelayedWork.make(rec.handler("late"))
          const early = yield* DelayedWork.make(rec.handler("early"))
          yield* Workqueue.queueDelayed(wq, late, 70)
          yield* Workqueue.queueDelayed(wq, early, 30)
          yield* TestClock.adjust(100)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["early", "a", "b", "c", "d", "late"])
          const at = (yield* rec.events).filter((e) => e.kind === "start").map((e) => e.at)
          assert.deepStrictEqual(at, [30, 50, 50, 50, 50, 70])
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "queueDelayed on an armed item returns false and keeps the old expiry, even if the new one is shorter (queue_delayed_work_on)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("delayed")
          const dwork = yield* DelayedWork.make(rec.handler("d"))
          assert.isTrue(yield* Workqueue.queueDelayed(wq, dwork, 100))
          assert.isFalse(yield* Workqueue.queueDelayed(wq, dwork, 10))
          assert.isFalse(yield* Workqueue.queueDelayed(wq, dwork, 500))
          yield* TestClock.adjust(10)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, [], "the shorter delay was ignored")
          yield* TestClock.adjust(90)
          yield* settle()
          assert.deepStrictEqual(yield* rec.trace, ["start d@100/cpu0", "end d@100/cpu0"])
          yield* TestClock.adjust(1000)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["d"], "ran once")
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("queueDelayed on a queued (already expired) item returns false (queue_delayed_work_on)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("delayed", { maxActive: 1 })
        const blocker = yield* Work.make(rec.handler("blocker", gate.await))
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        yield* Workqueue.queue(wq, blocker)
        yield* Workqueue.queueDelayed(wq, dwork, 0)
        assert.isFalse(yield* Workqueue.queueDelayed(wq, dwork, 10))
        assert.strictEqual(yield* armedOn("delayed"), 0)
        yield* gate.open
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["blocker", "d"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("delay 0 queues at once with no timer (__queue_delayed_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("delayed")
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        assert.isTrue(yield* Workqueue.queueDelayed(wq, dwork, 0))
        assert.strictEqual(yield* armedOn("delayed"), 0, "no timer armed")
        const snap = yield* WorkqueueSystem.snapshot
        assert.strictEqual(snap.workqueues.find((w) => w.name === "delayed")!.armed, 0)
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, ["start d@0/cpu0", "end d@0/cpu0"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("the CPU recorded at arming decides the pool the item runs on (queue_delayed_work_on)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("delayed")
        const a = yield* DelayedWork.make(rec.handler("a"))
        const b = yield* DelayedWork.make(rec.handler("b"))
        const c = yield* DelayedWork.make(rec.handler("c"))
        yield* WorkqueueSystem.onCpu(2)(Workqueue.queueDelayed(wq, a, 10))
        yield* Workqueue.queueDelayedOn(wq, 3, b, 10)
        yield* Workqueue.queueDelayed(wq, c, 10)
        yield* WorkqueueSystem.onCpu(1)(TestClock.adjust(10))
        yield* settle()
        const cpus = Object.fromEntries((yield* rec.events).map((e) => [e.name, e.cpu]))
        assert.deepStrictEqual(cpus, { a: 2, b: 3, c: 0 })
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "arming from onCpu(n) with n outside 0..cpus-1 is refused with InvalidCpu and never breaks the timers of other items (queue_delayed_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("delayed")
          const bad = yield* DelayedWork.make(rec.handler("bad"))
          const later = yield* DelayedWork.make(rec.handler("later"))
          const exit = yield* Effect.exit(WorkqueueSystem.onCpu(4)(Workqueue.queueDelayed(wq, bad, 10)))
          yield* Workqueue.queueDelayed(wq, later, 20)
          yield* TestClock.adjust(20)
          yield* settle()
          assert.deepStrictEqual(
            yield* rec.trace,
            ["start later@20/cpu0", "end later@20/cpu0"],
            "the timer fiber still works"
          )
          assert.isTrue(Exit.isFailure(exit), "refused at arming time")
          assert.isFalse(yield* DelayedWork.pending(bad))
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("a Duration input is accepted as the delay (queue_delayed_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("delayed")
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        yield* Workqueue.queueDelayed(wq, dwork, "2 seconds")
        yield* TestClock.adjust("2 seconds")
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, ["start d@2000/cpu0", "end d@2000/cpu0"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "a fractional delay is rounded up (fires late, never early); a negative delay queues at once (__queue_delayed_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("delayed")
          yield* Workqueue.queueDelayed(wq, yield* DelayedWork.make(rec.handler("fraction")), 1.5)
          yield* Workqueue.queueDelayed(wq, yield* DelayedWork.make(rec.handler("negative")), -5)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["negative"])
          yield* TestClock.adjust(1)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["negative"], "not at 1 ms: that would be early")
          yield* TestClock.adjust(1)
          yield* settle()
          assert.deepStrictEqual(
            (yield* rec.events).filter((e) => e.kind === "start").map((e) => `${e.name}@${e.at}`),
            ["negative@0", "fraction@2"]
          )
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("a disabled item is not armed and queueDelayed returns false (queue_delayed_work_on)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("delayed")
        const dwork = yield* DelayedWork.make(() => Effect.void)
        yield* DelayedWork.disable(dwork)
        assert.isFalse(yield* Workqueue.queueDelayed(wq, dwork, 10))
        assert.isFalse(yield* Workqueue.modDelayed(wq, dwork, 10))
        assert.strictEqual(yield* armedOn("delayed"), 0)
        assert.isTrue(yield* DelayedWork.enable(dwork))
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )
  })

  describe("live clock", () => {
    it.live(
      "an item armed right after the wall clock stepped forward is never early by the Clock (live Clock re-anchors)",
      () =>
        Effect.gen(function* () {
          // Effect's live Clock re-anchors its nanoseconds when the wall clock jumps by more than a second (an NTP
          // step); an arm must read the Clock as it is then, not extrapolate an earlier reading in the old frame
          const step = yield* steppedDateNow
          const clock = yield* Clock.Clock
          const wq = yield* Workqueue.make("stepped")
          const prime = yield* DelayedWork.make(() => Effect.void)
          const ran = yield* Deferred.make<number>()
          const x = yield* DelayedWork.make(() => Deferred.succeed(ran, clock.currentTimeMillisUnsafe()))
          const armedAt = yield* Effect.sync(() => {
            Workqueue.queueDelayedUnsafe(wq, prime, "15 millis")
            step(2_000)
            const at = clock.currentTimeMillisUnsafe()
            Workqueue.queueDelayedUnsafe(wq, x, "500 millis")
            return at
          })
          // not DelayedWork.flush: it fires an armed item at once (flush_delayed_work)
          const started = yield* Deferred.await(ran)
          assert.isAtLeast(started - armedAt, 500, `started ${started - armedAt} ms after its arm, delay 500 ms`)
        }).pipe(Effect.scoped, Effect.provide(systemLayer()))
    )
    it.live("a wall-clock step forward does not fire delayed work armed before it: a delay counts elapsed time", () =>
      Effect.gen(function* () {
        // before: the expiry stayed in the old frame; after a +400 ms step, arming another item woke the timer
        // fiber, which read the new frame and slept only what was left in it: the 600 ms item ran ~400 ms early.
        // Effect.sleep and the kernel's jiffies do not move with the wall clock either
        const step = yield* steppedDateNow
        const wq = yield* Workqueue.make("step-forward")
        const ran = yield* Deferred.make<number>()
        const x = yield* DelayedWork.make(() => Deferred.succeed(ran, performance.now()))
        const armedAt = performance.now()
        Workqueue.queueDelayedUnsafe(wq, x, "600 millis")
        yield* Effect.sleep("20 millis")
        step(400)
        // an earlier expiry than x's in either frame: the timer fiber wakes and reads the new frame
        Workqueue.queueDelayedUnsafe(wq, yield* DelayedWork.make(() => Effect.void), "10 millis")
        const started = yield* Deferred.await(ran)
        assert.isAtLeast(started - armedAt, 600, `started ${started - armedAt} ms after its arm, delay 600 ms`)
      }).pipe(Effect.scoped, Effect.provide(systemLayer()))
    )

    it.live("a Date.now that returns NaN or Infinity for a while breaks no timer: items armed then and after run", () =>
      Effect.gen(function* () {
        // before: one NaN reading made the timers' epoch NaN for good (nothing armed ever ran again)
        const step = yield* steppedDateNow
        const wq = yield* Workqueue.make("broken-date-now")
        const ran: Array<string> = []
        const all = yield* Deferred.make<void>()
        const item = (name: string) =>
          DelayedWork.make(() =>
            Effect.sync(() => {
              ran.push(name)
              if (ran.length === 3) Deferred.doneUnsafe(all, Exit.void)
            })
          )
        const a = yield* item("a")
        const b = yield* item("b")
        const c = yield* item("c")
        step(Number.NaN)
        Workqueue.queueDelayedUnsafe(wq, a, "30 millis")
        yield* Effect.sleep("5 millis")
        step(Infinity)
        Workqueue.queueDelayedUnsafe(wq, b, "30 millis")
        yield* Effect.sleep("5 millis")
        step(0)
        Workqueue.queueDelayedUnsafe(wq, c, "30 millis")
        // a generous hang guard, not a budget
        yield* Deferred.await(all).pipe(Effect.timeout("20 seconds"))
        assert.sameMembers(ran, ["a", "b", "c"])
      }).pipe(Effect.scoped, Effect.provide(systemLayer()))
    )

    it.live("a Clock that throws while the pump starts does not throw out of the event loop's callback", () => {
      const { clock, setBroken } = breakableClock()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("throwing-clock-pump")
        const ran = yield* Deferred.make<void>()
        const x = yield* Work.make(() => Deferred.succeed(ran, undefined))
        setBroken(true)
        // the pump that runs x reads the Clock for its stamp on the parent scheduler's turn, outside any fiber:
        // before, the throw left that callback and ended the process
        Workqueue.queueUnsafe(wq, x)
        yield* Deferred.await(ran).pipe(Effect.ensuring(Effect.sync(() => setBroken(false))))
      }).pipe(Effect.provide(systemLayer({ watchdogThresh: 0 })), Effect.provideService(Clock.Clock, clock))
    })

    it.effect("a Clock that throws while an item is armed leaves the item as it was, not PENDING with no timer", () => {
      const { clock, setBroken } = breakableClock()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("throwing-clock")
        let ran = 0
        const x = yield* DelayedWork.make(() =>
          Effect.sync(() => {
            ran++
          })
        )
        setBroken(true)
        const exit = yield* Effect.exit(Workqueue.queueDelayed(wq, x, 10))
        setBroken(false)
        assert.isTrue(Exit.isFailure(exit), "the Clock's throw is the caller's defect")
        // before: PENDING was taken before the Clock was read, so the item was "armed" with no timer, for good
        assert.isFalse(yield* DelayedWork.pending(x))
        assert.isTrue(yield* Workqueue.queueDelayed(wq, x, 10))
        yield* DelayedWork.flush(x)
        assert.strictEqual(ran, 1)
      }).pipe(Effect.provide(systemLayer({ watchdogThresh: 0 })), Effect.provideService(Clock.Clock, clock))
    })

    it.live("a wall-clock step back does not hold delayed work armed before it for the step", () =>
      Effect.gen(function* () {
        // before: a 100 ms item armed before a -60 s step ran 60 s late (the hang guard below fails it)
        const step = yield* steppedDateNow
        const wq = yield* Workqueue.make("step-back")
        const ran = yield* Deferred.make<number>()
        const x = yield* DelayedWork.make(() => Deferred.succeed(ran, performance.now()))
        const armedAt = performance.now()
        Workqueue.queueDelayedUnsafe(wq, x, "100 millis")
        yield* Effect.sleep("20 millis")
        step(-60_000)
        Workqueue.queueDelayedUnsafe(wq, yield* DelayedWork.make(() => Effect.void), "10 millis")
        // a generous hang guard, not a budget: the item is due 80 ms from here
        const started = yield* Deferred.await(ran).pipe(Effect.timeout("20 seconds"))
        assert.isAtLeast(started - armedAt, 100, `started ${started - armedAt} ms after its arm, delay 100 ms`)
      }).pipe(Effect.scoped, Effect.provide(systemLayer()))
    )

    it.live(
      "a wall clock jittering back and forth moves no expiry: each step is followed exactly, not rounded up",
      () =>
        Effect.gen(function* () {
          // every reading that disagrees with Date.now() by a ms re-anchors; the steps between two origins carry the
          // monotonic clock's fraction, and rounding each one up moved the expiry later with every flip
          const step = yield* steppedDateNow
          const wq = yield* Workqueue.make("jitter")
          const x = yield* DelayedWork.make(() => Effect.void)
          const probe = yield* DelayedWork.make(() => Effect.void)
          Workqueue.queueDelayedUnsafe(wq, x, "60 seconds")
          const expiresOf = () => (x as unknown as { toJSON(): { expires: number } }).toJSON().expires
          const before = expiresOf()
          for (let i = 0; i < 2_000; i++) {
            step(i % 2 === 0 ? 3 : 0)
            // each arm reads the Clock: the system sees every step
            Workqueue.queueDelayedUnsafe(wq, probe, "1 second")
            DelayedWork.cancelUnsafe(probe)
          }
          step(0)
          const after = expiresOf()
          assert.isAtMost(Math.abs(after - before), 2, `expiry moved from ${before} to ${after} over 2000 flips`)
          assert.isTrue(DelayedWork.cancelUnsafe(x))
        }).pipe(Effect.scoped, Effect.provide(systemLayer()))
    )

    it.live("live Clock: 300 items armed at scattered sub-millisecond times for 1-3 ms never start early", () =>
      Effect.gen(function* () {
        // the fine reading decides arming and expiry (`fineClock.ts`); performance.now() is the same frame while the
        // wall clock does not step, so each start is at least its delay after its arm
        const wq = yield* Workqueue.make("fine", { maxActive: 512 })
        const n = 300
        const armed = new Float64Array(n)
        const delays = new Float64Array(n)
        const started = new Float64Array(n)
        const all = yield* Deferred.make<void>()
        let done = 0
        for (let i = 0; i < n; i++) {
          const item = yield* DelayedWork.make(() =>
            Effect.sync(() => {
              started[i] = performance.now()
              if (++done === n) Deferred.doneUnsafe(all, Exit.void)
            })
          )
          // spin a seeded fraction of a millisecond so arms land at every offset within the millisecond
          const until = performance.now() + ((i * 37) % 100) / 100
          while (performance.now() < until) {
            /* spin */
          }
          delays[i] = 1 + (i % 3)
          armed[i] = performance.now()
          Workqueue.queueDelayedUnsafe(wq, item, delays[i]!)
          if (i % 50 === 49) yield* Effect.sleep(0)
        }
        yield* Deferred.await(all)
        for (let i = 0; i < n; i++) {
          const elapsed = started[i]! - armed[i]!
          assert.isAtLeast(elapsed, delays[i]!, `item ${i} started ${elapsed} ms after its arm, delay ${delays[i]} ms`)
        }
      }).pipe(Effect.scoped, Effect.provide(systemLayer()))
    )
  })

  describe("other Clocks: never early by their milliseconds, exact under TestClock at fractional times", () => {
    it.effect(
      "a user Clock with fractional ms and ms-resolution nanos: an item never starts early by the Clock's ms",
      () =>
        Effect.gen(function* () {
          const tc = (yield* Clock.Clock) as unknown as TestClock.TestClock
          const ms = () => tc.currentTimeMillisUnsafe()
          // the same time, nanoseconds at millisecond resolution (e.g. derived from Date.now())
          const nanos = () => BigInt(Math.floor(ms())) * 1_000_000n
          const userClock: Clock.Clock = {
            currentTimeMillisUnsafe: ms,
            currentTimeMillis: Effect.sync(ms),
            currentTimeNanosUnsafe: nanos,
            currentTimeNanos: Effect.sync(nanos),
            monotonicTimeNanosUnsafe: () => tc.monotonicTimeNanosUnsafe(),
            monotonicTimeNanos: Effect.sync(() => tc.monotonicTimeNanosUnsafe()),
            sleep: (d) => tc.sleep(d)
          }
          yield* Effect.gen(function* () {
            const wq = yield* Workqueue.make("user-clock")
            let startedA = -1
            // B (due at 1) makes the timer fiber wake at 1 and then sleep whole ms to A's expiry
            const b = yield* DelayedWork.make(() => Effect.void)
            const a = yield* DelayedWork.make(() =>
              Effect.sync(() => {
                startedA = ms()
              })
            )
            assert.isTrue(yield* Workqueue.queueDelayed(wq, b, 1))
            yield* settle()
            yield* tc.adjust("0.9 millis")
            const armedA = ms() // 0.9
            assert.isTrue(yield* Workqueue.queueDelayed(wq, a, 2))
            for (let i = 0; i < 40 && startedA < 0; i++) {
              yield* tc.adjust("0.1 millis")
              yield* settle()
            }
            assert.isAtLeast(startedA, 0, "A never started")
            // read through its nanoseconds (0 at 0.9), A would be due at 2 and start 1.1 ms after its arm
            assert.isAtLeast(startedA - armedA, 2, `A armed at ${armedA} for 2 ms started at ${startedA}`)
          }).pipe(Effect.provide(systemLayer()), Effect.provideService(Clock.Clock, userClock))
        })
    )

    it.effect("TestClock at a fractional time: an item fires when the TestClock reaches its (whole-ms) expiry", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("frac-testclock")
        let started = -1
        const a = yield* DelayedWork.make(() =>
          Effect.map(Clock.currentTimeMillis, (t) => {
            started = t
          })
        )
        yield* TestClock.adjust("0.5 millis")
        assert.isTrue(yield* Workqueue.queueDelayed(wq, a, 2)) // 0.5 + 2 rounded up: expiry 3
        yield* settle()
        yield* TestClock.adjust("2.5 millis") // the TestClock is now at 3
        yield* settle()
        // a sleep of whole ms rounded up (ceil(3 - 0.5) = 3 from 0.5) would fire A only at 3.5
        assert.strictEqual(started, 3, `A (expiry 3) had not fired at TestClock 3 (started: ${started})`)
      }).pipe(Effect.provide(systemLayer()))
    )

    it.effect("TestClock at a floating-point sum (0.1 + 0.2 + 2.3): an item due at 4 fires at 4, not never", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("float-testclock")
        let started = -1
        const a = yield* DelayedWork.make(() =>
          Effect.map(Clock.currentTimeMillis, (t) => {
            started = t
          })
        )
        yield* TestClock.adjust("0.1 millis")
        yield* TestClock.adjust("0.2 millis")
        yield* TestClock.adjust("2.3 millis")
        const armedAt = yield* Clock.currentTimeMillis // 2.5999999999999996, not 2.6
        assert.isTrue(yield* Workqueue.queueDelayed(wq, a, 1)) // expiry ceil(3.5999999999999996) = 4
        // a sleep of exactly `4 - armedAt` summed back by the TestClock lands an ulp short of 4: nothing was due, the
        // next sleep was 0 ns, and the timer fiber slept 0 ns at 3.9999999999999996 until `adjust` gave up on it
        yield* TestClock.adjust("5 millis")
        yield* settle()
        assert.isFalse(yield* DelayedWork.pending(a), `armed at ${armedAt}, still pending at 7.6`)
        assert.isAtLeast(started, 4, `started at ${started}: early`)
        assert.isBelow(started, 4 + 1e-5, `started at ${started}, not at its expiry 4`)
      }).pipe(Effect.provide(systemLayer()))
    )

    it.effect("a delay too large for whole nanoseconds does not stop the timer fiber: later items still fire", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("huge-delay")
        let ran = 0
        const huge = yield* DelayedWork.make(() => Effect.void)
        const small = yield* DelayedWork.make(() =>
          Effect.sync(() => {
            ran++
          })
        )
        // the earliest expiry (the watchdog is off): the fiber's sleep toward it was BigInt(Infinity) ns and it died
        assert.isTrue(yield* Workqueue.queueDelayed(wq, huge, 1e303))
        yield* settle()
        assert.isTrue(yield* Workqueue.queueDelayed(wq, small, 10))
        yield* TestClock.adjust("10 millis")
        yield* settle()
        assert.strictEqual(ran, 1, "an item armed after the huge one never ran")
        assert.isTrue(yield* DelayedWork.cancel(huge))
      }).pipe(Effect.provide(systemLayer({ watchdogThresh: 0 })))
    )

    it.effect(
      "TestClock set to a time whose distance to the expiry is not whole nanoseconds: fires at the expiry",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("ns-testclock")
          let started = -1
          const a = yield* DelayedWork.make(() =>
            Effect.map(Clock.currentTimeMillis, (t) => {
              started = t
            })
          )
          yield* TestClock.setTime(34.362404823303223)
          assert.isTrue(yield* Workqueue.queueDelayed(wq, a, 2)) // expiry 37
          yield* TestClock.adjust("10 millis")
          yield* settle()
          assert.isAtLeast(started, 37, `started at ${started}: early or never`)
          assert.isBelow(started, 37 + 1e-5, `started at ${started}, not at its expiry 37`)
        }).pipe(Effect.provide(systemLayer()))
    )
  })

  describe("modDelayed (mod_delayed_work_on in each state)", () => {
    it.effect("idle: arms at now + delay and returns false (mod_delayed_work_on)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("mod")
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        yield* TestClock.adjust(3)
        assert.isFalse(yield* Workqueue.modDelayed(wq, dwork, 20))
        assert.isTrue(yield* DelayedWork.pending(dwork))
        yield* TestClock.adjust(20)
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, ["start d@23/cpu0", "end d@23/cpu0"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("armed: re-arms for now + delay (shorter or longer) and returns true (mod_delayed_work_on)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("mod")
        const longer = yield* DelayedWork.make(rec.handler("longer"))
        const shorter = yield* DelayedWork.make(rec.handler("shorter"))
        yield* Workqueue.queueDelayed(wq, longer, 100)
        yield* Workqueue.queueDelayed(wq, shorter, 1000)
        yield* TestClock.adjust(50)
        assert.isTrue(yield* Workqueue.modDelayed(wq, longer, 100), "was pending")
        assert.isTrue(yield* Workqueue.modDelayed(wq, shorter, 10))
        assert.strictEqual(yield* armedOn("mod"), 2, "the old timers are gone")
        yield* TestClock.adjust(49)
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["shorter"])
        yield* TestClock.adjust(51)
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, [
          "start shorter@60/cpu0",
          "end shorter@60/cpu0",
          "start longer@150/cpu0",
          "end longer@150/cpu0"
        ])
        yield* TestClock.adjust(2000)
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["shorter", "longer"], "the old expiries never fire")
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("queued: pulled off the list and re-armed, i.e. postponed; returns true (mod_delayed_work_on)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("mod", { maxActive: 1 })
        const blocker = yield* Work.make(rec.handler("blocker", gate.await))
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        yield* Workqueue.queue(wq, blocker)
        yield* Workqueue.queueDelayed(wq, dwork, 0)
        yield* settle()
        assert.isTrue(yield* Workqueue.modDelayed(wq, dwork, 40))
        const pwq = (yield* WorkqueueSystem.snapshot).workqueues.find((w) => w.name === "mod")!.pwqs[0]!
        assert.strictEqual(pwq.inactive, 0, "no longer on the inactive list")
        yield* gate.open
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["blocker"], "postponed, not run when the slot freed")
        yield* TestClock.adjust(40)
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, [
          "start blocker@0/cpu0",
          "end blocker@0/cpu0",
          "start d@40/cpu0",
          "end d@40/cpu0"
        ])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "running, not pending: arms a new instance that runs after the running one, returns false (mod_delayed_work_on)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("mod")
          let runs = 0
          const dwork = yield* DelayedWork.make(() =>
            Effect.gen(function* () {
              const n = ++runs
              yield* rec.mark("start", `d${n}`)
              yield* Effect.sleep(30)
              yield* rec.mark("end", `d${n}`)
            })
          )
          yield* Workqueue.queueDelayed(wq, dwork, 0)
          yield* settle()
          assert.isFalse(yield* Workqueue.modDelayed(wq, dwork, 10))
          assert.isTrue(yield* DelayedWork.pending(dwork))
          yield* TestClock.adjust(10)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["d1"], "the new instance waits for the running one")
          yield* TestClock.adjust(20)
          yield* settle()
          yield* TestClock.adjust(30)
          yield* settle()
          const events = (yield* rec.events).map((e) => `${e.kind} ${e.name}@${e.at}`)
          assert.deepStrictEqual(events, ["start d1@0", "end d1@30", "start d2@30", "end d2@60"])
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "running + pending: the pending instance is pulled and re-armed; returns true (mod_delayed_work_on)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("mod")
          let runs = 0
          const dwork = yield* DelayedWork.make(() =>
            Effect.gen(function* () {
              const n = ++runs
              yield* rec.mark("start", `d${n}`)
              if (n === 1) yield* gate.await
              yield* rec.mark("end", `d${n}`)
            })
          )
          yield* Workqueue.queueDelayed(wq, dwork, 0)
          yield* settle()
          assert.isTrue(yield* Workqueue.queueDelayed(wq, dwork, 0), "queued again while running")
          assert.isTrue(yield* Workqueue.modDelayed(wq, dwork, 50))
          yield* gate.open
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["d1"], "the queued instance was pulled")
          yield* TestClock.adjust(50)
          yield* settle()
          assert.deepStrictEqual(yield* rec.trace, [
            "start d1@0/cpu0",
            "end d1@0/cpu0",
            "start d2@50/cpu0",
            "end d2@50/cpu0"
          ])
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("modDelayed(0) on an armed item runs it now (mod_delayed_work_on)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("mod")
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        yield* Workqueue.queueDelayed(wq, dwork, 1000)
        yield* TestClock.adjust(7)
        assert.isTrue(yield* Workqueue.modDelayed(wq, dwork, 0))
        assert.strictEqual(yield* armedOn("mod"), 0)
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, ["start d@7/cpu0", "end d@7/cpu0"])
        yield* TestClock.adjust(2000)
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["d"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("repeated modDelayed debounces: the item runs once, delay after the last call (mod_delayed_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("debounce")
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        for (let i = 0; i < 5; i++) {
          yield* Workqueue.modDelayed(wq, dwork, 100)
          yield* TestClock.adjust(30)
          yield* settle()
        }
        assert.deepStrictEqual(yield* rec.starts, [])
        yield* TestClock.adjust(1000)
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, ["start d@220/cpu0", "end d@220/cpu0"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("modDelayedOn moves an armed item to another workqueue and CPU (mod_delayed_work_on)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const first = yield* Workqueue.make("first")
        const second = yield* Workqueue.make("second")
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        yield* Workqueue.queueDelayedOn(first, 1, dwork, 100)
        assert.isTrue(yield* Workqueue.modDelayedOn(second, 2, dwork, 20))
        yield* TestClock.adjust(200)
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, ["start d@20/cpu2", "end d@20/cpu2"])
        const snap = yield* WorkqueueSystem.snapshot
        const started = (name: string) =>
          snap.workqueues.find((w) => w.name === name)!.pwqs.reduce((n, p) => n + p.stats.started, 0)
        assert.deepStrictEqual([started("first"), started("second")], [0, 1])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )
  })

  describe("flush", () => {
    it.effect(
      "DelayedWork.flush fires an armed timer now, waits, and returns true; the old expiry never runs it twice (flush_delayed_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("flush")
          const dwork = yield* DelayedWork.make(rec.handler("d"))
          yield* Workqueue.queueDelayed(wq, dwork, 100)
          yield* TestClock.adjust(10)
          assert.isTrue(yield* DelayedWork.flush(dwork))
          assert.deepStrictEqual(yield* rec.trace, ["start d@10/cpu0", "end d@10/cpu0"])
          assert.strictEqual(yield* armedOn("flush"), 0)
          yield* TestClock.adjust(1000)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["d"])
          assert.isFalse(yield* DelayedWork.flush(dwork), "idle now")
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("DelayedWork.flush of an already queued item waits for it and returns true (flush_delayed_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("flush", { maxActive: 1 })
        yield* Workqueue.queue(wq, yield* Work.make(rec.handler("blocker", gate.await)))
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        yield* Workqueue.queueDelayed(wq, dwork, 0)
        const flusher = yield* Effect.forkChild(DelayedWork.flush(dwork))
        yield* settle()
        assert.isUndefined(flusher.pollUnsafe())
        yield* gate.open
        assert.isTrue(yield* Fiber.join(flusher))
        assert.deepStrictEqual(yield* rec.ends, ["blocker", "d"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("Work.flush of an armed-only item returns false at once without waiting for the timer (flush_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("flush")
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        yield* Workqueue.queueDelayed(wq, dwork, 100)
        assert.isFalse(yield* Work.flush(dwork))
        assert.isTrue(yield* DelayedWork.pending(dwork), "still armed")
        assert.deepStrictEqual(yield* rec.starts, [])
        yield* TestClock.adjust(100)
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["d"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )
  })

  describe("cancel", () => {
    it.effect("cancel while armed returns true, deletes the timer, and it never runs (cancel_delayed_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("cancel")
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        yield* Workqueue.queueDelayed(wq, dwork, 100)
        assert.isTrue(yield* DelayedWork.cancel(dwork))
        assert.isFalse(yield* DelayedWork.pending(dwork))
        assert.strictEqual(yield* armedOn("cancel"), 0)
        assert.strictEqual((yield* WorkqueueSystem.snapshot).workqueues.find((w) => w.name === "cancel")!.armed, 0)
        assert.isFalse(yield* DelayedWork.cancel(dwork))
        yield* TestClock.adjust(200)
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, [])
        assert.isTrue(yield* Workqueue.queueDelayed(wq, dwork, 10), "can be armed again")
        yield* TestClock.adjust(10)
        yield* settle()
        assert.deepStrictEqual(yield* rec.trace, ["start d@210/cpu0", "end d@210/cpu0"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "disable of an armed item deletes its timer and returns true; it stays unarmable until enabled (disable_delayed_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("disable")
          const dwork = yield* DelayedWork.make(rec.handler("d"))
          yield* Workqueue.queueDelayed(wq, dwork, 50)
          assert.isTrue(yield* DelayedWork.disable(dwork))
          assert.strictEqual(yield* armedOn("disable"), 0)
          assert.isFalse(yield* Workqueue.queueDelayed(wq, dwork, 10))
          yield* TestClock.adjust(100)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, [])
          assert.isTrue(yield* DelayedWork.enable(dwork))
          assert.isTrue(yield* Workqueue.queueDelayed(wq, dwork, 10))
          yield* TestClock.adjust(10)
          yield* settle()
          assert.deepStrictEqual(yield* rec.trace, ["start d@110/cpu0", "end d@110/cpu0"])
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "a periodic self-re-arming item is stopped for good by cancelSync while armed (cancel_delayed_work_sync)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("periodic")
          const dwork = yield* DelayedWork.make((self) =>
            Effect.andThen(rec.mark("start", "tick"), Workqueue.queueDelayed(wq, self, 100))
          )
          yield* Workqueue.queueDelayed(wq, dwork, 100)
          yield* TestClock.adjust(350)
          yield* settle()
          assert.deepStrictEqual(
            (yield* rec.events).map((e) => e.at),
            [100, 200, 300]
          )
          assert.isTrue(yield* DelayedWork.cancelSync(dwork), "it was armed")
          assert.isFalse(yield* DelayedWork.pending(dwork))
          yield* TestClock.adjust(1000)
          yield* settle()
          assert.strictEqual((yield* rec.events).length, 3)
          assert.strictEqual(yield* armedOn("periodic"), 0)
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "a periodic item cancel-synced while it runs: its re-arm is refused and it never runs again (cancel_delayed_work_sync)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("periodic")
          const rearmed: Array<boolean> = []
          const dwork = yield* DelayedWork.make((self) =>
            Effect.gen(function* () {
              yield* rec.mark("start", "tick")
              yield* gate.await
              rearmed.push(yield* Workqueue.queueDelayed(wq, self, 100))
            })
          )
          yield* Workqueue.queueDelayed(wq, dwork, 100)
          yield* TestClock.adjust(100)
          yield* settle()
          assert.strictEqual((yield* rec.events).length, 1, "running")
          const canceller = yield* Effect.forkChild(DelayedWork.cancelSync(dwork))
          yield* settle()
          assert.isUndefined(canceller.pollUnsafe(), "waits for the running instance")
          yield* gate.open
          assert.isFalse(yield* Fiber.join(canceller))
          assert.deepStrictEqual(rearmed, [false])
          assert.isFalse(yield* DelayedWork.pending(dwork))
          yield* TestClock.adjust(1000)
          yield* settle()
          assert.strictEqual((yield* rec.events).length, 1)
          assert.strictEqual(yield* armedOn("periodic"), 0)
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )
  })

  describe("drain and destroy", () => {
    it.effect("a timer that fires during drain is accepted and drained (drain_workqueue; by design)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("drain")
        const blocker = yield* Work.make(rec.handler("blocker", gate.await))
        const dwork = yield* DelayedWork.make(rec.handler("d"))
        yield* Workqueue.queue(wq, blocker)
        yield* Workqueue.queueDelayed(wq, dwork, 50)
        yield* settle()
        const drainer = yield* Effect.forkChild(Workqueue.drain(wq))
        yield* settle()
        yield* TestClock.adjust(50)
        yield* settle()
        assert.isUndefined(drainer.pollUnsafe())
        yield* gate.open
        yield* Fiber.join(drainer)
        assert.deepStrictEqual(yield* rec.trace, [
          "start blocker@0/cpu0",
          "start d@50/cpu0",
          "end d@50/cpu0",
          "end blocker@50/cpu0"
        ])
        assert.isFalse(yield* DelayedWork.pending(dwork))
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "drain does not wait for armed-only timers; one that fires after the drain runs normally (drain_workqueue)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("drain")
          const dwork = yield* DelayedWork.make(rec.handler("d"))
          yield* Workqueue.queueDelayed(wq, dwork, 100)
          yield* Workqueue.drain(wq)
          assert.isTrue(yield* DelayedWork.pending(dwork), "still armed")
          yield* TestClock.adjust(100)
          yield* settle()
          assert.deepStrictEqual(yield* rec.trace, ["start d@100/cpu0", "end d@100/cpu0"])
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("Workqueue.flush does not wait for armed delayed items (flush_workqueue)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("flush")
        yield* Workqueue.queueDelayed(wq, yield* DelayedWork.make(rec.handler("d")), 100)
        yield* Workqueue.flush(wq)
        assert.deepStrictEqual(yield* rec.starts, [])
        yield* TestClock.adjust(100)
        yield* settle()
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect("destroy fires armed timers at once and runs them before returning (destroy_workqueue; by design)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("destroy")
        const baseline = yield* timers
        const a = yield* DelayedWork.make(rec.handler("a"))
        const b = yield* DelayedWork.make(rec.handler("b"))
        yield* Workqueue.queueDelayed(wq, b, 5000)
        yield* Workqueue.queueDelayed(wq, a, 1000)
        yield* TestClock.adjust(3)
        yield* Workqueue.destroy(wq)
        assert.deepStrictEqual(yield* rec.trace, ["start a@3/cpu0", "end a@3/cpu0", "start b@3/cpu0", "end b@3/cpu0"])
        assert.isFalse(yield* DelayedWork.pending(a))
        assert.isFalse(yield* DelayedWork.pending(b))
        assert.strictEqual(yield* timers, baseline, "both timers are gone")
        yield* TestClock.adjust(10_000)
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["a", "b"])
      }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "a periodic item re-armed by its own handler during destroy does not outlive the workqueue (destroy_workqueue; no use-after-free)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("destroy")
          const baseline = yield* timers
          const dwork = yield* DelayedWork.make((self) =>
            Effect.andThen(rec.mark("start", "tick"), Effect.ignore(Workqueue.queueDelayed(wq, self, 100)))
          )
          yield* Workqueue.queueDelayed(wq, dwork, 100)
          yield* Workqueue.destroy(wq)
          assert.isFalse(yield* DelayedWork.pending(dwork), "nothing stays pending on a destroyed workqueue")
          assert.strictEqual(yield* timers, baseline, "no timer targets the destroyed workqueue")
          yield* TestClock.adjust(1000)
          yield* settle()
          assert.isAtMost((yield* rec.events).length, 2, "the handler never runs on the destroyed workqueue")
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )

    it.effect(
      "once every delayed item has fired no timer is armed (snapshot.timers 0) and the layer closes without hanging (run_timers)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(systemLayer({ cpus: 4, watchdogThresh: 0 }), scope)
          yield* Effect.gen(function* () {
            const wq = yield* Workqueue.make("fired")
            for (const [name, delay] of [
              ["a", 10],
              ["b", 20],
              ["c", 20]
            ] as const) {
              yield* Workqueue.queueDelayed(wq, yield* DelayedWork.make(rec.handler(name)), delay)
            }
            assert.strictEqual(yield* timers, 3)
            yield* TestClock.adjust(20)
            yield* settle()
            assert.deepStrictEqual(yield* rec.starts, ["a", "b", "c"])
            assert.strictEqual(yield* timers, 0, "nothing left armed before the close")
          }).pipe(Effect.provideContext(context), Scope.provide(scope))
          yield* Scope.close(scope, Exit.void)
        })
    )

    it.effect("after the layer closes no timer remains, and the scope closes without hanging (closeSystem)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(systemLayer({ cpus: 4 }), scope)
        const service = context.mapUnsafe.get(WorkqueueSystem.WorkqueueSystem.key) as
          | WorkqueueSystem.WorkqueueSystem["Service"]
          | undefined
        assert.isDefined(service)
        const program = Effect.gen(function* () {
          const wq = yield* Workqueue.make("owned")
          const a = yield* DelayedWork.make(rec.handler("a"))
          const b = yield* DelayedWork.make(rec.handler("b"))
          const c = yield* DelayedWork.make(rec.handler("c"))
          yield* Workqueue.queueDelayed(wq, a, 10)
          yield* WorkqueueSystem.scheduleDelayed(b, 60_000)
          yield* Workqueue.queueDelayed(wq, c, 100)
          yield* TestClock.adjust(10)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["a"])
          assert.strictEqual(yield* armedOn("owned"), 1)
          assert.strictEqual(yield* armedOn("events"), 1)
        })
        yield* program.pipe(Effect.provideContext(context), Scope.provide(scope))
        yield* Scope.close(scope, Exit.void)
        const snap = yield* Effect.provideService(WorkqueueSystem.snapshot, WorkqueueSystem.WorkqueueSystem, service!)
        assert.strictEqual(snap.timers, 0)
        assert.deepStrictEqual(snap.workqueues, [])
        assert.deepStrictEqual([...(yield* rec.starts)].sort(), ["a", "b", "c"], "armed items were fired, not dropped")
      })
    )
  })

  describe("state", () => {
    it.effect(
      "toJSON reports the WORK_STRUCT_* state through an item's life: idle, armed, queued, running, running+queued, disabled (work_busy)",
      () =>
        Effect.gen(function* () {
          const gate = yield* makeGate
          const wq = yield* Workqueue.make("states", { maxActive: 1 })
          const blocker = yield* Work.make(() => gate.await)
          const dwork = yield* DelayedWork.make(() => gate.await, { name: "d" })
          const json = (u: unknown) => JSON.parse(JSON.stringify(u)) as { _id: string; state: string; expires?: number }
          assert.deepStrictEqual(json(dwork), { _id: "DelayedWork", name: "d", state: "idle" } as never)
          yield* Workqueue.queueDelayed(wq, dwork, 30)
          assert.deepStrictEqual([json(dwork).state, json(dwork).expires], ["armed", 30])
          yield* Workqueue.queue(wq, blocker)
          yield* TestClock.adjust(30)
          yield* settle()
          assert.strictEqual(json(dwork).state, "queued-inactive")
          yield* gate.open
          yield* settle()
          assert.strictEqual(json(dwork).state, "idle")
          const gate2 = yield* makeGate
          const running = yield* DelayedWork.make(() => gate2.await, { name: "r" })
          yield* Workqueue.queueDelayed(wq, running, 0)
          yield* settle()
          assert.strictEqual(json(running).state, "running")
          yield* Workqueue.queueDelayed(wq, running, 0)
          assert.strictEqual(json(running).state, "running+queued")
          assert.isTrue(yield* DelayedWork.cancel(running))
          yield* gate2.open
          yield* settle()
          yield* DelayedWork.disable(running)
          assert.strictEqual(json(running).state, "disabled")
          assert.isTrue(yield* DelayedWork.enable(running))
          assert.strictEqual(json(running).state, "idle")
        }).pipe(Effect.provide(systemLayer({ cpus: 4 })))
    )
  })

  describe("make", () => {
    it.effect("DelayedWork.make builds a delayed work item that is also a Work (INIT_DELAYED_WORK)", () =>
      Effect.gen(function* () {
        const dwork = yield* DelayedWork.make(() => Effect.void, { name: "dw" })
        assert.isTrue(DelayedWork.isDelayedWork(dwork))
        assert.isTrue(Work.isWork(dwork))
        assert.strictEqual(dwork.name, "dw")
        const plain = yield* Work.make(() => Effect.void)
        assert.isFalse(DelayedWork.isDelayedWork(plain))
      })
    )
  })
})
