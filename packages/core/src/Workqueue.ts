/**
 * Workqueues: the kernel's `workqueue_struct`, a domain of flags, `max_active`, flushing and forward progress.
 *
 * A workqueue owns no workers: its items run on the system's shared worker pools (per-CPU normal and highpri
 * pools, BH pools, unbound pools by attributes), through one pool workqueue (pwq) per pool it uses, which counts
 * `nr_active` against `max_active` and holds the inactive list. `Workqueue.make` is scoped: closing the scope is
 * `destroy_workqueue()` (fire armed timers, drain, release).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import { pipeArguments, type Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import type * as DelayedWork from "./DelayedWork.ts"
import * as Engine from "./internal/engine.ts"
import type { DelayedWorkState, WorkqueueState } from "./internal/state.ts"
import type * as Work from "./Work.ts"
import * as WorkqueueError from "./WorkqueueError.ts"
import { WorkqueueSystem } from "./WorkqueueSystem.ts"

// ---------------------------------------------------------------------------
// flags and limits (wq.h `enum wq_flags`, `enum wq_consts`)
// ---------------------------------------------------------------------------

/**
 * Execute in the queueing CPU's BH (softirq) context: queueing order, one at a time, handlers must not
 * suspend. Only `WQ_HIGHPRI` may be added and `maxActive` must be 0.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_BH = Engine.WQ_BH
/**
 * Served by unbound pools: no concurrency management, items start as soon as `max_active` allows.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_UNBOUND = Engine.WQ_UNBOUND
/**
 * Takes part in `WorkqueueSystem.freeze`: no new item starts while frozen.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_FREEZABLE = Engine.WQ_FREEZABLE
/**
 * Gets a rescuer worker that guarantees forward progress when its pools cannot create workers.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_MEM_RECLAIM = Engine.WQ_MEM_RECLAIM
/**
 * Uses the high-priority pools, served before normal pools by the scheduler (the kernel's nice -20).
 * @category configuration
 * @since 0.1.0
 */
export const WQ_HIGHPRI = Engine.WQ_HIGHPRI
/**
 * Items do not count toward concurrency management and are time-sliced so they cannot starve the event loop.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_CPU_INTENSIVE = Engine.WQ_CPU_INTENSIVE
/**
 * Visible to monitoring (`/sys/bus/workqueue/devices`); recorded in snapshots.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_SYSFS = Engine.WQ_SYSFS
/**
 * Per-CPU unless the system runs in power-efficient mode (`WorkqueueSystem.layer({ powerEfficient: true })`).
 * @category configuration
 * @since 0.1.0
 */
export const WQ_POWER_EFFICIENT = Engine.WQ_POWER_EFFICIENT
/**
 * Explicitly bound to a CPU (the newest kernels' complement of `WQ_UNBOUND`).
 * @category configuration
 * @since 0.1.0
 */
export const WQ_PERCPU = Engine.WQ_PERCPU
/**
 * `WQ_MAX_ACTIVE` = 2048.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_MAX_ACTIVE = Engine.WQ_MAX_ACTIVE
/**
 * `WQ_DFL_ACTIVE` = 1024, used when `maxActive` is 0 or absent.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_DFL_ACTIVE = Engine.WQ_DFL_ACTIVE
/**
 * `WQ_UNBOUND_MAX_ACTIVE` = 2048.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_UNBOUND_MAX_ACTIVE = Engine.WQ_UNBOUND_MAX_ACTIVE

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export const TypeId = "~effect-workqueue/Workqueue"

/**
 * A workqueue handle.
 *
 * @category models
 * @since 0.1.0
 */
export interface Workqueue extends Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly name: string
}

/**
 * @category guards
 * @since 0.1.0
 */
export const isWorkqueue = (u: unknown): u is Workqueue => typeof u === "object" && u !== null && TypeId in u

const WorkqueueProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: WorkqueueState) {
    return {
      _id: "Workqueue",
      name: this.name,
      state: this.lifecycle,
      flags: this.flags,
      maxActive: this.savedMaxActive
    }
  },
  toString(this: WorkqueueState) {
    return `Workqueue(${this.name})`
  }
}

/** @internal */
export const toState = (wq: Workqueue): WorkqueueState => wq as unknown as WorkqueueState

