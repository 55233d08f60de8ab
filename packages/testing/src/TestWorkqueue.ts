/**
 * Test-side helpers around a `WorkqueueSystem`: a layer for tests, `settle` (run everything runnable without moving
 * the clock), `advance` (move the `TestClock` and settle) and `idle`.
 *
 * @since 0.1.0
 */
import { WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { TestClock } from "effect/testing"

/**
 * Options of {@link layer}: the `WorkqueueSystem.layer` options, with `cpus` defaulting to 2 (small, so tests see
 * per-CPU behaviour without long dumps).
 *
 * **Kernel**: boot parameters (`nr_cpu_ids`, `workqueue.power_efficient`).
 *
 * **Example** (Four CPUs)
 *
 * ```ts
 * import type { TestWorkqueue } from "@effect-workqueue/testing"
 * const options: TestWorkqueue.Options = { cpus: 4 }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Options = WorkqueueSystem.Options

/**
 * `WorkqueueSystem.layer` for tests: 2 CPUs unless `cpus` says otherwise. Provide it inside `it.effect`, after the
 * test services, so the system's timers and workers run on `TestClock`.
 *
 * **Kernel**: boot: the per-CPU pools and the `system_*_wq` workqueues (`workqueue_init_early()`).
 *
 * **Example** (A test with a workqueue)
 *
 * ```ts
 * import { it } from "@effect/vitest"
 * import { Effect } from "effect"
 * import { Work, Workqueue } from "@effect-workqueue/core"
 * import { TestWorkqueue } from "@effect-workqueue/testing"
 *
 * it.effect("runs an item", () =>
 *   Effect.gen(function*() {
 *     const wq = yield* Workqueue.make("wq")
 *     let ran = false
 *     yield* Workqueue.queue(wq, yield* Work.make(() => Effect.sync(() => { ran = true })))
 *     yield* TestWorkqueue.settle()
 *     return ran // => true
 *   }).pipe(Effect.provide(TestWorkqueue.layer())))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<WorkqueueSystem.WorkqueueSystem> =>
  WorkqueueSystem.layer({ ...options, cpus: options?.cpus ?? 2 })

/**
 * Whether the system has nothing runnable: its shared run queue is empty and no concurrency probe is pending. Best
 * effort (it reads the engine's scheduler); `true` when that is not available.
 *
 * **Kernel**: every pool idle or sleeping (`nr_running == 0` with an empty worklist, or only sleeping workers).
 *
 * **Example** (Idle after settling)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { TestWorkqueue } from "@effect-workqueue/testing"
 * const program = Effect.andThen(TestWorkqueue.settle(), TestWorkqueue.idle)
 * await Effect.runPromise(Effect.provide(program, TestWorkqueue.layer())) // => true
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const idle: Effect.Effect<boolean, never, WorkqueueSystem.WorkqueueSystem> = Effect.map(
  WorkqueueSystem.WorkqueueSystem,
  (service) => {
    const scheduler = (service as unknown as { system?: { scheduler?: { queued?: number; probes?: Array<unknown> } } })
      .system?.scheduler
    return scheduler === undefined || ((scheduler.queued ?? 0) === 0 && (scheduler.probes?.length ?? 0) === 0)
  }
)

/**
 * Runs everything runnable (workers, the timer fiber, concurrency probes, handlers woken by the test) until the system
 * has been {@link idle} for `quietTurns` consecutive scheduler turns (default 2), at most `maxTurns` (default 400),
 * without moving the clock. Handlers that wait on a latch, a Deferred or a sleep stay waiting.
 *
 * **Kernel**: letting the CPUs run until every worker sleeps or idles.
 *
 * **Example** (Settle after queueing)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue } from "@effect-workqueue/core"
 * import { TestWorkqueue } from "@effect-workqueue/testing"
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("wq")
 *   const work = yield* Work.make(() => Effect.void)
 *   yield* Workqueue.queue(wq, work)
 *   yield* TestWorkqueue.settle()
 *   return yield* Work.pending(work)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(TestWorkqueue.layer()))) // => false
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const settle = (options?: {
  readonly maxTurns?: number | undefined
  readonly quietTurns?: number | undefined
}): Effect.Effect<void, never, WorkqueueSystem.WorkqueueSystem> =>
  Effect.gen(function* () {
    const maxTurns = options?.maxTurns ?? 400
    const quietTurns = options?.quietTurns ?? 2
    let quiet = 0
    for (let i = 0; i < maxTurns && quiet < quietTurns; i++) {
      yield* Effect.yieldNow
      quiet = (yield* idle) ? quiet + 1 : 0
    }
  })

/**
 * Moves the `TestClock` by `ms` (firing every timer due, each at its exact expiry) and then {@link settle}s.
 *
 * **Kernel**: jiffies passing; `delayed_work_timer_fn()` at each expiry.
 *
 * **Example** (A delayed item runs after its delay)
 *
 * ```ts
 * import { it } from "@effect/vitest"
 * import { Effect } from "effect"
 * import { DelayedWork, Workqueue } from "@effect-workqueue/core"
 * import { TestWorkqueue } from "@effect-workqueue/testing"
 *
 * it.effect("fires at 10 ms", () =>
 *   Effect.gen(function*() {
 *     const wq = yield* Workqueue.make("wq")
 *     const dwork = yield* DelayedWork.make(() => Effect.void)
 *     yield* Workqueue.queueDelayed(wq, dwork, 10)
 *     yield* TestWorkqueue.advance(10)
 *     return yield* DelayedWork.pending(dwork) // => false
 *   }).pipe(Effect.provide(TestWorkqueue.layer())))
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const advance = (ms: number): Effect.Effect<void, never, WorkqueueSystem.WorkqueueSystem> =>
  Effect.andThen(TestClock.adjust(ms), settle())
