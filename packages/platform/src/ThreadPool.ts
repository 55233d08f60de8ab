/**
 * Real cores for CPU-bound handler bodies: a pool of Node worker threads that runs `ThreadTask`s. A work item
 * whose handler calls `ThreadPool.run` (or is made with `ThreadWork.make`) is an ordinary work item: its
 * handler is an Effect that dispatches the task to a thread and waits for it, so every workqueue contract
 * (PENDING coalescing, non-reentrance, `max_active`, ordering, flush, drain, cancel, cancelSync, destroy,
 * freeze) holds by construction — the thread runs strictly inside the item's execution.
 *
 * Interruption: interrupting a run (a timeout, an interrupted fiber, a closing scope) aborts the task in its
 * thread — cooperatively through its `AbortSignal` if it yields, otherwise by terminating the thread after
 * `abortGraceMs` and spawning a replacement — and the interrupted run returns only when its thread is idle or
 * gone. A thread that crashes or exceeds its `resourceLimits` fails its run with a defect (`ThreadPoolError`,
 * reason `Crashed`) and is replaced; runs waiting for a thread are kept.
 *
 * @since 0.1.0
 */
import { WorkqueueMetrics } from "@effect-workqueue/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as url from "node:url"
import type { ResourceLimits } from "node:worker_threads"
import { decode, encode } from "./internal/threadCodec.ts"
import * as internal from "./internal/threadPool.ts"
import type * as ThreadTask from "./ThreadTask.ts"

// ---------------------------------------------------------------------------
// type id, guards
// ---------------------------------------------------------------------------

/**
 * The key that marks a `ThreadPool` value (`isThreadPool` tests for it).
 *
 * @category models
 * @since 0.1.0
 */
export const TypeId = "~effect-workqueue/ThreadPool"

/**
 * Whether `u` is a thread pool (`ThreadPool.make`).
 *
 * **Example**
 *
 * ```ts
 * import { ThreadPool } from "@effect-workqueue/platform"
 *
 * ThreadPool.isThreadPool({}) // => false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isThreadPool = (u: unknown): u is ThreadPool => typeof u === "object" && u !== null && TypeId in u

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * A thread-pool rule broken or a thread lost: `reason`, the `pool` name, the `task` (its export name) when one
 * is involved, and a message naming both.
 *
 * - `InvalidOptions`: `make` got a bad `threads`, `abortGraceMs`, `resourceLimits` or `entry`, or the thread
 *   entry file is missing (a bundle without the `thread-entry` entry point) (typed failure).
 * - `Unsupported`: this Node lacks what threads need (`process.threadCpuUsage`, Node >= 22.19) (typed failure
 *   of `make`).
 * - `TaskNotFound`: the task's module does not load in the thread, has no such `ThreadTask` export, or is the
 *   program's own entry module (a thread would run the whole program) (typed failure).
 * - `Closed`: a run on a closed pool, or a run still waiting when the pool closed (typed failure).
 * - `Encode`: the input does not encode with the task's `input` schema, or its encoding cannot be structured-cloned
 *   (typed failure).
 * - `Decode`: the thread's result or failure does not decode with the task's schema, or the task returned (or
 *   failed with) a value its schema does not encode in the thread — `"not a number"` for `success: Schema.Number`
 *   (typed failure, the message names the schema problem).
 * - `Crashed`: the thread died under the run (an uncaught error, `process.exit`, `resourceLimits`): a defect.
 *
 * @category errors
 * @since 0.1.0
 */
export class ThreadPoolError extends Schema.TaggedError<ThreadPoolError>()("ThreadPoolError", {
  reason: Schema.Literals(["InvalidOptions", "Unsupported", "Closed", "Encode", "Decode", "TaskNotFound", "Crashed"]),
  pool: Schema.String,
  task: Schema.optional(Schema.String),
  message: Schema.String
}) {}

/**
 * Whether `u` is a `ThreadPoolError` (by its tag).
 *
 * **Example**
 *
 * ```ts
 * import { ThreadPool } from "@effect-workqueue/platform"
 *
 * ThreadPool.isThreadPoolError(new Error("no")) // => false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isThreadPoolError = (u: unknown): u is ThreadPoolError => Predicate.isTagged(u, "ThreadPoolError")

const poolError = (reason: ThreadPoolError["reason"], pool: string, task: string | undefined, rule: string) =>
  new ThreadPoolError({
    reason,
    pool,
    task,
    message: `thread pool "${pool}"${task !== undefined ? ` task "${task}"` : ""}: ${rule}`
  })

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * A pool of worker threads.
 *
 * @category models
 * @since 0.1.0
 */
