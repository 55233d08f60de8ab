import * as WorkqueueInternal from "../../src/internal/workqueue.ts"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { DelayedWork, Work, Workqueue, WorkqueueSystem } from "../../src/index.ts"
import { settle, systemLayer } from "../utils/recorder.ts"

/** A delayed item that records the virtual time it ran at into `at`. */
const stamped = (at: Array<number>) =>
  DelayedWork.make(() => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => void at.push(now))))

/**
 * A Clock the test moves by hand, below the millisecond (`t` in ms): its milliseconds truncate `t` as the live
 * Clock's do, its nanoseconds do not. Its sleeps end only when the test says so (`wakeAll`), however early: the
 * host's timers, whose resolution is a whole millisecond, may wake a sleeper before its time.
 */
class HandClock implements Clock.Clock {
  t: number
  private readonly sleepers = new Set<() => void>()
  constructor(t: number) {
    this.t = t
  }
  currentTimeMillisUnsafe(): number {
    return Math.floor(this.t)
  }
  readonly currentTimeMillis = Effect.sync(() => this.currentTimeMillisUnsafe())
  currentTimeNanosUnsafe(): bigint {
    return BigInt(Math.round(this.t * 1e6))
  }
  readonly currentTimeNanos = Effect.sync(() => this.currentTimeNanosUnsafe())
  monotonicTimeNanosUnsafe(): bigint {
    return this.currentTimeNanosUnsafe()
  }
  readonly monotonicTimeNanos = Effect.sync(() => this.monotonicTimeNanosUnsafe())
  sleep(): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      const wake = () => resume(Effect.void)
      this.sleepers.add(wake)
      return Effect.sync(() => void this.sleepers.delete(wake))
    })
  }
  /** End every sleep now (an early wake for any whose time has not come). */
  readonly wakeAll = Effect.sync(() => {
    const woken = [...this.sleepers]
    this.sleepers.clear()
    for (const wake of woken) wake()
  })
}

describe("the timer fiber on a Clock finer than a millisecond (internal/timer.ts)", () => {
  it.effect("an item armed between two milliseconds fires no earlier than its delay, whenever the fiber wakes", () => {
    const clock = new HandClock(1000.9)
    return Effect.gen(function* () {
      const wq = yield* Workqueue.make("fine")
      yield* settle()
      const fired: Array<number> = []
      const item = yield* DelayedWork.make(() => Effect.sync(() => void fired.push(clock.t)))
      yield* Workqueue.queueDelayed(wq, item, 2) // armed at 1000.9: due at 1002.9, so at 1003 in whole ms
      // 1002 is 2 ms after the Clock's (truncated) millisecond but only 1.1 ms after the arming
      for (const t of [1001.5, 1002, 1002.5, 1002.95]) {
        clock.t = t
        yield* clock.wakeAll
        yield* settle()
        assert.deepStrictEqual(fired, [], `not yet at ${t}`)
      }
      clock.t = 1003
      yield* clock.wakeAll
      yield* settle()
      assert.deepStrictEqual(fired, [1003])
    }).pipe(Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 })), Effect.provideService(Clock.Clock, clock))
  })
})

