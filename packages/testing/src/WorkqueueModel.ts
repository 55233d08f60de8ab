/**
 * A pure, executable reference model of the workqueue contracts of `kernel/workqueue.c` (queueing, execution,
 * flushing, cancel, creation, destroy, freeze) and of this library's deliberate differences from it
 * (docs/KERNEL-MAPPING.md).
 *
 * The model is plain data plus functions. A checker drives it step by step:
 *
 * - {@link initial}`(config)` builds the state of a fresh system;
 * - {@link apply}`(state, op)` performs one caller operation (a queueing call, a cancel, a flush, a clock advance or
 *   an action of a running handler) and returns the kernel's return value, a typed failure, or `Blocked` for a call
 *   that will return later;
 * - {@link allowedEvents}`(state)` lists what the implementation may do next on its own: start an item, finish the
 *   bookkeeping of a handler that returned, return a blocked call;
 * - {@link observe}`(state, event)` accepts one of those events, or reports a {@link Divergence}.
 *
 * Where the kernel leaves a choice to the implementation (which of two runnable items starts first, which unbound
 * pool_workqueue gets a freed slot) the model allows every choice; where the kernel makes a promise (PENDING
 * test-and-set, non-reentrance, `max_active`, ordered FIFO, flush colours, cancel/disable counts) the model allows
 * exactly that. `apply` and `observe` never mutate their input.
 *
 * @since 0.1.0
 */

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/**
 * The largest `max_active` a workqueue may have; larger requests are clamped.
 *
 * **Kernel**: `WQ_MAX_ACTIVE`, include/linux/workqueue.h (2048 since 2025).
 *
 * **Example** (Clamping)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * Math.min(5000, WorkqueueModel.WQ_MAX_ACTIVE) // => 2048
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const WQ_MAX_ACTIVE = 2048

/**
 * The `max_active` used when a workqueue is created with `maxActive` 0 or absent.
 *
 * **Kernel**: `WQ_DFL_ACTIVE` = `WQ_MAX_ACTIVE / 2`, include/linux/workqueue.h.
 *
 * **Example** (Default)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * WorkqueueModel.WQ_DFL_ACTIVE // => 1024
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const WQ_DFL_ACTIVE = 1024

// ---------------------------------------------------------------------------
// Models: configuration
// ---------------------------------------------------------------------------

/**
 * A work item's name (the model identifies items by name).
 *
 * **Kernel**: the address of a `struct work_struct`.
 *
 * **Example** (An item)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const item: WorkqueueModel.ItemId = "w0"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ItemId = string

/**
 * A workqueue's name.
 *
 * **Kernel**: a `struct workqueue_struct *`.
 *
 * **Example** (A workqueue)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const wq: WorkqueueModel.WqId = "wq0"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type WqId = string

/**
 * The id of a blocked call (flush, cancelSync, drain, destroy, freeze) that returns later through a `Return` event.
 *
 * **Kernel**: a task sleeping in `__flush_work()`, `__flush_workqueue()`, `drain_workqueue()`, ….
 *
 * **Example** (A waiter id)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const waiter: WorkqueueModel.WaiterId = 1
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type WaiterId = number

/**
 * The id of one queueing instance of an item: every successful queueing (or timer expiry) makes a new one, which
 * lives until its handler's bookkeeping ends or it is cancelled.
 *
 * **Kernel**: one trip of a `work_struct` through a pwq (one colour count in `nr_in_flight`).
 *
 * **Example** (An instance id)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const instance: WorkqueueModel.InstanceId = 3
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type InstanceId = number

/**
 * How a workqueue maps CPUs to pool_workqueues.
 *
 * - `bound`: one pwq per CPU, on that CPU's pool; `max_active` is per pwq.
 * - `unbound`: one pwq per CPU on unbound pools; `max_active` is for the whole workqueue and a freed slot may go to
 *   any pwq that waits (round-robin in the kernel; no order across pwqs is promised).
 * - `ordered`: a single pwq, `max_active` 1: strict FIFO, one at a time.
 *
 * **Kernel**: `WQ_UNBOUND`, `__WQ_ORDERED` (`alloc_ordered_workqueue()`, `alloc_and_link_pwqs()`), the pools of
 * `get_unbound_pool()`.
 *
 * **Example** (An ordered queue)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const kind: WorkqueueModel.WqKind = "ordered"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type WqKind = "bound" | "unbound" | "ordered"

/**
 * One workqueue of a model configuration.
 *
 * **Kernel**: the arguments of `alloc_workqueue(name, flags, max_active)` / `alloc_ordered_workqueue(name, flags)`.
 * `maxActive` 0 or absent means `WQ_DFL_ACTIVE`; out of range is clamped to `[1, WQ_MAX_ACTIVE]`; ordered is 1.
 * `highpri` items run on the CPU's (or the unbound) highpri pool, a pool of their own for non-reentrance;
 * `cpuIntensive` items stay in the normal pool (`WQ_CPU_INTENSIVE` only leaves concurrency management), so the
 * contracts the model checks hold unchanged for them.
 *
 * **Example** (A bound workqueue with max_active 2)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const spec: WorkqueueModel.WorkqueueSpec = { name: "wq0", kind: "bound", maxActive: 2, freezable: true }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkqueueSpec {
  readonly name: WqId
  readonly kind: WqKind
  readonly maxActive?: number | undefined
  readonly freezable?: boolean | undefined
  readonly highpri?: boolean | undefined
  readonly cpuIntensive?: boolean | undefined
}

/**
 * One work item of a model configuration; `delayed` items carry a timer (`DelayedWork`).
 *
 * **Kernel**: `INIT_WORK` / `INIT_DELAYED_WORK`.
 *
 * **Example** (A delayed item)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const item: WorkqueueModel.ItemSpec = { name: "dw0", delayed: true }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ItemSpec {
  readonly name: ItemId
  readonly delayed: boolean
}

/**
 * The fixed shape of a modelled system: number of virtual CPUs, workqueues and work items.
 *
 * **Kernel**: boot (`nr_cpu_ids`) plus the `alloc_workqueue` and `INIT_WORK` calls a test makes.
 *
 * **Example** (Two CPUs, one bound queue, two items)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const config: WorkqueueModel.Config = {
 *   cpus: 2,
 *   workqueues: [{ name: "wq0", kind: "bound", maxActive: 1 }],
 *   items: [{ name: "w0", delayed: false }, { name: "dw0", delayed: true }]
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Config {
  readonly cpus: number
  readonly workqueues: ReadonlyArray<WorkqueueSpec>
  readonly items: ReadonlyArray<ItemSpec>
}

// ---------------------------------------------------------------------------
// Models: operations, results, events
// ---------------------------------------------------------------------------

/**
 * How a handler ends: normally, with a typed failure, or with a defect. All three are the same to the workqueue:
 * the worker survives and nothing is lost.
 *
 * **Kernel**: a work function returns `void`; failures do not exist in C (`process_one_work()`).
 *
 * **Example** (A failing handler)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const outcome: WorkqueueModel.Outcome = "failure"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome = "success" | "failure" | "defect"

/**
 * One operation a caller performs. `from` names an item whose running handler makes the call (a *chained* call when
 * it targets the handler's own workqueue); without it the call comes from outside any work item. `cpu` absent means
 * "the CPU the caller runs on": the handler's pwq CPU inside a handler, 0 outside. `sameStep` (on an outside
 * `Queue`, `QueueDelayed`, `ModDelayed` or `Cancel`) issues the call in the same synchronous step as the op before it
 * (through the `*Unsafe` twins, as a kernel caller holding one lock would): nothing runs in between. The model applies
 * ops one by one either way; a checker honours it (`formatOp` prints such an op with a leading `+`).
 *
 * | op | kernel |
 * |---|---|
 * | `Queue` | `queue_work` / `queue_work_on` |
 * | `QueueDelayed` | `queue_delayed_work[_on]` |
 * | `ModDelayed` | `mod_delayed_work[_on]` |
 * | `Cancel` / `CancelSync` | `cancel_[delayed_]work[_sync]` |
 * | `Disable` / `Enable` | `disable_[delayed_]work` / `enable_[delayed_]work` |
 * | `FlushWork` / `FlushDelayedWork` | `flush_work` / `flush_delayed_work` |
 * | `FlushWorkqueue` / `Drain` / `Destroy` | `flush_workqueue` / `drain_workqueue` / `destroy_workqueue` |
 * | `SetMaxActive` | `workqueue_set_max_active` |
 * | `Freeze` / `Thaw` | `freeze_workqueues_begin` (+ waiting for `freeze_workqueues_busy`) / `thaw_workqueues` |
 * | `AdvanceClock` | jiffies passing (`TestClock.adjust`) |
 * | `Finish` | the handler returns (or fails, or dies) |
 * | `Suspend` / `Release` | the handler sleeps on a latch / the latch opens |
 * | `Requeue` | the handler queues itself on its own workqueue |
 *
 * **Kernel**: see the table.
 *
 * **Example** (A handler re-queueing itself)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const op: WorkqueueModel.Op = { _tag: "Requeue", item: "w0" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Op =
  | {
      readonly _tag: "Queue"
      readonly wq: WqId
      readonly item: ItemId
      readonly cpu?: number | undefined
      readonly from?: ItemId | undefined
      readonly sameStep?: boolean | undefined
    }
  | {
      readonly _tag: "QueueDelayed"
      readonly wq: WqId
      readonly item: ItemId
      readonly delay: number
      readonly cpu?: number | undefined
      readonly from?: ItemId | undefined
      readonly sameStep?: boolean | undefined
    }
  | {
      readonly _tag: "ModDelayed"
      readonly wq: WqId
      readonly item: ItemId
      readonly delay: number
      readonly cpu?: number | undefined
      readonly from?: ItemId | undefined
      readonly sameStep?: boolean | undefined
    }
  | {
      readonly _tag: "Cancel"
      readonly item: ItemId
      readonly from?: ItemId | undefined
      readonly sameStep?: boolean | undefined
    }
  | { readonly _tag: "CancelSync"; readonly item: ItemId; readonly from?: ItemId | undefined }
  | { readonly _tag: "Disable"; readonly item: ItemId; readonly from?: ItemId | undefined }
  | { readonly _tag: "Enable"; readonly item: ItemId; readonly from?: ItemId | undefined }
  | { readonly _tag: "FlushWork"; readonly item: ItemId; readonly from?: ItemId | undefined }
  | { readonly _tag: "FlushDelayedWork"; readonly item: ItemId; readonly from?: ItemId | undefined }
  | { readonly _tag: "FlushWorkqueue"; readonly wq: WqId; readonly from?: ItemId | undefined }
  | { readonly _tag: "Drain"; readonly wq: WqId; readonly from?: ItemId | undefined }
  | { readonly _tag: "Destroy"; readonly wq: WqId; readonly from?: ItemId | undefined }
  | { readonly _tag: "SetMaxActive"; readonly wq: WqId; readonly maxActive: number; readonly from?: ItemId | undefined }
  | { readonly _tag: "Freeze" }
  | { readonly _tag: "Thaw" }
  | { readonly _tag: "AdvanceClock"; readonly ms: number }
  | { readonly _tag: "Finish"; readonly item: ItemId; readonly outcome: Outcome }
  | { readonly _tag: "Suspend"; readonly item: ItemId; readonly latch: number }
  | { readonly _tag: "Release"; readonly latch: number }
  | { readonly _tag: "Requeue"; readonly item: ItemId }

/**
 * The typed failure reasons the model can produce; they match `WorkqueueError.reason`.
 *
 * **Kernel**: `Destroyed`/`Draining` replace "WARN: cannot queue … (dropped)" and use-after-free; `Deadlock` replaces
 * the hang of a self-deadlock that lockdep would report (`check_flush_dependency()`, the lockdep maps of
 * `__flush_work()`), only those
 * docs/KERNEL-MAPPING.md lists (a handler flushing,
 * draining or destroying its own workqueue, an item flushing or cancel-syncing itself, an ordered queue waiting on
 * itself): a wait cycle between different handlers blocks forever, as in the kernel (see {@link deadlocked});
 * `InvalidCpu` is a CPU outside `0 .. cpus-1`.
 *
 * **Example** (A deadlock)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const reason: WorkqueueModel.ErrorReason = "Deadlock"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export type ErrorReason = "Destroyed" | "Draining" | "Deadlock" | "InvalidCpu"

/**
 * What an operation gave back at once.
 *
 * - `Returned`: the call returned this value (`undefined` for calls without one).
 * - `Failed`: the call failed with a `WorkqueueError` of this reason and **changed nothing**.
 * - `Blocked`: the call sleeps; it returns later through a `Return` event for `waiter`.
 * - `Skipped`: the operation makes no sense in this state (a harness action for a handler that is not running, a
 *   delayed-work call on a plain item); it is not a workqueue call, so a checker skips it too.
 *
 * **Kernel**: the return values of the `kernel/workqueue.c` entry points (docs/KERNEL-MAPPING.md).
 *
 * **Example** (Queueing returned true)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const result: WorkqueueModel.Result = { _tag: "Returned", value: true }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Result =
  | { readonly _tag: "Returned"; readonly value: boolean | undefined }
  | { readonly _tag: "Failed"; readonly reason: ErrorReason }
  | { readonly _tag: "Blocked"; readonly waiter: WaiterId }
  | { readonly _tag: "Skipped"; readonly why: string }

/**
 * Something the implementation does on its own, which a checker observes:
 *
 * - `Start`: a worker calls the item's handler (PENDING is cleared just before). `cpu` is the pwq's CPU for a bound
 *   workqueue and `null` for unbound and ordered ones.
 * - `End`: the worker finished the bookkeeping of a handler that returned (its slot is released, the next inactive
 *   item activated, flush colours counted down).
 * - `Return`: a blocked call returns `value`.
 *
 * **Kernel**: tracepoints `workqueue_execute_start` / `workqueue_execute_end` and a sleeping caller waking up.
 *
 * **Example** (Starting an item on CPU 1)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const event: WorkqueueModel.Event = { _tag: "Start", item: "w0", wq: "wq0", cpu: 1 }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Event =
  | { readonly _tag: "Start"; readonly item: ItemId; readonly wq: WqId; readonly cpu: number | null }
  | { readonly _tag: "End"; readonly item: ItemId; readonly wq: WqId }
  | { readonly _tag: "Return"; readonly waiter: WaiterId; readonly value: boolean | undefined }

/**
 * An observed event that the contracts do not allow in this state.
 *
 * **Kernel**: a contract of `kernel/workqueue.c` broken by the implementation.
 *
 * **Example** (Checking an observation)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({ cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: [] })
 * const r = WorkqueueModel.observe(s0, { _tag: "End", item: "w0", wq: "wq0" })
 * WorkqueueModel.isDivergence(r) // => true
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Divergence {
  readonly _tag: "Divergence"
  readonly event: Event
  readonly allowed: ReadonlyArray<Event>
  readonly message: string
}

// ---------------------------------------------------------------------------
// Models: state
// ---------------------------------------------------------------------------

/**
 * A workqueue's lifecycle; `drainers` (in {@link WqState}) counts concurrent drains.
 *
 * **Kernel**: `__WQ_DESTROYING` set by `destroy_workqueue()`; "Destroyed" = freed (we fail instead of use-after-free).
 *
 * **Example** (Open)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const lifecycle: WorkqueueModel.Lifecycle = "Open"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Lifecycle = "Open" | "Destroying" | "Destroyed"

/**
 * The model's state of one workqueue.
 *
 * **Kernel**: `struct workqueue_struct` (`saved_max_active`, `nr_drainers`, `__WQ_DESTROYING`). The pwqs are derived
 * from the instances: an instance's `(wq, cpu)` is its pwq. `floating` counts slots of an unbound workqueue that the
 * implementation has already given to the head of *some* waiting pwq, not yet known which (kernel:
 * `node_activate_pending_pwq()` round-robin).
 *
 * **Example** (Reading max_active)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({ cpus: 1, workqueues: [{ name: "wq0", kind: "bound", maxActive: 2 }], items: [] })
 * s0.workqueues["wq0"]?.maxActive // => 2
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface WqState {
  readonly name: WqId
  readonly kind: WqKind
  readonly freezable: boolean
  readonly highpri: boolean
  readonly maxActive: number
  readonly maxActiveCeiling: number
  readonly lifecycle: Lifecycle
  readonly drainers: number
  readonly floating: number
}

/**
 * An armed timer of a delayed item: it will queue the item on `wq`/`cpu` at `expiry`; same-expiry timers fire in
 * `armSeq` order.
 *
 * **Kernel**: `dwork->timer`, `dwork->wq`, `dwork->cpu` (`__queue_delayed_work()`, `delayed_work_timer_fn()`).
 *
 * **Example** (A timer)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const timer: WorkqueueModel.Timer = { wq: "wq0", cpu: 0, expiry: 10, armSeq: 1 }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Timer {
  readonly wq: WqId
  readonly cpu: number
  readonly expiry: number
  readonly armSeq: number
}

/**
 * The model's state of one work item: the off-queue part of `work->data`.
 *
 * **Kernel**: PENDING (`pending` is the queued instance; an armed `timer` also holds PENDING), the 16-bit disable
 * count (`WORK_STRUCT_PENDING`, `disable_work()`), and the "last pool" that `process_one_work()` records when the
 * handler starts (`lastPool`,
 * `process_one_work()`; used by the non-reentrance redirect of `__queue_work()`).
 *
 * **Example** (A fresh item)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({ cpus: 1, workqueues: [], items: [{ name: "w0", delayed: false }] })
 * s0.items["w0"]?.disableCount // => 0
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ItemState {
  readonly name: ItemId
  readonly delayed: boolean
  readonly disableCount: number
  readonly timer: Timer | null
  readonly pending: InstanceId | null
  readonly lastPool: string | null
}

/**
 * What a started handler is doing: running its code (`Busy`, the only state in which it can act), sleeping on a
 * latch, or blocked in a call it made (`Waiting`).
 *
 * **Kernel**: a worker running or sleeping inside the work function.
 *
 * **Example** (Suspended)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const h: WorkqueueModel.HandlerState = { _tag: "Suspended", latch: 0 }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type HandlerState =
  | { readonly _tag: "Busy" }
  | { readonly _tag: "Suspended"; readonly latch: number }
  | { readonly _tag: "Waiting"; readonly waiter: WaiterId }

/**
 * One queueing instance, from queueing to the end of its handler's bookkeeping.
 *
 * - `Inactive`: on its pwq's inactive list (no `max_active` slot, frozen, or an ordered queue's turn not yet come);
 * - `Active`: holds a slot, on the pool worklist, not started;
 * - `Running`: the handler runs (PENDING already cleared);
 * - `Finishing`: the handler returned; the worker has not yet done its bookkeeping (`End` event).
 *
 * **Kernel**: `WORK_STRUCT_INACTIVE`, `pwq->nr_active`, `worker->current_work` (`pwq_activate_work()`,
 * `process_one_work()`).
 *
 * **Example** (Status)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const status: WorkqueueModel.Instance["status"] = "Inactive"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Instance {
  readonly id: InstanceId
  readonly item: ItemId
  readonly wq: WqId
  readonly cpu: number
  readonly status: "Inactive" | "Active" | "Running" | "Finishing"
  readonly handler: HandlerState
  readonly startSeq: number
  readonly outcome: Outcome | null
}

/**
 * A blocked call. `targets` are the instances it waits for (flushes, cancelSync); `Drain`/`Destroy` wait for their
 * workqueue to be empty, `Freeze` for every freezable workqueue to have no active item. Once its condition holds it is
 * `ready` and stays so until its `Return` event.
 *
 * **Kernel**: the barrier / flusher / drain loop a caller sleeps in (`__flush_work()`, `__flush_workqueue()`,
 * `drain_workqueue()`, `__cancel_work_sync()`, `destroy_workqueue()`, `freeze_workqueues_busy()`).
 *
 * **Example** (Reading the value a flush will return)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const value = (w: WorkqueueModel.Waiter) => w.value
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Waiter {
  readonly id: WaiterId
  readonly call: "FlushWork" | "FlushDelayedWork" | "CancelSync" | "FlushWorkqueue" | "Drain" | "Destroy" | "Freeze"
  readonly caller: InstanceId | null
  readonly item: ItemId | null
  readonly wq: WqId | null
  readonly targets: ReadonlyArray<InstanceId>
  readonly value: boolean | undefined
  readonly ready: boolean
}

/**
 * The whole model state. Plain data: `structuredClone`-able and JSON-printable.
 *
 * **Kernel**: everything the contracts of `kernel/workqueue.c` depend on; nothing about workers or pools
 * beyond identity.
 *
 * **Example** (Time starts at 0)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * WorkqueueModel.initial({ cpus: 1, workqueues: [], items: [] }).now // => 0
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  readonly config: Config
  readonly now: number
  readonly freezing: boolean
  readonly seq: number
  readonly workqueues: Readonly<Record<WqId, WqState>>
  readonly items: Readonly<Record<ItemId, ItemState>>
  readonly instances: ReadonlyArray<Instance>
  readonly waiters: ReadonlyArray<Waiter>
}

/**
 * The states of a work item, as one observable phase plus the disable count.
 *
 * **Kernel**: the `WORK_STRUCT_*` bits and `work_busy()` (Idle, Armed, Queued-active, Queued-inactive, Running,
 * Running + queued, Disabled).
 *
 * **Example** (A fresh item is idle)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({ cpus: 1, workqueues: [], items: [{ name: "w0", delayed: false }] })
 * WorkqueueModel.itemPhase(s0, "w0").phase // => "idle"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ItemPhase {
  readonly phase: "idle" | "armed" | "queued-active" | "queued-inactive" | "running" | "running+queued" | "disabled"
  readonly disableCount: number
}

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * The state of a freshly booted system with the configured workqueues (all open) and items (all idle).
 *
 * **Kernel**: `alloc_workqueue()` (`__alloc_workqueue()`, `wq_clamp_max_active()`: 0 ⇒ `WQ_DFL_ACTIVE`, clamp to `[1,
 * WQ_MAX_ACTIVE]`; ordered ⇒ 1) and
 * `INIT_WORK()`.
 *
 * **Example** (Default max_active)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({ cpus: 2, workqueues: [{ name: "wq0", kind: "bound" }], items: [] })
 * s0.workqueues["wq0"]?.maxActive // => 1024
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const initial = (config: Config): State => {
  const workqueues: Record<WqId, WqState> = {}
  for (const spec of config.workqueues) {
    const maxActive =
      spec.kind === "ordered"
        ? 1
        : spec.maxActive === undefined || spec.maxActive === 0
          ? WQ_DFL_ACTIVE
          : clampMaxActive(spec.maxActive)
    workqueues[spec.name] = {
      name: spec.name,
      kind: spec.kind,
      freezable: spec.freezable === true,
      highpri: spec.highpri === true,
      maxActive,
      maxActiveCeiling: maxActive,
      lifecycle: "Open",
      drainers: 0,
      floating: 0
    }
  }
  const items: Record<ItemId, ItemState> = {}
  for (const spec of config.items) {
    items[spec.name] = {
      name: spec.name,
      delayed: spec.delayed,
      disableCount: 0,
      timer: null,
      pending: null,
      lastPool: null
    }
  }
  return { config, now: 0, freezing: false, seq: 0, workqueues, items, instances: [], waiters: [] }
}

// ---------------------------------------------------------------------------
// Operations: the checker's interface
// ---------------------------------------------------------------------------

/**
 * Performs one operation and returns the next state and what the call gave back. A `Failed` result always comes with
 * the unchanged input state (failures change nothing).
 *
 * **Kernel**: the entry points listed in {@link Op}, with the deliberate differences of docs/KERNEL-MAPPING.md.
 *
 * **Example** (PENDING test-and-set)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({
 *   cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: [{ name: "w0", delayed: false }]
 * })
 * const first = WorkqueueModel.apply(s0, { _tag: "Queue", wq: "wq0", item: "w0" })
 * const second = WorkqueueModel.apply(first.state, { _tag: "Queue", wq: "wq0", item: "w0" })
 * second.result // => { _tag: "Returned", value: false }
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const apply = (state: State, op: Op): { readonly state: State; readonly result: Result } => {
  const s = draft(state)
  const result = step(s, op)
  // A failure changes nothing, except a flush_delayed_work() that fails with Deadlock: its armed timer has fired
  // (queued the item) before flush_work() found the deadlock, as in the kernel, which then hangs instead
  // (docs/KERNEL-MAPPING.md).
  if (result._tag === "Failed" && !(op._tag === "FlushDelayedWork" && result.reason === "Deadlock")) {
    return { state, result }
  }
  settleWaiters(s)
  return { state: s, result }
}

/**
 * Every event the implementation may produce next, in a stable order (starts, ends, returns).
 *
 * **Kernel**: the freedom a pool has: which active item a worker picks up (within the rules of non-reentrance and
 * `max_active`), when a worker finishes its bookkeeping, when a woken caller returns.
 *
 * **Example** (A queued item may start)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({
 *   cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: [{ name: "w0", delayed: false }]
 * })
 * const { state } = WorkqueueModel.apply(s0, { _tag: "Queue", wq: "wq0", item: "w0" })
 * WorkqueueModel.allowedEvents(state) // => [{ _tag: "Start", item: "w0", wq: "wq0", cpu: 0 }]
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const allowedEvents = (state: State): ReadonlyArray<Event> => {
  const events: Array<Event> = []
  for (const instance of startable(state)) {
    const wq = getWq(state, instance.wq)
    events.push({ _tag: "Start", item: instance.item, wq: wq.name, cpu: wq.kind === "bound" ? instance.cpu : null })
  }
  for (const instance of state.instances) {
    if (instance.status === "Finishing") events.push({ _tag: "End", item: instance.item, wq: instance.wq })
  }
  for (const waiter of state.waiters) {
    if (waiter.ready) events.push({ _tag: "Return", waiter: waiter.id, value: waiter.value })
  }
  return events
}

/**
 * Accepts an event the implementation produced and returns the next state, or a {@link Divergence} if the event is
 * not among {@link allowedEvents}.
 *
 * **Kernel**: `process_one_work()` (Start: PENDING cleared, last pool recorded; End: `pwq_dec_nr_in_flight()`), and
 * the return of a sleeping caller.
 *
 * **Example** (Starting clears PENDING)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({
 *   cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: [{ name: "w0", delayed: false }]
 * })
 * const { state } = WorkqueueModel.apply(s0, { _tag: "Queue", wq: "wq0", item: "w0" })
 * const next = WorkqueueModel.observe(state, { _tag: "Start", item: "w0", wq: "wq0", cpu: 0 })
 * !WorkqueueModel.isDivergence(next) && WorkqueueModel.isPending(next, "w0") // => false
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const observe = (state: State, event: Event): State | Divergence => {
  const allowed = allowedEvents(state)
  if (!allowed.some((candidate) => sameEvent(candidate, event))) {
    return {
      _tag: "Divergence",
      event,
      allowed,
      message: `${formatEvent(event)} is not allowed; allowed: [${allowed.map(formatEvent).join(", ")}]`
    }
  }
  const s = draft(state)
  switch (event._tag) {
    case "Start": {
      const instance = startable(s).find((i) => i.item === event.item && i.wq === event.wq)!
      const wq = getWq(s, instance.wq)
      if (instance.status === "Inactive") {
        // claims a slot given to "some waiting pwq"; blocked items ahead of it in its pwq took one each (see startable)
        const ahead = inactiveOf(s, wq, instance.cpu).filter((x) => x.id < instance.id)
        for (const x of ahead) x.status = "Active"
        wq.floating -= 1 + ahead.length
      }
      instance.status = "Running"
      instance.handler = { _tag: "Busy" }
      instance.startSeq = ++s.seq
      const x = getItem(s, instance.item)
      x.pending = null // PENDING is cleared just before the function is called
      x.lastPool = poolOf(wq, instance.cpu) // and the pool recorded as the last pool (process_one_work())
      break
    }
    case "End": {
      const instance = s.instances.find((i) => i.status === "Finishing" && i.item === event.item && i.wq === event.wq)!
      s.instances = s.instances.filter((i) => i !== instance)
      pwqActivate(s, getWq(s, instance.wq)) // give back the slot: activates the next inactive item
      break
    }
    case "Return": {
      const waiter = s.waiters.find((w) => w.id === event.waiter)!
      s.waiters = s.waiters.filter((w) => w !== waiter)
      if (waiter.call === "CancelSync" && waiter.item !== null) {
        const item = getItem(s, waiter.item)
        item.disableCount = Math.max(0, item.disableCount - 1) // undo the cancel's own disable
      }
      if (waiter.call === "Drain" && waiter.wq !== null) getWq(s, waiter.wq).drainers -= 1
      if (waiter.call === "Destroy" && waiter.wq !== null) getWq(s, waiter.wq).lifecycle = "Destroyed"
      if (waiter.caller !== null) {
        const caller = s.instances.find((i) => i.id === waiter.caller)
        if (caller !== undefined) caller.handler = { _tag: "Busy" }
      }
      break
    }
  }
  settleWaiters(s)
  return s
}

/**
 * Whether a value returned by {@link observe} is a divergence.
 *
 * **Kernel**: —
 *
 * **Example** (Guarding)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * WorkqueueModel.isDivergence({ _tag: "Divergence", event: { _tag: "Return", waiter: 1, value: true }, allowed: [], message: "" })
 * // => true
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isDivergence = (u: State | Divergence): u is Divergence => "_tag" in u && u._tag === "Divergence"

// ---------------------------------------------------------------------------
// Operations: observers
// ---------------------------------------------------------------------------

/**
 * Whether the item's PENDING bit is set: armed, or queued (active or inactive); false while only running.
 *
 * **Kernel**: `work_pending()` / `delayed_work_pending()`, include/linux/workqueue.h.
 *
 * **Example** (An armed item is pending)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({
 *   cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: [{ name: "dw0", delayed: true }]
 * })
 * const { state } = WorkqueueModel.apply(s0, { _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10 })
 * WorkqueueModel.isPending(state, "dw0") // => true
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const isPending = (state: State, item: ItemId): boolean => {
  const x = getItem(state, item)
  return x.timer !== null || x.pending !== null
}

/**
 * The item's phase: idle, armed, queued (active or inactive), running, running and queued, disabled.
 *
 * **Kernel**: the `WORK_STRUCT_*` bits; `work_busy()` gives the PENDING/RUNNING part.
 *
 * **Example** (Queued behind max_active)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({
 *   cpus: 1, workqueues: [{ name: "wq0", kind: "bound", maxActive: 1 }],
 *   items: [{ name: "w0", delayed: false }, { name: "w1", delayed: false }]
 * })
 * const s1 = WorkqueueModel.apply(s0, { _tag: "Queue", wq: "wq0", item: "w0" }).state
 * const s2 = WorkqueueModel.apply(s1, { _tag: "Queue", wq: "wq0", item: "w1" }).state
 * WorkqueueModel.itemPhase(s2, "w1").phase // => "queued-inactive"
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const itemPhase = (state: State, item: ItemId): ItemPhase => {
  const x = getItem(state, item)
  const running = state.instances.some((i) => i.item === item && isStarted(i))
  const queued = x.pending === null ? undefined : state.instances.find((i) => i.id === x.pending)
  const pending = x.timer !== null || queued !== undefined
  const phase: ItemPhase["phase"] = running
    ? pending
      ? "running+queued"
      : "running"
    : x.timer !== null
      ? "armed"
      : queued !== undefined
        ? queued.status === "Active"
          ? "queued-active"
          : "queued-inactive"
        : x.disableCount > 0
          ? "disabled"
          : "idle"
  return { phase, disableCount: x.disableCount }
}

/**
 * The number of active items (holding a `max_active` slot: on the worklist, running or finishing) of one pwq of a
 * bound workqueue, or of the whole workqueue for unbound and ordered ones (`cpu` ignored).
 *
 * **Kernel**: `pwq->nr_active` (bound), the node's `wq_node_nr_active` (unbound).
 *
 * **Example** (Nothing active)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const s0 = WorkqueueModel.initial({ cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: [] })
 * WorkqueueModel.nrActive(s0, "wq0", 0) // => 0
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const nrActive = (state: State, wq: WqId, cpu: number): number =>
  state.instances.filter((i) => inDomain(getWq(state, wq), i, cpu) && i.status !== "Inactive").length

/**
 * The running instances whose handlers stay blocked forever in a wait cycle, e.g. a handler of `wq0` flushing `wq1`
 * while one of `wq1` flushes `wq0`, or a handler flushing an item that waits for a `max_active` slot held by the
 * handler's own next instance: they never return, and neither does anything waiting for them. Found by winding the
 * system down from `state` as a harness would: thaw, release every latch, let every handler that can act return,
 * and take every allowed event, until nothing more can happen. Empty when everything winds down. `mustHappen`
 * (default: every event) keeps out allowed events that an implementation may never produce where the model leaves a
 * choice open (an unbound queue's floating slot may have gone to a head that then waits, see the checker), so a
 * state that *may* hang counts as hanging.
 *
 * **Kernel**: what lockdep reports (`check_flush_dependency()`, `__flush_work()`) while the tasks hang; neither the
 * kernel nor this library fails such a call (docs/KERNEL-MAPPING.md turns only self-deadlocks into `Deadlock`), so
 * the model blocks it too.
 *
 * **Example** (No cycle in a fresh state)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * WorkqueueModel.deadlocked(WorkqueueModel.initial({ cpus: 1, workqueues: [], items: [] })) // => []
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const deadlocked = (
  state: State,
  mustHappen: (state: State, event: Event) => boolean = () => true
): ReadonlyArray<InstanceId> => {
  let s = apply(state, { _tag: "Thaw" }).state
  for (let round = 0; round < 100_000; round++) {
    const latch = s.instances.find((i) => i.handler._tag === "Suspended")
    const busy = s.instances.find((i) => i.status === "Running" && i.handler._tag === "Busy")
    if (latch !== undefined && latch.handler._tag === "Suspended") {
      s = apply(s, { _tag: "Release", latch: latch.handler.latch }).state
    } else if (busy !== undefined) {
      s = apply(s, { _tag: "Finish", item: busy.item, outcome: "success" }).state
    } else {
      const event = allowedEvents(s).find((e) => mustHappen(s, e))
      if (event === undefined) break
      const next = observe(s, event)
      if (isDivergence(next)) break
      s = next
    }
  }
  return s.instances.filter((i) => i.status === "Running" && i.handler._tag === "Waiting").map((i) => i.id)
}

/**
 * Checks the model's own invariants and returns a description of each violation (empty when all hold):
 * `nr_active` within `max_active` per pwq, an ordered queue never runs two items, no stranded inactive item while a
 * slot is free, PENDING consistent with the instances, no item both idle and in flight, disabled ⇒ not pending, at
 * most one running instance per (item, pool).
 *
 * **Kernel**: the assertions scattered through kernel/workqueue.c (`WARN_ON_ONCE(pwq->nr_active > ...)`, …).
 *
 * **Example** (A fresh state is consistent)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * WorkqueueModel.invariantViolations(WorkqueueModel.initial({ cpus: 1, workqueues: [], items: [] })) // => []
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const invariantViolations = (state: State): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const wq of Object.values(state.workqueues)) {
    const cpus = wq.kind === "bound" ? range(state.config.cpus) : [0]
    for (const cpu of cpus) {
      const active = nrActive(state, wq.name, cpu) + (wq.kind === "unbound" ? wq.floating : 0)
      if (active > wq.maxActiveCeiling) out.push(`${wq.name}/${cpu}: nr_active ${active} > max_active`)
      const waiting =
        state.instances.filter((i) => inDomain(wq, i, cpu) && i.status === "Inactive").length -
        (wq.kind === "unbound" ? wq.floating : 0)
      if (waiting > 0 && active < effectiveMaxActive(state, wq)) {
        out.push(`${wq.name}/${cpu}: an inactive item waits while a slot is free`)
      }
    }
    if (wq.kind === "ordered") {
      const started = state.instances.filter((i) => i.wq === wq.name && i.status !== "Inactive")
      if (started.length > 1) out.push(`${wq.name}: ordered workqueue has ${started.length} active items`)
    }
    if (wq.floating < 0) out.push(`${wq.name}: negative floating slots`)
    if (wq.lifecycle === "Destroyed" && state.instances.some((i) => i.wq === wq.name)) {
      out.push(`${wq.name}: destroyed but has items in flight`)
    }
  }
  for (const x of Object.values(state.items)) {
    const queued = state.instances.filter(
      (i) => i.item === x.name && (i.status === "Inactive" || i.status === "Active")
    )
    if (queued.length > 1) out.push(`${x.name}: ${queued.length} queued instances`)
    if (x.pending === null && queued.length > 0) out.push(`${x.name}: queued but PENDING clear`)
    if (x.pending !== null && (queued.length !== 1 || queued[0]?.id !== x.pending)) {
      out.push(`${x.name}: PENDING names no queued instance`)
    }
    if (x.pending !== null && x.timer !== null) out.push(`${x.name}: both armed and queued`)
    if (x.disableCount > 0 && (x.pending !== null || x.timer !== null)) out.push(`${x.name}: disabled but pending`)
    const phase = itemPhase(state, x.name).phase
    const inFlight = state.instances.some((i) => i.item === x.name)
    if ((phase === "idle" || phase === "disabled") && (inFlight || x.timer !== null)) {
      out.push(`${x.name}: idle but in flight`)
    }
    const pools = state.instances
      .filter((i) => i.item === x.name && isStarted(i))
      .map((i) => poolOf(getWq(state, i.wq), i.cpu))
    if (new Set(pools).size !== pools.length) out.push(`${x.name}: two running instances in one pool`)
  }
  return out
}

// ---------------------------------------------------------------------------
// Operations: driving and printing
// ---------------------------------------------------------------------------

/**
 * One step of a {@link run}: the operation, its result, and the events accepted after it.
 *
 * **Kernel**: —
 *
 * **Example** (Reading a trace entry)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const results = (trace: ReadonlyArray<WorkqueueModel.TraceEntry>) => trace.map((e) => e.result._tag)
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export interface TraceEntry {
  readonly op: Op
  readonly result: Result
  readonly events: ReadonlyArray<Event>
  readonly state: State
}

/**
 * Picks the next event among the allowed ones (an index), or `-1` to stop settling and go on with the next operation.
 *
 * **Kernel**: the scheduler's freedom.
 *
 * **Example** (Always the first event)
 *
 * ```ts
 * import type { WorkqueueModel } from "@effect-workqueue/testing"
 * const first: WorkqueueModel.Chooser = () => 0
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export type Chooser = (events: ReadonlyArray<Event>, state: State) => number

/**
 * Runs a sequence of operations through the model alone. After each operation it lets the model take allowed events
 * chosen by `choose` (default: always the first) until none is left or `choose` returns `-1`.
 *
 * **Kernel**: —
 *
 * **Example** (Queue, start, finish)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * const { trace } = WorkqueueModel.run(
 *   { cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: [{ name: "w0", delayed: false }] },
 *   [{ _tag: "Queue", wq: "wq0", item: "w0" }, { _tag: "Finish", item: "w0", outcome: "success" }]
 * )
 * trace.map((entry) => entry.events.length) // => [1, 1]
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const run = (
  config: Config,
  ops: ReadonlyArray<Op>,
  choose: Chooser = () => 0
): { readonly state: State; readonly trace: ReadonlyArray<TraceEntry> } => {
  let state = initial(config)
  const trace: Array<TraceEntry> = []
  for (const op of ops) {
    const applied = apply(state, op)
    state = applied.state
    const events: Array<Event> = []
    for (;;) {
      const allowed = allowedEvents(state)
      if (allowed.length === 0) break
      const index = choose(allowed, state)
      const event = allowed[index]
      if (event === undefined) break
      const next = observe(state, event)
      if (isDivergence(next)) throw new Error(next.message)
      state = next
      events.push(event)
    }
    trace.push({ op, result: applied.result, events, state })
  }
  return { state, trace }
}

/**
 * A one-line, human-readable rendering of an operation, e.g. `queueOn(wq0, cpu1, w0)` or `w0> requeue()`.
 *
 * **Kernel**: named after the kernel calls.
 *
 * **Example** (Printing)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * WorkqueueModel.formatOp({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10 }) // => "queueDelayed(wq0, dw0, 10ms)"
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const formatOp = (op: Op): string =>
  "sameStep" in op && op.sameStep === true ? `+ ${formatOneOp(op)}` : formatOneOp(op)

const formatOneOp = (op: Op): string => {
  const by = (from: ItemId | undefined) => (from === undefined ? "" : `${from}> `)
  const on = (cpu: number | undefined) => (cpu === undefined ? "" : `cpu${cpu}, `)
  switch (op._tag) {
    case "Queue":
      return `${by(op.from)}queue${op.cpu === undefined ? "" : "On"}(${op.wq}, ${on(op.cpu)}${op.item})`
    case "QueueDelayed":
    case "ModDelayed": {
      const name = op._tag === "QueueDelayed" ? "queueDelayed" : "modDelayed"
      return `${by(op.from)}${name}${op.cpu === undefined ? "" : "On"}(${op.wq}, ${on(op.cpu)}${op.item}, ${op.delay}ms)`
    }
    case "Cancel":
    case "CancelSync":
    case "Disable":
    case "Enable":
    case "FlushWork":
    case "FlushDelayedWork":
      return `${by(op.from)}${lowerFirst(op._tag)}(${op.item})`
    case "FlushWorkqueue":
    case "Drain":
    case "Destroy":
      return `${by(op.from)}${lowerFirst(op._tag)}(${op.wq})`
    case "SetMaxActive":
      return `${by(op.from)}setMaxActive(${op.wq}, ${op.maxActive})`
    case "Freeze":
      return "freeze()"
    case "Thaw":
      return "thaw()"
    case "AdvanceClock":
      return `advance(${op.ms}ms)`
    case "Finish":
      return `${op.item}> ${op.outcome === "success" ? "finish" : op.outcome === "failure" ? "fail" : "die"}()`
    case "Suspend":
      return `${op.item}> await(latch${op.latch})`
    case "Release":
      return `release(latch${op.latch})`
    case "Requeue":
      return `${op.item}> requeue()`
  }
}

/**
 * A one-line rendering of an event, e.g. `start(w0 on wq0/cpu1)`.
 *
 * **Kernel**: after the `workqueue_execute_start` / `workqueue_execute_end` tracepoints.
 *
 * **Example** (Printing)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * WorkqueueModel.formatEvent({ _tag: "Return", waiter: 2, value: true }) // => "return#2(true)"
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const formatEvent = (event: Event): string => {
  switch (event._tag) {
    case "Start":
      return `start(${event.item} on ${event.wq}${event.cpu === null ? "" : `/cpu${event.cpu}`})`
    case "End":
      return `end(${event.item} on ${event.wq})`
    case "Return":
      return `return#${event.waiter}(${String(event.value)})`
  }
}

/**
 * A one-line rendering of a result: `true`, `false`, `void`, `Failed(Deadlock)`, `Blocked#3`, `Skipped`.
 *
 * **Kernel**: —
 *
 * **Example** (Printing)
 *
 * ```ts
 * import { WorkqueueModel } from "@effect-workqueue/testing"
 * WorkqueueModel.formatResult({ _tag: "Failed", reason: "Draining" }) // => "Failed(Draining)"
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const formatResult = (result: Result): string => {
  switch (result._tag) {
    case "Returned":
      return result.value === undefined ? "void" : String(result.value)
    case "Failed":
      return `Failed(${result.reason})`
    case "Blocked":
      return `Blocked#${result.waiter}`
    case "Skipped":
      return "Skipped"
  }
}

// ---------------------------------------------------------------------------
// Private: drafts and lookups
// ---------------------------------------------------------------------------

type Draft<T> =
  T extends ReadonlyArray<infer A> ? Array<Draft<A>> : T extends object ? { -readonly [K in keyof T]: Draft<T[K]> } : T

type S = Draft<State>
type W = Draft<WqState>
type I = Draft<Instance>
type X = Draft<ItemState>

// `apply` and `observe` work on a deep copy and never touch their input.
const draft = (state: State): S => structuredClone(state) as S

const getWq = <St extends State | S>(s: St, name: WqId): St["workqueues"][string] => {
  const wq = s.workqueues[name]
  if (wq === undefined) throw new Error(`unknown workqueue "${name}"`)
  return wq as St["workqueues"][string]
}

const getItem = <St extends State | S>(s: St, name: ItemId): St["items"][string] => {
  const item = s.items[name]
  if (item === undefined) throw new Error(`unknown work item "${name}"`)
  return item as St["items"][string]
}

const range = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i)
const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1)
const clampMaxActive = (n: number) => Math.min(WQ_MAX_ACTIVE, Math.max(1, Math.trunc(n)))

const isStarted = (i: Instance | I) => i.status === "Running" || i.status === "Finishing"
const isLive = (s: State | S, id: InstanceId) => s.instances.some((i) => i.id === id)

const sameEvent = (a: Event, b: Event): boolean => {
  switch (a._tag) {
    case "Start":
      return b._tag === "Start" && a.item === b.item && a.wq === b.wq && a.cpu === b.cpu
    case "End":
      return b._tag === "End" && a.item === b.item && a.wq === b.wq
    case "Return":
      return b._tag === "Return" && a.waiter === b.waiter && a.value === b.value
  }
}

// ---------------------------------------------------------------------------
// Private: policy predicates (pwqs, pools, slots)
// ---------------------------------------------------------------------------

// The pwq slot an item queued for `cpu` lands on: ordered queues have one pwq (slot 0).
const pwqCpu = (wq: WqState | W, cpu: number) => (wq.kind === "ordered" ? 0 : cpu)

// Pools, for non-reentrance (__queue_work(), find_worker_executing_work()): per-CPU normal/highpri pools are shared by
// every bound workqueue. Unbound
// pools are shared by attribute equality (wq.c:get_unbound_pool(), wqattrs_equal(): nice, cpumask, pod, strict),
// and ordered queues are unbound queues too (alloc_ordered_workqueue() = WQ_UNBOUND | __WQ_ORDERED), so
// every unbound and ordered queue of one nice level with the default cpumask shares one pool (one pod: the model has
// no affinity scopes). The same item running there serialises a second instance from another such queue
// (assign_work()'s dispatch collision) instead of overlapping.
const poolOf = (wq: WqState | W, cpu: number): string =>
  wq.kind === "bound" ? `cpu${cpu}${wq.highpri ? "H" : ""}` : `unbound${wq.highpri ? "H" : ""}`

// The max_active domain: a pwq for bound queues (per-CPU limit), the whole queue for unbound (one node) and ordered.
const inDomain = (wq: WqState | W, i: Instance | I, cpu: number) =>
  i.wq === wq.name && (wq.kind !== "bound" || i.cpu === cpu)

// Frozen freezable queues activate nothing (freeze_workqueues_begin(), wq_adjust_max_active()).
const effectiveMaxActive = (s: State | S, wq: WqState | W) => (s.freezing && wq.freezable ? 0 : wq.maxActive)

const slotsUsed = (s: State | S, wq: WqState | W, cpu: number) =>
  s.instances.filter((i) => inDomain(wq, i, cpu) && i.status !== "Inactive").length +
  (wq.kind === "unbound" ? wq.floating : 0)

// FIFO inactive list of one pwq.
const inactiveOf = <St extends State | S>(s: St, wq: WqState | W, cpu: number): Array<St["instances"][number]> =>
  (s.instances as ReadonlyArray<St["instances"][number]>).filter(
    (i) => i.wq === wq.name && i.cpu === cpu && i.status === "Inactive"
  )

// Instances that a worker may pick up now: active ones, and for unbound queues with a floating slot the head of any
// waiting pwq; never while the same item runs in the same pool (non-reentrance: assign_work() hands it to the
// worker that runs it).
const startable = <St extends State | S>(s: St): Array<St["instances"][number]> => {
  const out: Array<St["instances"][number]> = []
  for (const i of s.instances as ReadonlyArray<St["instances"][number]>) {
    const wq = getWq(s, i.wq)
    let candidate = i.status === "Active"
    if (i.status === "Inactive" && wq.kind === "unbound" && wq.floating > 0) {
      // The head of a waiting pwq may take a floating slot; so may the next one when every item ahead of it is blocked
      // by its own running instance, since such a head may already have taken a floating slot and be parked behind
      // that instance (node_activate_pending_pwq() activates it; assign_work() moves it to the running worker).
      const list = inactiveOf(s, wq, i.cpu)
      const index = list.findIndex((x) => x.id === i.id)
      candidate = index >= 0 && index < wq.floating && list.slice(0, index).every((x) => collides(s, x))
    }
    if (candidate && !collides(s, i)) out.push(i)
  }
  return out
}

// Is the same item running in the pool this instance would run in? (non-reentrance, find_worker_executing_work())
const collides = (s: State | S, i: Instance | I): boolean => {
  const pool = poolOf(getWq(s, i.wq), i.cpu)
  return s.instances.some((r) => r.item === i.item && isStarted(r) && poolOf(getWq(s, r.wq), r.cpu) === pool)
}

// ---------------------------------------------------------------------------
// Private: activation (pwq_tryinc_nr_active(), pwq_activate_first_inactive(), workqueue_set_max_active(),
// wq_adjust_max_active())
// ---------------------------------------------------------------------------

// Activate inactive items while slots are free. Bound: FIFO per pwq. Unbound: when only one pwq waits, its head gets
// the slot; when several wait, the slot "floats" until a Start reveals which head the implementation activated.
const pwqActivate = (s: S, wq: W): void => {
  if (wq.kind === "bound") {
    for (const cpu of range(s.config.cpus)) {
      for (;;) {
        const head = inactiveOf(s, wq, cpu)[0]
        if (head === undefined || slotsUsed(s, wq, cpu) >= effectiveMaxActive(s, wq)) break
        head.status = "Active"
      }
    }
    return
  }
  const waiting = s.instances.filter((i) => i.wq === wq.name && i.status === "Inactive")
  const cpus = [...new Set(waiting.map((i) => i.cpu))]
  if (cpus.length === 0) {
    wq.floating = 0
    return
  }
  const free = Math.max(0, effectiveMaxActive(s, wq) - slotsUsed(s, wq, 0))
  if (cpus.length === 1) {
    // Only one pwq waits: every floating slot and every free slot went (or goes) to its head, in FIFO order.
    let n = wq.floating + free
    wq.floating = 0
    for (const head of waiting) {
      if (n === 0) break
      head.status = "Active"
      n -= 1
    }
    return
  }
  wq.floating = Math.min(waiting.length, wq.floating + free)
}

// ---------------------------------------------------------------------------
// Private: queueing (queue_work_on(), __queue_work(), __queue_delayed_work(), mod_delayed_work_on())
// ---------------------------------------------------------------------------

// The caller of an op: the oldest busy running instance of `from`, `null` from outside, "skip" if that handler
// cannot act now.
const resolveCaller = (s: S, from: ItemId | undefined): I | null | "skip" => {
  if (from === undefined) return null
  getItem(s, from)
  const busy = s.instances
    .filter((i) => i.item === from && i.status === "Running" && i.handler._tag === "Busy")
    .sort((a, b) => a.startSeq - b.startSeq)[0]
  return busy ?? "skip"
}

// raw_smp_processor_id(): the handler's pwq CPU inside a handler, 0 elsewhere.
const resolveCpu = (s: S, cpu: number | undefined, caller: I | null): number | "invalid" => {
  if (cpu === undefined) return caller === null ? 0 : caller.cpu
  return Number.isInteger(cpu) && cpu >= 0 && cpu < s.config.cpus ? cpu : "invalid"
}

// __queue_work()'s draining check with this library's deliberate difference (docs/KERNEL-MAPPING.md): fail instead of
// "true but dropped". Chained = the caller is a
// handler of this same workqueue.
const rejection = (wq: W, caller: I | null): ErrorReason | null => {
  if (wq.lifecycle === "Destroyed") return "Destroyed"
  const chained = caller !== null && caller.wq === wq.name
  if (!chained && (wq.lifecycle === "Destroying" || wq.drainers > 0)) return "Draining"
  return null
}

// The part of __queue_work() after PENDING was won: pick the pwq (non-reentrance redirect), colour, activate or
// park on the inactive list.
const insertWork = (s: S, wq: W, x: X, cpu: number): void => {
  let slot = pwqCpu(wq, cpu)
  // Non-reentrance redirect (__queue_work(), find_worker_executing_work()): only the item's *last pool* (where it
  // last started, recorded by process_one_work()) is
  // looked at; if a worker there still runs it for this same wq, queue where it runs. An instance still running in
  // another pool (the item was also queued on another workqueue) does not redirect, so the two
  // executions may overlap.
  const runningHere = s.instances.find(
    (i) => i.item === x.name && isStarted(i) && poolOf(getWq(s, i.wq), i.cpu) === x.lastPool
  )
  if (runningHere !== undefined && runningHere.wq === wq.name) slot = runningHere.cpu
  const active = inactiveOf(s, wq, slot).length === 0 && slotsUsed(s, wq, slot) < effectiveMaxActive(s, wq)
  const id = ++s.seq
  s.instances.push({
    id,
    item: x.name,
    wq: wq.name,
    cpu: slot,
    status: active ? "Active" : "Inactive",
    handler: { _tag: "Busy" },
    startSeq: 0,
    outcome: null
  })
  x.pending = id
}

const armTimer = (s: S, wq: W, x: X, cpu: number, delay: number): void => {
  x.timer = { wq: wq.name, cpu, expiry: s.now + delay, armSeq: ++s.seq }
}

// delayed_work_timer_fn(): queue on dwork->wq/cpu at expiry. Timers into a draining queue are accepted
// (docs/KERNEL-MAPPING.md): they
// were armed before the drain began or by a chained call. A destroyed queue has no armed timers left (destroy fires
// them and refuses new ones, see armRejection); the check is defensive.
const fireTimer = (s: S, x: X): void => {
  const timer = x.timer
  if (timer === null) return
  x.timer = null
  const wq = getWq(s, timer.wq)
  if (wq.lifecycle !== "Destroyed") insertWork(s, wq, x, timer.cpu)
}

// try_to_grab_pending(): steal PENDING from an armed timer or a queued instance. Returns whether it was pending.
const grabPending = (s: S, x: X): boolean => {
  if (x.timer !== null) {
    x.timer = null
    return true
  }
  if (x.pending !== null) {
    const id = x.pending
    const instance = s.instances.find((i) => i.id === id)!
    const wq = getWq(s, instance.wq)
    if (instance.status === "Inactive" && wq.kind === "unbound" && wq.floating > 0) {
      // An inactive item blocked by its running instance, at the front of its pwq, may be holding a floating slot
      // (see startable): removing it gives that slot back, to be re-granted under the current max_active.
      const list = inactiveOf(s, wq, instance.cpu)
      const index = list.findIndex((i) => i.id === id)
      if (index < wq.floating && list.slice(0, index + 1).every((i) => collides(s, i))) wq.floating -= 1
    }
    s.instances = s.instances.filter((i) => i.id !== id)
    x.pending = null
    pwqActivate(s, wq) // an active one gives its slot back
    return true
  }
  return false
}

// ---------------------------------------------------------------------------
// Private: waiting and deadlocks (__flush_work(), __flush_workqueue(), __cancel_work_sync(), lockdep)
// ---------------------------------------------------------------------------

const addWaiter = (
  s: S,
  caller: I | null,
  fields: Pick<Waiter, "call" | "item" | "wq" | "targets" | "value">
): Result => {
  const id = ++s.seq
  s.waiters.push({
    id,
    caller: caller === null ? null : caller.id,
    ready: false,
    ...fields,
    targets: [...fields.targets]
  })
  if (caller !== null) caller.handler = { _tag: "Waiting", waiter: id }
  return { _tag: "Blocked", waiter: id }
}

const waiterReady = (s: S, w: Draft<Waiter>): boolean => {
  switch (w.call) {
    case "Drain":
    case "Destroy":
      return !s.instances.some((i) => i.wq === w.wq)
    case "Freeze":
      return (
        !s.freezing ||
        Object.values(s.workqueues).every(
          (wq) =>
            !wq.freezable ||
            (wq.floating === 0 && !s.instances.some((i) => i.wq === wq.name && i.status !== "Inactive"))
        )
      )
    default:
      return w.targets.every((id) => !isLive(s, id))
  }
}

// Once a waiter's condition holds it stays ready: the implementation has woken the caller.
const settleWaiters = (s: S): void => {
  for (const w of s.waiters) if (!w.ready && waiterReady(s, w)) w.ready = true
}

// Deadlocks. In the kernel lockdep *reports* a wait-for cycle and the tasks hang. docs/KERNEL-MAPPING.md
// (deliberate differences) turns only the self-deadlocks into `Deadlock` errors: a handler flushing, draining or
// destroying its own workqueue, an item flushing or cancel-syncing itself, an ordered queue waiting on itself (the
// engine: also a max_active 1 queue, see selfFlushDeadlock). Those fail here, with the engine's exact conditions; a
// wait cycle between different handlers is not detected: every call in it blocks forever, nothing else happens for
// those handlers, as in the kernel and the engine (see `deadlocked`).

// flush_work() from a handler on an item pending on the caller's own pwq of an ordered or max_active 1 workqueue:
// the item cannot start before the caller returns, so the caller would wait for itself (docs/KERNEL-MAPPING.md: "an
// ordered queue waiting on itself"). The engine's test (flush_work): the item is queued inactive (not merely armed, not
// already holding a slot) on the caller's pwq —
// one pwq per CPU for bound queues, one for unbound and ordered ones — and the caller's queue is ordered or its
// current max_active is 1 (a frozen freezable queue's is 0, wq_adjust_max_active()).
const selfFlushDeadlock = (s: S, caller: I | null, x: X): boolean => {
  if (caller === null || x.pending === null) return false
  const id = x.pending
  const pending = s.instances.find((i) => i.id === id)
  if (pending === undefined) return false
  const wq = getWq(s, caller.wq)
  // only an item still waiting for a slot (inactive) waits for the caller; one already active runs on another worker
  return (
    pending.status === "Inactive" &&
    inDomain(wq, pending, caller.cpu) &&
    (wq.kind === "ordered" || effectiveMaxActive(s, wq) === 1)
  )
}

// flush_work(): wait for the pending instance if queued, else the one running in the item's last pool
// (start_flush_work() looks only there); armed-only or idle ⇒ false at once. An older
// instance still running in another pool (the item was also queued on another workqueue) is not
// waited for.
const flushTargets = (s: S, x: X): Array<InstanceId> => {
  if (x.pending !== null) return [x.pending]
  const last = s.instances.find(
    (i) => i.item === x.name && isStarted(i) && poolOf(getWq(s, i.wq), i.cpu) === x.lastPool
  )
  return last === undefined ? [] : [last.id]
}

// ---------------------------------------------------------------------------
// Private: the operations
// ---------------------------------------------------------------------------

const returned = (value: boolean | undefined): Result => ({ _tag: "Returned", value })
const failed = (reason: ErrorReason): Result => ({ _tag: "Failed", reason })
const skipped = (why: string): Result => ({ _tag: "Skipped", why })

const step = (s: S, op: Op): Result => {
  switch (op._tag) {
    case "Queue":
    case "QueueDelayed":
    case "ModDelayed": {
      const caller = resolveCaller(s, op.from)
      if (caller === "skip") return skipped(`${String(op.from)} is not running`)
      return queueFamily(s, op, caller)
    }
    case "Requeue": {
      const caller = resolveCaller(s, op.item)
      if (caller === "skip" || caller === null) return skipped(`${op.item} is not running`)
      return queueFamily(s, { _tag: "Queue", wq: caller.wq, item: op.item }, caller)
    }
    case "Cancel":
    case "Disable":
    case "Enable": {
      if (resolveCaller(s, op.from) === "skip") return skipped(`${String(op.from)} is not running`)
      const x = getItem(s, op.item)
      if (op._tag === "Enable") {
        if (x.disableCount === 0) return returned(true) // WARN "work disable count underflowed"
        // the counts the cancel_syncs waiting on it hold are theirs: an enable that would take one WARNs and is
        // ignored (the kernel underflows later, at the cancel's own enable_work(); see Work.enable)
        const held = s.waiters.filter((w) => w.call === "CancelSync" && w.item === x.name).length
        if (x.disableCount <= held) return returned(false)
        x.disableCount -= 1
        return returned(x.disableCount === 0)
      }
      if (op._tag === "Disable" && x.disableCount < 65535) x.disableCount += 1
      return returned(grabPending(s, x))
    }
    case "CancelSync": {
      const caller = resolveCaller(s, op.from)
      if (caller === "skip") return skipped(`${String(op.from)} is not running`)
      const x = getItem(s, op.item)
      if (caller !== null && caller.item === x.name) return failed("Deadlock") // cancel-syncing itself
      const targets = s.instances.filter((i) => i.item === x.name && isStarted(i)).map((i) => i.id)
      const wasPending = grabPending(s, x)
      if (targets.length === 0) return returned(wasPending)
      x.disableCount += 1 // blocks every queueing attempt, the handler's own included, until the Return
      return addWaiter(s, caller, { call: "CancelSync", item: x.name, wq: null, targets, value: wasPending })
    }
    case "FlushWork":
    case "FlushDelayedWork": {
      const caller = resolveCaller(s, op.from)
      if (caller === "skip") return skipped(`${String(op.from)} is not running`)
      const x = getItem(s, op.item)
      if (op._tag === "FlushDelayedWork" && !x.delayed) return skipped(`${x.name} is not a delayed work`)
      // flush_delayed_work(): an armed timer fires now, before flush_work() and its self-deadlock checks
      if (op._tag === "FlushDelayedWork") fireTimer(s, x)
      if (caller !== null && caller.item === x.name) return failed("Deadlock") // flushing itself
      if (selfFlushDeadlock(s, caller, x)) return failed("Deadlock") // queued behind the caller on its own pwq
      const targets = flushTargets(s, x)
      if (targets.length === 0) return returned(false)
      return addWaiter(s, caller, { call: op._tag, item: x.name, wq: null, targets, value: true })
    }
    case "FlushWorkqueue":
    case "Drain":
    case "Destroy": {
      const caller = resolveCaller(s, op.from)
      if (caller === "skip") return skipped(`${String(op.from)} is not running`)
      const wq = getWq(s, op.wq)
      if (wq.lifecycle === "Destroyed") return op._tag === "Destroy" ? returned(undefined) : failed("Destroyed")
      if (caller !== null && caller.wq === wq.name) return failed("Deadlock") // its own workqueue
      if (op._tag === "Destroy") {
        wq.lifecycle = "Destroying"
        const armed = Object.values(s.items)
          .filter((x) => x.timer !== null && x.timer.wq === wq.name)
          .sort((a, b) => a.timer!.expiry - b.timer!.expiry || a.timer!.armSeq - b.timer!.armSeq)
        // docs/KERNEL-MAPPING.md: destroy fires armed timers at once. In expiry order (same expiry: arming order), as
        // if the clock had
        // reached each expiry (delayed_work_timer_fn(), the order AdvanceClock uses); the order decides which of them
        // get max_active slots first.
        for (const x of armed) fireTimer(s, x)
      }
      const targets = s.instances.filter((i) => i.wq === wq.name).map((i) => i.id)
      if (targets.length === 0) {
        if (op._tag === "Destroy") wq.lifecycle = "Destroyed"
        return returned(undefined)
      }
      if (op._tag === "Drain") wq.drainers += 1
      return addWaiter(s, caller, { call: op._tag, item: null, wq: wq.name, targets, value: undefined })
    }
    case "SetMaxActive": {
      if (resolveCaller(s, op.from) === "skip") return skipped(`${String(op.from)} is not running`)
      const wq = getWq(s, op.wq)
      // After destroy the kernel call would be a use-after-free (destroy_workqueue() frees it); the port fails
      // with `Destroyed` instead, as every other call on a destroyed workqueue does
      if (wq.lifecycle === "Destroyed") return failed("Destroyed")
      if (wq.kind === "ordered") return returned(undefined) // WARN, no change
      wq.maxActive = clampMaxActive(op.maxActive) // 0 is out of range here: becomes 1
      wq.maxActiveCeiling = Math.max(wq.maxActiveCeiling, wq.maxActive)
      pwqActivate(s, wq)
      return returned(undefined)
    }
    case "Freeze": {
      s.freezing = true
      const waiter: Draft<Waiter> = {
        id: 0,
        call: "Freeze",
        caller: null,
        item: null,
        wq: null,
        targets: [],
        value: undefined,
        ready: false
      }
      if (waiterReady(s, waiter)) return returned(undefined)
      return addWaiter(s, null, { call: "Freeze", item: null, wq: null, targets: [], value: undefined })
    }
    case "Thaw": {
      if (!s.freezing) return returned(undefined)
      s.freezing = false
      for (const wq of Object.values(s.workqueues)) if (wq.freezable) pwqActivate(s, wq)
      return returned(undefined)
    }
    case "AdvanceClock": {
      const target = s.now + Math.max(0, op.ms)
      for (;;) {
        const next = Object.values(s.items)
          .filter((x) => x.timer !== null && x.timer.expiry <= target)
          .sort((a, b) => a.timer!.expiry - b.timer!.expiry || a.timer!.armSeq - b.timer!.armSeq)[0]
        if (next === undefined) break
        s.now = next.timer!.expiry // fires exactly at arm time + delay
        fireTimer(s, next)
      }
      s.now = target
      return returned(undefined)
    }
    case "Finish": {
      const instance = resolveCaller(s, op.item)
      if (instance === "skip" || instance === null) return skipped(`${op.item} is not running`)
      instance.status = "Finishing"
      instance.outcome = op.outcome
      return returned(undefined)
    }
    case "Suspend": {
      const instance = resolveCaller(s, op.item)
      if (instance === "skip" || instance === null) return skipped(`${op.item} is not running`)
      instance.handler = { _tag: "Suspended", latch: op.latch }
      return returned(undefined)
    }
    case "Release": {
      for (const i of s.instances) {
        if (i.handler._tag === "Suspended" && i.handler.latch === op.latch) i.handler = { _tag: "Busy" }
      }
      return returned(undefined)
    }
  }
}

// queue_work_on(), queue_delayed_work_on(), mod_delayed_work_on(): one core, as in the kernel.
const queueFamily = (
  s: S,
  op: Extract<Op, { _tag: "Queue" | "QueueDelayed" | "ModDelayed" }>,
  caller: I | null
): Result => {
  const wq = getWq(s, op.wq)
  const x = getItem(s, op.item)
  const cpu = resolveCpu(s, op.cpu, caller)
  if (cpu === "invalid") return failed("InvalidCpu")
  if (op._tag !== "Queue" && !x.delayed) return skipped(`${x.name} is not a delayed work`)
  const delay = op._tag === "Queue" ? 0 : Math.max(0, Math.trunc(op.delay))
  if (op._tag === "ModDelayed") {
    if (x.disableCount > 0) return returned(false) // disabled: nothing happens (it cannot be pending)
    // Checked before the grab: a refused modDelayed leaves the pending item where it was.
    const reason = rejection(wq, caller) ?? armRejection(wq, delay)
    if (reason !== null) return failed(reason)
    const wasPending = grabPending(s, x)
    if (delay === 0) insertWork(s, wq, x, cpu)
    else armTimer(s, wq, x, cpu, delay)
    return returned(wasPending)
  }
  if (x.timer !== null || x.pending !== null) return returned(false) // PENDING test-and-set lost: change nothing
  if (x.disableCount > 0) return returned(false)
  const reason = rejection(wq, caller) ?? armRejection(wq, delay)
  if (reason !== null) return failed(reason)
  if (delay === 0) insertWork(s, wq, x, cpu)
  else armTimer(s, wq, x, cpu, delay)
  return returned(true)
}

// Arming a timer (delay > 0) follows the queueing rule of `rejection`: during a drain only the workqueue's own
// handlers may arm one (docs/KERNEL-MAPPING.md, deliberate differences: a timer that fires during a drain is
// accepted *because it was accepted before the drain began*, or by a chained call; arming from outside is queueing
// from outside). While the workqueue is being destroyed even its own handlers may not arm one: destroy fires the
// armed timers once and then drains, so a timer armed after that would fire on a destroyed queue
// (destroy_workqueue() does not cancel armed delayed work: the use-after-free; here the handler never runs on a
// destroyed queue). Delay 0 is ordinary (chained) queueing and stays allowed.
const armRejection = (wq: W, delay: number): ErrorReason | null =>
  delay > 0 && wq.lifecycle === "Destroying" ? "Draining" : null