export interface ThreadPool {
  readonly [TypeId]: typeof TypeId
  readonly name: string
  /** The thread cap. */
  readonly threads: number
}

/**
 * Options of `make`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** A name for logs, thread names (`<name>/<id>`) and tracepoints (default `"threads"`). */
  readonly name?: string | undefined
  /** The thread cap; threads are created on demand (default `os.availableParallelism()`). */
  readonly threads?: number | undefined
  /** How long an aborted task may take to stop cooperatively before its thread is terminated, ms (default 50). */
  readonly abortGraceMs?: number | undefined
  /**
   * Node's per-thread limits; a thread exceeding them dies and its run fails with `Crashed`. At least 8 MB for
   * `maxOldGenerationSizeMb` and 1 MB for `stackSizeMb` (smaller ones crash the whole process in V8); a thread
   * needs about 16 MB of old generation to load its entry.
   */
  readonly resourceLimits?: ResourceLimits | undefined
  /**
   * The module every thread runs. Default: the package's own, next to its code; if that is missing (the program
   * is bundled), `thread-entry.js` or `thread-entry.mjs` next to the program's entry module (`process.argv[1]`).
   * When bundling, build `@effect-workqueue/platform/thread-entry` as an entry point of its own named
   * `thread-entry` (or pass its URL here). `make` fails with `InvalidOptions` if the file does not exist.
   */
  readonly entry?: URL | string | undefined
  /** Tracepoint sink: thread spawn/exit and each run's start and end (with its thread CPU time). */
  readonly tracepoint?: ((tp: Tracepoint) => void) | undefined
}

/**
 * A thread-pool tracepoint: `thread_spawn`, `thread_run_start`, `thread_run_end` (with the run's thread CPU
 * time and outcome), `thread_exit` (with `reason`: `crash`, `abort` or `close`).
 *
 * @category models
 * @since 0.1.0
 */
export type Tracepoint = internal.Tracepoint

/**
 * A thread in a snapshot.
 *
 * @category models
 * @since 0.1.0
 */
export interface ThreadSnapshot {
  readonly name: string
  readonly state: "idle" | "busy" | "aborting"
  /** The task it runs (its export name). */
  readonly task: string | undefined
  /** The label of the run: the work item's name when run by a work item. */
  readonly work: string | undefined
  readonly runningForMs: number | undefined
  /** Thread CPU time of its finished runs, ms. */
  readonly cpuTimeMs: number
  readonly runs: number
}

/**
 * The pool in plain data: its threads and what each runs, the runs waiting, and counters since creation.
 *
 * @category models
 * @since 0.1.0
 */
export interface Snapshot {
  readonly name: string
  readonly threads: number
  readonly state: "Open" | "Closed"
  readonly live: ReadonlyArray<ThreadSnapshot>
  /** Runs accepted and waiting for a thread. */
  readonly queued: number
  readonly stats: {
    readonly runs: number
    readonly succeeded: number
    readonly failed: number
    readonly defects: number
    readonly interrupted: number
    /** threads that died under a run or idle (uncaught error, resourceLimits) */
    readonly crashed: number
    /** threads terminated to stop a run that did not yield */
    readonly terminated: number
    readonly spawned: number
    readonly cpuTimeMs: number
  }
}

// ---------------------------------------------------------------------------
// prototype
// ---------------------------------------------------------------------------

interface ThreadPoolImpl extends ThreadPool {
  readonly state: internal.PoolState
}

const ThreadPoolProto = {
  [TypeId]: TypeId,
  toJSON(this: ThreadPoolImpl) {
    return { _id: "ThreadPool", name: this.name, threads: this.threads, state: this.state.lifecycle }
  }
}

/**
 * The smallest `resourceLimits` a thread may get. Measured on Node 24: `maxOldGenerationSizeMb` 1 or 2 is a V8
 * fatal error that aborts the process, 3 and above kill only the thread (a thread loading `effect/Schema` needs
 * about 16); `stackSizeMb` 0.1 is a segmentation fault of the process, 0.3 works. The minimums leave a margin.
 */
const MIN_RESOURCE_LIMITS: Readonly<Record<string, number>> = { maxOldGenerationSizeMb: 8, stackSizeMb: 1 }

