/**
 * Jobs: one-shot effects with a typed result, run on any workqueue — with a per-attempt timeout, retries on a
 * `Schedule`, dead letters and backpressure — composed from Effect's own primitives above the kernel API.
 *
 * A job is a `DelayedWork` item made for it alone, queued on the workqueue you choose, so that workqueue's
 * `maxActive`, ordering, `WQ_HIGHPRI` and freezing apply to every attempt. Each attempt runs in a child fiber of
 * the worker (so it can be interrupted: a timeout, a cancel) and its `Exit` completes a `Deferred`. A retry is the
 * same item queued again after the schedule's delay — a timer, never a sleep that holds a worker or an active slot.
 *
 * The names follow Effect's `PersistedQueue` where the semantics agree (`retrySchedule`, `maxAttempts`, `delay`,
 * `id`, attempts counted from 1); docs/JOBS.md says where and why ours differ (in-process, the kernel's PENDING
 * semantics, at-most-once).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import type * as Metric from "effect/Metric"
import { pipeArguments, type Pipeable } from "effect/Pipeable"
import * as Pull from "effect/Pull"
import type * as Schedule from "effect/Schedule"
import * as ScheduleM from "effect/Schedule"
import type * as DelayedWork from "./DelayedWork.ts"
import * as Engine from "./internal/engine.ts"
import * as WorkInternal from "./internal/work.ts"
import { isWorkqueueError, make as makeError, makeUnowned } from "./internal/error.ts"
import { EntityKey, entityOf } from "./internal/scheduler.ts"
import { type DelayedWorkState, jobCounters, type JobStatName } from "./internal/state.ts"
import type * as Workqueue from "./Workqueue.ts"
import * as WorkqueueInternal from "./internal/workqueue.ts"
import type * as WorkqueueError from "./WorkqueueError.ts"

/**
 * The key that marks a `Job` value (`isJob` tests for it).
 *
 * @category models
 * @since 0.1.0
 */
export const TypeId = "~effect-workqueue/Job"

/**
 * A submitted job: its id, the workqueue it runs on, and (through `Job.await`) its `Exit`. The handle holds
 * nothing else a caller can reach (no own property; `id` and `workqueue` are read-only): the job's item, options
 * and result live behind it, so only the `Job` calls act on a job.
 *
 * @category models
 * @since 0.1.0
 */
export interface Job<out A, out E> extends Pipeable {
  readonly [TypeId]: {
    readonly _A: (_: never) => A
    readonly _E: (_: never) => E
  }
  /** The id given to `submit`, or `"<workqueue>-<n>"`. */
  readonly id: string
  /** The workqueue's name. */
  readonly workqueue: string
}

/**
 * Whether `u` is a `Job` (made by `Job.make`).
 *
 * **Example**
 *
 * ```ts
 * import { Job } from "@effect-workqueue/core"
 *
 * Job.isJob({}) // => false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isJob = (u: unknown): u is Job<unknown, unknown> => Engine.hasMark(u, TypeId)

/**
 * What an attempt is told (as `PersistedQueue.take`'s metadata): the job's id and the attempt number, from 1.
 *
 * @category models
 * @since 0.1.0
 */
export interface Attempt {
  readonly id: string
  readonly attempts: number
}

/**
 * A job that failed for good — a typed failure or timeout after its last attempt, or a defect — handed to the
 * `deadLetter` handler. Interrupted (cancelled) jobs are not dead letters.
 *
 * @category models
 * @since 0.1.0
 */
export interface DeadLetter<out E> {
  readonly id: string
  readonly workqueue: string
  readonly attempts: number
  readonly cause: Cause.Cause<E>
}

/**
 * Options of `Job.submit` and `Job.run`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<E> {
  /** The job's id (logs, dead letters). Default `"<workqueue>-<n>"`. Not de-duplicated: see docs/JOBS.md. */
  readonly id?: string | undefined
  /** Postpone the first attempt (as `PersistedQueue.offer`'s `delay`): an armed timer, counted as pending. */
  readonly delay?: Duration.Input | undefined
  /**
   * Interrupt an attempt that runs longer than this; it then fails with `Cause.TimeoutError` (retried like any
   * typed failure) and is counted in `workqueue_job_timeouts`. Only an attempt that yields can be interrupted.
   * An infinite duration (`Duration.infinity`, `"Infinity"`) is no timeout, as leaving it out; one that is not a
   * duration > 0 fails with `reason: "InvalidOptions"`.
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * When a failed attempt is tried again and after what delay. Its input is the attempt's typed failure (a
   * `Cause.TimeoutError` for a timeout), so `Schedule.while` can pick retryable errors. Absent: no retries.
   */
  readonly retrySchedule?: Schedule.Schedule<unknown, E | Cause.TimeoutError> | undefined
  /** At most this many attempts (from 1). Default: 1 without `retrySchedule`; with it, until the schedule ends. */
  readonly maxAttempts?: number | undefined
  /**
   * Called once with a job that failed for good, before its result completes (so when `Job.await` returns the
   * failure, the letter has been handled); the handler's own failure is logged, never lost silently. It runs in a
   * fiber of its own, **not on the worker**: it holds no worker and no active slot (the next job of an ordered
   * workqueue starts while it runs), so a slow handler delays only this job's waiters. `Job.cancel` meanwhile
   * interrupts it and returns once it has stopped (`false`: the job's Exit stays its final failure), and so
   * does interrupting `Job.run`; closing the `WorkqueueSystem` waits for it as for a running item.
   */
  readonly deadLetter?: ((letter: DeadLetter<E | Cause.TimeoutError>) => Effect.Effect<void, unknown>) | undefined
  /** At the workqueue's `maxPending`: fail with `QueueFull` (`"fail"`, the default) or wait for room. */
  readonly whenFull?: "fail" | "wait" | undefined
}

// ---------------------------------------------------------------------------
// state
// ---------------------------------------------------------------------------

/**
 * A job's state. Field rules (see internal/state.ts): every field below is written in one synchronous step, by
 * the job's handler (on its worker) or by `cancel`, never across a `yield*`.
 */
