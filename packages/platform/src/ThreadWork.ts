/**
 * A work item whose handler body runs in a worker thread. It is an ordinary `Work`: its handler computes the
 * task's input in the main thread, runs the task with `ThreadPool.run` and waits, then hands the result to
 * `onSuccess` in the main thread. So the workqueue keeps every contract (PENDING coalescing, non-reentrance,
 * `max_active`, ordering, flush, drain, cancel, cancelSync, destroy, freeze) by construction.
 *
 * @since 0.1.0
 */
import { Work } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import * as ThreadPool from "./ThreadPool.ts"
import type * as ThreadTask from "./ThreadTask.ts"

/**
 * Options of `make`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<I, O, E1, R1, E2, R2> {
  /** The item's name in logs, snapshots and the pool's tracepoints (default: the task's export name). */
  readonly name?: string | undefined
  /** The task's input, computed in the main thread each time the item runs (its data, as `container_of`). */
  readonly input: (self: Work.Work) => Effect.Effect<I, E1, R1>
  /** What to do with the result, in the main thread. */
  readonly onSuccess?: ((output: O, self: Work.Work) => Effect.Effect<void, E2, R2>) | undefined
}

/**
 * Create a work item that runs `task` in a thread of `pool` each time it executes. The services that `input`
 * and `onSuccess` need are captured now, as `Work.make` does.
 *
 * **When to use**: for CPU-bound work items (hashing, compression, parsing) that must not stall the event loop.
 *
 * **Details**: while the thread computes, the item's worker is suspended (as on I/O), so concurrency
 * management starts other items; `max_active` still counts the item as active. A typed failure of the task
 * fails the handler (counted `failed`); a thread crash is a defect (counted `defects`); the thread is replaced.
 *
 * **Gotchas**: cancelSync, flush and destroy wait for the thread run, because the run is the item's execution.
 *
 * **Kernel**: `INIT_WORK()`; the item's `process_one_work()` spans the thread run.
 *
 * **Example** (Hash in a thread, store in the main thread)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 * import { ThreadPool, ThreadWork } from "@effect-workqueue/platform"
 * import { fib } from "./tasks.ts" // a ThreadTask module, see ThreadTask.make
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* ThreadPool.make({ threads: 1 })
 *   const wq = yield* Workqueue.make("crunch")
 *   let result = 0
 *   const work = yield* ThreadWork.make(pool, fib, {
 *     input: () => Effect.succeed(20),
 *     onSuccess: (n) => Effect.sync(() => { result = n })
 *   })
 *   yield* Workqueue.queue(wq, work)
 *   yield* Workqueue.flush(wq)
 *   return result
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => 6765
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <I, O, E, E1 = never, R1 = never, E2 = never, R2 = never>(
  pool: ThreadPool.ThreadPool,
  task: ThreadTask.ThreadTask<I, O, E>,
  options: Options<I, O, E1, R1, E2, R2>
): Effect.Effect<Work.Work, never, R1 | R2> => {
  const name = options.name ?? task.export
  const onSuccess = options.onSuccess
  return Work.make(
    (self: Work.Work) =>
      Effect.flatMap(
        Effect.flatMap(options.input(self), (input) => ThreadPool.run(pool, task, input, { label: name })),
        (output) => (onSuccess !== undefined ? onSuccess(output, self) : Effect.void)
      ),
    { name }
  )
}
