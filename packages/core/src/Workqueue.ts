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
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import type * as DelayedWork from "./DelayedWork.ts"
import * as Engine from "./internal/engine.ts"
import { make as makeError } from "./internal/error.ts"
import * as Internal from "./internal/workqueue.ts"
import {
  allocUnsafe,
  badWorkqueue,
  dataFirst,
  orThrow,
  queueDelayedResult,
  queueOnResult,
  queueWaitWith,
  toState,
  toStateOrThrow,
  unwrap
} from "./internal/workqueue.ts"
import { WQ_FREEZABLE, WQ_MEM_RECLAIM, WQ_UNBOUND } from "./internal/flags.ts"
import { namedFlags, type RawOptions, resolveOptions } from "./internal/options.ts"
import { resultStep } from "./internal/yieldable.ts"
import { systemOf } from "./internal/service.ts"
import type * as Work from "./Work.ts"
import * as WorkqueueError from "./WorkqueueError.ts"
import { WorkqueueSystem } from "./WorkqueueSystem.ts"

// ---------------------------------------------------------------------------
// flags and limits (wq.h `enum wq_flags`, `enum wq_consts`)
// ---------------------------------------------------------------------------

// The `WQ_*` flags and limits are declared, with their documentation, in the one table (`internal/flags.ts`).
export {
  WQ_BH,
  WQ_UNBOUND,
  WQ_FREEZABLE,
  WQ_MEM_RECLAIM,
  WQ_HIGHPRI,
  WQ_CPU_INTENSIVE,
  WQ_SYSFS,
  WQ_POWER_EFFICIENT,
  WQ_PERCPU,
  WQ_MAX_ACTIVE,
  WQ_DFL_ACTIVE,
  WQ_UNBOUND_MAX_ACTIVE
} from "./internal/flags.ts"

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * The key that marks a `Workqueue` value (`isWorkqueue` tests for it).
 *
 * @category models
 * @since 0.1.0
 */
export const TypeId = Internal.TypeId

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
 * Whether `u` is a workqueue handle (`Workqueue.make` & co., or a system workqueue).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.map(WorkqueueSystem.systemWq, Workqueue.isWorkqueue)
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isWorkqueue: (u: unknown) => u is Workqueue = Internal.isWorkqueue

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
  /** `WQ_*` flags combined with `|` (the kernel form; the named options below add to it). */
  readonly flags?: number | undefined
  /** Items active at once per pwq (per CPU; for unbound, for the whole system). 0 or absent: 1024. */
  readonly maxActive?: number | undefined
  /** Items running at once in total (p-queue's `concurrency`): `WQ_UNBOUND` with `maxActive` n, 1..2048. */
  readonly concurrency?: number | undefined
  /** One at a time in queueing order: `alloc_ordered_workqueue()` (`WQ_UNBOUND | __WQ_ORDERED`, max_active 1). */
  readonly ordered?: boolean | undefined
  /** `WQ_UNBOUND` (`true`) or `WQ_PERCPU` (`false`): served by unbound pools, or by the queueing CPU's pool. */
  readonly unbound?: boolean | undefined
  /** `WQ_HIGHPRI`: the high-priority pools. */
  readonly highpri?: boolean | undefined
  /** `WQ_CPU_INTENSIVE`: outside concurrency management, time-sliced. */
  readonly cpuIntensive?: boolean | undefined
  /** `WQ_FREEZABLE`: takes part in `WorkqueueSystem.freeze`. */
  readonly freezable?: boolean | undefined
  /** `WQ_MEM_RECLAIM`: a rescuer guarantees forward progress. */
  readonly memReclaim?: boolean | undefined
  /** `WQ_BH`: runs in the queueing CPU's BH context (only `highpri` may be added). */
  readonly bh?: boolean | undefined
  /** `WQ_SYSFS`: visible to monitoring. */
  readonly sysfs?: boolean | undefined
  /** `WQ_POWER_EFFICIENT`: unbound when the system runs power-efficient. */
  readonly powerEfficient?: boolean | undefined
  /**
   * Backpressure (ours; the kernel has none): at most this many items pending on the workqueue — armed delayed
   * items plus queued items not yet started (active on a worklist or inactive), never running ones. Queueing a
   * new item past it fails with `reason: "QueueFull"`; `queueWait` waits for room instead. Absent or `Infinity`:
   * no bound. Anything but a positive integer or `Infinity` fails with `reason: "InvalidOptions"`.
   */
  readonly maxPending?: number | undefined
}

