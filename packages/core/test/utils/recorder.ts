/**
 * Test helpers: a recorder of handler `start` / `end` events stamped with virtual time and CPU, latch-gated
 * handlers, a `settle` that lets every runnable fiber run, and a log capture.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Ref from "effect/Ref"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import { TestWorkqueue } from "@effect-workqueue/testing"
import { WorkqueueSystem } from "../../src/index.ts"

/** One observation made by a recorded handler. */
export interface Event {
  readonly kind: "start" | "end"
  readonly name: string
  /** Virtual time (TestClock) in ms. */
  readonly at: number
  /** `WorkqueueSystem.currentCpu` inside the handler. */
  readonly cpu: number
}

/** Logs `start` / `end` events of handlers, in the order they happen. */
export interface Recorder {
  readonly events: Effect.Effect<ReadonlyArray<Event>>
  /** `"start a@0/cpu0"`-style lines, handy for order assertions. */
  readonly trace: Effect.Effect<ReadonlyArray<string>>
  /** Names of the `start` events, in order. */
  readonly starts: Effect.Effect<ReadonlyArray<string>>
  /** Names of the `end` events, in order. */
  readonly ends: Effect.Effect<ReadonlyArray<string>>
  /** Record a custom event (e.g. from the test fiber). */
  readonly mark: (kind: Event["kind"], name: string) => Effect.Effect<void>
  /** A handler that records `start`, runs `body`, then records `end` (also when `body` fails). */
  readonly handler: <E = never, R = never>(
    name: string,
    body?: Effect.Effect<void, E, R>
  ) => () => Effect.Effect<void, E, R>
}

/** @since 0.1.0 */
export const makeRecorder: Effect.Effect<Recorder> = Effect.gen(function* () {
  const ref = yield* Ref.make<ReadonlyArray<Event>>([])
  const mark = (kind: Event["kind"], name: string): Effect.Effect<void> =>
    Effect.gen(function* () {
      const at = yield* Clock.currentTimeMillis
      const cpu = yield* WorkqueueSystem.currentCpu
      yield* Ref.update(ref, (events) => [...events, { kind, name, at, cpu }])
    })
  const events = Ref.get(ref)
  return {
    events,
    trace: Effect.map(events, (es) => es.map((e) => `${e.kind} ${e.name}@${e.at}/cpu${e.cpu}`)),
    starts: Effect.map(events, (es) => es.filter((e) => e.kind === "start").map((e) => e.name)),
    ends: Effect.map(events, (es) => es.filter((e) => e.kind === "end").map((e) => e.name)),
    mark,
    handler:
      <E = never, R = never>(name: string, body?: Effect.Effect<void, E, R>) =>
      () =>
        Effect.andThen(
          mark("start", name),
          Effect.ensuring(body ?? (Effect.void as Effect.Effect<void, E, R>), mark("end", name))
        )
  }
})

/** A closed gate: handlers `await` it, the test `open`s it. */
export interface Gate {
  readonly await: Effect.Effect<void>
  readonly open: Effect.Effect<void>
}

/** @since 0.1.0 */
export const makeGate: Effect.Effect<Gate> = Effect.map(Latch.make(false), (latch) => ({
  await: latch.await,
  open: Effect.asVoid(latch.open)
}))

/**
 * `TestWorkqueue.settle`, the one implementation: with no count, every runnable fiber (workers, the timer fiber,
 * probes) runs until the system is idle, without moving the clock; with a count, exactly `times` scheduler turns
 * of the test fiber, idle or not (interleaving tests let a few steps happen at chosen points, not everything).
 */
export const settle = (times?: number): Effect.Effect<void, never, WorkqueueSystem.WorkqueueSystem> =>
  times === undefined ? TestWorkqueue.settle() : TestWorkqueue.settle({ maxTurns: times, quietTurns: Infinity })

/** A captured log line. */
export interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** A logger that keeps every line in memory, and the layer that installs it in place of the default ones. */
export const makeLogCapture = (): {
  readonly lines: Array<LogLine>
  readonly layer: Layer.Layer<never>
  readonly text: () => string
} => {
  const lines: Array<LogLine> = []
  const logger = Logger.make<unknown, void>((options) => {
    const message = Array.isArray(options.message)
      ? options.message.map((m) => (typeof m === "string" ? m : String(m))).join(" ")
      : String(options.message)
    lines.push({
      level: options.logLevel,
      message,
      annotations: { ...(options.fiber.getRef(References.CurrentLogAnnotations) as Record<string, unknown>) }
    })
  })
  return {
    lines,
    layer: Logger.layer([logger]),
    text: () => lines.map((l) => `${l.level}: ${l.message}`).join("\n")
  }
}

/**
 * Like `Effect.provide(WorkqueueSystem.layer(options))`, but the system is closed only when `body` succeeds: a
 * failing assertion is reported at once instead of hanging in the system's close (which flushes every queue,
 * sleepers on a TestClock nobody advances included). Use it for tests that expose engine bugs which may leave the
 * engine's accounting broken.
 *
 * The CPU clock is frozen unless `options.cpuClock` is given: the machine's speed reaches a schedule only through
 * it (a slice over `cpuIntensiveThresh` of real time marks the item CPU-intensive, which takes it out of
 * concurrency management, and time slices), so with it frozen the schedule is the same on a loaded machine. Tests
 * about hog detection or time slices pass their own clock.
 */
/** A CPU clock that never moves: no slice is ever long (see `withSystemClosedOnSuccess`). */
export const frozenCpuClock = TestWorkqueue.frozenCpuClock

/**
 * `WorkqueueSystem.layer` for a test: the CPU clock frozen unless `options.cpuClock` is given (see
 * `withSystemClosedOnSuccess`). Every test builds its system with this (or passes its own clock): tests never depend
 * on machine speed (`test/machineSpeed.test.ts` in the testing package keeps it so).
 */
export const systemLayer = (options?: WorkqueueSystem.Options) =>
  WorkqueueSystem.layer({ cpuClock: frozenCpuClock, ...options })

export const withSystemClosedOnSuccess =
  (options: WorkqueueSystem.Options) =>
  <A, E, R>(
    body: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, Exclude<R, WorkqueueSystem.WorkqueueSystem | Scope.Scope>> =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        WorkqueueSystem.layer({ cpuClock: frozenCpuClock, ...options }),
        scope
      )
      const a = yield* body.pipe(Effect.provideContext(context), Scope.provide(scope)) as Effect.Effect<
        A,
        E,
        Exclude<R, WorkqueueSystem.WorkqueueSystem | Scope.Scope>
      >
      yield* Scope.close(scope, Exit.void)
      return a
    })

/**
 * The wall clock, steppable: `Date.now` becomes the real one plus the offset last given to the returned function
 * (an NTP step; `NaN` or `Infinity` for a broken reading) until the scope closes, when the real one is back.
 */
export const steppedDateNow: Effect.Effect<(offset: number) => void, never, Scope.Scope> = Effect.gen(function* () {
  const realNow = Date.now
  let offset = 0
  Date.now = () => realNow.call(Date) + offset
  yield* Effect.addFinalizer(() => Effect.sync(() => (Date.now = realNow)))
  return (to: number) => {
    offset = to
  }
})