interface JobState<A, E> {
  readonly id: string // I
  readonly workqueue: string // I
  readonly wq: Workqueue.Workqueue // I
  deferred: Deferred.Deferred<A, E> | undefined // waiters: made by the first wait (`resultOf`); completed once
  readonly options: Options<any> // I
  readonly timeoutMs: number // I: Infinity when absent
  readonly maxAttempts: number // I
  readonly step: ((now: number, input: unknown) => Pull.Pull<[unknown, Duration.Duration], never, unknown>) | undefined // I
  readonly body: unknown // I: the job's effect, or the function that makes each attempt's (its item's datum is the state)
  dwork: DelayedWork.DelayedWork // I (set right after make)
  attempts: number // handler: attempts started so far
  fiber: Fiber.Fiber<A, E> | undefined // handler: the running attempt's (or schedule step's) fiber
  letter: Fiber.Fiber<void> | undefined // handler (set) / the letter's end (cleared): the dead-letter handler's fiber
  cancelled: boolean // cancel: no further attempt may start or be scheduled
  done: boolean // handler / cancel / the letter's end: the final Exit is set (and the deferred, if made, completed)
  exit: Exit.Exit<A, E> | undefined // handler / cancel / the letter's end: the final Exit, set with `done`
  lettering: Exit.Exit<A, E> | undefined // handler (set) / the letter's end (cleared): the final Exit while the
  //   dead-letter handler runs
}

/**
 * One run of a job's code: an attempt, or its dead-letter handler. It is the job's identity for the fibers that
 * run forks, **while the run lasts** (as the engine's `RunToken` for a work item): a fiber forked by an attempt
 * that outlives it is not that attempt any more, so `cancel` / `await` from it act on the job as from anywhere.
 */
class JobRun {
  readonly state: JobState<any, any>
  // handler: cleared in one synchronous step once the run has ended (the attempt's fiber awaited, children
  // included; the dead-letter fiber's observer), never set again
  live = true
  constructor(state: JobState<any, any>) {
    this.state = state
  }
}

/**
 * The run (attempt or dead-letter handler) the current fiber belongs to, inherited by the fibers it forks, so
 * that `cancel` / `await` on its own job answer at once instead of waiting for themselves. Only a live run
 * counts (`isCurrentJob`): the reference itself is inherited for ever.
 */
const CurrentJob = Context.Reference<JobRun | undefined>("effect-workqueue/Job/CurrentJob", {
  defaultValue: () => undefined
})

/** Does the current fiber belong to a run of this job that is still going on? */
const isCurrentJob = (state: JobState<any, any>): boolean => {
  const fiber = Fiber.getCurrent()
  if (fiber === undefined) return false
  const run = Context.get(fiber.context, CurrentJob)
  return run !== undefined && run.live && run.state === state
}

/**
 * The handle `submit` returns: the job's id and workqueue (read-only accessors) and nothing else a caller can
 * reach. The state (the workqueue, the options, the internal item, the deferred, the running fiber) is behind a
 * `#private` field: no property, enumerable or not, leads to the job's item, so no public call
 * (`DelayedWork.cancel`, `Work.disable`) can strand `Job.await`. One small object per job, no side table.
 */
class JobHandle {
  readonly #state: JobImpl<any, any>
  constructor(state: JobImpl<any, any>) {
    this.#state = state
  }
  /** The state behind `u` if it is a handle made here (a brand check: no `Proxy` trap runs), else undefined. */
  static stateOf(u: unknown): JobImpl<any, any> | undefined {
    return typeof u === "object" && u !== null && #state in u ? (u as JobHandle).#state : undefined
  }
  get id(): string {
    return this.#state.id
  }
  get workqueue(): string {
    return this.#state.workqueue
  }
  pipe() {
    return pipeArguments(this, arguments)
  }
  toJSON() {
    const state = this.#state
    return {
      _id: "Job",
      id: state.id,
      workqueue: state.workqueue,
      state: state.done
        ? "done"
        : state.fiber !== undefined
          ? "running"
          : state.letter !== undefined
            ? "dead-letter"
            : state.cancelled
              ? "cancelling"
              : "pending",
      attempts: state.attempts
    }
  }
  toString() {
    return `Job(${this.#state.id})`
  }
}
Object.defineProperty(JobHandle.prototype, TypeId, { value: { _A: (_: never) => _, _E: (_: never) => _ } })

/** One hidden class for every job: the fields in one order, the prototype holding the methods. */
class JobImpl<A, E> implements JobState<A, E> {
  readonly id: string
  readonly workqueue: string
  readonly wq: Workqueue.Workqueue
  readonly options: Options<any>
  readonly timeoutMs: number
  readonly maxAttempts: number
  readonly step: JobState<A, E>["step"]
  readonly body: unknown
  deferred: Deferred.Deferred<A, E> | undefined = undefined
  dwork: DelayedWork.DelayedWork = undefined as unknown as DelayedWork.DelayedWork
  attempts = 0
  fiber: Fiber.Fiber<A, E> | undefined = undefined
  letter: Fiber.Fiber<void> | undefined = undefined
  cancelled = false
  done = false
  exit: Exit.Exit<A, E> | undefined = undefined
  lettering: Exit.Exit<A, E> | undefined = undefined
  constructor(
    id: string,
    workqueue: string,
    wq: Workqueue.Workqueue,
    options: Options<any>,
    timeoutMs: number,
    maxAttempts: number,
    step: JobState<A, E>["step"],
    body: unknown
  ) {
    this.id = id
    this.workqueue = workqueue
    this.wq = wq
    this.options = options
    this.timeoutMs = timeoutMs
    this.maxAttempts = maxAttempts
    this.step = step
    this.body = body
  }
}

/** The handle of a job's state, made once when the job is queued and returned by `submit`. */
const handleOf = <A, E>(state: JobImpl<A, E>): Job<A, E> => new JobHandle(state) as unknown as Job<A, E>

const toState = <A, E>(job: Job<A, E>): JobState<A, E> => JobHandle.stateOf(job) as JobState<A, E>

/**
 * The deferred the job's waiters wait on, made by the first wait: most jobs are never awaited, and a deferred per
 * job was a third of a pending job's memory. A job already done gets it completed with its final Exit.
 */