/** The public constructors: the caller's name, flags and max_active are checked, then `internal` bits added. */
const alloc = (name: string, flags: unknown, internal: number, maxActive: unknown) =>
  Effect.acquireRelease(
    Effect.flatMap(WorkqueueSystem, (service) => {
      const bad = Engine.checkAllocArgs(name, flags, maxActive)
      if (bad !== undefined) return Effect.fail(bad)
      const sys = systemOf(service)
      const all = (flags as number) | internal
      if ((all & WQ_UNBOUND) !== 0 && (all & Engine.WQ_PERCPU) !== 0) {
        // WQ_UNBOUND and WQ_PERCPU name opposite placements: as the kernel, WARN once and keep WQ_UNBOUND
        sys.warnOnce(
          "unbound-percpu",
          `workqueue: WQ_UNBOUND and WQ_PERCPU both requested for ${name}; dropping WQ_PERCPU (the workqueue is unbound)`,
          { workqueue: name }
        )
      }
      const wq = allocUnsafe(sys, name, all, maxActive as number)
      return WorkqueueError.isWorkqueueError(wq) ? Effect.fail(wq) : Effect.succeed(wq)
    }),
    (wq) => Engine.releaseWorkqueue(toState(wq).system, toState(wq))
  )

/**
 * Allocate a workqueue (`alloc_workqueue()`), destroyed when the scope closes.
 *
 * **When to use**: for `WQ_MEM_RECLAIM`, group flushing, a bounded `maxActive`, or special flags; otherwise the
 * system workqueues serve as well.
 *
 * **Details**: `maxActive` 0 or absent means 1024; an integer out of range is clamped to [1, 2048] with a logged
 * warning (`wq_clamp_max_active()`), anything else (NaN, 1.5, a string) fails with `reason: "InvalidMaxActive"`.
 * `flags` must be a non-negative integer made of the `WQ_*` constants above: any other bit (the kernel's
 * internal `__WQ_*` bits included) or a non-integer fails with `reason: "InvalidFlags"`, as does `WQ_BH` with any
 * flag but `WQ_HIGHPRI` and `WQ_PERCPU` (the kernel's `__WQ_BH_ALLOWS`: a BH workqueue is per-CPU, so the explicit
 * `WQ_PERCPU`, or `unbound: false`, is allowed), or with a non-zero `maxActive`. A name that is not a non-empty string fails with
 * `reason: "InvalidName"`; once the system layer has begun to close, every call fails with
 * `reason: "SystemClosed"`. The named options (`concurrency`, `ordered`, `unbound`, `highpri`, ...) map to exactly
 * one set of `WQ_*` flags (`{ concurrency: 4 }` is `{ flags: WQ_UNBOUND, maxActive: 4 }`); named options that
 * contradict each other or the `flags` bitmask (`unbound: true`, `ordered: true` or `concurrency` with
 * `WQ_PERCPU` in `flags`), a `maxPending` that is not a positive integer or `Infinity`, options that are not a
 * plain object (`null`, an array, a number, a `Map`, an object with another prototype), an unknown key (`maxActvie`)
 * and an option whose getter throws fail with `reason: "InvalidOptions"` naming the workqueue and the key. The
 * options are read once, own properties only (a polluted `Object.prototype` adds none); `undefined` is an option
 * left out, `null` is a value (`maxPending: null` fails). `maxPending: Infinity` is accepted and
 * means no bound, as leaving it out does. `WQ_UNBOUND | WQ_PERCPU` in `flags` is not refused: a warning is logged
 * once per system and `WQ_PERCPU` is dropped (the workqueue is unbound).
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
  makeWith(name, options, MAKE_KEYS, "Workqueue.make", false)

/** The option keys `make` accepts, and `makeOrdered` (no `ordered`, `concurrency`, `maxActive`: it fixes them). */
const MAKE_KEY_LIST = ["flags", "maxActive", "ordered", "concurrency", "maxPending", ...Object.keys(namedFlags)]
const MAKE_KEYS = Engine.optionKeys(MAKE_KEY_LIST)
const ORDERED_KEYS = Engine.optionKeys(
  MAKE_KEY_LIST.filter((key) => key !== "ordered" && key !== "concurrency" && key !== "maxActive")
)

