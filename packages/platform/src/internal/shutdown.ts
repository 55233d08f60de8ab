/**
 * The shutdown of one workqueue system, shared by every layer that takes part in it (`NodeShutdown.layer`,
 * `NodeWorkqueue.shutdownLayer`, `NodeWorkqueue.layer`'s finaliser, its signal listener).
 *
 * A system shuts down once. The first caller of `begin` starts the drain and fixes the deadline; later callers
 * (another layer's finaliser, a signal) join it and get the same report, which is logged once. That is what
 * keeps a layering of several shutdown layers from draining, freezing and logging twice, and what lets a later
 * phase (the system's own close) be bounded by the deadline the first phase started.
 *
 *   begin ─┬─ drain fiber:   fire armed timers → freeze → drain non-freezable → thaw → drain freezable
 *          │                 (again while a handler re-armed or re-queued something)
 *          └─ referee fiber: the drain, or the deadline, whichever comes first → (past the deadline: seal the
 *                            system, so no chain goes on) → report → log → outcome
 *
 * Field rules: every field below is read and written in one synchronous step (a `Effect.sync` or a signal
 * listener), with no `yield*` between a read and the write it decides.
 *
 * @internal
 */
import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { escapeName } from "../NodeMonitor.ts"
import { liveWorkqueues } from "./system.ts"

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/** How a shutdown ended (see `NodeShutdown.Report`). @internal */
export type Outcome = "drained" | "deadline" | "signal"

/** `NodeShutdown.Report`, declared here so the machinery and the public module share one table. @internal */
export interface Report {
  readonly outcome: Outcome
  readonly drained: boolean
  readonly deadlineMs: number
  readonly elapsedMs: number
  readonly fired: number
  readonly workqueues: ReadonlyArray<{
    readonly name: string
    readonly running: number
    readonly pending: number
    readonly armed: number
  }>
  readonly running: ReadonlyArray<{
    readonly worker: string
    readonly work: string
    readonly workqueue: string
    readonly runningForMs: number
  }>
}

/** One shutdown in progress or done. @internal */
export interface Run {
  readonly startedAt: number // I: Clock ms when begin ran
  readonly deadlineMs: number // I: fixed by the first begin
  readonly outcome: Deferred.Deferred<Report> // I: completed once, by the referee
  fired: number // the drain fiber: armed items it fired so far
  report: Report | undefined // the referee (drain outcome), then finish / force (a later deadline or signal report)
  deadlineLogged: boolean // whoever logs a deadline report first sets it; nobody logs a second one
  signalled: boolean // the signal listener: a SIGINT/SIGTERM started or joined this shutdown
  exiting: boolean // set right before process exit; later signals and guards do nothing
  completed: boolean // NodeWorkqueue.layer's finaliser: the system is closed (or left to close in the background)
  guard: Fiber.Fiber<void> | undefined // the signal listener: the exit-at-deadline fiber
}

/** The per-system coordinator. @internal */
export interface Coordinator {
  // set once, by `claim`: the "already shutting down?" check and this write are one synchronous step, no yield*
  // between read and write (a second begin in between would start a second drain)
  run: Run | undefined
}

const coordinators = new WeakMap<object, Coordinator>()

/** The coordinator of the system in context (one per `WorkqueueSystem` service value). @internal */
export const coordinator: Effect.Effect<Coordinator, never, WorkqueueSystem.WorkqueueSystem> = Effect.map(
  WorkqueueSystem.WorkqueueSystem,
  (service) => {
    let c = coordinators.get(service)
    if (c === undefined) {
      c = { run: undefined }
      coordinators.set(service, c)
    }
    return c
  }
)

// ---------------------------------------------------------------------------
// reports
// ---------------------------------------------------------------------------