/** @internal */
export const makeHandle = (state: WorkqueueState): WorkqueueState => Object.assign(Object.create(WorkqueueProto), state)

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

/**
 * Options of `Workqueue.make`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** `WQ_*` flags combined with `|`. */
  readonly flags?: number | undefined
  /** Items active at once per pwq (per CPU; for unbound, for the whole system). 0 or absent: 1024. */
  readonly maxActive?: number | undefined
}

/** @internal */
export const allocUnsafe = (
  sys: Engine.System,
  name: string,
  flags: number,
  maxActive: number
): Workqueue | WorkqueueError.WorkqueueError => {
  const wq = Engine.allocWorkqueue(sys, name, flags, maxActive, makeHandle)
  return WorkqueueError.isWorkqueueError(wq) ? wq : (wq as unknown as Workqueue)
}

const alloc = (name: string, flags: number, maxActive: number) =>
  Effect.acquireRelease(
    Effect.flatMap(WorkqueueSystem, (service) => {
      const wq = allocUnsafe(service.system, name, flags, maxActive)
      return WorkqueueError.isWorkqueueError(wq) ? Effect.fail(wq) : Effect.succeed(wq)
    }),
    (wq) => Effect.ignore(destroy(wq))
  )

/**
 * Allocate a workqueue (`alloc_workqueue()`), destroyed when the scope closes.
 *
 * **When to use**: for `WQ_MEM_RECLAIM`, group flushing, a bounded `maxActive`, or special flags; otherwise the
 * system workqueues serve as well.
 *
 * **Details**: `maxActive` 0 or absent means 1024; out of range is clamped to [1, 2048] with a logged warning.
 * `WQ_BH` with any flag but `WQ_HIGHPRI`, or with a non-zero `maxActive`, fails with `reason: "InvalidFlags"`.
 *
 * **Kernel**: `alloc_workqueue()`, kernel/workqueue.c; the scope's close is `destroy_workqueue()`.
 *
 * **Example** (Four I/O requests at a time)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("io_worker", { flags: Workqueue.WQ_MEM_RECLAIM, maxActive: 4 })
 *   return Workqueue.maxActive(wq)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => 4
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  name: string,
  options?: Options
): Effect.Effect<Workqueue, WorkqueueError.WorkqueueError, Scope.Scope | WorkqueueSystem> =>
  alloc(name, options?.flags ?? 0, options?.maxActive ?? 0)

/**
 * Allocate an ordered workqueue (`alloc_ordered_workqueue()`): at most one item executes at any time, in
 * queueing order, whatever CPU queued it.
 *
 * **Kernel**: `alloc_ordered_workqueue()` = `WQ_UNBOUND | __WQ_ORDERED | flags`, max_active 1.
 *
 * **Example** (A write log kept in order)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.makeOrdered("log")
 *   return Workqueue.maxActive(wq)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => 1
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeOrdered = (
  name: string,
  options?: { readonly flags?: number | undefined }
): Effect.Effect<Workqueue, WorkqueueError.WorkqueueError, Scope.Scope | WorkqueueSystem> =>
  alloc(name, WQ_UNBOUND | Engine.__WQ_ORDERED | (options?.flags ?? 0), 1)

/**
 * The legacy `create_workqueue()`: per-CPU, `WQ_MEM_RECLAIM`, max_active 1 — one at a time *per CPU*.
 *
 * **Kernel**: `create_workqueue()`, include/linux/workqueue.h (deprecated there).
 *
 * **Example** (Legacy creator)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.map(Workqueue.create("legacy"), Workqueue.maxActive)
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => 1
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const create = (
  name: string
): Effect.Effect<Workqueue, WorkqueueError.WorkqueueError, Scope.Scope | WorkqueueSystem> =>
  alloc(name, Engine.WQ_PERCPU | WQ_MEM_RECLAIM | Engine.__WQ_LEGACY, 1)

/**
 * The legacy `create_singlethread_workqueue()`: an ordered workqueue with a rescuer.
 *
 * **Kernel**: `create_singlethread_workqueue()` = `alloc_ordered_workqueue(__WQ_LEGACY | WQ_MEM_RECLAIM)`.
 *
 * **Example** (A dedicated single-threaded queue)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.map(Workqueue.createSinglethread("my_worker"), Workqueue.name)
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => "my_worker"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const createSinglethread = (
  name: string
): Effect.Effect<Workqueue, WorkqueueError.WorkqueueError, Scope.Scope | WorkqueueSystem> =>
  alloc(name, WQ_UNBOUND | Engine.__WQ_ORDERED | Engine.__WQ_LEGACY | WQ_MEM_RECLAIM, 1)

/**
 * The legacy `create_freezable_workqueue()`: unbound, freezable, with a rescuer, max_active 1 (not ordered).
 *
 * @category constructors
 * @since 0.1.0
 */