/**
 * `make` and `makeOrdered`: the name first, then the options read once into a plain copy (`readOptions`), then
 * the bitmask and max_active (`checkAllocArgs`), then the named options' rules (`resolveOptions`).
 */
const makeWith = (name: string, options: unknown, keys: Engine.OptionKeys, what: string, ordered: boolean) =>
  Effect.suspend(() => {
    const badName = Engine.checkAllocArgs(name, 0, 0)
    if (badName !== undefined) return Effect.fail(badName)
    const read = Engine.readOptions(name, what, options, keys)
    if (WorkqueueError.isWorkqueueError(read)) return Effect.fail(read)
    // every key of the copy is its own (a polluted `Object.prototype` adds no option); `undefined` is omitted,
    // `null` is a value, refused by its rule
    const o: Record<string, unknown> = read ?? Engine.noOptions(keys)
    // ordered is WQ_UNBOUND: a named `unbound: false` contradicts it; WQ_PERCPU in the bitmask is the kernel's
    // WARN-and-drop (`alloc_ordered_workqueue()` = `WQ_UNBOUND | __WQ_ORDERED | flags`), as for `make`
    if (ordered && o.unbound === false) {
      return Effect.fail(
        makeError("InvalidOptions", name, `${what}: an ordered workqueue is unbound; unbound: false contradicts it`)
      )
    }
    const bad = Engine.checkAllocArgs(
      name,
      o.flags === undefined ? 0 : o.flags,
      o.maxActive === undefined ? 0 : o.maxActive
    )
    if (bad !== undefined) return Effect.fail(bad)
    const resolved = resolveOptions(name, o as RawOptions)
    if (WorkqueueError.isWorkqueueError(resolved)) return Effect.fail(resolved)
    const wq = ordered
      ? alloc(name, resolved.flags, WQ_UNBOUND | Engine.__WQ_ORDERED, 1)
      : alloc(name, resolved.flags, resolved.internal, resolved.maxActive)
    if (resolved.maxPending === Infinity) return wq
    return Effect.map(wq, (wq) => {
      toState(wq).maxPending = resolved.maxPending // before anyone can queue on it
      return wq
    })
  })

/**
 * Allocate an ordered workqueue (`alloc_ordered_workqueue()`): at most one item executes at any time, in
 * queueing order, whatever CPU queued it.
 *
 * **Details**: the options are `make`'s without `ordered`, `concurrency` and `maxActive` (fixed here: giving one is
 * an unknown key, `reason: "InvalidOptions"`); the named flags are honoured (`{ highpri: true }` is `WQ_HIGHPRI`,
 * as `alloc_ordered_workqueue()` takes any flags), `unbound: false` contradicts ordering (`InvalidOptions`),
 * `WQ_PERCPU` in `flags` is warned about and dropped as in `make`, and the same checks as `make` apply.
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
  options?: Omit<Options, "ordered" | "concurrency" | "maxActive">
): Effect.Effect<Workqueue, WorkqueueError.WorkqueueError, Scope.Scope | WorkqueueSystem> =>
  makeWith(name, options, ORDERED_KEYS, "Workqueue.makeOrdered", true)

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
  alloc(name, 0, Engine.WQ_PERCPU | WQ_MEM_RECLAIM | Engine.__WQ_LEGACY, 1)

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
  alloc(name, 0, WQ_UNBOUND | Engine.__WQ_ORDERED | Engine.__WQ_LEGACY | WQ_MEM_RECLAIM, 1)

/**
 * The legacy `create_freezable_workqueue()`: unbound, freezable, with a rescuer, max_active 1 (not ordered).
 *
 * @category constructors
 * @since 0.1.0
 */