describe("the timer fiber's wake-ups (internal/timer.ts TimerFiber.arm)", () => {
  for (const watchdogThresh of [30_000, 0]) {
    it.effect(
      `two earlier arms in one step, both cancelled, then an earlier one: it fires at its expiry (watchdog ${watchdogThresh})`,
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("wake")
          // the timer fiber is up and parked: the wake-up path, not its first start, is under test
          yield* settle()
          const at: Array<number> = []
          const a = yield* stamped(at)
          const b = yield* stamped(at)
          const c = yield* stamped(at)
          yield* Effect.sync(() => {
            Workqueue.modDelayedUnsafe(wq, a, 100)
            Workqueue.modDelayedUnsafe(wq, b, 50)
          })
          yield* Effect.yieldNow
          yield* Effect.sync(() => {
            DelayedWork.cancelUnsafe(a)
            DelayedWork.cancelUnsafe(b)
          })
          yield* Effect.yieldNow
          yield* Workqueue.queueDelayed(wq, c, 10)
          yield* TestClock.adjust(10)
          assert.deepStrictEqual(at, [10])
        }).pipe(Effect.provide(systemLayer({ cpus: 1, watchdogThresh })))
    )
  }

  it.effect("the Effect API alone: modDelayed 100, modDelayed 50, cancel both, queueDelayed 10 fires at 10", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("wake")
      // the timer fiber is up and parked: the wake-up path, not its first start, is under test
      yield* settle()
      const at: Array<number> = []
      const a = yield* stamped(at)
      const b = yield* stamped(at)
      const c = yield* stamped(at)
      yield* Workqueue.modDelayed(wq, a, 100)
      yield* Workqueue.modDelayed(wq, b, 50)
      yield* DelayedWork.cancel(a)
      yield* DelayedWork.cancel(b)
      yield* Effect.yieldNow
      yield* Workqueue.queueDelayed(wq, c, 10)
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(at, [10])
    }).pipe(Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 })))
  )

  it.live(
    "live clock: a 5 ms item runs after two earlier arms in one step were cancelled",
    () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("wake")
        // the timer fiber is up and parked: the wake-up path, not its first start, is under test
        yield* settle()
        const done = yield* Deferred.make<void>()
        const a = yield* DelayedWork.make(() => Effect.void)
        const b = yield* DelayedWork.make(() => Effect.void)
        const c = yield* DelayedWork.make(() => Deferred.succeed(done, undefined))
        yield* Effect.sync(() => {
          Workqueue.modDelayedUnsafe(wq, a, 60_000)
          Workqueue.modDelayedUnsafe(wq, b, 50_000)
        })
        yield* Effect.yieldNow
        yield* Effect.sync(() => {
          DelayedWork.cancelUnsafe(a)
          DelayedWork.cancelUnsafe(b)
        })
        yield* Effect.yieldNow
        yield* Workqueue.queueDelayed(wq, c, 5)
        // generous hang guard: the item is due in 5 ms
        const ran = yield* Deferred.await(done).pipe(Effect.timeout("10 seconds"), Effect.option)
        assert.isTrue(ran._tag === "Some", "the 5 ms item ran")
      }).pipe(Effect.provide(systemLayer({ cpus: 1, watchdogThresh: 0 }))),
    { timeout: 60_000 }
  )

  it.effect("a BH queue's mayday timer armed in the same step as a queueDelayed loses no wake-up", () =>
    Effect.gen(function* () {
      const bh = yield* Workqueue.make("bh", { flags: Workqueue.WQ_BH })
      const wq = yield* Workqueue.make("delayed")
      yield* settle()
      for (let i = 0; i < 3; i++) {
        const t0 = 100 * i
        const at: Array<number> = []
        const d = yield* stamped(at)
        const e = yield* stamped(at)
        const w1 = yield* Work.make(() => Effect.void)
        const w2 = yield* Work.make(() => Effect.void)
        yield* Effect.sync(() => {
          Workqueue.queueDelayedUnsafe(wq, d, 50)
          // the BH pool's one worker is waking: the second item arms the pool's mayday timer (+10 ms)
          Workqueue.queueUnsafe(bh, w1)
          Workqueue.queueUnsafe(bh, w2)
        })
        yield* TestClock.adjust(5)
        // earlier than anything the timer fiber sleeps for: it must be woken
        yield* Workqueue.queueDelayed(wq, e, 2)
        yield* TestClock.adjust(95)
        assert.deepStrictEqual(at, [t0 + 7, t0 + 50], `iteration ${i}`)
      }
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )
})