const resultOf = <A, E>(state: JobState<A, E>): Deferred.Deferred<A, E> => {
  let deferred = state.deferred
  if (deferred === undefined) {
    deferred = Deferred.makeUnsafe<A, E>()
    state.deferred = deferred
    if (state.done) Deferred.doneUnsafe(deferred, state.exit!)
  }
  return deferred
}

/**
 * Is `u` a job made by `submit`? The handle's `#private` brand, not the `TypeId` test of `isJob`: the calls below
 * read and write the job's state, so an object that only looks like one (`{ [TypeId]: ... }`) is refused, never
 * written to; a `Proxy` is never a job and none of its traps runs.
 */
const isJobState = (u: unknown): u is Job<unknown, unknown> => JobHandle.stateOf(u) !== undefined

/** The typed error for a value that is not a job: `InvalidArgument`, naming the value (it has no workqueue). */
const badJob = (u: unknown): WorkqueueError.WorkqueueError =>
  makeUnowned("InvalidArgument", `not a Job: ${Engine.show(u)}`)

/** The state behind `job` for the synchronous calls: a value that is not a job throws the typed error. */
const toStateOrThrow = <A, E>(job: Job<A, E>): JobState<A, E> => {
  const state = JobHandle.stateOf(job)
  if (state === undefined) throw badJob(job)
  return state
}

let nextId = 0 // L: the default id's counter

// ---------------------------------------------------------------------------
// metrics
// ---------------------------------------------------------------------------

/**
 * `workqueue_job_timeouts`: attempts interrupted by their `timeout`, with a `workqueue` attribute. Counted in the
 * workqueue and published with its statistics by `WorkqueueMetrics.publish` (or `WorkqueueMetrics.layer`), so a
 * destroyed workqueue leaves no series behind unless its counts were published.
 * @category metrics
 * @since 0.1.0
 */
export const timeouts: Metric.Counter<number> = jobCounters.timeouts

/**
 * `workqueue_job_retries`: failed attempts queued again after their schedule's delay (published as
 * `Job.timeouts` is).
 * @category metrics
 * @since 0.1.0
 */
export const retries: Metric.Counter<number> = jobCounters.retries

/**
 * `workqueue_job_dead_letters`: jobs that failed for good (published as `Job.timeouts` is).
 *
 * **Example** (Count a dead letter)
 *
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Job, Workqueue, WorkqueueMetrics, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("payments")
 *   yield* Effect.exit(Job.run(wq, Effect.fail("declined")))
 *   yield* WorkqueueMetrics.publish
 *   const state = yield* Metric.value(Metric.withAttributes(Job.deadLetters, { workqueue: "payments" }))
 *   return state.count
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => 1
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const deadLetters: Metric.Counter<number> = jobCounters.deadLetters

/** Count one event of `key` in the job's workqueue (published by `WorkqueueMetrics.publish`). */
const count = (key: JobStatName, state: JobState<any, any>): Effect.Effect<void> =>
  Effect.sync(() => {
    WorkqueueInternal.toState(state.wq).jobStats[key]++
  })

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

/**
 * `submit` / `run` are data-first when the first argument is a workqueue, or when the arguments after it are the
 * effect (an Effect or a function) and options; otherwise data-last. Deciding on the effect's position as well
 * as the workqueue's keeps a value that is not a workqueue in first position data-first, so it fails with
 * `InvalidArgument` instead of returning a function.
 */
const isDataFirst = (args: IArguments): boolean =>
  WorkqueueInternal.isWorkqueue(args[0]) ||
  args.length >= 3 ||
  Engine.isEffectSafe(args[1]) ||
  typeof args[1] === "function" ||
  WorkqueueInternal.isWorkqueue(args[1])

/** `Schedule.isSchedule` that never throws (a hostile `Proxy` is not a schedule). */
const isScheduleSafe = (u: unknown): boolean => {
  try {
    return ScheduleM.isSchedule(u)
  } catch {
    return false
  }
}

/** A submission whose arguments passed every rule: what the job is built from. */
interface Prepared {
  readonly wq: Workqueue.Workqueue
  readonly workqueue: string
  readonly body: unknown // the effect, or a function of the attempt (see `attemptEffect`)
  readonly options: Options<any>
  readonly timeoutMs: number
  readonly maxAttempts: number
  readonly interruptJob: boolean // `run` only: interrupting the caller cancels the job (absent: true)
}

const invalidOption = (workqueue: string, rule: string) => makeError("InvalidOptions", workqueue, `job ${rule}`)

/** The keys of `Options` (`submit`), and `run`'s with its `interruptJob`: any other key is refused. */
const SUBMIT_KEY_LIST = ["id", "delay", "timeout", "retrySchedule", "maxAttempts", "deadLetter", "whenFull"]
const SUBMIT_KEYS = Engine.optionKeys(SUBMIT_KEY_LIST)
const RUN_KEYS = Engine.optionKeys([...SUBMIT_KEY_LIST, "interruptJob"])

/** No options given: every key its own `undefined`, so a polluted `Object.prototype` adds none. */
const NO_OPTIONS = Object.freeze(Engine.noOptions(RUN_KEYS)) as Options<any>

/**
 * The rules a submission's arguments must meet, checked before anything is built or queued: a workqueue, an effect
 * (an Effect, or a function of the attempt), an options object whose every field has its type and allowed values.
 * Each broken rule is a typed `WorkqueueError` naming the workqueue (`InvalidArgument` for the first two,
 * `InvalidOptions` for the options). Reads the caller's values, never writes them.
 */