export const createFreezable = (
  name: string
): Effect.Effect<Workqueue, WorkqueueError.WorkqueueError, Scope.Scope | WorkqueueSystem> =>
  alloc(name, 0, WQ_FREEZABLE | WQ_UNBOUND | WQ_MEM_RECLAIM | Engine.__WQ_LEGACY, 1)

// ---------------------------------------------------------------------------
// accessors
// ---------------------------------------------------------------------------

/**
 * The workqueue's name (truncated to 31 characters, as `WQ_NAME_LEN`). This accessor and the others below are
 * synchronous: a value that is not a `Workqueue` throws the `WorkqueueError` (`reason: "InvalidArgument"`), as the
 * `*Unsafe` twins throw theirs.
 * @category models
 * @since 0.1.0
 */
export const name = (wq: Workqueue): string => toStateOrThrow(wq).name

/**
 * The workqueue's `WQ_*` flags (internal `__WQ_*` bits included).
 * @category models
 * @since 0.1.0
 */
export const flags = (wq: Workqueue): number => toStateOrThrow(wq).flags

/**
 * The configured `max_active` (for `WQ_BH`: `Infinity`).
 * @category models
 * @since 0.1.0
 */
export const maxActive = (wq: Workqueue): number => toStateOrThrow(wq).savedMaxActive

/**
 * `workqueue_congested()`: advisory — that CPU's pwq holds inactive items. A CPU outside `0..cpus-1` (or not a
 * number) throws `reason: "InvalidCpu"`, as the queueing calls' `*Unsafe` twins throw theirs; a value that is not a
 * workqueue throws `reason: "InvalidArgument"`.
 * @category models
 * @since 0.1.0
 */
export const congestedUnsafe = (wq: Workqueue, cpu: number): boolean => {
  const state = toStateOrThrow(wq)
  // the CPU is checked as the queueing calls check it (a value that is not one of the system's: InvalidCpu)
  const bad = Engine.checkCpu(state.system, state, cpu === undefined ? Number.NaN : cpu)
  if (bad !== undefined) throw bad
  const pwq = state.pwqs[cpu]
  return pwq !== undefined && pwq.inactive.length > 0
}

// ---------------------------------------------------------------------------
// queueing
// ---------------------------------------------------------------------------

/** `queue`'s step (completed inside the caller's `yield*` when it can: internal/yieldable.ts). */
const queueStep = (_: unknown, wq: Workqueue, work: Work.Work, __: undefined) => queueOnResult(wq, undefined, work)
/** `queueDelayed`'s step. */
const queueDelayedStep = (_: unknown, wq: Workqueue, dwork: DelayedWork.DelayedWork, delay: Duration.Input) =>
  queueDelayedResult(wq, undefined, dwork, delay, false)

