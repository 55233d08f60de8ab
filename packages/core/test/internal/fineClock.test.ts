import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { fineReader, isLiveClock, liveFineNow, liveOrigin } from "../../src/internal/fineClock.ts"

/** Replace `Date.now` with the real one plus `offset()` for the duration of `body`. */
const withSteppedDateNow = <A>(offset: () => number, body: () => A): A => {
  const realNow = Date.now
  Date.now = () => realNow.call(Date) + offset()
  try {
    return body()
  } finally {
    Date.now = realNow
  }
}

/** A Clock that always reads `ms` milliseconds and `nanos` nanoseconds. */
const fixedClock = (ms: number, nanos: bigint): Clock.Clock => ({
  currentTimeMillisUnsafe: () => ms,
  currentTimeNanosUnsafe: () => nanos,
  currentTimeMillis: Effect.succeed(ms),
  currentTimeNanos: Effect.succeed(nanos),
  monotonicTimeNanosUnsafe: () => nanos,
  monotonicTimeNanos: Effect.succeed(nanos),
  sleep: () => Effect.void
})

describe("internal/fineClock", () => {
  it("a broken wall reading (NaN, Infinity, a throw) is no step: the frame stays, every reading finite", () => {
    liveFineNow()
    const origin = liveOrigin()
    const realNow = Date.now
    for (const broken of [
      () => Number.NaN,
      () => Infinity,
      () => -Infinity,
      (): number => {
        throw new Error("broken Date.now")
      }
    ]) {
      Date.now = broken
      try {
        const fine = liveFineNow()
        assert.isTrue(Number.isFinite(fine), `a reading of ${fine}`)
        // before: origin became NaN (or infinite), and every system's timers shifted by it for good
        assert.strictEqual(liveOrigin(), origin)
      } finally {
        Date.now = realNow
      }
    }
    const fine = liveFineNow()
    assert.isBelow(Math.abs(fine - Date.now()), 1)
  })

  it("isLiveClock: Effect's default Clock is live; TestClock and a Clock overriding a reading are not", () => {
    const live = Context.get(Context.empty(), Clock.Clock)
    assert.isTrue(isLiveClock(live))
    const overridden: Clock.Clock = Object.assign(Object.create(live), { currentTimeMillisUnsafe: () => 5 })
    assert.isFalse(isLiveClock(overridden))
    const test = Effect.runSync(
      Effect.gen(function* () {
        return yield* Clock.Clock
      }).pipe(Effect.provide(TestClock.layer()))
    )
    assert.isFalse(isLiveClock(test))
  })

  it("the live reading lies within a millisecond of Date.now() and never runs backwards without a step", () => {
    let previous = liveFineNow()
    for (let i = 0; i < 10_000; i++) {
      const before = Date.now()
      const fine = liveFineNow()
      const after = Date.now()
      assert.isTrue(fine > before - 1 && fine < after + 1, `reading ${fine} outside (${before - 1}, ${after + 1})`)
      assert.isAtLeast(fine, previous)
      previous = fine
    }
  })

  it("differences between two live readings are the monotonic clock's (exact while the wall clock does not step)", () => {
    liveFineNow() // anchored
    const m0 = performance.now()
    const f0 = liveFineNow()
    const f1 = liveFineNow()
    const m1 = performance.now()
    assert.isAtMost(f1 - f0, m1 - m0 + 1e-6)
    assert.isAtLeast(f1 - f0, 0)
  })

  it("a wall-clock step of any size re-anchors on the next reading: forward 2 s, forward 0.5 s, back 2 s", () => {
    for (const step of [2_000, 500, -2_000, 1.5]) {
      let offset = 0
      withSteppedDateNow(
        () => offset,
        () => {
          liveFineNow()
          offset = step
          const wall = Date.now()
          const fine = liveFineNow()
          assert.isTrue(fine > wall - 1 && fine < Date.now() + 1, `step ${step}: ${fine} not near ${wall}`)
        }
      )
    }
  })

  it("another Clock: its nanoseconds when they agree with its milliseconds, else its milliseconds", () => {
    assert.strictEqual(fineReader(fixedClock(1000, 1_000_400_000n))(), 1000.4)
    assert.strictEqual(fineReader(fixedClock(1000, 0n))(), 1000)
    // slightly behind whole milliseconds is still within one of them (never early: see the module doc)
    assert.strictEqual(fineReader(fixedClock(1000, 999_600_000n))(), 999.6)
  })

  it("another Clock at a fractional millisecond: its milliseconds, whatever its nanoseconds say", () => {
    // nanoseconds truncated to the ms would read 0.9 ms behind the Clock's 1000.9 (an item would start early)
    assert.strictEqual(fineReader(fixedClock(1000.9, 1_000_000_000n))(), 1000.9)
    assert.strictEqual(fineReader(fixedClock(1000.9, 1_000_900_000n))(), 1000.9)
  })
})