export const createFreezable = (
  name: string
): Effect.Effect<Workqueue, WorkqueueError.WorkqueueError, Scope.Scope | WorkqueueSystem> =>
  alloc(name, WQ_FREEZABLE | WQ_UNBOUND | WQ_MEM_RECLAIM | Engine.__WQ_LEGACY, 1)

// ---------------------------------------------------------------------------
// accessors
// ---------------------------------------------------------------------------

/**
 * The workqueue's name (truncated to 31 characters, as `WQ_NAME_LEN`).
 * @category models
 * @since 0.1.0
 */
export const name = (wq: Workqueue): string => toState(wq).name

/**
 * The workqueue's `WQ_*` flags (internal `__WQ_*` bits included).
 * @category models
 * @since 0.1.0
 */
export const flags = (wq: Workqueue): number => toState(wq).flags

/**
 * The configured `max_active` (for `WQ_BH`: `Infinity`).
 * @category models
 * @since 0.1.0
 */
export const maxActive = (wq: Workqueue): number => toState(wq).savedMaxActive

/**
 * `workqueue_congested()`: advisory — that CPU's pwq holds inactive items.
 * @category models
 * @since 0.1.0
 */
export const congestedUnsafe = (wq: Workqueue, cpu: number): boolean => {
  const pwq = toState(wq).pwqs[cpu]
  return pwq !== undefined && pwq.inactive.length > 0
}

// ---------------------------------------------------------------------------
// queueing
// ---------------------------------------------------------------------------

const unwrap = (result: Engine.QueueResult): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  typeof result === "boolean" ? Effect.succeed(result) : Effect.fail(result)

const orThrow = (result: Engine.QueueResult): boolean => {
  if (typeof result === "boolean") return result
  throw result
}

/** @internal */
export const queueOnResult = (wq: Workqueue, cpu: number | undefined, work: Work.Work): Engine.QueueResult => {
  const state = toState(wq)
  return Engine.queueWorkOn(state.system, cpu, state, work as any)
}

/**
 * Queue `work` (`queue_work()`): `true` if queued, `false` if it was already pending (nothing changes: no move,
 * no reorder) or disabled. On a per-CPU workqueue it goes to the caller's CPU (`WorkqueueSystem.currentCpu`).
 *
 * **Gotchas**: fails with `reason: "Destroyed"` on a destroyed workqueue, and `"Draining"` while it drains
 * unless the caller is one of its own work items — the item is then not pending (the kernel drops it).
 *
 * **Kernel**: `queue_work()` → `queue_work_on(WORK_CPU_UNBOUND)`, kernel/workqueue.c. If `true`, everything
 * done before the call is visible to the execution that results.
 *
 * **Example** (The pending bit)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w")
 *   const work = yield* Work.make(() => Effect.void)
 *   return [yield* Workqueue.queue(wq, work), yield* Workqueue.queue(wq, work)]
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => [true, false]
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const queue: {
  (work: Work.Work): (wq: Workqueue) => Effect.Effect<boolean, WorkqueueError.WorkqueueError>
  (wq: Workqueue, work: Work.Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError>
} = dual(
  2,
  (wq: Workqueue, work: Work.Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
    Effect.suspend(() => unwrap(queueOnResult(wq, undefined, work)))
)

/**
 * Synchronous twin of `queue`; throws the `WorkqueueError` instead of failing.
 * @category queueing
 * @since 0.1.0
 */
export const queueUnsafe = (wq: Workqueue, work: Work.Work): boolean => orThrow(queueOnResult(wq, undefined, work))