const prepare = (
  wq: unknown,
  effect: unknown,
  options: unknown,
  what: "job (submit)" | "job (submitUnsafe)" | "job (run)" = "job (submit)",
  keys: Engine.OptionKeys = SUBMIT_KEYS
): Prepared | WorkqueueError.WorkqueueError => {
  if (!WorkqueueInternal.isWorkqueue(wq)) {
    return WorkqueueInternal.isWorkqueue(effect)
      ? makeUnowned(
          "InvalidArgument",
          `the workqueue comes first: submit(wq, effect, options), got ${Engine.show(wq)} then ${Engine.show(effect)}`
        )
      : WorkqueueInternal.badWorkqueue(wq)
  }
  const workqueue = WorkqueueInternal.toState(wq).name
  if (!Engine.isEffectSafe(effect) && typeof effect !== "function") {
    return makeError(
      "InvalidArgument",
      workqueue,
      `a job's effect must be an Effect or a function of the attempt, got ${Engine.show(effect)}`
    )
  }
  // read once into a plain copy: own keys only, no unknown key, a throwing getter refused; only the copy is kept
  const read = Engine.readOptions(workqueue, what, options, keys)
  if (isWorkqueueError(read)) return read
  const o = (read ?? NO_OPTIONS) as Options<any> & { readonly interruptJob?: unknown }
  if (o.id !== undefined && typeof o.id !== "string") {
    return invalidOption(workqueue, `id must be a string, got ${Engine.show(o.id)}`)
  }
  if (o.delay !== undefined && Number.isNaN(WorkqueueInternal.toMillis(o.delay))) {
    return makeError("InvalidDelay", workqueue, `job delay ${WorkqueueInternal.showDelay(o.delay)} is not a duration`)
  }
  const timeoutMs = o.timeout === undefined ? Infinity : WorkqueueInternal.toMillis(o.timeout)
  if (!(timeoutMs > 0)) {
    return invalidOption(workqueue, `timeout ${WorkqueueInternal.showDelay(o.timeout)} is not a duration > 0`)
  }
  if (o.retrySchedule !== undefined && !isScheduleSafe(o.retrySchedule)) {
    return invalidOption(workqueue, `retrySchedule must be a Schedule, got ${Engine.show(o.retrySchedule)}`)
  }
  // only an omitted maxAttempts takes the default: `null` is a value, refused below
  const maxAttempts = o.maxAttempts === undefined ? (o.retrySchedule === undefined ? 1 : Infinity) : o.maxAttempts
  if (
    typeof maxAttempts !== "number" ||
    !(maxAttempts >= 1) ||
    (maxAttempts !== Infinity && !Number.isInteger(maxAttempts))
  ) {
    return invalidOption(workqueue, `maxAttempts ${Engine.show(o.maxAttempts)} is not an integer >= 1 (or Infinity)`)
  }
  if (o.deadLetter !== undefined && typeof o.deadLetter !== "function") {
    return invalidOption(workqueue, `deadLetter must be a function, got ${Engine.show(o.deadLetter)}`)
  }
  if (o.whenFull !== undefined && o.whenFull !== "fail" && o.whenFull !== "wait") {
    return invalidOption(workqueue, `whenFull must be "fail" or "wait", got ${Engine.show(o.whenFull)}`)
  }
  if (o.interruptJob !== undefined && typeof o.interruptJob !== "boolean") {
    return invalidOption(workqueue, `interruptJob must be a boolean, got ${Engine.show(o.interruptJob)}`)
  }
  return { wq, workqueue, body: effect, options: o, timeoutMs, maxAttempts, interruptJob: o.interruptJob !== false }
}

/**
 * An attempt's effect: the submitted effect, or what the submitted function returns for `attempt`. Known only when
 * the attempt runs: a function that returns no Effect ends that job with a defect in its own Exit (and dead
 * letter) that says so, never anything outside the job. Shared by every job (no closure per submission).
 */
const attemptEffect = (workqueue: string, body: unknown, attempt: Attempt): Effect.Effect<any, any, any> => {
  if (typeof body !== "function") return body as Effect.Effect<any, any, any>
  const result: unknown = (body as (attempt: Attempt) => unknown)(attempt)
  return Engine.isEffectSafe(result)
    ? result
    : Effect.die(
        makeError(
          "InvalidArgument",
          workqueue,
          `job "${attempt.id}": its effect function returned ${Engine.show(result)}, not an Effect`
        )
      )
}

/** The job's state and its item, made with the services `ctx` (the caller's, or the system's for `submitUnsafe`). */
const newJob = <A, E>(
  prepared: Prepared,
  ctx: Context.Context<any>,
  step: JobState<A, E>["step"]
): JobImpl<A, E | Cause.TimeoutError> => {
  const { options } = prepared
  const state = new JobImpl<A, E | Cause.TimeoutError>(
    options.id ?? `${prepared.workqueue}-${++nextId}`,
    prepared.workqueue,
    prepared.wq,
    options,
    prepared.timeoutMs,
    prepared.maxAttempts,
    step,
    prepared.body // the state holds the body, not the submission's `prepared`
  )
  // the item captures the services as `DelayedWork.make` would, and holds the state for the shared handler (no
  // closure per job); named after an explicit id only
  state.dwork = WorkInternal.makeWithContext(runJob, ctx, options.id, state) as unknown as DelayedWork.DelayedWork
  return state
}

/** Every job item's handler: one attempt of the job whose state the item holds. */
const runJob = (state: JobState<any, any>): Effect.Effect<void> => runAttempt(state, state.body)
// nameless, as the per-job closure it replaces was: an item without an explicit id is named "delayed_work"
Object.defineProperty(runJob, "name", { value: "" })

/** `submit` past its checks: make the job with the caller's services `ctx`, queue it (or wait for room). */
const startJob = <A, E>(
  prepared: Prepared,
  ctx: Context.Context<any>,
  step: JobState<A, E>["step"]
): Effect.Effect<Job<A, E | Cause.TimeoutError>, WorkqueueError.WorkqueueError> => {
  const state = newJob<A, E>(prepared, ctx, step)
  if (prepared.options.whenFull === "wait") {
    return Effect.as(
      WorkqueueInternal.queueWaitWith(prepared.wq, () => queueJob(state)),
      handleOf(state)
    )
  }
  const result = queueJob(state)
  return typeof result === "boolean" ? Effect.succeed(handleOf(state)) : Effect.fail(result)
}

/** The first queueing of a job: `queue` (or `queueDelayed` with `delay`), with `maxPending` applying. */
const queueJob = (state: JobState<any, any>) =>
  WorkqueueInternal.queueDelayedResult(state.wq, undefined, state.dwork, state.options.delay ?? 0, false, false, true)

