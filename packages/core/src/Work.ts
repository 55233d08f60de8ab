/**
 * Work items: the kernel's `work_struct`, an effect to run later on a workqueue.
 *
 * A work item carries the PENDING bit: queueing an item that is already pending returns `false` and changes
 * nothing; the bit is cleared just before the handler runs, so a running item can be queued once more. The same
 * item never runs on two workers of one workqueue at once (non-reentrance).
 *
 * Every operation below checks its argument: a value that is not a work item fails with `WorkqueueError`
 * `reason: "InvalidArgument"` (the synchronous `*Unsafe` calls throw it); `make` alone, which has no error channel,
 * dies with that error for a handler that is not a function.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import * as Engine from "./internal/engine.ts"
import * as Internal from "./internal/work.ts"
import { succeedStep } from "./internal/yieldable.ts"
import { WORK_PENDING } from "./internal/workData.ts"
import type * as WorkqueueError from "./WorkqueueError.ts"
import { isWorkqueueError } from "./WorkqueueError.ts"

/**
 * The key that marks a `Work` value, delayed ones included (`isWork` tests for it).
 *
 * @category models
 * @since 0.1.0
 */
export const TypeId = Internal.WorkTypeId

/**
 * A work item (`struct work_struct`): made once with `Work.make`, queued many times.
 *
 * @category models
 * @since 0.1.0
 */
export interface Work extends Pipeable {
  readonly [TypeId]: typeof TypeId
  /** The name used in logs, spans and snapshots (defaults to the handler function's name). */
  readonly name: string
}

/**
 * Whether `u` is a work item (`Work.make` or `DelayedWork.make`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work } from "@effect-workqueue/core"
 *
 * const program = Effect.map(Work.make(() => Effect.void), (work) => [Work.isWork(work), Work.isWork({})])
 * await Effect.runPromise(program) // => [true, false]
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isWork = (u: unknown): u is Work => Engine.hasMark(u, TypeId)

/** The engine's state behind `work` (throws the typed `InvalidArgument` error if it is not a `Work`). */
const toState = Internal.workState

/**
 * Create a work item (`INIT_WORK()`). The handler gets the item itself (the kernel's `container_of` becomes a
 * closure over your data, or the item holds it: `makeWith`); the services it needs are captured now, so queueing
 * needs none.
 *
 * **When to use**: once per unit of deferred work that may be queued repeatedly (a device's "process pending
 * data" item, a request's completion).
 *
 * **Cost**: one object of 96 bytes (a name given in `options` adds one small side object). `yield*` inside `Effect.gen` makes it within the generator's own step, with
 * no run-loop turn (so does `yield*` of `Workqueue.queue`), which is what makes a fresh item per one-shot job
 * cheap; the step still counts as one operation of the fiber, so a long submission loop yields as usual.
 *
 * **Kernel**: `INIT_WORK()` / `DECLARE_WORK()`, include/linux/workqueue.h.
 *
 * **Example** (A work item with its own data)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const data = { value: 42, seen: 0 }
 *   const work = yield* Work.make(() => Effect.sync(() => { data.seen = data.value }), { name: "my_work" })
 *   yield* WorkqueueSystem.schedule(work)
 *   yield* WorkqueueSystem.flushScheduled
 *   return data.seen
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => 42
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <E, R>(
  fn: (self: Work) => Effect.Effect<void, E, R>,
  options?: { readonly name?: string | undefined }
): Effect.Effect<Work, never, R> => {
  // checked when called (a pure check, no state): a handler that is not a function, options that are not a plain
  // object or hold another key, a name that is not a string — the one defect of the item API (see `makeArgs`)
  const args = Internal.makeArgs(fn, options, false)
  if (isWorkqueueError(args)) return Effect.die(args)
  // one step on the caller's fiber, completed inside its `yield*` when it can (internal/yieldable.ts): the
  // caller's context is a reference to the fiber's, nothing is copied
  return succeedStep(Internal.makeWorkStep, fn, args.name, undefined) as unknown as Effect.Effect<Work, never, R>
}

/**
 * Create a work item that holds a datum and hands it to a shared handler (`INIT_WORK()` with the kernel's
 * `container_of()`: the handler finds its data through the item). `handler(data, self)` runs as `make`'s handler
 * would, with the services captured now; every other call treats the item exactly like one from `make`.
 *
 * **When to use**: many one-shot jobs of the same kind, one item each: one handler defined once, the per-job value
 * as the datum, so no closure is allocated per job (about 100 bytes each in V8). The datum is kept as given, not
 * copied.
 *
 * **Cost**: one object of 104 bytes (`make`'s item plus the datum), and the datum itself.
 *
 * **Kernel**: `INIT_WORK()` + `container_of()`, include/linux/workqueue.h, include/linux/container_of.h.
 *
 * **Example** (One handler, a datum per job)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const seen: Array<number> = []
 * const handle = (n: number) => Effect.sync(() => { seen.push(n * 10) })
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w")
 *   for (let i = 1; i <= 3; i++) yield* Workqueue.queue(wq, yield* Work.makeWith(handle, i))
 *   yield* Workqueue.flush(wq)
 *   return seen
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => [10, 20, 30]
 * ```
 *
 * @category constructors
 * @since 0.2.0
 */