/**
 * Queue `work` (`queue_work()`): `true` if queued, `false` if it was already pending (nothing changes: no move,
 * no reorder) or disabled. On a per-CPU workqueue it goes to the caller's CPU (`WorkqueueSystem.currentCpu`).
 *
 * **Gotchas**: fails with `reason: "Destroyed"` on a destroyed workqueue, and `"Draining"` while it drains
 * unless the caller is one of its own work items (or a fiber one of them forked, while that run lasts) — the item
 * is then not pending (the kernel drops it). "The caller" is a fiber: a plain promise's `.then` callback inside a
 * handler runs outside every fiber, so it is an outside caller and is refused while draining (docs/DESIGN.md §7);
 * queue from the handler's fiber once the promise has settled instead. An item already queued on another
 * `WorkqueueSystem` fails with `"ForeignSystem"`; a value that is not a `Work` with `"InvalidArgument"`.
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
  dataFirst(2),
  (wq: Workqueue, work: Work.Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
    resultStep(queueStep, wq, work, undefined)
)

/**
 * Synchronous twin of `queue`; throws the `WorkqueueError` instead of failing.
 *
 * **Gotchas**: called from a plain promise continuation (`.then`) or a callback inside a handler, it runs
 * outside the handler's fiber and so outside the run: during a drain or destroy of the handler's own workqueue
 * it throws `reason: "Draining"` (not chained work), and per-CPU queueing goes to CPU 0 (or the `onCpu` value),
 * not the worker's CPU. See docs/DESIGN.md §7.
 *
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
  dataFirst(3),
  (wq: Workqueue, cpu: number, work: Work.Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
    Effect.suspend(() => unwrap(queueOnResult(wq, cpu, work, true)))
)

/**
 * Synchronous twin of `queueOn`.
 * @category queueing
 * @since 0.1.0
 */
export const queueOnUnsafe = (wq: Workqueue, cpu: number, work: Work.Work): boolean =>
  orThrow(queueOnResult(wq, cpu, work, true))

/**
 * Queue `dwork` after `delay` (`queue_delayed_work()`): `false` if already pending — armed or queued — and then
 * the old expiry is kept even if the new delay is shorter. A delay of 0 queues at once, without a timer. The
 * timer is on the system `Clock`, in whole milliseconds (the kernel's jiffies): a fractional delay is rounded up,
 * and so is the expiry (now + delay), so an item is never early; under `TestClock` it is queued when the clock
 * reaches that expiry (a few nanoseconds after it at worst: the timer's sleeps are whole nanoseconds). On the live
 * Clock a delay counts elapsed time: a wall-clock step neither fires it early nor holds it. A NaN or infinite
 * delay fails with `reason: "InvalidDelay"` — a `Duration` object or `[seconds, nanos]` pair too, when a field is
 * NaN, missing from the pair, or the fields add up to NaN (Effect would read those as 0); a negative one counts as 0.
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
} = dual(dataFirst(3), (wq: Workqueue, dwork: DelayedWork.DelayedWork, delay: Duration.Input) =>
  resultStep(queueDelayedStep, wq, dwork, delay)
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
} = dual(dataFirst(4), (wq: Workqueue, cpu: number, dwork: DelayedWork.DelayedWork, delay: Duration.Input) =>
  Effect.suspend(() => unwrap(queueDelayedResult(wq, cpu, dwork, delay, false, true)))
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
} = dual(dataFirst(3), (wq: Workqueue, dwork: DelayedWork.DelayedWork, delay: Duration.Input) =>
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
} = dual(dataFirst(4), (wq: Workqueue, cpu: number, dwork: DelayedWork.DelayedWork, delay: Duration.Input) =>
  Effect.suspend(() => unwrap(queueDelayedResult(wq, cpu, dwork, delay, true, true)))
)

// ---------------------------------------------------------------------------
// flushing
// ---------------------------------------------------------------------------

/**
 * Wait for every item queued **before** the call (`flush_workqueue()`); items queued later, armed delayed
 * items, and an item's re-queue of itself during the flush are not waited on, so a flush is never live-locked.
 * Flushers use the kernel's 16 flush colours.
 *
 * **Gotchas**: from one of the workqueue's own items it fails with `reason: "Deadlock"`; on a system workqueue
 * (`WorkqueueSystem.systemWq` & co.) with `reason: "InvalidArgument"`: only the system's close destroys those.
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
  isWorkqueue(wq) ? Engine.flushWorkqueue(toState(wq)) : Effect.fail(badWorkqueue(wq))

/**
 * Wait until the workqueue is empty (`drain_workqueue()`), through chains of items re-queueing themselves or
 * each other. Meanwhile only its own items may queue to it; outside queueing fails with `reason: "Draining"`.
 * An armed delayed item whose timer fires during the drain is accepted and waited for (a deliberate difference:
 * docs/KERNEL-MAPPING.md); one still armed when the queue empties is not: a drained workqueue can still have
 * delayed items and jobs waiting to retry (their retry is an armed timer), as the kernel's drain leaves delayed
 * timers alone. `destroy` fires them first.
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
  if (!isWorkqueue(wq)) return Effect.fail(badWorkqueue(wq))
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
  if (!isWorkqueue(wq)) return Effect.fail(badWorkqueue(wq))
  const state = toState(wq)
  if (state.isSystem) {
    return Effect.fail(
      makeError(
        "InvalidArgument",
        state.name,
        "a system workqueue is never destroyed by its users: only the WorkqueueSystem's close destroys it (the kernel's system_wq & co. live as long as the kernel)"
      )
    )
  }
  return Engine.destroyWorkqueue(state.system, state)
}

/**
 * Fire every armed delayed item of the workqueue now, earliest expiry first, as `destroy` does before it drains;
 * returns how many fired. A value that is not a `Workqueue` fails with `reason: "InvalidArgument"`. Each fired item is queued at once (accepted even while the queue drains) and then
 * runs as any queued item does.
 *
 * **When to use**: a shutdown that must finish within a deadline: fire the armed items at its start, so the
 * drain waits for them, instead of leaving them to the destroy that follows (which has no deadline).
 *
 * **Kernel**: no single kernel function; `flush_delayed_work()`'s first step (`timer_delete_sync()` then
 * `__queue_work()`) applied to each armed item, kernel/workqueue.c.
 *
 * **Example** (Fire a debounced item early)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w")
 *   let runs = 0
 *   yield* Workqueue.queueDelayed(wq, yield* DelayedWork.make(() => Effect.sync(() => runs++)), "1 hour")
 *   const fired = yield* Workqueue.fireArmed(wq)
 *   yield* Workqueue.flush(wq)
 *   return [fired, runs]
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => [1, 1]
 * ```
 *
 * @category flushing
 * @since 0.1.0
 */
