/**
 * A thread task: a function that a `ThreadPool` runs in a Node worker thread. It is loadable in a thread
 * because it is named by its module URL and its export name; its input, its result and its typed failure cross
 * the thread boundary encoded with `Schema` (binary data marked with `effect/workers/Transferable` is moved, not
 * copied).
 *
 * Define tasks in a module of their own and import this module by its deep path
 * (`@effect-workqueue/platform/ThreadTask`): the thread loads the task's module, and a module that pulls in the
 * package barrel (and with it `@effect/platform-node`) makes every thread spawn seconds slower.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"

// ---------------------------------------------------------------------------
// type id, guards
// ---------------------------------------------------------------------------

/**
 * The key that marks a `ThreadTask` value.
 *
 * @category models
 * @since 0.1.0
 */
export const TypeId = "~effect-workqueue/ThreadTask"

/**
 * Is `u` a `ThreadTask`?
 *
 * @category guards
 * @since 0.1.0
 */
export const isThreadTask = (u: unknown): u is ThreadTask<any, any, any> =>
  typeof u === "object" && u !== null && TypeId in u

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * A schema a task's values travel through: no services needed to decode or encode.
 *
 * @category models
 * @since 0.1.0
 */
export type Codec<A> = Schema.Codec<A, any, never, never>

/**
 * What the task's function gets besides its input.
 *
 * @category models
 * @since 0.1.0
 */
export interface Context {
  /**
   * Aborted when the caller is interrupted (a timeout, an interrupted fiber). A task that checks
   * it, or returns an `Effect` (interrupted when the signal fires), stops cooperatively and its thread is kept;
   * a task that never yields is stopped by terminating its thread after the pool's `abortGraceMs`.
   */
  readonly signal: AbortSignal
}

/**
 * A task: where the thread finds it (`module` + `export`), how its values cross the boundary (`input`,
 * `success`, `failure`), and the function itself (`run`, called only in a thread).
 *
 * @category models
 * @since 0.1.0
 */
export interface ThreadTask<I, O, E = never> {
  readonly [TypeId]: typeof TypeId
  /** The URL of the module that exports this task (`import.meta.url` of the defining module). */
  readonly module: string
  /** The name this task is exported under in `module`. */
  readonly export: string
  readonly input: Codec<I>
  readonly success: Codec<O>
  /** Typed failures: a value `run` throws (or its Effect fails with) that this schema accepts. */
  readonly failure: Codec<E> | undefined
  /**
   * The function run in the thread. It may return the result, a promise of it, or an `Effect` (run in the
   * thread, interrupted by the signal). A thrown value or an Effect failure that `failure` accepts is a typed
   * failure; anything else is a defect. A result (or failure) its schema does not encode fails the run with the
   * typed `ThreadPoolError` `Decode`.
   */
  readonly run: (input: I, context: Context) => O | PromiseLike<O> | Effect.Effect<O, E>
}

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

const ThreadTaskProto = {
  [TypeId]: TypeId,
  toJSON(this: ThreadTask<unknown, unknown, unknown>) {
    return { _id: "ThreadTask", module: this.module, export: this.export }
  }
}

/**
 * Define a thread task. Export the result under the name given as `export`, from the module whose URL is
 * `module` — the thread imports that module and looks the task up by name.
 *
 * **When to use**: for CPU-bound handler bodies (hashing, compression, parsing, image work) that would stall
 * every workqueue, timer and request of the service if they ran on the event loop.
 *
 * **Gotchas**: the module is imported in every thread that runs the task, so keep its imports small (import
 * `effect` modules and this module by their deep paths, not a barrel that loads servers or drivers). The task's
 * error type comes from `failure` alone: without it the error type is `never`, and a `run` returning an Effect
 * that can fail does not compile (give the `failure` schema). A failure the schema does not take arrives as a
 * defect whose message names the task and the value. The result is what `run` returns: the pool does not read
 * the thread's `parentPort`, so a message a task posts there is dropped (it cannot stand for a result).
 *
 * **Kernel**: none — the kernel's work functions already run on real CPUs; this is how a handler body gets one.
 *
 * **Example** (A task module)
 *
 * ```ts
 * import { Schema } from "effect"
 * import { ThreadTask } from "@effect-workqueue/platform"
 *
 * export const fib = ThreadTask.make({
 *   module: import.meta.url,
 *   export: "fib",
 *   input: Schema.Number,
 *   success: Schema.Number,
 *   run: (n) => {
 *     const go = (k: number): number => (k < 2 ? k : go(k - 1) + go(k - 2))
 *     return go(n)
 *   }
 * })
 * fib.export // => "fib"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <I, O, E = never>(options: {
  readonly module: string | URL
  readonly export: string
  readonly input: Codec<I>
  readonly success: Codec<O>
  readonly failure?: Codec<E> | undefined
  readonly run: (input: I, context: Context) => O | PromiseLike<O> | Effect.Effect<O, NoInfer<E>>
}): ThreadTask<I, O, E> => {
  if (typeof options.export !== "string" || options.export === "") {
    throw new TypeError(`ThreadTask.make: "export" must be the non-empty name the task is exported under`)
  }
  if (!URL.canParse(String(options.module))) {
    throw new TypeError(
      `ThreadTask.make(${options.export}): "module" must be an absolute URL (pass import.meta.url), got ${options.module}`
    )
  }
  if (typeof options.run !== "function") {
    throw new TypeError(`ThreadTask.make(${options.export}): "run" must be a function`)
  }
  const task = Object.create(ThreadTaskProto)
  task.module = String(options.module)
  task.export = options.export
  task.input = options.input
  task.success = options.success
  task.failure = options.failure
  task.run = options.run
  return task
}