/** mulberry32: a fixed-seed PRNG, so the schedule below is the same on every run and machine. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("the timer fiber under random arms, cancels and mods (fixed seed)", () => {
  for (const seed of [1, 2, 3]) {
    it.effect(`every armed item fires exactly at its expiry, seed ${seed}`, () =>
      Effect.gen(function* () {
        const random = prng(seed)
        const int = (n: number) => Math.floor(random() * n)
        const wq = yield* Workqueue.make("random")
        yield* settle()
        const N = 64
        const ran: Array<Array<number>> = []
        const expected: Array<Array<number>> = []
        const armedAt: Array<number | undefined> = []
        const items: Array<DelayedWork.DelayedWork> = []
        for (let i = 0; i < N; i++) {
          const times: Array<number> = []
          ran.push(times)
          expected.push([])
          armedAt.push(undefined)
          items.push(
            yield* DelayedWork.make(() =>
              Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => void times.push(now)))
            )
          )
        }
        let now = 0
        let ops = 0
        for (let round = 0; round < 300; round++) {
          // several synchronous steps at one virtual time, each with many operations (the *Unsafe twins)
          const steps = 1 + int(3)
          for (let step = 0; step < steps; step++) {
            yield* Effect.sync(() => {
              const k = 1 + int(12)
              for (let op = 0; op < k; op++, ops++) {
                const i = int(N)
                const item = items[i]!
                const delay = 1 + int(int(4) === 0 ? 2000 : 60)
                switch (int(3)) {
                  case 0:
                    if (Workqueue.queueDelayedUnsafe(wq, item, delay)) armedAt[i] = now + delay
                    else assert.isDefined(armedAt[i], "queueDelayed refused an idle item")
                    break
                  case 1:
                    Workqueue.modDelayedUnsafe(wq, item, delay)
                    armedAt[i] = now + delay
                    break
                  default:
                    assert.strictEqual(DelayedWork.cancelUnsafe(item), armedAt[i] !== undefined)
                    armedAt[i] = undefined
                }
              }
            })
            if (int(2) === 0) yield* Effect.yieldNow
          }
          const advance = int(4) === 0 ? 0 : 1 + int(40)
          now += advance
          yield* TestClock.adjust(advance)
          for (let i = 0; i < N; i++) {
            const at = armedAt[i]
            if (at !== undefined && at <= now) {
              expected[i]!.push(at)
              armedAt[i] = undefined
            }
          }
          for (let i = 0; i < N; i++) assert.deepStrictEqual(ran[i], expected[i], `item ${i} at ${now}, round ${round}`)
        }
        yield* TestClock.adjust(3000)
        for (let i = 0; i < N; i++) {
          const at = armedAt[i]
          if (at !== undefined) expected[i]!.push(at)
          assert.deepStrictEqual(ran[i], expected[i], `item ${i} at the end`)
        }
        assert.isAbove(ops, 1000)
      }).pipe(Effect.provide(systemLayer({ cpus: 2 })))
    )
  }
})

/** The system's timer structure, reached through a workqueue (internal: buckets and heap sizes). */
const timerBaseOf = (wq: Workqueue.Workqueue) => WorkqueueInternal.toState(wq).system.timers

/** Count how often the engine looks at `dwork`'s `timerWq` (every timer walk reads it), from now on. */
const countVisits = (dwork: DelayedWork.DelayedWork, counter: { visits: number }) => {
  let value: unknown = (dwork as any).timerWq
  Object.defineProperty(dwork, "timerWq", {
    configurable: true,
    get() {
      counter.visits++
      return value
    },
    set(v) {
      value = v
    }
  })
}