export const fireArmed = (wq: Workqueue): Effect.Effect<number, WorkqueueError.WorkqueueError> =>
  Effect.suspend(() => {
    if (!isWorkqueue(wq)) return Effect.fail(badWorkqueue(wq))
    const state = toState(wq)
    const before = state.timerCount.armed
    Engine.fireArmedTimers(state.system, state)
    return Effect.succeed(before - state.timerCount.armed)
  })

// ---------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------

/**
 * Change `max_active` (`workqueue_set_max_active()`): clamped to [1, 2048] with a warning (0 is out of range
 * here and becomes 1); raising it activates inactive items at once (round-robin over pwqs, FIFO within each);
 * lowering it never stops running items. On ordered and BH workqueues it warns and does nothing. A value that is
 * not an integer (NaN, 1.5, a string) fails with `reason: "InvalidMaxActive"` and changes nothing; so does a
 * destroyed workqueue, with `reason: "Destroyed"`.
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
  (n: number): (wq: Workqueue) => Effect.Effect<void, WorkqueueError.WorkqueueError>
  (wq: Workqueue, n: number): Effect.Effect<void, WorkqueueError.WorkqueueError>
} = dual(
  dataFirst(2),
  (wq: Workqueue, n: number): Effect.Effect<void, WorkqueueError.WorkqueueError> =>
    Effect.suspend(() => {
      if (!isWorkqueue(wq)) return Effect.fail(badWorkqueue(wq))
      const state = toState(wq)
      if (typeof n !== "number" || !Number.isInteger(n)) {
        return Effect.fail(
          makeError("InvalidMaxActive", state.name, `max_active must be an integer, got ${Engine.show(n)}`)
        )
      }
      if (state.lifecycle === "Destroyed") {
        return Effect.fail(makeError("Destroyed", state.name, "cannot set max_active of a destroyed workqueue"))
      }
      Engine.setMaxActive(state.system, state, n)
      return Effect.void
    })
)

// ---------------------------------------------------------------------------
// backpressure (ours; the kernel has none)
// ---------------------------------------------------------------------------

/**
 * The bound given as `maxPending` to `Workqueue.make` (`Infinity`: none).
 * @category configuration
 * @since 0.1.0
 */