export const makeWith = <A, E, R>(
  handler: (data: A, self: Work) => Effect.Effect<void, E, R>,
  data: A,
  options?: { readonly name?: string | undefined }
): Effect.Effect<Work, never, R> => {
  // the same checks and the same in-step construction as `make`
  const args = Internal.makeArgs(handler, options, false)
  if (isWorkqueueError(args)) return Effect.die(args)
  return succeedStep(Internal.makeDataWorkStep, handler, args.name, data) as unknown as Effect.Effect<Work, never, R>
}

/**
 * `work_pending()`: the PENDING bit — armed or queued (active or inactive); false while only running.
 *
 * **Kernel**: `work_pending()`, include/linux/workqueue.h.
 *
 * **Example** (Pending until it runs)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w")
 *   const work = yield* Work.make(() => Effect.void)
 *   yield* Workqueue.queue(wq, work)
 *   const before = yield* Work.pending(work)
 *   yield* Workqueue.flush(wq)
 *   return [before, yield* Work.pending(work)]
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => [true, false]
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const pending = (work: Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Internal.withItem(work, false, (self) => Effect.succeed((self.data & WORK_PENDING) !== 0))

/**
 * Synchronous twin of `pending`.
 *
 * @category queueing
 * @since 0.1.0
 */
export const pendingUnsafe = (work: Work): boolean => (toState(work).data & WORK_PENDING) !== 0

/**
 * `work_busy()`-like view: `{ pending, running }` right now (advisory).
 *
 * @category queueing
 * @since 0.1.0
 */
export const busyUnsafe = (work: Work): { readonly pending: boolean; readonly running: boolean } => ({
  pending: pendingUnsafe(work),
  running: toState(work).current !== undefined
})

/**
 * Wait for the last queueing instance to finish (`flush_work()`): the queued instance if pending, else the
 * running one. Returns `true` if it waited, `false` if the item was idle. An item that re-queues itself during
 * the flush may be pending again on return.
 *
 * **Gotchas**: flushing an item from its own handler fails with `reason: "Deadlock"` (the kernel hangs).
 *
 * **Kernel**: `flush_work()`, kernel/workqueue.c. On return, the instance current at the call has finished.
 *
 * **Example** (Wait for one item)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const work = yield* Work.make(() => Effect.sleep(10))
 *   yield* WorkqueueSystem.schedule(work)
 *   return yield* Work.flush(work)
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category flushing
 * @since 0.1.0
 */