/**
 * Queue a one-shot job on `wq` and return its handle at once; `Job.await` gives its `Exit`, `Job.join` its value.
 *
 * **When to use**: work whose result someone wants, on a workqueue whose limits should apply (a payment call on
 * a `concurrency: 4` workqueue, a render on an ordered one).
 *
 * **Details**: the job is a fresh item, so it is never "already pending". It is queued as `queue` (or
 * `queueDelayed` with `delay`) does: the workqueue's `maxActive`, ordering, `WQ_HIGHPRI` and freezing apply to
 * each attempt, and the `maxPending` bound to the first one — past it `submit` fails with `reason: "QueueFull"`
 * unless `whenFull: "wait"`. Retries are never refused for backpressure (the job was admitted once). The job's
 * failures go to its result and its dead letter, not to the worker's failure log. Every argument is checked before
 * anything is built: a first argument that is not a workqueue (data-first whenever the effect follows it) or an
 * effect that is neither an Effect nor a function fails with `reason: "InvalidArgument"`; each option with a wrong
 * type or value (`id` a string, `timeout` a duration > 0, `retrySchedule` a `Schedule`, `maxAttempts` an integer
 * >= 1 or `Infinity`, `deadLetter` a function, `whenFull` `"fail"` or `"wait"`) with `reason: "InvalidOptions"`, a
 * `delay` that is not a duration with `reason: "InvalidDelay"`. The options are read once into a copy, own keys
 * only, and only the copy is used afterwards (changing the caller's object after `submit` changes nothing); they
 * must be a plain object, an unknown key (`maxAtempts`, or `run`'s `interruptJob`) or a getter that throws fails
 * with `reason: "InvalidOptions"`, and `null` is a value, not an option left out. The effect and the workqueue
 * swapped (`submit(effect, wq)`) fail with `reason: "InvalidArgument"`, never curry.
 *
 * **Gotchas**: an attempt runs in a child fiber of the worker, so the engine's concurrency management sees a
 * worker waiting on it (sleeping), as for any handler that awaits: it does not count toward `nr_running`.
 *
 * **Kernel**: none — `work_struct` handlers return void; the job is a `delayed_work` plus a completion.
 *
 * **Example** (A result from a workqueue)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Job, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("render", { concurrency: 2 })
 *   const job = yield* Job.submit(wq, Effect.succeed(21 * 2))
 *   return yield* Job.join(job)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => 42
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const submit: {
  <A, E, R>(
    effect: Effect.Effect<A, E, R> | ((attempt: Attempt) => Effect.Effect<A, E, R>),
    options?: Options<E>
  ): (wq: Workqueue.Workqueue) => Effect.Effect<Job<A, E | Cause.TimeoutError>, WorkqueueError.WorkqueueError, R>
  <A, E, R>(
    wq: Workqueue.Workqueue,
    effect: Effect.Effect<A, E, R> | ((attempt: Attempt) => Effect.Effect<A, E, R>),
    options?: Options<E>
  ): Effect.Effect<Job<A, E | Cause.TimeoutError>, WorkqueueError.WorkqueueError, R>
} = dual(
  isDataFirst,
  <A, E, R>(
    wq: Workqueue.Workqueue,
    effect: Effect.Effect<A, E, R> | ((attempt: Attempt) => Effect.Effect<A, E, R>),
    options?: Options<E>
  ): Effect.Effect<Job<A, E | Cause.TimeoutError>, WorkqueueError.WorkqueueError, R> =>
    // one step on the caller's fiber: its services are the job's (no context effect, no closure per submission)
    Effect.withFiber((fiber) => {
      const prepared = prepare(wq, effect, options)
      if (isWorkqueueError(prepared)) return Effect.fail(prepared)
      return submitPrepared<A, E, R>(prepared, fiber.context as Context.Context<R>)
    })
)

/** Build and queue the job a checked submission describes (`submit`, `run`): its handle, or why it was refused. */
const submitPrepared = <A, E, R>(
  prepared: Prepared,
  ctx: Context.Context<R>
): Effect.Effect<Job<A, E | Cause.TimeoutError>, WorkqueueError.WorkqueueError, R> => {
  const schedule = prepared.options.retrySchedule
  const job =
    schedule === undefined
      ? startJob<A, E>(prepared, ctx, undefined)
      : Effect.flatMap(ScheduleM.toStep(schedule as any), (step) => startJob<A, E>(prepared, ctx, step as any))
  return job as unknown as Effect.Effect<Job<A, E | Cause.TimeoutError>, WorkqueueError.WorkqueueError, R>
}

