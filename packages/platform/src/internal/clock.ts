/**
 * The Clock given to the engine of `NodeWorkqueue.layer`: the ambient Clock, except that on the live clock its
 * sleeps are Node timers this module can `unref()`.
 *
 * Why: past the shutdown deadline, the system's close goes on in the background (a running item is never
 * killed), and so do its own timers — the watchdog, idle culling, the timer fiber. Outside `runMain` those timers
 * would keep the process alive forever behind a never-ending item. `release()` unrefs every pending and future
 * sleep of the engine, so only the work items' own timers can keep the process alive. Under `TestClock` (or any
 * other Clock) every call is delegated unchanged.
 *
 * Field rules: `handles` and `released` are touched only in synchronous steps (a timer's callback, an
 * `Effect.callback` registration or its canceller, `release()`).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** setTimeout's largest delay (2^31 - 1 ms); longer sleeps are chained. */
const MAX_TIMER_MS = 2_147_483_647

/** @internal */
export interface ReleasableClock {
  readonly clock: Clock.Clock
  /** From now on no sleep of this clock keeps the process alive. */
  readonly release: () => void
}

/** @internal */
export const make = (underlying: Clock.Clock): ReleasableClock => {
  const liveProto = Object.getPrototypeOf(Context.get(Context.empty(), Clock.Clock)) as object
  if (Object.getPrototypeOf(underlying) !== liveProto) return { clock: underlying, release: () => {} }
  const handles = new Set<ReturnType<typeof setTimeout>>()
  let released = false
  const sleepMillis = (millis: number): Effect.Effect<void> => {
    if (millis <= 0) return Effect.yieldNow
    if (!Number.isFinite(millis)) return Effect.never
    return Effect.callback<void>((resume) => {
      const handle = setTimeout(
        () => {
          handles.delete(handle)
          resume(millis > MAX_TIMER_MS ? sleepMillis(millis - MAX_TIMER_MS) : Effect.void)
        },
        Math.min(millis, MAX_TIMER_MS)
      )
      if (released) handle.unref()
      else handles.add(handle)
      return Effect.sync(() => {
        clearTimeout(handle)
        handles.delete(handle)
      })
    })
  }
  const clock: Clock.Clock = Object.create(underlying, {
    sleep: { value: (duration: Duration.Duration) => sleepMillis(Duration.toMillis(duration)) }
  })
  return {
    clock,
    release: () => {
      released = true
      for (const handle of handles) handle.unref()
      handles.clear()
    }
  }
}
