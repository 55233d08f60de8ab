/**
 * Graceful shutdown: when `NodeRuntime.runMain` interrupts the main fiber (SIGTERM / SIGINT), freeze the
 * freezable workqueues, stop accepting outside work, fire the armed delayed items, drain every workqueue within a
 * deadline, and — past the deadline — log what was still running, pending or armed. Nothing accepted is dropped
 * silently.
 *
 * The sequence (`NodeShutdown.drainAll`):
 *
 * ```
 *   drain every workqueue (each rejects outside queueing from now on: WorkqueueError "Draining")
 *   fire armed timers  their items are queued now and waited for (Workqueue.fireArmed)
 *   freeze             freezable queues start nothing new; their running items finish
 *   await drains       of the non-freezable queues (the service's real work)
 *   thaw               the deferred freezable items run now
 *   await drains       of the freezable queues
 *   again              while a handler re-armed or re-queued something
 * ```
 *
 * all under one deadline on the `Clock`. A system shuts down once: the first `drainAll` starts the drain and
 * fixes the deadline; later ones (another layer's finaliser, a repeated signal) join it, get the same report,
 * and log nothing more. The drains run in a detached fiber: past the deadline they go on while the report is
 * logged, and the system is sealed (`WorkqueueSystem.sealShutdown`): no queueing at all any more, not even from
 * its own work items, so a chain that re-queues itself ends after its current run.
 *
 * @since 0.1.0
 */
import type { WorkqueueSystem } from "@effect-workqueue/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Shutdown from "./internal/shutdown.ts"

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * Options of the shutdown.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** How long the whole drain may take, in ms of Clock time (default 10 000). */
  readonly deadlineMs?: number | undefined
}

/**
 * A workqueue that still had work when the report was taken.
 *
 * @category models
 * @since 0.1.0
 */
export interface PendingWorkqueue {
  readonly name: string
  /** Items executing on a worker now. */
  readonly running: number
  /** Items accepted but not started: active-but-waiting plus inactive (held back by max_active or a freeze). */
  readonly pending: number
  /** Delayed items whose timer is still armed. */
  readonly armed: number
}

/**
 * A busy worker when the report was taken.
 *
 * @category models
 * @since 0.1.0
 */
export interface RunningWork {
  readonly worker: string
  readonly work: string
  readonly workqueue: string
  readonly runningForMs: number
}

/**
 * How a shutdown ended: `"drained"` (every workqueue empty, nothing armed, before the deadline), `"deadline"`
 * (the deadline passed first; also a drain that ended only after it, when a handler blocked the event loop across
 * it: the report then lists nothing left), `"signal"` (a second SIGINT/SIGTERM forced the exit first).
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome = Shutdown.Outcome

/**
 * The outcome of a shutdown drain.
 *
 * @category models
 * @since 0.1.0
 */
export interface Report {
  readonly outcome: Outcome
  /** `outcome === "drained"`. */
  readonly drained: boolean
  readonly deadlineMs: number
  readonly elapsedMs: number
  /** Armed delayed items the drain fired early (they ran, or are counted in `workqueues`). */
  readonly fired: number
  /** Workqueues with work left (empty when `drained`). */
  readonly workqueues: ReadonlyArray<PendingWorkqueue>
  /** Busy workers and what they run (empty when `drained`). */
  readonly running: ReadonlyArray<RunningWork>
}

/**
 * The default deadline, 10 s (systemd's `TimeoutStopSec` is 90 s; Kubernetes' grace period is 30 s).
 *
 * @category configuration
 * @since 0.1.0
 */
export const DEFAULT_DEADLINE_MS = 10_000

// ---------------------------------------------------------------------------
// reports
// ---------------------------------------------------------------------------

