/**
 * Delayed work: the kernel's `delayed_work`, a work item plus a timer on the Effect `Clock`.
 *
 * Timers of a whole `WorkqueueSystem` live in one structure driven by one fiber, so arming a million items costs
 * no fiber and no `setTimeout` each, and `TestClock` decides every expiry exactly: an item armed at `t` with
 * delay `d` is queued when the clock reaches `t + d`; items with the same expiry are queued in arming order.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import * as Engine from "./internal/engine.ts"
import * as Internal from "./internal/work.ts"
import { succeedStep } from "./internal/yieldable.ts"
import type { DelayedWorkState } from "./internal/state.ts"
import * as Work from "./Work.ts"
import type * as WorkqueueError from "./WorkqueueError.ts"
import { isWorkqueueError } from "./WorkqueueError.ts"

/**
 * The key that marks a `DelayedWork` value (`isDelayedWork` tests for it).
 *
 * @category models
 * @since 0.1.0
 */
export const TypeId = Internal.DelayedWorkTypeId

/**
 * A delayed work item (`struct delayed_work`). It is also a `Work`: `Work.pending`, `Work.flush` and friends
 * accept it, with the kernel's meaning for the embedded `dwork->work` (e.g. `Work.flush` of an armed item
 * returns `false` at once; use `DelayedWork.flush`).
 *
 * @category models
 * @since 0.1.0
 */
export interface DelayedWork extends Work.Work, Pipeable {
  readonly [TypeId]: typeof TypeId
}

/**
 * Whether `u` is a `DelayedWork` (made by `DelayedWork.make`; a plain `Work` is not).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, Work } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const plain = yield* Work.make(() => Effect.void)
 *   const delayed = yield* DelayedWork.make(() => Effect.void)
 *   return [DelayedWork.isDelayedWork(delayed), DelayedWork.isDelayedWork(plain)]
 * })
 * await Effect.runPromise(program) // => [true, false]
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isDelayedWork = (u: unknown): u is DelayedWork => Engine.hasMark(u, TypeId)

/**
 * Create a delayed work item (`INIT_DELAYED_WORK()`); the services the handler needs are captured now.
 *
 * **Kernel**: `INIT_DELAYED_WORK()` / `DECLARE_DELAYED_WORK()`, include/linux/workqueue.h.
 *
 * **Example** (Run in two seconds)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const dwork = yield* DelayedWork.make(() => Effect.log("delayed work executing"))
 *   return yield* WorkqueueSystem.scheduleDelayed(dwork, "2 seconds")
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <E, R>(
  fn: (self: DelayedWork) => Effect.Effect<void, E, R>,
  options?: { readonly name?: string | undefined }
): Effect.Effect<DelayedWork, never, R> => {
  const args = Internal.makeArgs(fn, options, true)
  if (isWorkqueueError(args)) return Effect.die(args)
  return succeedStep(Internal.makeDelayedWorkStep, fn, args.name, undefined) as unknown as Effect.Effect<
    DelayedWork,
    never,
    R
  >
}

/**
 * `delayed_work_pending()`: the timer is armed or the item is queued.
 *
 * **Kernel**: `delayed_work_pending()`, include/linux/workqueue.h.
 *
 * **Example** (Armed counts as pending)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const dwork = yield* DelayedWork.make(() => Effect.void)
 *   yield* WorkqueueSystem.scheduleDelayed(dwork, "1 minute")
 *   return yield* DelayedWork.pending(dwork)
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const pending = (dwork: DelayedWork): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Work.pending(dwork)

/**
 * `flush_delayed_work()`: an armed timer fires now (the item is queued on the workqueue and CPU it was armed
 * for), then waits as `Work.flush`. The original expiry never produces a second run. `true` if it waited.
 *
 * **Kernel**: `flush_delayed_work()`, kernel/workqueue.c.
 *
 * **Example** (Run it now and wait)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   let ran = false
 *   const dwork = yield* DelayedWork.make(() => Effect.sync(() => { ran = true }))
 *   yield* WorkqueueSystem.scheduleDelayed(dwork, "1 hour")
 *   yield* DelayedWork.flush(dwork)
 *   return ran
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category flushing
 * @since 0.1.0
 */
export const flush = (dwork: DelayedWork): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Internal.withItem(dwork, true, (self) =>
    Internal.onSystem<Effect.Effect<boolean, WorkqueueError.WorkqueueError>>(
      self,
      (sys, self) => Engine.flushDelayedWork(sys, self as DelayedWorkState),
      () => Effect.succeed(false)
    )
  )

/**
 * `cancel_delayed_work()`: delete the timer or remove the queued instance; `true` if it was pending. Does not
 * wait for a running instance.
 *
 * **Kernel**: `cancel_delayed_work()`, kernel/workqueue.c. On return the item is not pending.
 *
 * **Example** (Cancel an armed timer)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const dwork = yield* DelayedWork.make(() => Effect.void)
 *   yield* WorkqueueSystem.scheduleDelayed(dwork, "2 seconds")
 *   return yield* DelayedWork.cancel(dwork)
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category cancelling
 * @since 0.1.0
 */
export const cancel = (dwork: DelayedWork): Effect.Effect<boolean, WorkqueueError.WorkqueueError> => Work.cancel(dwork)

/**
 * Synchronous twin of `cancel`.
 *
 * @category cancelling
 * @since 0.1.0
 */
export const cancelUnsafe = (dwork: DelayedWork): boolean => Work.cancelUnsafe(dwork)

/**
 * `cancel_delayed_work_sync()`: as `Work.cancelSync`, and the timer is killed too; a self-re-arming periodic
 * item is stopped for good.
 *
 * **Kernel**: `cancel_delayed_work_sync()`, kernel/workqueue.c. On return the item is neither armed, queued nor
 * running, unless someone queued it after the return.
 *
 * **Example** (Stop periodic work)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const tick: DelayedWork.DelayedWork = yield* DelayedWork.make((self) =>
 *     Effect.asVoid(WorkqueueSystem.scheduleDelayed(self, "1 second")).pipe(Effect.orDie)
 *   )
 *   yield* WorkqueueSystem.scheduleDelayed(tick, "1 second")
 *   yield* DelayedWork.cancelSync(tick)
 *   return yield* DelayedWork.pending(tick)
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => false
 * ```
 *
 * @category cancelling
 * @since 0.1.0
 */
export const cancelSync = (dwork: DelayedWork): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Work.cancelSync(dwork)

/**
 * `disable_delayed_work()` / `enable_delayed_work()`: as for `Work`, with the timer removed.
 *
 * @category cancelling
 * @since 0.1.0
 */
export const disable = (dwork: DelayedWork): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Work.disable(dwork)

/**
 * `disable_delayed_work_sync()`: `disable`, then wait until no instance runs anywhere (as `Work.disableSync`).
 *
 * @category cancelling
 * @since 0.1.0
 */
export const disableSync = (dwork: DelayedWork): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Work.disableSync(dwork)

/**
 * `enable_delayed_work()`: undo one `disable`; returns true when the item is enabled again (as `Work.enable`).
 *
 * @category cancelling
 * @since 0.1.0
 */
export const enable = (dwork: DelayedWork): Effect.Effect<boolean, WorkqueueError.WorkqueueError> => Work.enable(dwork)