/**
 * Queue `work` on `cpu`'s pool (`queue_work_on()`). If the item is still running on this workqueue elsewhere,
 * the new instance goes where it runs instead (non-reentrance). A CPU outside `0..cpus-1` fails with
 * `reason: "InvalidCpu"`.
 *
 * **Kernel**: `queue_work_on()`, kernel/workqueue.c.
 *
 * **Example** (On CPU 1)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("percpu")
 *   let cpu = -1
 *   const work = yield* Work.make(() => Effect.map(WorkqueueSystem.currentCpu, (c) => { cpu = c }))
 *   yield* Workqueue.queueOn(wq, 1, work)
 *   yield* Workqueue.flush(wq)
 *   return cpu
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => 1
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const queueOn: {
  (cpu: number, work: Work.Work): (wq: Workqueue) => Effect.Effect<boolean, WorkqueueError.WorkqueueError>
  (wq: Workqueue, cpu: number, work: Work.Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError>
} = dual(
  3,
  (wq: Workqueue, cpu: number, work: Work.Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
    Effect.suspend(() => unwrap(queueOnResult(wq, cpu, work)))
)

/**
 * Synchronous twin of `queueOn`.
 * @category queueing
 * @since 0.1.0
 */
export const queueOnUnsafe = (wq: Workqueue, cpu: number, work: Work.Work): boolean =>
  orThrow(queueOnResult(wq, cpu, work))

/** @internal */
export const toMillis = (delay: Duration.Input): number => {
  if (typeof delay === "number") return delay
  try {
    return Duration.toMillis(Duration.fromInputUnsafe(delay))
  } catch {
    return Number.NaN
  }
}

/** @internal */
export const queueDelayedResult = (
  wq: Workqueue,
  cpu: number | undefined,
  dwork: DelayedWork.DelayedWork,
  delay: Duration.Input,
  mod: boolean
): Engine.QueueResult => {
  const state = toState(wq)
  const f = mod ? Engine.modDelayedWorkOn : Engine.queueDelayedWorkOn
  return f(state.system, cpu, state, dwork as unknown as DelayedWorkState, toMillis(delay))
}

/**
 * Queue `dwork` after `delay` (`queue_delayed_work()`): `false` if already pending — armed or queued — and then
 * the old expiry is kept even if the new delay is shorter. A delay of 0 queues at once, without a timer. The
 * timer is on the system `Clock`: under `TestClock` the item is queued exactly when the clock reaches now +
 * delay. A NaN or infinite delay fails with `reason: "InvalidDelay"`; a negative one counts as 0.
 *
 * **Kernel**: `queue_delayed_work()` → `queue_delayed_work_on(WORK_CPU_UNBOUND)`, kernel/workqueue.c. Expiry
 * re-enters the ordinary queueing path (non-reentrance, max_active, freezing apply at firing time).
 *
 * **Example** (In five seconds)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("later")
 *   const dwork = yield* DelayedWork.make(() => Effect.void)
 *   return yield* Workqueue.queueDelayed(wq, dwork, "5 seconds")
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const queueDelayed: {
  (
    dwork: DelayedWork.DelayedWork,
    delay: Duration.Input
  ): (wq: Workqueue) => Effect.Effect<boolean, WorkqueueError.WorkqueueError>
  (
    wq: Workqueue,
    dwork: DelayedWork.DelayedWork,
    delay: Duration.Input
  ): Effect.Effect<boolean, WorkqueueError.WorkqueueError>
} = dual(3, (wq: Workqueue, dwork: DelayedWork.DelayedWork, delay: Duration.Input) =>
  Effect.suspend(() => unwrap(queueDelayedResult(wq, undefined, dwork, delay, false)))
)

/**
 * Synchronous twin of `queueDelayed` (delay in ms or a `Duration.Input`).
 * @category queueing
 * @since 0.1.0
 */
export const queueDelayedUnsafe = (wq: Workqueue, dwork: DelayedWork.DelayedWork, delay: Duration.Input): boolean =>
  orThrow(queueDelayedResult(wq, undefined, dwork, delay, false))