/**
 * Synchronous twin of `submit`, for callers outside an Effect (a callback, an event handler): the same checks and
 * the same queueing, the handle returned at once; a broken rule (`QueueFull` included) is thrown as the
 * `WorkqueueError` instead of failing.
 *
 * **Details**: there is no caller's fiber to take services from, so the job's effect must need none (`R` is
 * `never`); it runs with the workqueue system's own services (its `Clock`, logger, tracer). `whenFull: "wait"`
 * cannot wait without an Effect and is refused with `reason: "InvalidOptions"`; so is a `retrySchedule` whose
 * first step cannot be built synchronously.
 *
 * **Kernel**: none (see `submit`); as `queueUnsafe` is `queue_work()` called from outside an Effect.
 *
 * **Example** (Submit from a plain callback)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Job, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("callbacks")
 *   let job: Job.Job<number, unknown> | undefined
 *   const onEvent = (n: number) => {
 *     job = Job.submitUnsafe(wq, Effect.succeed(n * 2))
 *   }
 *   onEvent(21)
 *   return yield* Job.join(job!)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => 42
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const submitUnsafe = <A, E>(
  wq: Workqueue.Workqueue,
  effect: Effect.Effect<A, E> | ((attempt: Attempt) => Effect.Effect<A, E>),
  options?: Options<E>
): Job<A, E | Cause.TimeoutError> => {
  const prepared = prepare(wq, effect, options, "job (submitUnsafe)")
  if (isWorkqueueError(prepared)) throw prepared
  if (prepared.options.whenFull === "wait") {
    throw makeError(
      "InvalidOptions",
      prepared.workqueue,
      'job whenFull: "wait" cannot wait outside an Effect (submitUnsafe); use Job.submit, or "fail"'
    )
  }
  const ctx = WorkqueueInternal.toState(wq).system.baseCtx as Context.Context<any>
  let step: JobState<A, E>["step"] = undefined
  const schedule = prepared.options.retrySchedule
  if (schedule !== undefined) {
    const exit = Effect.runSyncExit(Effect.provideContext(ScheduleM.toStep(schedule as any), ctx))
    if (Exit.isFailure(exit)) {
      throw makeError(
        "InvalidOptions",
        prepared.workqueue,
        "job retrySchedule: its first step cannot be built synchronously (submitUnsafe); use Job.submit"
      )
    }
    step = exit.value as JobState<A, E>["step"]
  }
  const state = newJob<A, E>(prepared, ctx, step)
  const result = queueJob(state)
  if (typeof result !== "boolean") throw result
  return handleOf(state) as unknown as Job<A, E | Cause.TimeoutError>
}

// ---------------------------------------------------------------------------
// the handler: one attempt, then settle
// ---------------------------------------------------------------------------

const runAttempt = <A, E, R>(
  state: JobState<A, E | Cause.TimeoutError>,
  body: unknown
): Effect.Effect<void, never, R> =>
  Effect.suspend(() => {
    if (state.done) return Effect.void
    // cancelled after its item left the queue, before this step: `cancel` found nothing pending and nothing
    // running and waits for the result — the job ends here, interrupted
    if (state.cancelled) return complete(state, Exit.interrupt() as Exit.Exit<A, E>)
    state.attempts++
    let attempt: Effect.Effect<A, E | Cause.TimeoutError, R> = Effect.suspend(() =>
      attemptEffect(state.workqueue, body, { id: state.id, attempts: state.attempts })
    )
    if (state.timeoutMs !== Infinity) {
      attempt = Effect.timeoutOrElse(attempt, {
        duration: state.timeoutMs,
        orElse: () =>
          Effect.andThen(
            count("timeouts", state),
            Effect.fail(
              new Cause.TimeoutError(
                `job "${state.id}" on "${state.workqueue}": attempt ${state.attempts} timed out after ${state.timeoutMs} ms`
              )
            )
          )
      })
    }
    // The attempt's fiber schedules as the worker it runs for: its class (WQ_HIGHPRI first, WQ_CPU_INTENSIVE
    // time-sliced) and its runnable count (concurrency management sees a runnable job, not a sleeping worker).
    // Tagged in its first synchronous step, before it can schedule anything.
    // this attempt's run: the job's identity for the attempt and the fibers it forks, until the attempt has ended
    const run = new JobRun(state)
    const inRun = Effect.provideService(attempt, CurrentJob, run)
    const entity = entityOf(Fiber.getCurrent())
    attempt = Effect.withFiber((child) => {
      if (entity !== undefined) (child as any)[EntityKey] = entity
      // held from the attempt's first step: a `cancel` from a fiber it forks synchronously can interrupt it
      state.fiber = child as Fiber.Fiber<A, E | Cause.TimeoutError>
      return inRun
    })
    return Effect.flatMap(Effect.forkChild(attempt, { startImmediately: true }), (fiber) => {
      state.fiber = fiber
      return Effect.flatMap(
        // the worker's wait interrupted (the worker stopped under it): the attempt, its child, is interrupted too
        // and nothing would settle the job — it ends interrupted here
        Effect.onInterrupt(Fiber.await(fiber), () => ended(state, run, Exit.interrupt() as Exit.Exit<A, E>)),
        (exit) => {
          state.fiber = undefined
          run.live = false // one step with `settle`'s reads: from now on no fiber of the attempt is the job
          return settle(state, exit)
        }
      )
    })
  })

/** The worker's wait for an attempt was interrupted: the run is over, the job ends with `exit`. */
const ended = <A, E>(state: JobState<A, E>, run: JobRun, exit: Exit.Exit<A, E>): Effect.Effect<void> => {
  state.fiber = undefined
  run.live = false
  return complete(state, exit)
}

const settle = <A, E>(state: JobState<A, E>, exit: Exit.Exit<A, E>): Effect.Effect<void> => {
  // an attempt that ended interrupted (cancelled, or interrupting itself) is not a dead letter, nor retried
  if (Exit.isSuccess(exit) || state.cancelled || Cause.hasInterruptsOnly(exit.cause)) return complete(state, exit)
  const cause = exit.cause
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure === undefined || state.step === undefined || state.attempts >= state.maxAttempts) {
    return finalFailure(state, exit)
  }
  // The schedule's step may be effectful (`Schedule.tap`, ...): it runs on the worker, in a child fiber held in
  // `state.fiber` as an attempt is, so a `cancel` landing meanwhile interrupts it and the job ends interrupted
  // (a cancelled job is never a dead letter).
  const stepping = Clock.clockWith((clock) =>
    Pull.catchDone(state.step!(clock.currentTimeMillisUnsafe(), failure.error), () => Effect.undefined)
  )
  return Effect.flatMap(Effect.forkChild(stepping, { startImmediately: true }), (fiber) => {
    state.fiber = fiber as unknown as Fiber.Fiber<A, E>
    return Effect.flatMap(Fiber.await(fiber), (stepped) => {
      state.fiber = undefined
      if (state.cancelled) return complete(state, Exit.interrupt() as Exit.Exit<A, E>)
      if (Exit.isFailure(stepped)) return finalFailure(state, exit)
      const next = stepped.value
      if (next === undefined) return finalFailure(state, exit)
      // a retry is delayed work on the same workqueue: a timer, not a sleep holding this worker
      // (refused on a workqueue being destroyed, where no timer may outlive it, or on a system sealed past its
      // shutdown deadline: the job then fails for good, with its dead letter)
      const requeued = Engine.queueDelayedWorkOn(
        WorkqueueInternal.toState(state.wq).system,
        undefined,
        WorkqueueInternal.toState(state.wq),
        state.dwork as unknown as DelayedWorkState,
        Duration.toMillis(next[1]),
        false
      )
      return requeued === true ? count("retries", state) : finalFailure(state, exit)
    })
  })
}

const complete = <A, E>(state: JobState<A, E>, exit: Exit.Exit<A, E>): Effect.Effect<void> =>
  Effect.sync(() => completeUnsafe(state, exit))

/** Set the final Exit, once (the first one wins), and complete the waiters' deferred if one was made. */
const completeUnsafe = <A, E>(state: JobState<A, E>, exit: Exit.Exit<A, E>): void => {
  if (state.done) return
  state.done = true
  state.exit = exit
  if (state.deferred !== undefined) Deferred.doneUnsafe(state.deferred, exit)
}