export const flush = (work: Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Internal.withItem(work, false, (self) =>
    Internal.onSystem<Effect.Effect<boolean, WorkqueueError.WorkqueueError>>(self, Engine.flushWork, () =>
      Effect.succeed(false)
    )
  )

/**
 * Remove the pending instance without waiting (`cancel_work()`). Returns `true` if it was pending. A running
 * instance goes on and may queue the item again.
 *
 * **Kernel**: `cancel_work()`, kernel/workqueue.c. On return the item is not pending; it may still be running.
 *
 * **Example** (Cancel before it runs)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w")
 *   const work = yield* Work.make(() => Effect.void)
 *   yield* Workqueue.queue(wq, work)
 *   return yield* Work.cancel(work)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category cancelling
 * @since 0.1.0
 */
export const cancel = (work: Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Internal.withItem(work, false, (self) =>
    Effect.sync(() =>
      Internal.onSystem(
        self,
        (sys, self) => Engine.cancelWorkUnsafe(sys, self, false),
        () => false
      )
    )
  )

/**
 * Synchronous twin of `cancel`.
 *
 * @category cancelling
 * @since 0.1.0
 */
export const cancelUnsafe = (work: Work): boolean =>
  Internal.onSystem(
    toState(work),
    (sys, self) => Engine.cancelWorkUnsafe(sys, self, false),
    () => false
  )

/**
 * Cancel and wait (`cancel_work_sync()`): while it runs every queue attempt returns `false` (the handler's own
 * re-queue included); it removes the pending instance and waits for a running one. Returns `true` if it was
 * pending.
 *
 * **Gotchas**: from the item's own handler it fails with `reason: "Deadlock"`.
 *
 * **Kernel**: `cancel_work_sync()`, kernel/workqueue.c. On return the item is neither pending nor running,
 * unless someone queued it after the return.
 *
 * **Example** (Release data safely)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const work = yield* Work.make(() => Effect.sleep(50))
 *   yield* WorkqueueSystem.schedule(work)
 *   yield* Work.cancelSync(work)
 *   return yield* Work.pending(work)
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => false
 * ```
 *
 * @category cancelling
 * @since 0.1.0
 */
export const cancelSync = (work: Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Internal.withItem(work, false, (self) =>
    Internal.onSystem<Effect.Effect<boolean, WorkqueueError.WorkqueueError>>(
      self,
      (sys, self) => Engine.cancelWorkSync(sys, self, false),
      () => Effect.succeed(false)
    )
  )

/**
 * Disable the item (`disable_work()`): the disable count goes up by one and the pending instance is removed;
 * while the count is above zero every queue attempt returns `false`. Returns `true` if it was pending.
 *
 * **Kernel**: `disable_work()`, kernel/workqueue.c (count capped at 65535 with a warning).
 *
 * **Example** (Disabled items are not queued)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const work = yield* Work.make(() => Effect.void)
 *   yield* Work.disable(work)
 *   return yield* WorkqueueSystem.schedule(work)
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => false
 * ```
 *
 * @category cancelling
 * @since 0.1.0
 */
export const disable = (work: Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Internal.withItem(work, false, (self) =>
    Internal.withIdleWarning((warn) =>
      Internal.onSystem(
        self,
        (sys, self) => Engine.cancelWorkUnsafe(sys, self, true),
        (self) => Engine.workDisableIdle(self, warn)
      )
    )
  )

/**
 * Disable and wait for a running instance (`disable_work_sync()`).
 *
 * **Kernel**: `disable_work_sync()`, kernel/workqueue.c. On return the item is disabled and not running.
 *
 * **Example** (Disable for good)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const work = yield* Work.make(() => Effect.void)
 *   yield* WorkqueueSystem.schedule(work)
 *   return yield* Work.disableSync(work)
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category cancelling
 * @since 0.1.0
 */
export const disableSync = (work: Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Internal.withItem(work, false, (self) =>
    Internal.onSystem<Effect.Effect<boolean, WorkqueueError.WorkqueueError>>(
      self,
      (sys, self) => Engine.cancelWorkSync(sys, self, true),
      (self) => Internal.withIdleWarning((warn) => Engine.workDisableIdle(self, warn))
    )
  )

/**
 * Undo one `disable` (`enable_work()`). Returns `true` if the count is now zero (the item can be queued again).
 * Enabling an item that is not disabled warns and returns `true`. An enable that would take back the count a
 * `cancelSync`/`disableSync` in progress holds warns (naming the item and its workqueue), is ignored and returns
 * `false`: the cancel goes on refusing queueing until it returns, then gives back its own count.
 *
 * **Kernel**: `enable_work()`, kernel/workqueue.c (`work_offqd_enable()`'s underflow WARN).
 *
 * **Example** (Counted disables)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const work = yield* Work.make(() => Effect.void)
 *   yield* Work.disable(work)
 *   yield* Work.disable(work)
 *   return [yield* Work.enable(work), yield* Work.enable(work)]
 * })
 * await Effect.runPromise(program) // => [false, true]
 * ```
 *
 * @category cancelling
 * @since 0.1.0
 */
export const enable = (work: Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Internal.withItem(work, false, (self) =>
    Internal.withIdleWarning((warn) =>
      Internal.onSystem(
        self,
        (sys, self) => Engine.enableWorkUnsafe(sys, self, warn),
        (self) => Engine.enableWorkUnsafe(undefined, self, warn)
      )
    )
  )