export const maxPending = (wq: Workqueue): number => toStateOrThrow(wq).maxPending

/**
 * Items pending on the workqueue right now: armed delayed items plus queued items not yet started (active or
 * inactive), never running ones — what `maxPending` bounds. O(1).
 *
 * **Example** (Two pending, the third refused)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w", { concurrency: 1, maxPending: 2 })
 *   for (let i = 0; i < 2; i++) yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
 *   const full = yield* Effect.flip(Workqueue.queue(wq, yield* Work.make(() => Effect.void)))
 *   return [Workqueue.pendingCountUnsafe(wq), full.reason]
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => [2, "QueueFull"]
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const pendingCountUnsafe = (wq: Workqueue): number => {
  const state = toStateOrThrow(wq)
  return state.nrQueued + state.timerCount.armed
}

/**
 * Queue `work`, waiting for room while the workqueue's `maxPending` items are pending, instead of failing with
 * `reason: "QueueFull"` as `queue` does. Waiters are served first come, first served; each item that starts (or
 * is cancelled) wakes one. Interrupting the wait queues nothing.
 *
 * **When to use**: a producer that should slow down to the workqueue's pace (a request handler, a stream).
 *
 * **Details**: returns as `queue` does once there is room: `true` if queued, `false` if already pending or disabled.
 * Without a `maxPending` it is `queue`. Its arguments are checked as `queue` checks them, before any wait: a value
 * that is not a `Workqueue` or a `Work` fails with `reason: "InvalidArgument"`.
 *
 * **Gotchas**: from one of the workqueue's own handlers it can wait forever — the pending items may need the
 * very active slot that handler holds (`concurrency: 1`). Use `queue` there and handle `QueueFull`.
 *
 * **Kernel**: none — `queue_work()` never blocks; this is the bounded-queue offer of Effect's `Queue`.
 *
 * **Example** (A producer held back)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w", { concurrency: 1, maxPending: 1 })
 *   yield* Workqueue.queue(wq, yield* Work.make(() => Effect.sleep(10))) // pending until a worker takes it
 *   // waits until the first item starts, then queues
 *   return yield* Workqueue.queueWait(wq, yield* Work.make(() => Effect.void))
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const queueWait: {
  (work: Work.Work): (wq: Workqueue) => Effect.Effect<boolean, WorkqueueError.WorkqueueError>
  (wq: Workqueue, work: Work.Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError>
} = dual(
  dataFirst(2),
  (wq: Workqueue, work: Work.Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
    queueWaitWith(wq, () => queueOnResult(wq, undefined, work))
)

// ---------------------------------------------------------------------------
// outcomes: what a kernel boolean means
// ---------------------------------------------------------------------------

/**
 * What a queueing call did, where the kernel's boolean says only "queued or not".
 *
 * - `Queued` (`true`): the item was idle (or only running) and is now pending — queued, or armed if delayed.
 * - `AlreadyPending` (`false`): it was pending already; nothing changed (no move, no reorder, old expiry kept).
 * - `Rearmed` (`modDelayed`'s `true`): it was pending and is now due at now + delay.
 * - `Armed` (`modDelayed`'s `false` on an idle item): it was not pending and is now armed (or queued if delay 0).
 * - `Refused` (`false`): the item is disabled — `"Disabled"` by `Work.disable`, or `"Cancelling"` while a
 *   `cancelSync` runs on it (every queue attempt then returns `false`, the handler's own re-queue included).
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome =
  | { readonly _tag: "Queued" }
  | { readonly _tag: "AlreadyPending" }
  | { readonly _tag: "Armed" }
  | { readonly _tag: "Rearmed" }
  | { readonly _tag: "Refused"; readonly reason: "Disabled" | "Cancelling" }

const Queued: Outcome = { _tag: "Queued" }
const AlreadyPending: Outcome = { _tag: "AlreadyPending" }
const Armed: Outcome = { _tag: "Armed" }
const Rearmed: Outcome = { _tag: "Rearmed" }
const RefusedDisabled: Outcome = { _tag: "Refused", reason: "Disabled" }
const RefusedCancelling: Outcome = { _tag: "Refused", reason: "Cancelling" }

/** Whether `work` is disabled before the call, read only from a value that is an item (validated after). */
const disabledBefore = (work: unknown): boolean =>
  Engine.hasMark(work, Internal.WorkTypeIdKey) && Engine.workDisableCount(work as any) > 0