/**
 * The job failed for good: count the dead letter and hand it to the `deadLetter` handler, **in a fiber of its
 * own**, not on the worker: the worker returns at once, so the handler holds no worker and no active slot (the
 * next item of an ordered workqueue starts while it runs). The job's result completes when the handler ends (so
 * when `Job.await` returns the failure, the letter has been handled), however it ends: done, failed (logged), or
 * interrupted by `Job.cancel` (which waits for it to stop). The fiber is the system's until it ends
 * (`letterFibers`): closing the system does not interrupt it but waits for it, as it waits for running items, so a
 * handler that never ends holds the close until it is cancelled (docs/JOBS.md).
 */
const finalFailure = <A, E>(state: JobState<A, E>, exit: Exit.Exit<A, E>): Effect.Effect<void> =>
  Effect.suspend(() => {
    // a cancel landed since `settle` read the flag (the worker's fiber may yield between two steps): interrupted,
    // never a dead letter
    if (state.cancelled) return complete(state, Exit.interrupt() as Exit.Exit<A, E>)
    const wq = WorkqueueInternal.toState(state.wq)
    wq.jobStats.deadLetters++
    const handler = state.options.deadLetter as ((letter: DeadLetter<E>) => Effect.Effect<void, unknown>) | undefined
    if (handler === undefined) return complete(state, exit)
    const cause = (exit as Exit.Failure<A, E>).cause
    // the handler's run: `await` from it (or a fiber it forks, while it runs) answers with this Exit, `cancel`
    // with false — no self-wait
    const run = new JobRun(state)
    const letter = Effect.catchCause(
      Effect.provideService(
        Effect.suspend(() => handler({ id: state.id, workqueue: state.workqueue, attempts: state.attempts, cause })),
        CurrentJob,
        run
      ),
      (failure) =>
        Cause.hasInterruptsOnly(failure) // stopped by `cancel` (or interrupting itself): not the handler's failure
          ? Effect.void
          : Effect.logError(
              `job "${state.id}" on "${state.workqueue}": the dead-letter handler failed: ${Engine.describeFailure(failure)}`,
              failure
            )
    )
    state.lettering = exit
    return Effect.map(Effect.forkDetach(letter), (fiber) => {
      // the same synchronous step as the fork: the fiber has not started yet, nothing can have read `letter`
      state.letter = fiber
      const letters = wq.system.letterFibers
      letters.add(fiber)
      fiber.addObserver(() => {
        letters.delete(fiber)
        run.live = false
        state.letter = undefined
        state.lettering = undefined
        completeUnsafe(state, exit)
      })
    })
  })

// ---------------------------------------------------------------------------
// results
// ---------------------------------------------------------------------------

/**
 * Wait for the job's final `Exit`: its value, its last typed failure (or `Cause.TimeoutError`), a defect, or an
 * interruption if it was cancelled. Fails only for a value that is not a job (`reason: "InvalidArgument"`, never
 * a defect); interrupting the wait leaves the job alone (as `Fiber.await`).
 *
 * **Example** (The Exit of a failed job)
 *
 * ```ts
 * import { Effect, Exit } from "effect"
 * import { Job, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w")
 *   const job = yield* Job.submit(wq, Effect.fail("declined"))
 *   const exit = yield* Job.await(job)
 *   return Exit.isFailure(exit)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
const await_ = <A, E>(job: Job<A, E>): Effect.Effect<Exit.Exit<A, E>, WorkqueueError.WorkqueueError> =>
  Effect.suspend(() => {
    if (!isJobState(job)) return Effect.fail(badJob(job))
    const state = toState(job)
    const own = ownResult(state)
    if (own === undefined) return Effect.exit(Deferred.await(resultOf(state)))
    return state.lettering !== undefined ? Effect.succeed(state.lettering) : (own as Effect.Effect<never>)
  })

/**
 * `await` / `join` from the job's own attempt or dead-letter handler (or a fiber they forked): in the dead-letter
 * handler the final Exit is known — it is the answer; in an attempt, waiting for itself would never return — it
 * dies with `reason: "Deadlock"` (as `Work.flush` from an item's own handler fails).
 */
const ownResult = <A, E>(state: JobState<A, E>): Effect.Effect<A, E> | undefined => {
  if (state.done || !isCurrentJob(state)) return undefined
  if (state.lettering !== undefined) return state.lettering
  return Effect.die(
    makeError("Deadlock", state.workqueue, `job "${state.id}" awaited from its own attempt would wait for itself`)
  )
}
export { await_ as await }

/**
 * Wait for the job and return its value, or fail as it failed. Interrupting the wait leaves the job alone; use
 * `Job.run` (or `Job.cancel`) to tie the job to the caller. A value that is not a job fails with
 * `reason: "InvalidArgument"`.
 *
 * **Gotchas**: joining, from a job or work item, a job queued behind it on an ordered (or `concurrency: 1`)
 * workqueue waits forever — the joined job needs the slot the caller holds. Give the caller a `timeout`, or queue
 * the inner job on another workqueue.
 *
 * @category constructors
 * @since 0.1.0
 */
export const join = <A, E>(job: Job<A, E>): Effect.Effect<A, E | WorkqueueError.WorkqueueError> =>
  Effect.suspend((): Effect.Effect<A, E | WorkqueueError.WorkqueueError> => {
    if (!isJobState(job)) return Effect.fail(badJob(job))
    const state = toState(job)
    return ownResult(state) ?? Deferred.await(resultOf(state))
  })