describe("reclaiming and destroying timers (internal/timer.ts, internal/queue.ts fireArmedTimers)", () => {
  it.effect("100k arm+cancel cycles with jittered one-hour delays leave the timer structure at its baseline", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("jitter")
      const timers = timerBaseOf(wq)
      const buckets0 = timers.bucketCount
      const item = yield* DelayedWork.make(() => Effect.void)
      yield* Effect.sync(() => {
        for (let i = 0; i < 100_000; i++) {
          Workqueue.queueDelayedUnsafe(wq, item, 3_600_000 + ((i * 7919) % 600_000))
          DelayedWork.cancelUnsafe(item)
        }
      })
      assert.strictEqual(timers.bucketCount, buckets0, "no bucket per cancelled timer")
      assert.isAtMost(timers.heapLength, 2 * buckets0 + 64, "the heap's dead entries are compacted")
      assert.strictEqual((yield* WorkqueueSystem.snapshot).workqueues.find((w) => w.name === "jitter")?.armed, 0)
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect("destroying a workqueue visits only its own armed timers (destroy_workqueue)", () =>
    Effect.gen(function* () {
      const busy = yield* Workqueue.make("busy")
      const others = { visits: 0 }
      for (let i = 0; i < 2000; i++) {
        const d = yield* DelayedWork.make(() => Effect.void)
        countVisits(d, others)
        yield* Workqueue.queueDelayed(busy, d, 3_600_000 + i)
      }
      others.visits = 0
      const ran: Array<number> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const small = yield* Workqueue.make("small")
          yield* Workqueue.queueDelayed(small, yield* stamped(ran), 1000)
        })
      )
      assert.strictEqual(ran.length, 1, "destroy fired the small queue's own timer")
      assert.strictEqual(others.visits, 0, "no other queue's armed item was looked at")
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect("creating and destroying n queues, each with an armed timer, visits O(n) timers in all", () =>
    Effect.gen(function* () {
      const n = 400
      const counter = { visits: 0 }
      const closers: Array<Effect.Effect<void>> = []
      for (let i = 0; i < n; i++) {
        const scope = yield* Scope.make()
        const wq = yield* Workqueue.make(`q${i}`).pipe(Scope.provide(scope))
        const d = yield* DelayedWork.make(() => Effect.void)
        countVisits(d, counter)
        yield* Workqueue.queueDelayed(wq, d, 3_600_000 + i)
        closers.push(Scope.close(scope, Exit.void))
      }
      counter.visits = 0
      for (const close of closers) yield* close
      // each destroy reads its own item's timerWq a few times; walking every armed timer would be ~n²/2
      assert.isAtMost(counter.visits, 10 * n)
      assert.isAtLeast(counter.visits, n, "each queue's own timer was fired")
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect(
    "an item moved to another queue by modDelayed, or cancelled, is not fired by the first queue's destroy",
    () =>
      Effect.gen(function* () {
        const at: Array<string> = []
        const item = (name: string) =>
          DelayedWork.make(() =>
            Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => void at.push(`${name}@${t}`)))
          )
        const b = yield* Workqueue.make("b")
        const moved = yield* item("moved")
        const kept = yield* Effect.forEach(["k1", "k2", "k3", "k4"], item)
        const cancelled = yield* item("cancelled")
        yield* Effect.scoped(
          Effect.gen(function* () {
            const a = yield* Workqueue.make("a")
            yield* Workqueue.queueDelayed(a, moved, 500)
            yield* Workqueue.queueDelayed(a, kept[0]!, 300)
            yield* Workqueue.queueDelayed(a, cancelled, 100)
            yield* Workqueue.queueDelayed(a, kept[1]!, 300)
            yield* Workqueue.queueDelayed(a, kept[2]!, 200)
            yield* Workqueue.queueDelayed(a, kept[3]!, 300)
            // unlinks from the head, the middle and the tail of a's armed list
            yield* Workqueue.modDelayed(b, moved, 50)
            yield* DelayedWork.cancel(cancelled)
          })
        )
        // destroy fired a's own timers at once: earliest expiry first, arming order within one expiry
        assert.deepStrictEqual(at, ["k3@0", "k1@0", "k2@0", "k4@0"])
        assert.strictEqual((yield* WorkqueueSystem.snapshot).workqueues.find((w) => w.name === "b")?.armed, 1)
        yield* TestClock.adjust(50)
        assert.deepStrictEqual(at.slice(4), ["moved@50"])
      }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )
})
