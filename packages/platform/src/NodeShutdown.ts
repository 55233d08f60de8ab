/**
 * Graceful shutdown: when `NodeRuntime.runMain` interrupts the main fiber (SIGTERM / SIGINT), freeze the
 * freezable workqueues, stop accepting outside work, drain every workqueue within a deadline, and — past the
 * deadline — log what was still running or pending. Nothing accepted is dropped silently.
 *
 * The sequence (`NodeShutdown.drainAll`):
 *
 * ```
 *   drain every workqueue (each rejects outside queueing from now on: WorkqueueError "Draining")
 *   freeze            freezable queues start nothing new; their running items finish
 *   await drains      of the non-freezable queues (the service's real work)
 *   thaw              the deferred freezable items run now
 *   await drains      of the freezable queues
 * ```
 *
 * all under one deadline on the `Clock` (`Effect.timeoutOption`). The drains run in a detached fiber: past the
 * deadline they go on (queues stay closed to outside work) while the report is logged.
 *
 * @since 0.1.0
 */
import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { liveWorkqueues } from "./internal/system.ts"

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
 * The outcome of a shutdown drain.
 *
 * @category models
 * @since 0.1.0
 */
export interface Report {
  /** `true` if every workqueue was empty before the deadline. */
  readonly drained: boolean
  readonly deadlineMs: number
  readonly elapsedMs: number
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
  facts: { readonly drained: boolean; readonly deadlineMs: number; readonly elapsedMs: number }
): Report => {
  const running: Array<RunningWork> = []
  for (const pool of snapshot.pools) {
    for (const w of pool.workers) {
      if (w.state === "idle" || w.workqueue === undefined) continue
      running.push({
        worker: w.name,
        work: w.work ?? "?",
        workqueue: w.workqueue,
        runningForMs: Math.round(w.runningFor ?? 0)
      })
    }
  }
  const workqueues: Array<PendingWorkqueue> = []
  for (const wq of snapshot.workqueues) {
    let active = 0
    let inactive = 0
    for (const pwq of wq.pwqs) {
      active += pwq.active
      inactive += pwq.inactive
    }
    const nRunning = running.filter((r) => r.workqueue === wq.name).length
    const pending = Math.max(active - nRunning, 0) + inactive
    if (nRunning + pending + wq.armed === 0) continue
    workqueues.push({ name: wq.name, running: nRunning, pending, armed: wq.armed })
  }
  return { ...facts, workqueues, running }
}

/**
 * The report as log text: one summary line, then one line per workqueue with work left and one per busy worker.
 *
 * **Example** (A deadline report)
 *
 * ```ts
 * import { NodeShutdown } from "@effect-workqueue/platform"
 *
 * NodeShutdown.formatReport({
 *   drained: false, deadlineMs: 100, elapsedMs: 100,
 *   workqueues: [{ name: "jobs", running: 1, pending: 2, armed: 0 }],
 *   running: [{ worker: "kworker/0:1", work: "job", workqueue: "jobs", runningForMs: 100 }]
 * }).split("\n")[1] // => "  workqueue jobs: 1 running, 2 pending, 0 armed"
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const formatReport = (report: Report): string => {
  if (report.drained) return `workqueue shutdown: every workqueue drained in ${report.elapsedMs} ms`
  const total = report.workqueues.reduce((n, wq) => n + wq.running + wq.pending + wq.armed, 0)
  return [
    `workqueue shutdown: deadline of ${report.deadlineMs} ms passed with ${total} accepted item(s) not finished ` +
      `in ${report.workqueues.length} workqueue(s); they are listed here, not dropped`,
    ...report.workqueues.map(
      (wq) => `  workqueue ${wq.name}: ${wq.running} running, ${wq.pending} pending, ${wq.armed} armed`
    ),
    ...report.running.map((r) => `  ${r.worker}+${r.workqueue} runs ${r.work} for ${r.runningForMs} ms`)
  ].join("\n")
}

// ---------------------------------------------------------------------------
// shutdown
// ---------------------------------------------------------------------------

const drainIgnoringErrors = (wq: Workqueue.Workqueue) => Effect.ignore(Workqueue.drain(wq))

/** freeze → drain non-freezable → thaw → drain freezable; every drain begins at once (closes outside queueing). */
const drainSequence = Effect.gen(function* () {
  const entries = liveWorkqueues(yield* WorkqueueSystem.workqueues)
  const normal = entries.filter((e) => !e.freezable).map((e) => e.wq)
  const freezable = entries.filter((e) => e.freezable).map((e) => e.wq)
  const fork = (wqs: ReadonlyArray<Workqueue.Workqueue>) =>
    Effect.forkChild(Effect.forEach(wqs, drainIgnoringErrors, { concurrency: "unbounded", discard: true }), {
      startImmediately: true
    })
  const normalDrains = yield* fork(normal)
  const freezableDrains = yield* fork(freezable)
  yield* WorkqueueSystem.freeze
  yield* Fiber.join(normalDrains)
  yield* WorkqueueSystem.thaw
  yield* Fiber.join(freezableDrains)
})

/**
 * Drain every workqueue of the system within `deadlineMs` of Clock time, and log the outcome: one info line when
 * everything drained, or a warning with the `formatReport` of what was still running or pending at the deadline.
 *
 * **Details**: every drain starts at once, so from the first step outside queueing fails with `WorkqueueError`
 * `"Draining"` (work items of a draining queue may still requeue themselves, as in the kernel). Freezable queues
 * are frozen while the others drain, then thawed and drained: their deferred work runs last. The drains run in a
 * detached fiber; past the deadline they go on in the background (the queues stay closed to outside work), and
 * the effect returns the report.
 *
 * **Gotchas**: a workqueue destroyed meanwhile (its scope closed) is simply skipped. This cannot interrupt a
 * running work item: the kernel never kills a work function either.
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
  Effect.gen(function* () {
    const deadlineMs = options?.deadlineMs ?? DEFAULT_DEADLINE_MS
    const start = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.forkDetach(drainSequence, { startImmediately: true })
    const done = yield* Effect.timeoutOption(Fiber.await(fiber), deadlineMs)
    const elapsedMs = (yield* Clock.currentTimeMillis) - start
    const snapshot = yield* WorkqueueSystem.snapshot
    const report = reportOf(snapshot, { drained: Option.isSome(done), deadlineMs, elapsedMs })
    if (report.drained) {
      yield* Effect.logInfo(formatReport(report))
    } else {
      yield* Effect.logWarning(formatReport(report)).pipe(
        Effect.annotateLogs({ deadlineMs, workqueues: report.workqueues.map((wq) => wq.name).join(",") })
      )
    }
    return report
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
  Layer.effectDiscard(Effect.addFinalizer(() => drainAll(options)))