/**
 * Build a report from a snapshot: every workqueue with running, pending or armed items, and every busy worker.
 *
 * **Kernel**: the busy part of `show_all_workqueues()` ("in-flight:", "pending:", "inactive:"), kernel/workqueue.c.
 *
 * **Example** (An idle system leaves nothing)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkqueueSystem } from "@effect-workqueue/core"
 * import { NodeShutdown } from "@effect-workqueue/platform"
 *
 * const program = Effect.map(WorkqueueSystem.snapshot, (s) => NodeShutdown.reportOf(s, { drained: true, deadlineMs: 10, elapsedMs: 0 }))
 * const report = await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer())))
 * report.workqueues.length // => 0
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const reportOf = (
  snapshot: WorkqueueSystem.Snapshot,
  facts: {
    readonly drained: boolean
    readonly deadlineMs: number
    readonly elapsedMs: number
    readonly outcome?: Outcome | undefined
    readonly fired?: number | undefined
  }
): Report => Shutdown.reportOf(snapshot, facts)

/**
 * The report as log text: one summary line, then one line per workqueue with work left and one per busy worker.
 * The summary says which outcome it was: drained (and how many armed items were fired early), the deadline
 * passed, or a second signal forced the exit. Every name (workqueue, worker, work item) goes through
 * `NodeMonitor.escapeName`, so a name cannot drive the terminal; the `Report` itself keeps the names as they are.
 *
 * **Example** (A deadline report)
 *
 * ```ts
 * import { NodeShutdown } from "@effect-workqueue/platform"
 *
 * NodeShutdown.formatReport({
 *   outcome: "deadline", drained: false, deadlineMs: 100, elapsedMs: 100, fired: 0,
 *   workqueues: [{ name: "jobs", running: 1, pending: 2, armed: 0 }],
 *   running: [{ worker: "kworker/0:1", work: "job", workqueue: "jobs", runningForMs: 100 }]
 * }).split("\n")[1] // => "  workqueue jobs: 1 running, 2 pending, 0 armed"
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const formatReport = (report: Report): string => Shutdown.formatReport(report)

// ---------------------------------------------------------------------------
// shutdown
// ---------------------------------------------------------------------------

/**
 * Drain every workqueue of the system within `deadlineMs` of Clock time, and log the outcome: one info line when
 * everything drained, or a warning with the `formatReport` of what was still running, pending or armed at the
 * deadline.
 *
 * **Details**: every drain starts at once, so from the first step outside queueing fails with `WorkqueueError`
 * `"Draining"` (work items of a draining queue may still requeue themselves, as in the kernel). Armed delayed
 * items are fired at once (`Workqueue.fireArmed`) and waited for like any queued item, so a debounced item runs
 * within the deadline or is reported; the report counts them in `fired`. Freezable queues are frozen while the
 * others drain, then thawed and drained: their deferred work runs last. The drains run in a detached fiber; past
 * the deadline they go on in the background and the effect returns the report. At the deadline the system is
 * sealed (`WorkqueueSystem.sealShutdown`): queueing fails with `"Draining"` for every caller, the system's own
 * work items included, so a chain that re-queues itself forever ends after its current run (one warning per
 * workqueue) and the drains end.
 *
 * **Gotchas**: a `deadlineMs` that is not an integer >= 0 dies with a `RangeError` (a defect: it is a programming
 * error, as in `WorkqueueSystem.layer`). A system shuts down once. The first call starts the drain and fixes the deadline; a later call
 * (another layer's finaliser, a repeated signal) joins it and returns the same report without logging it again,
 * freezing again or draining again. A workqueue destroyed meanwhile (its scope closed) is simply skipped. This
 * cannot interrupt a running work item: the kernel never kills a work function either. `"drained"` means in time:
 * a drain that ends after the deadline (a handler blocked the event loop across it; JavaScript has one thread, so
 * the deadline's timer could not fire) is reported as `"deadline"` with nothing left, and the report is logged
 * when the thread is free again, after the deadline.
 *
 * **Kernel**: `drain_workqueue()` of each workqueue plus `freeze_workqueues_begin()` / `thaw_workqueues()`, as a
 * `kernel_power_off()` would want them; the report is `show_all_workqueues()`.
 *
 * **Example** (Drain before exit)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueSystem } from "@effect-workqueue/core"
 * import { NodeShutdown } from "@effect-workqueue/platform"
 *
 * const program = Effect.gen(function*() {
 *   yield* WorkqueueSystem.schedule(yield* Work.make(() => Effect.sleep(5)))
 *   const report = yield* NodeShutdown.drainAll({ deadlineMs: 1000 })
 *   return report.drained
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category flushing
 * @since 0.1.0
 */
export const drainAll = (options?: Options): Effect.Effect<Report, never, WorkqueueSystem.WorkqueueSystem> =>
  Effect.suspend(() => {
    const deadlineMs = options?.deadlineMs ?? DEFAULT_DEADLINE_MS
    if (!(Number.isSafeInteger(deadlineMs) && deadlineMs >= 0)) {
      return Effect.die(
        new RangeError(`NodeShutdown: deadlineMs must be an integer >= 0 (ms of Clock time), got ${String(deadlineMs)}`)
      )
    }
    return Effect.flatMap(Shutdown.begin(deadlineMs), (run) => Deferred.await(run.outcome))
  })

/**
 * A layer whose only job is its finaliser: `drainAll(options)` when the layer closes.
 *
 * **When to use**: put it *above* the layers that create their own workqueues (with `Layer.provideMerge`), so the
 * drain, with its deadline, runs before their scopes close and destroy those workqueues (a destroy drains with no
 * deadline). `NodeWorkqueue.layer` runs the same drain when it closes, which covers workqueues still alive then.
 *
 * **Kernel**: the shutdown path of a driver: `drain_workqueue()` before `destroy_workqueue()`.
 *
 * **Example** (Drain before the app's own scopes close)
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Workqueue } from "@effect-workqueue/core"
 * import { NodeShutdown, NodeWorkqueue } from "@effect-workqueue/platform"
 *
 * const App = Layer.effectDiscard(Effect.asVoid(Workqueue.make("jobs")))
 * const Live = NodeShutdown.layer({ deadlineMs: 5000 }).pipe(
 *   Layer.provideMerge(App),
 *   Layer.provideMerge(NodeWorkqueue.layer())
 * )
 * await Effect.runPromise(Effect.void.pipe(Effect.provide(Live))) // => undefined
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<never, never, WorkqueueSystem.WorkqueueSystem> =>
  Layer.effectDiscard(
    Effect.andThen(
      validDeadline(options),
      Effect.addFinalizer(() => drainAll(options))
    )
  )

/** A bad deadline dies when the layer is built, not when it closes. */
const validDeadline = (options: Options | undefined): Effect.Effect<void> => {
  const deadlineMs = options?.deadlineMs ?? DEFAULT_DEADLINE_MS
  return Number.isSafeInteger(deadlineMs) && deadlineMs >= 0
    ? Effect.void
    : Effect.die(
        new RangeError(`NodeShutdown: deadlineMs must be an integer >= 0 (ms of Clock time), got ${String(deadlineMs)}`)
      )
}