/**
 * The job's `Exit` if it has one, else `undefined` (synchronous; a value that is not a job throws the
 * `WorkqueueError`, `reason: "InvalidArgument"`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const pollUnsafe = <A, E>(job: Job<A, E>): Exit.Exit<A, E> | undefined => {
  const state = toStateOrThrow(job)
  return state.done ? state.exit : undefined
}

/**
 * Attempts started so far (1 while the first runs; a value that is not a job throws, as `pollUnsafe`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const attemptsUnsafe = (job: Job<unknown, unknown>): number => toStateOrThrow(job).attempts

/**
 * Submit and wait: the job's value, or its failure. Interrupting the caller cancels the job (`Job.cancel`:
 * removed if pending, interrupted if running — its dead-letter handler too — and the interrupt waits until it
 * has stopped) unless
 * `interruptJob: false`, which leaves it running detached.
 *
 * **When to use**: a request handler that needs the result on a bounded workqueue (`whenFull: "wait"` to slow
 * the caller down instead of failing with `QueueFull`).
 *
 * **Example** (Retry a flaky call, then give up)
 *
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Job, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("calls", { concurrency: 4 })
 *   return yield* Job.run(
 *     wq,
 *     ({ attempts }) => (attempts < 3 ? Effect.fail("flaky") : Effect.succeed(`ok after ${attempts}`)),
 *     { retrySchedule: Schedule.spaced("1 millis"), maxAttempts: 5 }
 *   )
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => "ok after 3"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const run: {
  <A, E, R>(
    effect: Effect.Effect<A, E, R> | ((attempt: Attempt) => Effect.Effect<A, E, R>),
    options?: Options<E> & { readonly interruptJob?: boolean | undefined }
  ): (wq: Workqueue.Workqueue) => Effect.Effect<A, E | Cause.TimeoutError | WorkqueueError.WorkqueueError, R>
  <A, E, R>(
    wq: Workqueue.Workqueue,
    effect: Effect.Effect<A, E, R> | ((attempt: Attempt) => Effect.Effect<A, E, R>),
    options?: Options<E> & { readonly interruptJob?: boolean | undefined }
  ): Effect.Effect<A, E | Cause.TimeoutError | WorkqueueError.WorkqueueError, R>
} = dual(
  isDataFirst,
  <A, E, R>(
    wq: Workqueue.Workqueue,
    effect: Effect.Effect<A, E, R> | ((attempt: Attempt) => Effect.Effect<A, E, R>),
    options?: Options<E> & { readonly interruptJob?: boolean | undefined }
  ): Effect.Effect<A, E | Cause.TimeoutError | WorkqueueError.WorkqueueError, R> =>
    Effect.suspend(() => {
      const prepared = prepare(wq, effect, options, "job (run)", RUN_KEYS)
      if (isWorkqueueError(prepared)) return Effect.fail(prepared)
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          restore(Effect.withFiber((fiber) => submitPrepared<A, E, R>(prepared, fiber.context as Context.Context<R>))),
          (job) =>
            prepared.interruptJob ? Effect.onInterrupt(restore(join(job)), () => cancel(job)) : restore(join(job))
        )
      )
    })
)

// ---------------------------------------------------------------------------
// cancelling
// ---------------------------------------------------------------------------

/**
 * Stop the job and wait until it has stopped, in the order that cannot go wrong: remove the pending instance
 * (queued, armed, or waiting for a retry) first, then interrupt the running attempt, then wait for it. Returns
 * `true` if the job was stopped (its `Exit` is then an interruption), `false` if it had already finished or
 * finished on its own meanwhile — a job whose dead-letter handler runs has failed for good: the handler is
 * interrupted, the job keeps its failure, `false`. On return the job has its final `Exit` and nothing of it
 * runs or is pending (its dead-letter handler included). A value
 * that is not a job made by `submit` (an object that only carries its `TypeId` included) fails with
 * `reason: "InvalidArgument"` before anything is read from it or written to it.
 *
 * **Details**: removing the pending instance before signalling is what the cancel recipe in docs/JOBS.md is
 * about: signal first and a queued instance can start and take the signal meant for the running one. An attempt
 * that never yields cannot be interrupted on one JS thread; it is stopped when it yields or returns.
 *
 * **Kernel**: the `cancel_work_sync()` order — grab PENDING, then wait for the running instance.
 *
 * **Example** (Cancel a job that waits)
 *
 * ```ts
 * import { Effect, Exit } from "effect"
 * import { Job, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w")
 *   const job = yield* Job.submit(wq, Effect.never)
 *   yield* Effect.sleep(1)
 *   const stopped = yield* Job.cancel(job)
 *   return [stopped, Exit.hasInterrupts(yield* Job.await(job))]
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => [true, true]
 * ```
 *
 * @category cancelling
 * @since 0.1.0
 */
export const cancel = <A, E>(job: Job<A, E>): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Effect.suspend((): Effect.Effect<boolean, WorkqueueError.WorkqueueError> => {
    if (!isJobState(job)) return Effect.fail(badJob(job))
    const state = toState(job)
    if (state.done) return Effect.succeed(false)
    if (isCurrentJob(state)) {
      // from its own dead-letter handler: the job has already failed for good, nothing to stop
      if (state.lettering !== undefined) return Effect.succeed(false)
      // from its own attempt (or a fiber it forked): waiting for the attempt to stop would wait for itself, so
      // the attempt is interrupted at once — `cancel` does not return, the job's Exit is an interruption
      state.cancelled = true
      WorkInternal.cancelItemUnsafe(state.dwork as unknown as DelayedWorkState)
      const current = Fiber.getCurrent()
      if (state.fiber !== undefined && state.fiber !== current) {
        state.fiber.interruptUnsafe(current!.id)
      }
      return Effect.interrupt
    }
    state.cancelled = true
    // 1. cancel pending: the queued / armed / retry instance can no longer start
    if (WorkInternal.cancelItemUnsafe(state.dwork as unknown as DelayedWorkState)) {
      return Effect.as(complete(state, Exit.interrupt()), true)
    }
    // 2. signal the running attempt (or schedule step), or the dead-letter handler, 3. wait for the result: every
    // one of them completes it when it ends (`runAttempt`, `settle`, `finalFailure`), and with nothing running
    // the job is between two of those steps, which read `cancelled` first. It stopped if its Exit is an
    // interruption: an attempt that had already ended, its dead letter being handed over, keeps its own Exit
    // (false) — the handler is interrupted all the same, and the cancel returns once it has stopped.
    const fiber: Fiber.Fiber<unknown, unknown> | undefined = state.fiber ?? state.letter
    const waitDone = Effect.map(Effect.exit(Deferred.await(resultOf(state))), Exit.hasInterrupts)
    return fiber === undefined ? waitDone : Effect.andThen(Fiber.interrupt(fiber), waitDone)
  })