/**
 * `queue_delayed_work_on()`: as `queueDelayed`, and at expiry the item goes to `cpu`'s pool.
 *
 * **Kernel**: `queue_delayed_work_on()`, kernel/workqueue.c.
 *
 * **Example** (Delayed on CPU 2)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("later")
 *   const dwork = yield* DelayedWork.make(() => Effect.void)
 *   return yield* Workqueue.queueDelayedOn(wq, 2, dwork, 100)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const queueDelayedOn: {
  (
    cpu: number,
    dwork: DelayedWork.DelayedWork,
    delay: Duration.Input
  ): (wq: Workqueue) => Effect.Effect<boolean, WorkqueueError.WorkqueueError>
  (
    wq: Workqueue,
    cpu: number,
    dwork: DelayedWork.DelayedWork,
    delay: Duration.Input
  ): Effect.Effect<boolean, WorkqueueError.WorkqueueError>
} = dual(4, (wq: Workqueue, cpu: number, dwork: DelayedWork.DelayedWork, delay: Duration.Input) =>
  Effect.suspend(() => unwrap(queueDelayedResult(wq, cpu, dwork, delay, false)))
)

/**
 * Arm or re-arm `dwork` (`mod_delayed_work()`) for now + `delay`, whatever state it is in: an armed timer is
 * moved (earlier or later), a queued item is pulled back and postponed, `delay` 0 means run as soon as possible.
 * Returns `true` if it was pending before. A disabled item is left alone (`false`).
 *
 * **When to use**: debouncing — every event pushes the deadline out.
 *
 * **Kernel**: `mod_delayed_work()` → `mod_delayed_work_on(WORK_CPU_UNBOUND)`, kernel/workqueue.c.
 *
 * **Example** (Debounce)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("debounce")
 *   const save = yield* DelayedWork.make(() => Effect.log("saved"))
 *   const first = yield* Workqueue.modDelayed(wq, save, "500 millis")
 *   const second = yield* Workqueue.modDelayed(wq, save, "500 millis")
 *   return [first, second]
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => [false, true]
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const modDelayed: {
  (
    dwork: DelayedWork.DelayedWork,
    delay: Duration.Input
  ): (wq: Workqueue) => Effect.Effect<boolean, WorkqueueError.WorkqueueError>
  (
    wq: Workqueue,
    dwork: DelayedWork.DelayedWork,
    delay: Duration.Input
  ): Effect.Effect<boolean, WorkqueueError.WorkqueueError>
} = dual(3, (wq: Workqueue, dwork: DelayedWork.DelayedWork, delay: Duration.Input) =>
  Effect.suspend(() => unwrap(queueDelayedResult(wq, undefined, dwork, delay, true)))
)

/**
 * Synchronous twin of `modDelayed`.
 * @category queueing
 * @since 0.1.0
 */
export const modDelayedUnsafe = (wq: Workqueue, dwork: DelayedWork.DelayedWork, delay: Duration.Input): boolean =>
  orThrow(queueDelayedResult(wq, undefined, dwork, delay, true))

/**
 * `mod_delayed_work_on()`: as `modDelayed`, at expiry on `cpu`'s pool.
 *
 * **Kernel**: `mod_delayed_work_on()`, kernel/workqueue.c.
 *
 * **Example** (Re-arm on CPU 0)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w")
 *   const dwork = yield* DelayedWork.make(() => Effect.void)
 *   return yield* Workqueue.modDelayedOn(wq, 0, dwork, 10)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => false
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const modDelayedOn: {
  (
    cpu: number,
    dwork: DelayedWork.DelayedWork,
    delay: Duration.Input
  ): (wq: Workqueue) => Effect.Effect<boolean, WorkqueueError.WorkqueueError>
  (
    wq: Workqueue,
    cpu: number,
    dwork: DelayedWork.DelayedWork,
    delay: Duration.Input
  ): Effect.Effect<boolean, WorkqueueError.WorkqueueError>
} = dual(4, (wq: Workqueue, cpu: number, dwork: DelayedWork.DelayedWork, delay: Duration.Input) =>
  Effect.suspend(() => unwrap(queueDelayedResult(wq, cpu, dwork, delay, true)))
)

// ---------------------------------------------------------------------------
// flushing
// ---------------------------------------------------------------------------

/**
 * Wait for every item queued **before** the call (`flush_workqueue()`); items queued later, armed delayed
 * items, and an item's re-queue of itself during the flush are not waited on, so a flush is never live-locked.
 * Flushers use the kernel's 16 flush colours.
 *
 * **Gotchas**: from one of the workqueue's own items it fails with `reason: "Deadlock"`.
 *
 * **Kernel**: `flush_workqueue()` / `__flush_workqueue()`, kernel/workqueue.c.
 *
 * **Example** (Wait for what was queued)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w")
 *   let done = 0
 *   for (let i = 0; i < 3; i++) {
 *     yield* Workqueue.queue(wq, yield* Work.make(() => Effect.sync(() => { done++ })))
 *   }
 *   yield* Workqueue.flush(wq)
 *   return done
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => 3
 * ```
 *
 * @category flushing
 * @since 0.1.0
 */
