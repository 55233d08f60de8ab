/**
 * A gate on shared memory for the `gate` thread task: each run adds 1 to `cell[0]` when it starts, then blocks
 * its thread (without yielding) until `release`. `started(n)` waits (no clock) until n runs have started.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"

export interface Gate {
  readonly cell: SharedArrayBuffer
  readonly startedCount: () => number
  readonly started: (n: number) => Effect.Effect<void>
  readonly release: Effect.Effect<void>
}

export const makeGate = (): Gate => {
  const cell = new SharedArrayBuffer(8)
  const flags = new Int32Array(cell)
  const started = (n: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      const seen = Atomics.load(flags, 0)
      if (seen >= n) return Effect.void
      const wait = Atomics.waitAsync(flags, 0, seen)
      return Effect.flatMap(wait.async ? Effect.promise(() => wait.value) : Effect.void, () => started(n))
    })
  return {
    cell,
    startedCount: () => Atomics.load(flags, 0),
    started,
    release: Effect.sync(() => {
      Atomics.store(flags, 1, 1)
      Atomics.notify(flags, 1)
    })
  }
}

/** Let the event loop turn a few times (messages from threads arrive). Not a time budget: only a chance to run. */
export const turns = (n = 5): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
  })

/**
 * `run` with a timeout that starts when the task has started in its thread (`started`), not when it was
 * submitted: on a loaded machine a thread may take longer to come up than any fixed timeout. On expiry the run
 * is interrupted, which returns only once its thread is idle or gone.
 */
export const timeoutAfterStart = <A, E>(
  run: Effect.Effect<A, E>,
  started: Effect.Effect<void>,
  ms: number
): Effect.Effect<Option.Option<A>, E> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(run)
    yield* started
    const result = yield* Effect.timeoutOption(Fiber.join(fiber), ms)
    if (Option.isNone(result)) yield* Fiber.interrupt(fiber)
    return result
  })