// the longest delay a Node timer keeps (longer ones fire at once)
const MAX_TIMER_MS = 2_147_483_647

const toState = (pool: ThreadPool): internal.PoolState => (pool as ThreadPoolImpl).state

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

/**
 * Create a thread pool in the current scope; closing the scope terminates its threads (runs still waiting or
 * running then fail with `Closed`). Threads are created on demand up to `threads`.
 *
 * **When to use**: once per service, beside the `WorkqueueSystem`; close it after the workqueues whose items use
 * it (allocate it first in the same scope).
 *
 * **Details**: a thread loads the entry module and `effect`'s Schema once (tens of ms), then each task module
 * on first use.
 *
 * **Kernel**: none — the kernel's worker pools already sit on real CPUs.
 *
 * **Example** (A pool of two threads)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ThreadPool } from "@effect-workqueue/platform"
 *
 * const program = Effect.map(ThreadPool.make({ name: "cpu", threads: 2 }), (pool) => pool.threads)
 * await Effect.runPromise(Effect.scoped(program)) // => 2
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: Options): Effect.Effect<ThreadPool, ThreadPoolError, Scope.Scope> =>
  Effect.suspend(() => {
    const name = options?.name ?? "threads"
    const threads = options?.threads ?? os.availableParallelism()
    const abortGraceMs = options?.abortGraceMs ?? 50
    if (!Number.isSafeInteger(threads) || threads < 1) {
      return Effect.fail(
        poolError("InvalidOptions", name, undefined, `threads must be an integer >= 1, got ${threads}`)
      )
    }
    if (typeof abortGraceMs !== "number" || !(abortGraceMs >= 0 && abortGraceMs <= MAX_TIMER_MS)) {
      return Effect.fail(
        poolError(
          "InvalidOptions",
          name,
          undefined,
          `abortGraceMs must be in 0..${MAX_TIMER_MS} ms, got ${abortGraceMs}`
        )
      )
    }
    for (const [key, value] of Object.entries(options?.resourceLimits ?? {})) {
      if (value !== undefined && !(typeof value === "number" && Number.isFinite(value) && value > 0)) {
        return Effect.fail(
          poolError("InvalidOptions", name, undefined, `resourceLimits.${key} must be a number > 0, got ${value}`)
        )
      }
      const min = MIN_RESOURCE_LIMITS[key]
      if (min !== undefined && value !== undefined && value < min) {
        return Effect.fail(
          poolError(
            "InvalidOptions",
            name,
            undefined,
            `resourceLimits.${key} must be >= ${min} MB, got ${value} (below it V8 aborts the whole process instead of the thread)`
          )
        )
      }
    }
    if (typeof process.threadCpuUsage !== "function") {
      return Effect.fail(
        poolError(
          "Unsupported",
          name,
          undefined,
          `this Node (${process.version}) lacks process.threadCpuUsage, which threads need for CPU accounting: use Node >= 22.19`
        )
      )
    }
    const entry = toEntry(name, options?.entry)
    if (!(entry instanceof URL)) return Effect.fail(entry)
    return Effect.acquireRelease(
      Effect.sync(() => {
        const state = internal.makePool({
          name,
          threads,
          abortGraceMs,
          resourceLimits: options?.resourceLimits,
          entry,
          tracepoint: options?.tracepoint
        })
        const pool: ThreadPoolImpl = Object.assign(Object.create(ThreadPoolProto), { name, threads, state })
        return pool as ThreadPool
      }),
      (pool) => Effect.promise(() => internal.close(toState(pool)))
    )
  })

// the program's entry module: a task defined there would make each thread run the whole program
const mainModule: string | undefined = (() => {
  const main = process.argv[1]
  if (typeof main !== "string" || main === "") return undefined
  try {
    return url.pathToFileURL(fs.realpathSync(main)).href // Node loads the entry by its real path
  } catch {
    return url.pathToFileURL(main).href
  }
})()

const exists = (entry: URL): boolean => entry.protocol !== "file:" || fs.existsSync(url.fileURLToPath(entry))

// the thread entry as a URL that exists: the given one; else the package's own; else (a bundle) a
// `thread-entry.js` / `.mjs` next to the program's entry module. A miss says how to build one.
const toEntry = (name: string, given: URL | string | undefined): URL | ThreadPoolError => {
  if (given !== undefined) {
    if (!(given instanceof URL || (typeof given === "string" && URL.canParse(given)))) {
      return poolError("InvalidOptions", name, undefined, `entry must be an absolute URL, got ${String(given)}`)
    }
    const entry = new URL(given)
    if (exists(entry)) return entry
    return poolError("InvalidOptions", name, undefined, `the thread entry ${entry.href} does not exist`)
  }
  const tried = [internal.defaultEntry()]
  if (mainModule !== undefined) {
    tried.push(new URL("./thread-entry.js", mainModule), new URL("./thread-entry.mjs", mainModule))
  }
  const found = tried.find(exists)
  if (found !== undefined) return found
  return poolError(
    "InvalidOptions",
    name,
    undefined,
    `no thread entry at ${tried.map((u) => u.href).join(", ")} (a bundle? build @effect-workqueue/platform/thread-entry as an entry point named thread-entry next to the program's, or pass its URL as the entry option)`
  )
}

// ---------------------------------------------------------------------------
// running
// ---------------------------------------------------------------------------

/**
 * Run `task` on `input` in a thread of `pool` and wait for it: its result, its typed failure (decoded with the
 * task's `failure` schema), or a defect (a defect in the thread, or `ThreadPoolError` `Crashed` if the thread
 * died). Interrupting the returned effect aborts the task and resumes only when its thread is idle or gone.
 *
 * **When to use**: inside a work item's handler, to move its CPU-bound body to a real core while the item keeps
 * its workqueue semantics; or directly, as an awaitable offload.
 *
 * **Gotchas**: values are copied (structured clone) unless their schema marks them transferable
 * (`effect/workers/Transferable`); a transferred buffer is detached in the sender.
 *
 * **Kernel**: none; the item's `process_one_work()` spans the whole run.
 *
 * **Example** (Offload one computation)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ThreadPool } from "@effect-workqueue/platform"
 * import { fib } from "./tasks.ts" // a ThreadTask module, see ThreadTask.make
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* ThreadPool.make({ threads: 1 })
 *   return yield* ThreadPool.run(pool, fib, 20)
 * })
 * await Effect.runPromise(Effect.scoped(program)) // => 6765
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const run = <I, O, E>(
  pool: ThreadPool,
  task: ThreadTask.ThreadTask<I, O, E>,
  input: I,
  options?: { readonly label?: string | undefined }
): Effect.Effect<O, E | ThreadPoolError> =>
  Effect.suspend(() => {
    const state = toState(pool)
    if (state.lifecycle === "Closed") {
      return Effect.fail(poolError("Closed", state.name, task.export, "cannot run on a closed pool"))
    }
    if (task.module === mainModule) {
      return Effect.fail(
        poolError(
          "TaskNotFound",
          state.name,
          task.export,
          `the task is defined in the program's entry module ${task.module}: a thread would import it and run the whole program; define tasks in a module of their own (bundled: an entry point of their own)`
        )
      )
    }
    const encoded = encode(task.input, input)
    if (Exit.isFailure(encoded)) {
      return Effect.fail(
        poolError("Encode", state.name, task.export, `input does not encode: ${causeMessage(encoded)}`)
      )
    }
    const [payload, transfer] = encoded.value
    const label = options?.label ?? task.export
    return Effect.flatMap(
      Effect.callback<internal.Outcome>((resume) => {
        const r = internal.submit(state, task, label, payload, transfer, (outcome) => resume(Effect.succeed(outcome)))
        // interrupted: abort the task and wait until its thread is idle or gone
        return Effect.callback<void>((resumeIdle) => internal.abort(state, r, () => resumeIdle(Effect.void)))
      }),
      (outcome) =>
        // the thread's CPU time goes to the running work item's pwq (wq_monitor CPUtime); outside an item, no-op
        outcome._ === "Done" && outcome.cpuUs > 0
          ? Effect.andThen(WorkqueueMetrics.chargeCpuTime(outcome.cpuUs / 1000), toResult(state, task, outcome))
          : toResult(state, task, outcome)
    )
  })

const causeMessage = (exit: Exit.Exit<unknown, Schema.SchemaError>): string =>
  Exit.isFailure(exit) ? String(Cause.squash(exit.cause)) : ""

const toResult = <O, E>(
  state: internal.PoolState,
  task: ThreadTask.ThreadTask<any, O, E>,
  outcome: internal.Outcome
): Effect.Effect<O, E | ThreadPoolError> => {
  if (outcome._ === "Closed") {
    return Effect.fail(poolError("Closed", state.name, task.export, "the pool closed before the run finished"))
  }
  if (outcome._ === "Unsendable") {
    const why = outcome.error instanceof Error ? outcome.error.message : String(outcome.error)
    return Effect.fail(poolError("Encode", state.name, task.export, `input cannot be sent to a thread: ${why}`))
  }
  if (outcome._ === "Crashed") {
    const error = outcome.error as { readonly name?: unknown; readonly code?: unknown; readonly message?: unknown }
    const cause =
      outcome.error instanceof Error
        ? `: ${typeof error.code === "string" ? error.code : error.name}: ${error.message}`
        : ""
    // a crash inside the task function's own synchronous call is this run's; a later one may come from async work
    // an earlier run on the thread left behind that was not seen at its end
    const previous =
      outcome.inRun === true
        ? "; it died inside this run's call of the task function"
        : outcome.previous !== undefined
          ? `; the thread's previous run was task "${outcome.previous.task}" (${outcome.previous.label}): async work it left behind (a timer, a promise) may have caused this`
          : ""
    return Effect.die(
      poolError(
        "Crashed",
        state.name,
        task.export,
        `thread ${outcome.thread} died (exit code ${outcome.code})${cause}${previous}`
      )
    )
  }
  switch (outcome.outcome) {
    case "Success": {
      const value = decode(task.success, outcome.value)
      return Exit.isSuccess(value)
        ? Effect.succeed(value.value as O)
        : Effect.fail(poolError("Decode", state.name, task.export, `result does not decode: ${causeMessage(value)}`))
    }
    case "Failure": {
      const error = decode(task.failure!, outcome.value)
      return Exit.isSuccess(error)
        ? Effect.fail(error.value as E)
        : Effect.fail(poolError("Decode", state.name, task.export, `failure does not decode: ${causeMessage(error)}`))
    }
    case "TaskNotFound":
      return Effect.fail(
        poolError(
          "TaskNotFound",
          state.name,
          task.export,
          `the thread cannot load the task from ${task.module}: ${String(outcome.value)} (bundled? a task module must be an entry point of its own that only defines tasks)`
        )
      )
    case "Decode":
      // the thread's result (or failure) was refused by the task's schema before it was sent back
      return Effect.fail(poolError("Decode", state.name, task.export, String(outcome.value)))
    case "Defect":
      return Effect.die(outcome.value)
    case "Interrupted":
      return Effect.interrupt
  }
}

// ---------------------------------------------------------------------------
// observability
// ---------------------------------------------------------------------------

/**
 * The pool in plain data: each thread's state, the task and work item it runs, its CPU time; the runs waiting;
 * the counters.
 *
 * **Kernel**: the thread half of `wq_dump.py` (which worker runs which work item).
 *
 * **Example** (An idle pool)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { ThreadPool } from "@effect-workqueue/platform"
 *
 * const program = Effect.map(ThreadPool.make({ threads: 2 }), (pool) => ThreadPool.snapshotUnsafe(pool).queued)
 * await Effect.runPromise(Effect.scoped(program)) // => 0
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const snapshotUnsafe = (pool: ThreadPool): Snapshot => {
  const state = toState(pool)
  const now = performance.now()
  return {
    name: state.name,
    threads: state.threads,
    state: state.lifecycle,
    live: [...state.threadSet]
      .sort((a, b) => a.id - b.id)
      .map((t) => ({
        name: t.name,
        state: t.state === "Idle" ? "idle" : t.state === "Busy" ? "busy" : "aborting",
        task: t.run?.task.export,
        work: t.run?.label,
        runningForMs: t.run !== undefined ? now - t.run.startedAt : undefined,
        cpuTimeMs: t.cpuUs / 1000,
        runs: t.runs
      })),
    queued: state.queued,
    stats: {
      runs: state.stats.runs,
      succeeded: state.stats.succeeded,
      failed: state.stats.failed,
      defects: state.stats.defects,
      interrupted: state.stats.interrupted,
      crashed: state.stats.crashed,
      terminated: state.stats.terminated,
      spawned: state.stats.spawned,
      cpuTimeMs: state.stats.cpuUs / 1000
    }
  }
}

/**
 * `snapshotUnsafe` as an Effect.
 *
 * @category metrics
 * @since 0.1.0
 */
export const snapshot = (pool: ThreadPool): Effect.Effect<Snapshot> => Effect.sync(() => snapshotUnsafe(pool))