/** @internal */
export const reportOf = (
  snapshot: WorkqueueSystem.Snapshot,
  facts: {
    readonly drained: boolean
    readonly deadlineMs: number
    readonly elapsedMs: number
    readonly outcome?: Outcome | undefined
    readonly fired?: number | undefined
  }
): Report => {
  const running: Array<Report["running"][number]> = []
  // busy workers per workqueue name, counted in the same pass: linear in workers + workqueues (a filter of
  // `running` per workqueue was quadratic, seconds for a service with thousands of workqueues at shutdown)
  const runningPerWq = new Map<string, number>()
  for (const pool of snapshot.pools) {
    for (const w of pool.workers) {
      if (w.state === "idle" || w.workqueue === undefined) continue
      running.push({
        worker: w.name,
        work: w.work ?? "?",
        workqueue: w.workqueue,
        runningForMs: Math.round(w.runningFor ?? 0)
      })
      runningPerWq.set(w.workqueue, (runningPerWq.get(w.workqueue) ?? 0) + 1)
    }
  }
  const workqueues: Array<Report["workqueues"][number]> = []
  for (const wq of snapshot.workqueues) {
    let active = 0
    let inactive = 0
    for (const pwq of wq.pwqs) {
      active += pwq.active
      inactive += pwq.inactive
    }
    const name = wq.name
    const nRunning = runningPerWq.get(name) ?? 0
    const pending = Math.max(active - nRunning, 0) + inactive
    if (nRunning + pending + wq.armed === 0) continue
    workqueues.push({ name, running: nRunning, pending, armed: wq.armed })
  }
  const outcome = facts.outcome ?? (facts.drained ? "drained" : "deadline")
  return {
    outcome,
    drained: outcome === "drained",
    deadlineMs: facts.deadlineMs,
    elapsedMs: facts.elapsedMs,
    fired: facts.fired ?? 0,
    workqueues,
    running
  }
}

/** @internal */
export const formatReport = (report: Report): string => {
  const fired = report.fired > 0 ? `; ${report.fired} armed delayed item(s) were fired early and ran` : ""
  if (report.outcome === "drained") {
    return `workqueue shutdown: every workqueue drained in ${report.elapsedMs} ms${fired}`
  }
  const total = report.workqueues.reduce((n, wq) => n + wq.running + wq.pending + wq.armed, 0)
  const head =
    report.outcome === "signal"
      ? `workqueue shutdown: second signal after ${report.elapsedMs} ms, exiting now`
      : `workqueue shutdown: deadline of ${report.deadlineMs} ms passed`
  const what =
    total === 0
      ? ` with every accepted item finished${fired}`
      : ` with ${total} accepted item(s) not finished in ${report.workqueues.length} workqueue(s); they are listed ` +
        `here, not dropped${fired}`
  return [
    head + what,
    // every name is the caller's (a workqueue, a work item): escaped, so it cannot drive the terminal
    ...report.workqueues.map(
      (wq) => `  workqueue ${escapeName(wq.name)}: ${wq.running} running, ${wq.pending} pending, ${wq.armed} armed`
    ),
    ...report.running
      .slice(0, MAX_WORKER_LINES)
      .map(
        (r) =>
          `  ${escapeName(r.worker)}+${escapeName(r.workqueue)} runs ${escapeName(r.work)} for ${r.runningForMs} ms`
      ),
    ...(report.running.length > MAX_WORKER_LINES
      ? [`  ... and ${report.running.length - MAX_WORKER_LINES} more busy worker(s) (counted above, in Report.running)`]
      : [])
  ].join("\n")
}

/** Busy workers listed one per line in a log; the per-workqueue counts above them are always complete. */
const MAX_WORKER_LINES = 64

/** Log a report once: info when drained, a warning otherwise. @internal */
export const logReport = (report: Report): Effect.Effect<void> =>
  report.outcome === "drained"
    ? Effect.logInfo(formatReport(report))
    : Effect.logWarning(formatReport(report)).pipe(
        Effect.annotateLogs({
          deadlineMs: report.deadlineMs,
          workqueues: report.workqueues.map((wq) => escapeName(wq.name)).join(",")
        })
      )

/** A report of the current state, as of `run`'s start. @internal */
export const reportNow = (run: Run, outcome: Outcome): Effect.Effect<Report, never, WorkqueueSystem.WorkqueueSystem> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const snapshot = yield* WorkqueueSystem.snapshot
    return reportOf(snapshot, {
      drained: outcome === "drained",
      outcome,
      deadlineMs: run.deadlineMs,
      elapsedMs: now - run.startedAt,
      fired: run.fired
    })
  })

// ---------------------------------------------------------------------------
// the drain
// ---------------------------------------------------------------------------

const anyBusy = Effect.map(WorkqueueSystem.snapshot, (s) =>
  s.workqueues.some((wq) => wq.armed > 0 || wq.pwqs.some((pwq) => pwq.active > 0 || pwq.inactive > 0))
)

/**
 * freeze → drain non-freezable → thaw → drain freezable; every drain begins at once (closing outside queueing),
 * then the armed timers fire (their items are accepted by the draining queues and waited for). Repeated while a
 * handler re-armed or re-queued something, so on return nothing is armed, pending or running. Rounds stop once the
 * deadline passed (the referee reported): the drains in flight go on, but nothing is fired any more, and the
 * referee sealed the system, so a handler that re-arms or re-queues itself forever is refused and its chain ends.
 */