export const flush = (wq: Workqueue): Effect.Effect<void, WorkqueueError.WorkqueueError> =>
  Engine.flushWorkqueue(toState(wq))

/**
 * Wait until the workqueue is empty (`drain_workqueue()`), through chains of items re-queueing themselves or
 * each other. Meanwhile only its own items may queue to it; outside queueing fails with `reason: "Draining"`.
 * An armed delayed item whose timer fires during the drain is accepted and waited for (a deliberate difference:
 * docs/KERNEL-MAPPING.md).
 *
 * **Kernel**: `drain_workqueue()`, kernel/workqueue.c. On return the workqueue is empty and open again.
 *
 * **Example** (Drain a chain)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("chain")
 *   let runs = 0
 *   const work: Work.Work = yield* Work.make((self) =>
 *     Effect.suspend(() => (++runs < 5 ? Effect.asVoid(Workqueue.queue(wq, self)) : Effect.void)).pipe(Effect.orDie)
 *   )
 *   yield* Workqueue.queue(wq, work)
 *   yield* Workqueue.drain(wq)
 *   return runs
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => 5
 * ```
 *
 * @category flushing
 * @since 0.1.0
 */
export const drain = (wq: Workqueue): Effect.Effect<void, WorkqueueError.WorkqueueError> => {
  const state = toState(wq)
  return Engine.drainWorkqueue(state.system, state, false)
}

/**
 * Destroy the workqueue (`destroy_workqueue()`): armed delayed items fire now, everything queued runs (the
 * queue drains), then it is released; later queueing fails with `reason: "Destroyed"`. Idempotent, and the
 * same as closing the scope of `Workqueue.make`.
 *
 * **Kernel**: `destroy_workqueue()`, kernel/workqueue.c (which leaves armed timers undefined; we drop nothing).
 *
 * **Example** (Destroy before the scope ends)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w")
 *   yield* Workqueue.destroy(wq)
 *   const error = yield* Effect.flip(Workqueue.queue(wq, yield* Work.make(() => Effect.void)))
 *   return error.reason
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => "Destroyed"
 * ```
 *
 * @category flushing
 * @since 0.1.0
 */
export const destroy = (wq: Workqueue): Effect.Effect<void, WorkqueueError.WorkqueueError> => {
  const state = toState(wq)
  return Engine.destroyWorkqueue(state.system, state)
}

// ---------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------

/**
 * Change `max_active` (`workqueue_set_max_active()`): clamped to [1, 2048] with a warning (0 is out of range
 * here and becomes 1); raising it activates inactive items at once (round-robin over pwqs, FIFO within each);
 * lowering it never stops running items. On ordered and BH workqueues it warns and does nothing.
 *
 * **Kernel**: `workqueue_set_max_active()`, kernel/workqueue.c.
 *
 * **Example** (Widen a queue)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w", { maxActive: 1 })
 *   yield* Workqueue.setMaxActive(wq, 8)
 *   return Workqueue.maxActive(wq)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => 8
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const setMaxActive: {
  (n: number): (wq: Workqueue) => Effect.Effect<void>
  (wq: Workqueue, n: number): Effect.Effect<void>
} = dual(
  2,
  (wq: Workqueue, n: number): Effect.Effect<void> =>
    Effect.sync(() => {
      const state = toState(wq)
      Engine.setMaxActive(state.system, state, n)
    })
)
