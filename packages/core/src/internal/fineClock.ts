/**
 * The Clock below the millisecond, for the timers (`System.fineNow`).
 *
 * `Clock.currentTimeMillisUnsafe` truncates, so a timer armed at 1000.9 for 2 ms (expiry 1002 from the
 * milliseconds) would fire 1.1 ms after it was armed. The timers arm and fire on a finer reading of the same Clock:
 * one whose differences between two readings are exact while the Clock's milliseconds agree with it to within one.
 *
 * - Effect's live Clock (`Date.now()` milliseconds; nanoseconds anchored on a truncated `Date.now()` and run on the
 *   monotonic clock): the same construction in plain numbers, `performance.now()` plus an origin taken from
 *   `Date.now()`, re-anchored on the spot whenever a reading and `Date.now()` disagree by a millisecond or more
 *   (the wall clock stepped). Reading the live Clock's nanoseconds instead builds several `BigInt`s per call
 *   (measured in Node 24: about 180 ns for a fine reading through the Clock against about 95 ns here), and every
 *   arm of delayed work takes one reading. Every reading reads `Date.now()`: an earlier design extrapolated one
 *   reading for 10 ms and armed items in the old frame right after a wall-clock step, so they fired early.
 * - Any other Clock (`TestClock`, a user's): when its milliseconds are whole, its nanoseconds if they agree with them
 *   to within one, else the milliseconds (a Clock whose nanoseconds say nothing); when its milliseconds have a
 *   fraction (a `TestClock` after `adjust("0.9 millis")`), the milliseconds themselves. "Never early by the Clock's
 *   milliseconds" needs both: a reading within 1 ms of whole milliseconds m gives an expiry (rounded up) of at least
 *   m + delay, and it fires at a reading past it, whose whole milliseconds are past it too; against fractional
 *   milliseconds a reading 0.9 ms behind them would start an item 0.9 ms early.
 *
 * A re-anchoring moves the frame of every later reading by the step. Expiries armed before it are in the old
 * frame: each system shifts its armed timers by the step, exactly, when its next reading sees the origin moved
 * (`System.fineNow`), so a delay keeps the time it had left, as the kernel's jiffies and `Effect.sleep` (host
 * timers, monotonic) keep it — a wall clock stepped forward an hour does not fire an hour of delayed work at once,
 * nor does one stepped back hold it for an hour.
 *
 * Field rule: `origin` is written only inside one call of the live reading (one synchronous step).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"

/** Effect's own live Clock, as a fresh program gets it: its two reading methods identify the live Clock. */
const live = Context.get(Context.empty(), Clock.Clock)
const liveMillis = live.currentTimeMillisUnsafe
const liveNanos = live.currentTimeNanosUnsafe

/** Whether `clock` reads time as Effect's live Clock does (its methods, not overridden). @internal */
export const isLiveClock = (clock: Clock.Clock): boolean =>
  clock.currentTimeMillisUnsafe === liveMillis && clock.currentTimeNanosUnsafe === liveNanos

let origin = Number.NaN // L: `Date.now()` minus `performance.now()` at the last anchoring (NaN: never anchored)

/**
 * The live Clock below the millisecond: within (t - 1, t] of the wall time t, and exact differences between two
 * readings while the wall clock does not step (a step re-anchors, as the live Clock's nanoseconds do). @internal
 */
export const liveFineNow = (): number => {
  const mono = performance.now()
  const wall = wallNow()
  const fine = origin + mono
  // Date.now() truncates, so a reading in the current frame lies in (wall - 1, wall + 1); NaN (never anchored) and
  // a stepped wall clock fall outside
  if (fine > wall - 1 && fine < wall + 1) return fine
  if (!Number.isFinite(wall)) {
    // a broken wall reading (a patched `Date.now` that returned NaN, Infinity or threw) is no step: the frame stays,
    // or, never anchored, starts from the process's own wall time of the monotonic clock's zero
    if (Number.isNaN(origin)) origin = performance.timeOrigin
    return origin + mono
  }
  origin = wall - mono
  return wall
}

/** `Date.now()` as a number, NaN if it throws or is not one (a hostile patch): never throws. */
const wallNow = (): number => {
  try {
    return Number(Date.now())
  } catch {
    return Number.NaN
  }
}

/**
 * The origin of the live readings now (NaN before the first): it changes exactly when a reading re-anchors (the
 * wall clock stepped), by the step. A system's timers hold expiries in this frame and follow it (`System.fineNow`).
 * @internal
 */
export const liveOrigin = (): number => origin

/** A fine reading of `clock` (see the module doc); the live Clock gets `liveFineNow`. @internal */
export const fineReader = (clock: Clock.Clock): (() => number) =>
  isLiveClock(clock)
    ? liveFineNow
    : () => {
        const ms = clock.currentTimeMillisUnsafe()
        if (!Number.isInteger(ms)) return ms
        const fine = Number(clock.currentTimeNanosUnsafe()) / 1e6
        return Math.abs(fine - ms) < 1 ? fine : ms
      }
