/**
 * Test-side helpers around a `WorkqueueSystem`: a layer for tests, `settle` (run everything runnable without moving
 * the clock), `advance` (move the `TestClock` and settle) and `idle`.
 *
 * A failing test fails with its own message. The layer's finaliser winds the system down: it closes the test's
 * workqueues and the system while moving the `TestClock` (bounded) so that sleeping handlers finish; a system that
 * still cannot close is abandoned with a report of what was still running (a `WindDownError` for a test that had
 * passed, a logged warning beside the test's own failure otherwise). Without it, an assertion failing while a handler
 * slept on `TestClock` left the scope close waiting forever, and the test showed only timeouts.
 *
 * @since 0.1.0
 */
import { WorkqueueSystem } from "@effect-workqueue/core"
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"

/**
 * Options of {@link layer}: the `WorkqueueSystem.layer` options, with `cpus` defaulting to 2 (small, so tests see
 * per-CPU behaviour without long dumps), plus the bounds of the wind-down at scope close:
 *
 * - `windDownAdvanceMs`: under `TestClock`, how far (in virtual ms) the finaliser may move the clock so that sleeping
 *   handlers finish (default one day).
 * - `windDownLiveMs`: under the live clock, how long (real ms) the finaliser waits for the system to close before it
 *   gives up and reports (default 10 000; a hang guard, not a budget).
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
export interface Options extends WorkqueueSystem.Options {
  readonly windDownAdvanceMs?: number | undefined
  readonly windDownLiveMs?: number | undefined
}

/**
 * The defect a test fails with when its `TestWorkqueue.layer` cannot wind the system down at scope close: the
 * message lists what was still running (handler, workqueue, worker state) and what was still pending or armed.
 *
 * **Kernel**: the watchdog's `show_all_workqueues()` dump of busy workers and pending work.
 *
 * **Example** (Recognising it)
 *
 * ```ts
 * import { TestWorkqueue } from "@effect-workqueue/testing"
 * const stuck = (u: unknown) => u instanceof TestWorkqueue.WindDownError
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class WindDownError extends Error {
  readonly report: string
  constructor(report: string) {
    super(`TestWorkqueue.layer: the workqueue system did not wind down at scope close:\n${report}`)
    this.name = "WindDownError"
    this.report = report
  }
}

/**
 * A CPU clock that never moves, for `WorkqueueSystem.layer({ cpuClock })`: no handler's slice is ever long, so no
 * item is flagged CPU-intensive (`cpuIntensiveThresh`) and no scheduler slice ends early on machine time. The
 * machine's speed reaches a schedule only through the CPU clock (a slice of real time over the threshold takes
 * an item out of concurrency management, and ends a pump), so with it frozen a test's schedule is the same on a
 * loaded machine as on an idle one. `layer` uses it unless `cpuClock` is given; tests about hog detection or time
 * slices pass a clock they move themselves.
 *
 * **Kernel**: the task runtime `wq_worker_tick()` reads (`cpu_intensive_thresh_us`), held still.
 *
 * **Example** (A system whose schedule ignores machine speed)
 *
 * ```ts
 * import { WorkqueueSystem } from "@effect-workqueue/core"
 * import { TestWorkqueue } from "@effect-workqueue/testing"
 * const layer = WorkqueueSystem.layer({ cpus: 2, cpuClock: TestWorkqueue.frozenCpuClock })
 * TestWorkqueue.frozenCpuClock() // => 0
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const frozenCpuClock = (): number => 0

/**
 * `WorkqueueSystem.layer` for tests: 2 CPUs unless `cpus` says otherwise, and the CPU clock frozen
 * (`frozenCpuClock`) unless `cpuClock` says otherwise, so no schedule depends on machine speed. Provide it inside `it.effect`, after the
 * test services, so the system's timers and workers run on `TestClock`. It also provides the `Scope` the test's
 * workqueues are made in, so that its finaliser closes them.
 *
 * **Details**: closing the layer winds the system down instead of hanging. Workqueues made in the provided scope are
 * destroyed, then the system is closed; while that waits for handlers, the finaliser runs everything runnable and,
 * under `TestClock`, moves the clock forward in doubling steps (at most `windDownAdvanceMs` in all) so that handlers
 * sleeping on it finish. If the system still has not closed (a handler waits on a Deferred nobody completes, or a
 * sleep beyond the bound), it is abandoned and the finaliser reports what was still running: a test that had failed
 * keeps its own failure (its assertion message first) and the report is logged; a test that had succeeded fails
 * with a {@link WindDownError} naming the stuck handlers. Either way the test ends instead of timing out.
 *
 * **Gotchas**: a workqueue made in another scope (your own `Effect.scoped` inside the test) is destroyed when that
 * scope closes, before this finaliser can help: let the layer provide the scope. Handlers keep running while the
 * clock moves at teardown, after the test's own assertions.
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
export const layer = (options?: Options): Layer.Layer<WorkqueueSystem.WorkqueueSystem | Scope.Scope> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const layerScope = yield* Effect.scope
      const systemScope = yield* Scope.make()
      const { windDownAdvanceMs, windDownLiveMs, ...systemOptions } = options ?? {}
      const system = yield* Layer.buildWithScope(
        WorkqueueSystem.layer({
          ...systemOptions,
          cpus: systemOptions.cpus ?? 2,
          cpuClock: systemOptions.cpuClock ?? frozenCpuClock
        }),
        systemScope
      )
      const userScope = yield* Scope.make()
      yield* Scope.addFinalizerExit(layerScope, (exit) =>
        windDown(Context.get(system, WorkqueueSystem.WorkqueueSystem), userScope, systemScope, exit, {
          advanceMs: windDownAdvanceMs ?? 24 * 60 * 60 * 1000,
          liveMs: windDownLiveMs ?? 10_000
        })
      )
      return Context.add(system, Scope.Scope, userScope)
    })
  )

// Closes the test's workqueues then the system, driving the clock while that waits (see `layer`).
const windDown = (
  service: WorkqueueSystem.WorkqueueSystem["Service"],
  userScope: Scope.Closeable,
  systemScope: Scope.Closeable,
  exit: Exit.Exit<unknown, unknown>,
  bounds: { readonly advanceMs: number; readonly liveMs: number }
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const close = yield* Effect.forkDetach(
      Effect.andThen(Scope.close(userScope, exit), Scope.close(systemScope, exit)),
      { startImmediately: true }
    )
    const clock = yield* Effect.clockWith(Effect.succeed)
    if (isTestClock(clock)) {
      let advanced = 0
      let step = 1
      for (;;) {
        for (let i = 0; i < 400 && close.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
        if (close.pollUnsafe() !== undefined || advanced >= bounds.advanceMs) break
        const by = Math.min(step, bounds.advanceMs - advanced)
        yield* clock.adjust(by)
        advanced += by
        step *= 2
      }
    } else {
      yield* Effect.raceFirst(Effect.asVoid(Fiber.await(close)), Effect.sleep(bounds.liveMs))
    }
    if (close.pollUnsafe() !== undefined) return
    // abandoned: the close fiber stays suspended on the stuck handlers and is collected with them
    const report = stuckReport(yield* WorkqueueSystem.snapshot)
    if (Exit.isFailure(exit)) return yield* Effect.logWarning(new WindDownError(report).message)
    return yield* Effect.die(new WindDownError(report))
  }).pipe(Effect.provideService(WorkqueueSystem.WorkqueueSystem, service))

const isTestClock = (clock: Clock.Clock): clock is TestClock.TestClock =>
  typeof (clock as Partial<TestClock.TestClock>).adjust === "function"

const stuckReport = (snap: WorkqueueSystem.Snapshot): string => {
  const lines: Array<string> = []
  for (const pool of snap.pools) {
    for (const w of pool.workers) {
      if (w.state === "idle" || w.work === undefined) continue
      lines.push(
        `  running: ${w.work} on workqueue "${w.workqueue}" (${w.name}, ${w.state}, for ${w.runningFor ?? 0} ms)`
      )
    }
  }
  for (const wq of snap.workqueues) {
    const active = wq.pwqs.reduce((n, p) => n + p.active, 0)
    const inactive = wq.pwqs.reduce((n, p) => n + p.inactive, 0)
    if (active + inactive + wq.armed > 0) {
      lines.push(
        `  workqueue "${wq.name}" (${wq.state}): ${active} active, ${inactive} inactive, ${wq.armed} timer(s) armed`
      )
    }
  }
  return lines.length === 0 ? "  (no busy worker: a finaliser of the test itself waits)" : lines.join("\n")
}

/**
 * Whether the system has nothing runnable: its run queue is empty and no concurrency probe is pending
 * (`WorkqueueSystem.runQueue`).
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
  WorkqueueSystem.runQueue,
  (rq) => rq.tasks === 0 && rq.probes === 0
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