const refused = (work: Work.Work): Outcome =>
  Engine.refusalReason(work as any) === "Cancelling" ? RefusedCancelling : RefusedDisabled

/**
 * `queue` with an `Outcome` instead of a boolean: `Queued`, `AlreadyPending`, or `Refused` (disabled, or a
 * `cancelSync` in progress).
 *
 * **Kernel**: `queue_work()`; the outcome separates the two meanings of its `false`.
 *
 * **Example** (Why it was not queued)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("w")
 *   const work = yield* Work.make(() => Effect.void)
 *   const first = yield* Workqueue.queueOutcome(wq, work)
 *   const second = yield* Workqueue.queueOutcome(wq, work)
 *   yield* Work.disable(work)
 *   const third = yield* Workqueue.queueOutcome(wq, work)
 *   return [first._tag, second._tag, third._tag]
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer())))
 * // => ["Queued", "AlreadyPending", "Refused"]
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const queueOutcome: {
  (work: Work.Work): (wq: Workqueue) => Effect.Effect<Outcome, WorkqueueError.WorkqueueError>
  (wq: Workqueue, work: Work.Work): Effect.Effect<Outcome, WorkqueueError.WorkqueueError>
} = dual(
  dataFirst(2),
  (wq: Workqueue, work: Work.Work): Effect.Effect<Outcome, WorkqueueError.WorkqueueError> =>
    Effect.suspend(() => {
      const disabled = disabledBefore(work)
      const result = queueOnResult(wq, undefined, work)
      if (typeof result !== "boolean") return Effect.fail(result)
      return Effect.succeed(result ? Queued : disabled ? refused(work) : AlreadyPending)
    })
)

/**
 * `modDelayed` with an `Outcome` instead of a boolean: `Armed` (it was idle), `Rearmed` (it was pending and is
 * moved to now + delay), or `Refused` (disabled, or a `cancelSync` in progress) — the kernel returns `false` for
 * both `Armed` and `Refused`.
 *
 * **Kernel**: `mod_delayed_work()`; the outcome separates the two meanings of its `false`.
 *
 * **Example** (Debounce that knows)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DelayedWork, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("debounce")
 *   const save = yield* DelayedWork.make(() => Effect.void)
 *   const first = yield* Workqueue.modDelayedOutcome(wq, save, "500 millis")
 *   const second = yield* Workqueue.modDelayedOutcome(wq, save, "500 millis")
 *   return [first._tag, second._tag]
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => ["Armed", "Rearmed"]
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const modDelayedOutcome: {
  (
    dwork: DelayedWork.DelayedWork,
    delay: Duration.Input
  ): (wq: Workqueue) => Effect.Effect<Outcome, WorkqueueError.WorkqueueError>
  (
    wq: Workqueue,
    dwork: DelayedWork.DelayedWork,
    delay: Duration.Input
  ): Effect.Effect<Outcome, WorkqueueError.WorkqueueError>
} = dual(dataFirst(3), (wq: Workqueue, dwork: DelayedWork.DelayedWork, delay: Duration.Input) =>
  Effect.suspend(() => {
    const disabled = disabledBefore(dwork)
    const result = queueDelayedResult(wq, undefined, dwork, delay, true)
    if (typeof result !== "boolean") return Effect.fail(result)
    return Effect.succeed(result ? Rearmed : disabled ? refused(dwork) : Armed)
  })
)