const drainSequence = (run: Run) =>
  Effect.gen(function* () {
    // outside queueing is refused for the whole shutdown, on every workqueue: an idle queue's drain ends at once
    // and would reopen it
    yield* WorkqueueSystem.beginShutdown
    let frozen = false
    while (run.report === undefined) {
      const entries = liveWorkqueues(yield* WorkqueueSystem.workqueues)
      const normal = entries.filter((e) => !e.freezable).map((e) => e.wq)
      const freezable = entries.filter((e) => e.freezable).map((e) => e.wq)
      const fork = (wqs: ReadonlyArray<Workqueue.Workqueue>) =>
        Effect.forkChild(
          Effect.forEach(wqs, (wq) => Effect.ignore(Workqueue.drain(wq)), { concurrency: "unbounded", discard: true }),
          { startImmediately: true }
        )
      const normalDrains = yield* fork(normal)
      const freezableDrains = yield* fork(freezable)
      for (const e of entries) run.fired += yield* Workqueue.fireArmed(e.wq)
      if (!frozen) {
        frozen = true
        yield* WorkqueueSystem.freeze
      }
      yield* Fiber.join(normalDrains)
      yield* WorkqueueSystem.thaw
      yield* Fiber.join(freezableDrains)
      if (!(yield* anyBusy)) return
      yield* Effect.yieldNow
    }
  })

/**
 * The decision to start a shutdown and the state change that records it, as one synchronous step: the Clock is
 * read here, not by a `yield*` between the "already shutting down?" check and `c.run`'s write, where the fiber
 * may yield (its op budget) and a second caller (a signal, another layer's finaliser) would pass the same check and
 * start a second drain. Returns the new run, or undefined when one was already started (the caller joins it).
 */
const claim = (c: Coordinator, deadlineMs: number, clock: Clock.Clock): Run | undefined => {
  if (c.run !== undefined) return undefined
  c.run = {
    startedAt: clock.currentTimeMillisUnsafe(),
    deadlineMs,
    outcome: Deferred.makeUnsafe<Report>(),
    fired: 0,
    report: undefined,
    deadlineLogged: false,
    signalled: false,
    exiting: false,
    completed: false,
    guard: undefined
  }
  return c.run
}

/**
 * Start the system's shutdown (or join the one in progress): the drain in a detached fiber, and a referee that
 * completes `run.outcome` with the drain's report, or the deadline's, and logs it. Returns at once.
 *
 * @internal
 */
export const begin = (deadlineMs: number): Effect.Effect<Run, never, WorkqueueSystem.WorkqueueSystem> =>
  Effect.gen(function* () {
    const c = yield* coordinator
    const clock = yield* Clock.Clock
    const run = claim(c, deadlineMs, clock)
    if (run === undefined) return c.run!
    const drain = yield* Effect.forkDetach(drainSequence(run), { startImmediately: true })
    yield* Effect.forkDetach(
      Effect.gen(function* () {
        const done = yield* Effect.timeoutOption(Fiber.await(drain), deadlineMs)
        if (run.exiting) return
        // a drain that ended only after the deadline (a handler blocked the event loop across it, so the drain and
        // the deadline's timer became ready in the same turn) is not "drained": the deadline passed first
        const late = (yield* Clock.currentTimeMillis) - run.startedAt > deadlineMs
        const outcome = Option.isSome(done) && !late ? "drained" : "deadline"
        if (outcome === "deadline") yield* WorkqueueSystem.sealShutdown
        const report = yield* reportNow(run, outcome)
        if (run.exiting) return
        run.report = report
        if (!report.drained) run.deadlineLogged = true
        yield* logReport(report)
        yield* Deferred.succeed(run.outcome, report)
      }),
      { startImmediately: true }
    )
    return run
  })

/** The Clock ms left until `run`'s deadline (0 once it passed). @internal */
export const remainingMs = (run: Run): Effect.Effect<number> =>
  Effect.map(Clock.currentTimeMillis, (now) => Math.max(0, run.startedAt + run.deadlineMs - now))

/**
 * Past the deadline with the shutdown not complete: seal the system (no more queueing, from its own items either:
 * a chain that re-queues itself ends after its current run) and log a deadline report unless one was logged
 * already.
 *
 * @internal
 */
export const logDeadlineOnce = (run: Run): Effect.Effect<void, never, WorkqueueSystem.WorkqueueSystem> =>
  Effect.gen(function* () {
    yield* WorkqueueSystem.sealShutdown
    if (run.deadlineLogged || run.exiting) return
    run.deadlineLogged = true
    const report = yield* reportNow(run, "deadline")
    yield* logReport(report)
  })
