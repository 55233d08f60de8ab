/**
 * Recording handlers for tests: each records `start` and `end` events stamped with virtual time (`Clock`, i.e.
 * `TestClock` in tests) and the CPU the handler runs on (`WorkqueueSystem.currentCpu`) into a `Ref`, and can be gated
 * on a latch so the test decides when the handler finishes.
 *
 * @since 0.1.0
 */
import { WorkqueueSystem } from "@effect-workqueue/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Latch from "effect/Latch"
import * as Ref from "effect/Ref"

/**
 * One recorded observation. `end` events carry how the handler ended.
 *
 * **Kernel**: the `workqueue_execute_start` / `workqueue_execute_end` tracepoints, with time and CPU.
 *
 * **Example** (An event)
 *
 * ```ts
 * import type { WorkRecorder } from "@effect-workqueue/testing"
 * const event: WorkRecorder.Event = { kind: "start", name: "a", at: 0, cpu: 1 }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Event {
  readonly kind: "start" | "end"
  readonly name: string
  /** Virtual time in ms. */
  readonly at: number
  /** `WorkqueueSystem.currentCpu` inside the handler (or where `mark` was called). */
  readonly cpu: number
  readonly outcome?: "success" | "failure" | "defect" | "interrupted" | undefined
}

/**
 * A closed gate: handlers `await` it, the test `open`s it (and may `close` it again).
 *
 * **Kernel**: a completion a work function sleeps on (`wait_for_completion()` / `complete_all()`).
 *
 * **Example** (Gating a handler)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkRecorder } from "@effect-workqueue/testing"
 * const program = Effect.gen(function*() {
 *   const gate = yield* WorkRecorder.makeGate
 *   yield* gate.open
 *   yield* gate.await // returns at once: the gate is open
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Gate {
  readonly await: Effect.Effect<void>
  readonly open: Effect.Effect<void>
  readonly close: Effect.Effect<void>
}

/**
 * Records handler events in the order they happen.
 *
 * - `events`: everything recorded; `trace`: `"start a@0/cpu1"` lines; `starts` / `ends`: names in order.
 * - `handler(name, body?)`: a work function that records `start`, runs `body`, then records `end` with the outcome
 *   (also on failure, defect or interruption).
 * - `gated(name, gate?, body?)`: like `handler`, but waits on `gate` (a fresh one if omitted, returned as `.gate`)
 *   after `start`, so the test decides when it finishes.
 * - `mark(kind, name)`: record a custom event (e.g. from the test fiber).
 * - `clear`: forget everything recorded.
 *
 * **Kernel**: tracing the `workqueue_execute_*` tracepoints.
 *
 * **Example** (Recording two items)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue } from "@effect-workqueue/core"
 * import { TestWorkqueue, WorkRecorder } from "@effect-workqueue/testing"
 * const program = Effect.gen(function*() {
 *   const rec = yield* WorkRecorder.make
 *   const wq = yield* Workqueue.makeOrdered("wq")
 *   yield* Workqueue.queue(wq, yield* Work.make(rec.handler("a")))
 *   yield* Workqueue.queue(wq, yield* Work.make(rec.handler("b")))
 *   yield* TestWorkqueue.settle()
 *   return yield* rec.starts
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(TestWorkqueue.layer()))) // => ["a", "b"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkRecorder {
  readonly events: Effect.Effect<ReadonlyArray<Event>>
  readonly trace: Effect.Effect<ReadonlyArray<string>>
  readonly starts: Effect.Effect<ReadonlyArray<string>>
  readonly ends: Effect.Effect<ReadonlyArray<string>>
  readonly clear: Effect.Effect<void>
  readonly mark: (kind: Event["kind"], name: string, outcome?: Event["outcome"]) => Effect.Effect<void>
  readonly handler: <E = never, R = never>(
    name: string,
    body?: Effect.Effect<void, E, R>
  ) => (self?: unknown) => Effect.Effect<void, E, R>
  readonly gated: <E = never, R = never>(
    name: string,
    gate: Gate,
    body?: Effect.Effect<void, E, R>
  ) => (self?: unknown) => Effect.Effect<void, E, R>
}

/**
 * Makes a closed {@link Gate}.
 *
 * **Kernel**: `init_completion()`.
 *
 * **Example** (Open it later)
 *
 * ```ts
 * import { Effect, Fiber } from "effect"
 * import { WorkRecorder } from "@effect-workqueue/testing"
 * const program = Effect.gen(function*() {
 *   const gate = yield* WorkRecorder.makeGate
 *   const fiber = yield* Effect.forkChild(gate.await)
 *   yield* gate.open
 *   yield* Fiber.join(fiber)
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeGate: Effect.Effect<Gate> = Effect.map(Latch.make(false), (latch) => ({
  await: latch.await,
  open: Effect.asVoid(latch.open),
  close: Effect.asVoid(latch.close)
}))

/**
 * Makes an empty {@link WorkRecorder}.
 *
 * **Kernel**: enabling the `workqueue:workqueue_execute_*` tracepoints.
 *
 * **Example** (Start and end with time and CPU)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { TestClock } from "effect/testing"
 * import { Work, Workqueue } from "@effect-workqueue/core"
 * import { TestWorkqueue, WorkRecorder } from "@effect-workqueue/testing"
 * const program = Effect.gen(function*() {
 *   const rec = yield* WorkRecorder.make
 *   const wq = yield* Workqueue.make("wq")
 *   yield* Workqueue.queueOn(wq, 1, yield* Work.make(rec.handler("a")))
 *   yield* TestWorkqueue.settle()
 *   return yield* rec.trace
 * })
 * // under TestClock (as in `it.effect`), so time reads 0
 * await Effect.runPromise(
 *   program.pipe(Effect.scoped, Effect.provide(TestWorkqueue.layer()), Effect.provide(TestClock.layer()))
 * )
 * // => ["start a@0/cpu1", "end a@0/cpu1"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<WorkRecorder> = Effect.gen(function* () {
  const ref = yield* Ref.make<ReadonlyArray<Event>>([])
  const mark = (kind: Event["kind"], name: string, outcome?: Event["outcome"]): Effect.Effect<void> =>
    Effect.gen(function* () {
      const at = yield* Clock.currentTimeMillis
      const cpu = yield* WorkqueueSystem.currentCpu
      const event: Event = outcome === undefined ? { kind, name, at, cpu } : { kind, name, at, cpu, outcome }
      yield* Ref.update(ref, (events) => [...events, event])
    })
  const events = Ref.get(ref)
  const wrap = <E, R>(name: string, body: Effect.Effect<void, E, R>): Effect.Effect<void, E, R> =>
    Effect.andThen(
      mark("start", name),
      Effect.onExit(body, (exit) => mark("end", name, outcomeOf(exit)))
    )
  return {
    events,
    trace: Effect.map(events, (es) => es.map((e) => `${e.kind} ${e.name}@${e.at}/cpu${e.cpu}`)),
    starts: Effect.map(events, (es) => es.filter((e) => e.kind === "start").map((e) => e.name)),
    ends: Effect.map(events, (es) => es.filter((e) => e.kind === "end").map((e) => e.name)),
    clear: Ref.set(ref, []),
    mark,
    handler:
      <E = never, R = never>(name: string, body?: Effect.Effect<void, E, R>) =>
      () =>
        wrap(name, body ?? (Effect.void as Effect.Effect<void, E, R>)),
    gated:
      <E = never, R = never>(name: string, gate: Gate, body?: Effect.Effect<void, E, R>) =>
      () =>
        wrap(name, Effect.andThen(gate.await, body ?? (Effect.void as Effect.Effect<void, E, R>)))
  }
})

const outcomeOf = (exit: Exit.Exit<unknown, unknown>): Event["outcome"] => {
  if (Exit.isSuccess(exit)) return "success"
  const reasons = exit.cause.reasons
  if (reasons.some((r) => r._tag === "Fail")) return "failure"
  if (reasons.some((r) => r._tag === "Die")) return "defect"
  return "interrupted"
}
