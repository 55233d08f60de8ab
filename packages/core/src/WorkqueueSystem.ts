/**
 * The "kernel": virtual CPUs, worker pools, the timer structure and the system workqueues, as one service.
 *
 * `WorkqueueSystem.layer()` boots it; closing the layer flushes and destroys every workqueue it still owns
 * (system ones included), then ends every worker fiber and the timer fiber, so a Node process exits by itself.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as DelayedWork from "./DelayedWork.ts"
import * as Engine from "./internal/engine.ts"
import type { Pool, Pwq, WorkqueueState, WorkState } from "./internal/state.ts"
import type * as Work from "./Work.ts"
import { systemOf, withSystem } from "./internal/service.ts"
import * as WorkqueueInternal from "./internal/workqueue.ts"
import type * as Workqueue from "./Workqueue.ts"
import type * as WorkqueueError from "./WorkqueueError.ts"
import type * as WorkqueueMetrics from "./WorkqueueMetrics.ts"

/** The default CPU clock, `performance.now` bound once. */
const performanceNow: () => number = performance.now.bind(performance)

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * The system workqueues (`system_*_wq`, kernel/workqueue.c `workqueue_init_early()`).
 *
 * @category models
 * @since 0.1.0
 */
export interface SystemWorkqueues {
  /** `system_wq` "events": per-CPU, max_active 1024; what `schedule*` uses. */
  readonly systemWq: Workqueue.Workqueue
  /** `system_highpri_wq` "events_highpri" */
  readonly systemHighpriWq: Workqueue.Workqueue
  /** `system_long_wq` "events_long" */
  readonly systemLongWq: Workqueue.Workqueue
  /** `system_unbound_wq` "events_unbound": unbound, max_active 2048 */
  readonly systemUnboundWq: Workqueue.Workqueue
  /** `system_freezable_wq` "events_freezable" */
  readonly systemFreezableWq: Workqueue.Workqueue
  /** `system_power_efficient_wq` "events_power_efficient" */
  readonly systemPowerEfficientWq: Workqueue.Workqueue
  /** `system_freezable_power_efficient_wq` "events_freezable_pwr_efficient" */
  readonly systemFreezablePowerEfficientWq: Workqueue.Workqueue
  /** `system_bh_wq` "events_bh" */
  readonly systemBhWq: Workqueue.Workqueue
  /** `system_bh_highpri_wq` "events_bh_highpri" */
  readonly systemBhHighpriWq: Workqueue.Workqueue
}

/**
 * The service: the engine state plus the system workqueues.
 *
 * @category services
 * @since 0.1.0
 */
export class WorkqueueSystem extends Context.Service<
  WorkqueueSystem,
  SystemWorkqueues & {
    readonly cpus: number
  }
>()("effect-workqueue/WorkqueueSystem") {}

/**
 * Options of `WorkqueueSystem.layer`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Virtual CPUs (default 4; the Node platform layer uses the machine's count). */
  readonly cpus?: number | undefined
  /** Workers a pool may create (default unlimited). A pool at its cap calls the rescuers of its workqueues. */
  readonly maxWorkersPerPool?: number | undefined
  /** Idle worker culling timeout in ms (default 300 000, `IDLE_WORKER_TIMEOUT`). */
  readonly idleTimeout?: number | undefined
  /** Time slice of `WQ_CPU_INTENSIVE` handlers in ms (default 2). */
  readonly cpuIntensiveSliceMs?: number | undefined
  /** Power-efficient mode: `WQ_POWER_EFFICIENT` workqueues become unbound (`workqueue.power_efficient`). */
  readonly powerEfficient?: boolean | undefined
  /** Lockup watchdog threshold in ms on the Clock (`workqueue.watchdog_thresh`, default 30 000; 0 disables). */
  readonly watchdogThresh?: number | undefined
  /** CPU-hog threshold in ms (`workqueue.cpu_intensive_thresh_us`, default 10; 0 disables). */
  readonly cpuIntensiveThresh?: number | undefined
  /** Hog reports start at this count (`workqueue.cpu_intensive_warning_thresh`, default 4). */
  readonly cpuIntensiveWarningThresh?: number | undefined
  /**
   * Clock measuring handler CPU time (default `performance.now`); tests inject a fake one. One that throws or
   * returns a non-finite number is replaced by `performance.now` from then on (logged once, counted in
   * `snapshot`'s `hookErrors`).
   */
  readonly cpuClock?: (() => number) | undefined
  /**
   * The tracepoint sink: `workqueue_queue_work`, `workqueue_activate_work`, `workqueue_execute_start`,
   * `workqueue_execute_end` with the kernel's fields (see `WorkqueueMetrics.Tracepoint`). Unset: one check per
   * event. Called inside the engine's synchronous steps: record, don't block. A sink that throws never breaks a
   * step: the throw is caught, the event dropped, the first throw per event kind logged (naming the event and the
   * workqueue) and every throw counted in `snapshot`'s `hookErrors`. Each event comes where the engine's state is
   * consistent, so the sink may call back in (`Work.cancelUnsafe`, `Workqueue.queueUnsafe`,
   * `Workqueue.modDelayedUnsafe`, `Job.submitUnsafe`): the call acts as if made right after the event, and the
   * events it causes reach the sink before it returns (see `WorkqueueMetrics.Tracepoint`).
   */
  readonly tracepoint?: ((tp: WorkqueueMetrics.Tracepoint) => void) | undefined
  /** Run each handler in a root span named after its work item, with workqueue/worker/cpu/pool attributes. */
  readonly spans?: boolean | undefined
}

// ---------------------------------------------------------------------------
// layers
// ---------------------------------------------------------------------------

const make = (options?: Options) =>
  Effect.gen(function* () {
    const ctx = yield* Effect.context<never>()
    const cpus = options?.cpus ?? 4
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > 1024) {
      return yield* Effect.die(
        new RangeError(`WorkqueueSystem.layer: cpus must be an integer in 1..1024, got ${Engine.show(cpus)}`)
      )
    }
    const bad = badOption(options)
    if (bad !== undefined) return yield* Effect.die(new RangeError(`WorkqueueSystem.layer: ${bad}`))
    const system = Engine.makeSystem(ctx, {
      cpus,
      maxWorkersPerPool: options?.maxWorkersPerPool ?? Infinity,
      idleTimeout: options?.idleTimeout ?? Engine.IDLE_WORKER_TIMEOUT,
      cpuIntensiveSliceMs: options?.cpuIntensiveSliceMs ?? 2,
      powerEfficient: options?.powerEfficient ?? false,
      watchdogThresh: options?.watchdogThresh ?? 30_000,
      cpuIntensiveThresh: options?.cpuIntensiveThresh ?? 10,
      cpuIntensiveWarningThresh: options?.cpuIntensiveWarningThresh ?? 4,
      cpuClock: options?.cpuClock ?? performanceNow, // read per item end and per slice: no wrapper closure
      tracepoint: options?.tracepoint as ((tp: WorkqueueMetrics.Tracepoint<WorkState>) => void) | undefined, // the items are the public Work values
      spans: options?.spans ?? false
    })
    system.timerFiber.start(system.baseCtx)
    system.startWatchdog()
    yield* Effect.addFinalizer(() => Engine.closeSystem(system))
    const alloc = (name: string, flags: number, maxActive = 0): Workqueue.Workqueue => {
      const wq = WorkqueueInternal.allocUnsafe(system, name, flags, maxActive)
      if (!WorkqueueInternal.isWorkqueue(wq)) throw wq
      WorkqueueInternal.toState(wq).isSystem = true
      return wq
    }
    return WorkqueueSystem.of(
      withSystem(
        {
          cpus,
          systemWq: alloc("events", Engine.WQ_PERCPU),
          systemHighpriWq: alloc("events_highpri", Engine.WQ_PERCPU | Engine.WQ_HIGHPRI),
          systemLongWq: alloc("events_long", Engine.WQ_PERCPU),
          systemUnboundWq: alloc("events_unbound", Engine.WQ_UNBOUND, Engine.WQ_MAX_ACTIVE),
          systemFreezableWq: alloc("events_freezable", Engine.WQ_PERCPU | Engine.WQ_FREEZABLE),
          systemPowerEfficientWq: alloc("events_power_efficient", Engine.WQ_POWER_EFFICIENT),
          systemFreezablePowerEfficientWq: alloc(
            "events_freezable_pwr_efficient",
            Engine.WQ_FREEZABLE | Engine.WQ_POWER_EFFICIENT
          ),
          systemBhWq: alloc("events_bh", Engine.WQ_BH),
          systemBhHighpriWq: alloc("events_bh_highpri", Engine.WQ_BH | Engine.WQ_HIGHPRI)
        },
        system
      )
    )
  })

/** The rule each option breaks, if any (a layer has no error channel here: a bad option is a defect). */
const badOption = (options: Options | undefined): string | undefined => {
  if (options === undefined || options === null) return undefined
  const o = options as Record<keyof Options, unknown>
  const number = (key: keyof Options, ok: (n: number) => boolean, rule: string): string | undefined => {
    const v = o[key]
    return v === undefined || (typeof v === "number" && ok(v))
      ? undefined
      : `${key} must be ${rule}, got ${Engine.show(v)}`
  }
  const kind = (key: keyof Options, type: string): string | undefined =>
    o[key] === undefined || typeof o[key] === type ? undefined : `${key} must be a ${type}, got ${Engine.show(o[key])}`
  return (
    number(
      "maxWorkersPerPool",
      (n) => n === Infinity || (Number.isInteger(n) && n >= 1),
      "an integer >= 1 or Infinity"
    ) ??
    number("idleTimeout", (n) => Number.isFinite(n) && n >= 0, "a finite number of ms >= 0") ??
    number("cpuIntensiveSliceMs", (n) => Number.isFinite(n) && n > 0, "a finite number of ms > 0") ??
    number("watchdogThresh", (n) => Number.isFinite(n) && n >= 0, "a finite number of ms >= 0 (0 disables)") ??
    number("cpuIntensiveThresh", (n) => Number.isFinite(n) && n >= 0, "a finite number of ms >= 0 (0 disables)") ??
    number("cpuIntensiveWarningThresh", (n) => Number.isInteger(n) && n >= 1, "an integer >= 1") ??
    kind("powerEfficient", "boolean") ??
    kind("spans", "boolean") ??
    kind("cpuClock", "function") ??
    kind("tracepoint", "function")
  )
}

/**
 * Boot the workqueue system: `cpus` virtual CPUs, each with a normal and a highpri bound pool and two BH
 * pools; unbound pools on demand; one timer structure; the system workqueues.
 *
 * **Details**: closing the layer flushes and destroys every workqueue it still owns, system ones included,
 * then ends its workers and its timer fiber; from the moment it begins to close, `Workqueue.make` fails with
 * `reason: "SystemClosed"`. An option outside its range (`cpus` an integer in 1..1024, times finite and >= 0,
 * counts integers >= 1) is a defect (`RangeError`) naming the option and the rule. Build it where the `Clock` and `Scheduler` you want are in force:
 * under `TestClock` every delayed item fires at exact virtual times.
 *
 * **Kernel**: `workqueue_init_early()` + `workqueue_init()`, kernel/workqueue.c.
 *
 * **Example** (Boot with 2 CPUs)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.map(WorkqueueSystem.WorkqueueSystem, (s) => s.cpus)
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer({ cpus: 2 })))) // => 2
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<WorkqueueSystem> => Layer.effect(WorkqueueSystem, make(options))

// ---------------------------------------------------------------------------
// system workqueues
// ---------------------------------------------------------------------------

/**
 * `system_wq` ("events", per-CPU, max_active 1024).
 * @category services
 * @since 0.1.0
 */
export const systemWq: Effect.Effect<Workqueue.Workqueue, never, WorkqueueSystem> = Effect.map(
  WorkqueueSystem,
  (s) => s.systemWq
)
/**
 * `system_highpri_wq` ("events_highpri").
 * @category services
 * @since 0.1.0
 */
export const systemHighpriWq = Effect.map(WorkqueueSystem, (s) => s.systemHighpriWq)
/**
 * `system_long_wq` ("events_long").
 * @category services
 * @since 0.1.0
 */
export const systemLongWq = Effect.map(WorkqueueSystem, (s) => s.systemLongWq)
/**
 * `system_unbound_wq` ("events_unbound").
 * @category services
 * @since 0.1.0
 */
export const systemUnboundWq = Effect.map(WorkqueueSystem, (s) => s.systemUnboundWq)
/**
 * `system_freezable_wq` ("events_freezable").
 * @category services
 * @since 0.1.0
 */
export const systemFreezableWq = Effect.map(WorkqueueSystem, (s) => s.systemFreezableWq)
/**
 * `system_power_efficient_wq` ("events_power_efficient").
 * @category services
 * @since 0.1.0
 */
export const systemPowerEfficientWq = Effect.map(WorkqueueSystem, (s) => s.systemPowerEfficientWq)
/**
 * `system_freezable_power_efficient_wq`.
 * @category services
 * @since 0.1.0
 */
export const systemFreezablePowerEfficientWq = Effect.map(WorkqueueSystem, (s) => s.systemFreezablePowerEfficientWq)
/**
 * `system_bh_wq` ("events_bh").
 * @category services
 * @since 0.1.0
 */
export const systemBhWq = Effect.map(WorkqueueSystem, (s) => s.systemBhWq)
/**
 * `system_bh_highpri_wq` ("events_bh_highpri").
 * @category services
 * @since 0.1.0
 */
export const systemBhHighpriWq = Effect.map(WorkqueueSystem, (s) => s.systemBhHighpriWq)

// ---------------------------------------------------------------------------
// queueing on the system workqueue
// ---------------------------------------------------------------------------

/**
 * `schedule_work()`: queue on `system_wq`; `false` if already pending.
 *
 * **Kernel**: `schedule_work()`, include/linux/workqueue.h.
 *
 * **Example** (Defer to the shared queue)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const work = yield* Work.make(() => Effect.log("work executing"))
 *   return yield* WorkqueueSystem.schedule(work)
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category queueing
 * @since 0.1.0
 */
export const schedule = (work: Work.Work): Effect.Effect<boolean, WorkqueueError.WorkqueueError, WorkqueueSystem> =>
  Effect.flatMap(WorkqueueSystem, (s) =>
    Effect.suspend(() => WorkqueueInternal.unwrap(WorkqueueInternal.queueOnResult(s.systemWq, undefined, work)))
  )

/**
 * `schedule_work_on()`: queue on `system_wq` on `cpu`.
 * @category queueing
 * @since 0.1.0
 */
export const scheduleOn = (
  cpu: number,
  work: Work.Work
): Effect.Effect<boolean, WorkqueueError.WorkqueueError, WorkqueueSystem> =>
  Effect.flatMap(WorkqueueSystem, (s) =>
    Effect.suspend(() => WorkqueueInternal.unwrap(WorkqueueInternal.queueOnResult(s.systemWq, cpu, work, true)))
  )

/**
 * `schedule_delayed_work()`: `Workqueue.queueDelayed` on `system_wq`.
 * @category queueing
 * @since 0.1.0
 */
export const scheduleDelayed = (
  dwork: DelayedWork.DelayedWork,
  delay: Duration.Input
): Effect.Effect<boolean, WorkqueueError.WorkqueueError, WorkqueueSystem> =>
  Effect.flatMap(WorkqueueSystem, (s) =>
    Effect.suspend(() =>
      WorkqueueInternal.unwrap(WorkqueueInternal.queueDelayedResult(s.systemWq, undefined, dwork, delay, false))
    )
  )

/**
 * `schedule_delayed_work_on()`.
 * @category queueing
 * @since 0.1.0
 */
export const scheduleDelayedOn = (
  cpu: number,
  dwork: DelayedWork.DelayedWork,
  delay: Duration.Input
): Effect.Effect<boolean, WorkqueueError.WorkqueueError, WorkqueueSystem> =>
  Effect.flatMap(WorkqueueSystem, (s) =>
    Effect.suspend(() =>
      WorkqueueInternal.unwrap(WorkqueueInternal.queueDelayedResult(s.systemWq, cpu, dwork, delay, false, true))
    )
  )

/**
 * `flush_scheduled_work()`: flush `system_wq`. The kernel deprecates flushing system-wide queues; so do we
 * (a one-time warning is logged), but it works.
 *
 * **Kernel**: `flush_scheduled_work()`, include/linux/workqueue.h.
 *
 * **Example** (Wait for scheduled work)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   let ran = false
 *   yield* WorkqueueSystem.schedule(yield* Work.make(() => Effect.sync(() => { ran = true })))
 *   yield* WorkqueueSystem.flushScheduled
 *   return ran
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category flushing
 * @since 0.1.0
 */
export const flushScheduled: Effect.Effect<void, WorkqueueError.WorkqueueError, WorkqueueSystem> = Effect.flatMap(
  WorkqueueSystem,
  (s) => {
    systemOf(s).warnOnce(
      "flush_scheduled_work",
      "WARNING: Flushing system-wide workqueues will be prohibited in near future (flush_scheduled_work)"
    )
    return Engine.flushWorkqueue(WorkqueueInternal.toState(s.systemWq))
  }
)

/**
 * Begin the system's shutdown: from now on, for the rest of the system's life, queueing and arming on any of its
 * workqueues fails with `reason: "Draining"` unless the caller is one of the system's own work items (so
 * chained work and pipelines between its workqueues still flow while they drain). Idempotent. The platform's
 * shutdown calls it first, so an idle workqueue whose drain has already ended does not take outside work again.
 *
 * **Kernel**: none as such; `system_state` leaving `SYSTEM_RUNNING` before `kernel_restart_prepare()`.
 *
 * **Example** (Outside work is refused)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   yield* WorkqueueSystem.beginShutdown
 *   const error = yield* Effect.flip(WorkqueueSystem.schedule(yield* Work.make(() => Effect.void)))
 *   return error.reason
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => "Draining"
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const beginShutdown: Effect.Effect<void, never, WorkqueueSystem> = Effect.map(WorkqueueSystem, (service) => {
  systemOf(service).shuttingDown = true
})

/**
 * Seal the system's shutdown (its deadline passed): from now on, for the rest of the system's life, queueing and
 * arming on any of its workqueues fails with `reason: "Draining"` for every caller, the system's own work items
 * included. Items already accepted (running, pending, armed) are untouched; a running item is never interrupted.
 * Implies `beginShutdown`. Idempotent. The first refusal of an own item per workqueue is logged once as a warning.
 *
 * **When to use**: the platform's shutdown calls it when its deadline passes, so that a work item re-queueing
 * itself forever (chained work, a delayed item re-arming itself) ends after its current run: otherwise the drains
 * and the system's close, which wait for chains, would never end and would keep the process alive.
 *
 * **Kernel**: none; `drain_workqueue()` only warns about a chain that never ends ("isn't complete after N
 * tries") and keeps waiting, where a process past its shutdown deadline cannot wait forever.
 *
 * **Example** (A chain ends)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("jobs")
 *   const reasons: Array<string> = []
 *   const chain: Work.Work = yield* Work.make((self) =>
 *     Effect.gen(function*() {
 *       yield* WorkqueueSystem.sealShutdown
 *       const error = yield* Effect.flip(Workqueue.queue(wq, self))
 *       reasons.push(error.reason)
 *     })
 *   )
 *   yield* Workqueue.queue(wq, chain)
 *   yield* Workqueue.flush(wq)
 *   return reasons
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => ["Draining"]
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const sealShutdown: Effect.Effect<void, never, WorkqueueSystem> = Effect.map(WorkqueueSystem, (service) => {
  const sys = systemOf(service)
  sys.shuttingDown = true
  sys.sealed = true
})

// ---------------------------------------------------------------------------
// freeze / thaw
// ---------------------------------------------------------------------------

/**
 * `freeze_workqueues_begin()` + waiting on `freeze_workqueues_busy()`: freezable workqueues stop starting new
 * items (queueing still succeeds, items wait inactive); returns once their active items have finished. On return
 * the system is frozen until `thaw`. Interrupting the wait (a timeout, say) gives the freeze up: the system is thawed
 * again, unless another `freeze` call is still waiting, and a later `freeze` starts afresh without a warning.
 *
 * **Kernel**: `freeze_workqueues_begin()`, kernel/workqueue.c; a failed freeze is thawed as
 * `freeze_kernel_threads()` does (kernel/power/process.c).
 *
 * **Example** (Freeze, then thaw)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   yield* WorkqueueSystem.freeze
 *   yield* WorkqueueSystem.thaw
 *   return "thawed"
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => "thawed"
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const freeze: Effect.Effect<void, never, WorkqueueSystem> = Effect.flatMap(WorkqueueSystem, (service) =>
  Engine.freezeWorkqueues(systemOf(service))
)

/**
 * `thaw_workqueues()`: restore the limits and activate the waiting items (round-robin over pwqs, FIFO within
 * each). A no-op unless frozen.
 *
 * **Kernel**: `thaw_workqueues()`, kernel/workqueue.c.
 *
 * @category configuration
 * @since 0.1.0
 */
export const thaw: Effect.Effect<void, never, WorkqueueSystem> = Effect.flatMap(WorkqueueSystem, (service) =>
  Effect.sync(() => Engine.thawWorkqueues(systemOf(service)))
)

// ---------------------------------------------------------------------------
// CPUs
// ---------------------------------------------------------------------------

/**
 * `raw_smp_processor_id()`: inside a work item, and in every fiber its handler forks while the run lasts, its
 * worker's CPU; elsewhere the CPU set by `onCpu` (whatever it was given: queueing validates it), or 0.
 *
 * **Example** (Outside work items)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkqueueSystem } from "@effect-workqueue/core"
 *
 * await Effect.runPromise(WorkqueueSystem.onCpu(3)(WorkqueueSystem.currentCpu)) // => 3
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export const currentCpu: Effect.Effect<number> = Effect.sync(Engine.currentCpuUnsafe)

/**
 * Run `effect` as if on `cpu`: per-CPU workqueues queue to that CPU's pools. Any value is recorded, -1 included;
 * a queueing call under an `onCpu` outside `0..cpus-1` fails with `reason: "InvalidCpu"`.
 *
 * @category services
 * @since 0.1.0
 */
export const onCpu =
  (cpu: number) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provideService(effect, Engine.CurrentCpu, cpu)

// ---------------------------------------------------------------------------
// enumeration
// ---------------------------------------------------------------------------

/**
 * Every live workqueue of the system: the ones made with `Workqueue.make` first (in allocation order), then the
 * system ones. For shutdown code that must drain everything (the kernel's global `workqueues` list).
 *
 * **Example** (List the live queues)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   yield* Workqueue.make("mine")
 *   const all = yield* WorkqueueSystem.workqueues
 *   return Workqueue.name(all[0]!)
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => "mine"
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export const workqueues: Effect.Effect<ReadonlyArray<Workqueue.Workqueue>, never, WorkqueueSystem> = Effect.map(
  WorkqueueSystem,
  (service) => {
    const all = [...systemOf(service).workqueues] as unknown as Array<Workqueue.Workqueue>
    const user = all.filter((wq) => !isSystemWorkqueue(wq))
    return [...user, ...all.filter(isSystemWorkqueue)]
  }
)

/**
 * Is this one of the `system_*_wq`? (`false` for a value that is not a workqueue.)
 *
 * @category models
 * @since 0.1.0
 */
export const isSystemWorkqueue = (wq: Workqueue.Workqueue): boolean =>
  WorkqueueInternal.isWorkqueue(wq) && WorkqueueInternal.toState(wq).isSystem

// ---------------------------------------------------------------------------
// snapshot (debugfs / wq_dump.py)
// ---------------------------------------------------------------------------

/**
 * A worker in a snapshot.
 * @category models
 * @since 0.1.0
 */
export interface WorkerSnapshot {
  readonly name: string
  /** `/proc/PID/comm`: `name+desc` while busy, `name-desc` after (desc = the workqueue name). */
  readonly comm: string
  readonly state: "idle" | "busy" | "sleeping"
  readonly work: string | undefined
  readonly workqueue: string | undefined
  /** ms the current item has run, on the system Clock */
  readonly runningFor: number | undefined
}

/**
 * A pool in a snapshot.
 * @category models
 * @since 0.1.0
 */
export interface PoolSnapshot {
  readonly id: number
  readonly kind: "bound" | "bh" | "unbound"
  readonly cpu: number | undefined
  readonly nice: number
  /** pwqs using this pool (wq_dump.py "ref") */
  readonly refs: number
  readonly worklist: number
  readonly nrRunning: number
  readonly workers: ReadonlyArray<WorkerSnapshot>
  readonly idle: number
  readonly busy: number
}

/**
 * A pool workqueue in a snapshot, with the `wq_monitor.py` counters.
 * @category models
 * @since 0.1.0
 */
export interface PwqSnapshot {
  readonly pool: number
  readonly cpu: number | undefined
  readonly active: number
  readonly inactive: number
  /**
   * the pwq's `WorkqueueMetrics.PwqStats`, with its CPU time as `cpuTimeMs` (rounded to µs); the keys and their
   * units are {@link snapshotStatUnits}
   */
  readonly stats: Omit<WorkqueueMetrics.PwqStats, "cpuTime"> & { readonly cpuTimeMs: number }
}

/**
 * The keys of `PwqSnapshot.stats`, in `wq_monitor.py`'s order, each with its unit: `"count"` (an integer) or
 * `"ms"` (milliseconds, rounded to µs). Derived from the one statistics declaration (`WorkqueueMetrics.PwqStats`):
 * code that reads snapshots (a monitor, a schema for a debug route) iterates these keys instead of naming the
 * counters, so a new counter reaches it with no edit.
 *
 * **Kernel**: the columns of `tools/workqueue/wq_monitor.py` (`enum pool_workqueue_stats`).
 *
 * **Example** (Sum every counter of a workqueue)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   yield* WorkqueueSystem.schedule(yield* Work.make(() => Effect.void))
 *   yield* WorkqueueSystem.flushScheduled
 *   const events = (yield* WorkqueueSystem.snapshot).workqueues.find((wq) => wq.name === "events")!
 *   const keys = Object.keys(WorkqueueSystem.snapshotStatUnits) as Array<keyof WorkqueueSystem.PwqSnapshot["stats"]>
 *   return keys.map((key) => `${key}=${events.pwqs.reduce((n, pwq) => n + pwq.stats[key], 0)}`).slice(0, 2)
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => ["started=1", "completed=1"]
 * WorkqueueSystem.snapshotStatUnits.cpuTimeMs // => "ms"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const snapshotStatUnits: { readonly [K in keyof PwqSnapshot["stats"]]: "count" | "ms" } = Object.fromEntries(
  Engine.PWQ_STAT_NAMES.map((name) => [Engine.snapshotStatKey(name), Engine.PWQ_STATS[name].unit])
) as { readonly [K in keyof PwqSnapshot["stats"]]: "count" | "ms" }

/**
 * A workqueue in a snapshot.
 * @category models
 * @since 0.1.0
 */
export interface WorkqueueSnapshot {
  readonly name: string
  readonly flags: number
  readonly type: "percpu" | "unbound" | "ordered" | "bh"
  readonly maxActive: number
  readonly state: string
  readonly rescuer: string | undefined
  /** armed delayed items (their timers) */
  readonly armed: number
  /** queued items not yet started, active on a worklist or inactive (the engine's `nrQueued`) */
  readonly queued: number
  /** `queued + armed`: the count `maxPending` bounds (`Workqueue.pendingCountUnsafe`) */
  readonly pending: number
  /** the `maxPending` bound; `undefined` when there is none (`Infinity`, kept out of the JSON a debug route serves) */
  readonly maxPending: number | undefined
  readonly pwqs: ReadonlyArray<PwqSnapshot>
}

/**
 * Everything `snapshot` returns: the time, the CPUs, whether frozen, every workqueue and pool, the armed timers and the run queue, as plain data.
 *
 * @category models
 * @since 0.1.0
 */
export interface Snapshot {
  readonly time: number
  readonly cpus: number
  readonly freezing: boolean
  readonly workqueues: ReadonlyArray<WorkqueueSnapshot>
  readonly pools: ReadonlyArray<PoolSnapshot>
  readonly timers: number
  readonly runQueue: RunQueue
  /**
   * Calls of a user hook (`tracepoint`, `cpuClock`) that threw (or, for `cpuClock`, returned a non-finite
   * number) since the system booted: each was caught so the engine step went on; each kind is logged once.
   */
  readonly hookErrors: number
}

/**
 * What the system's run queue holds: worker tasks waiting for a turn (yields, wake-ups, forks of handlers) and
 * concurrency probes waiting for the parent scheduler. Both 0 means nothing of the system is runnable: every worker
 * is idle or suspended on something outside the run queue (a timer, a Deferred, I/O).
 * @category models
 * @since 0.1.0
 */
export interface RunQueue {
  readonly tasks: number
  readonly probes: number
}

const workerSnapshot = (sys: Engine.System, worker: Engine.System["allWorkers"] extends Set<infer W> ? W : never) => {
  const busy = worker.current !== undefined
  return {
    name: worker.name,
    comm: worker.lastDesc === "" ? worker.name : `${worker.name}${busy ? "+" : "-"}${worker.lastDesc}`,
    state: busy ? (worker.sleeping ? "sleeping" : "busy") : "idle",
    work: worker.current?.name,
    workqueue: busy ? worker.currentPwq?.wq.name : undefined,
    runningFor: busy ? sys.now() - worker.currentStart : undefined
  } satisfies WorkerSnapshot
}

const poolSnapshot = (sys: Engine.System, pool: Pool): PoolSnapshot => {
  const workers = [...pool.workers].sort((a, b) => a.id - b.id).map((w) => workerSnapshot(sys, w))
  return {
    id: pool.id,
    kind: pool.kind,
    cpu: pool.cpu >= 0 ? pool.cpu : undefined,
    nice: pool.highpri ? -20 : 0,
    refs: pool.refs,
    worklist: pool.worklist.length,
    nrRunning: pool.nrRunning,
    workers,
    idle: pool.idle.length,
    busy: workers.filter((w) => w.state !== "idle").length
  }
}

const pwqSnapshot = (pwq: Pwq): PwqSnapshot => ({
  pool: pwq.pool.id,
  cpu: pwq.cpu >= 0 ? pwq.cpu : undefined,
  active: pwq.nrActive,
  inactive: pwq.inactive.length,
  stats: pwqSnapshotStats(pwq)
})

const pwqSnapshotStats = (pwq: Pwq): PwqSnapshot["stats"] => {
  const stats: Record<string, number> = {}
  for (const key of Engine.PWQ_STAT_NAMES) {
    const value = pwq.stats[key]
    stats[Engine.snapshotStatKey(key)] = Engine.PWQ_STATS[key].unit === "ms" ? Math.round(value * 1000) / 1000 : value
  }
  return stats as unknown as PwqSnapshot["stats"]
}

const wqType = (wq: WorkqueueState): WorkqueueSnapshot["type"] =>
  wq.bh ? "bh" : wq.ordered ? "ordered" : wq.unbound ? "unbound" : "percpu"

const snapshotUnsafe = (sys: Engine.System): Snapshot => ({
  time: sys.now(),
  cpus: sys.cpus,
  freezing: sys.freezing,
  workqueues: [...sys.workqueues].map((wq) => ({
    name: wq.name,
    flags: wq.flags,
    type: wqType(wq),
    maxActive: wq.savedMaxActive,
    state: wq.lifecycle,
    rescuer: wq.rescuer?.name,
    armed: wq.timerCount.armed,
    queued: wq.nrQueued,
    pending: wq.nrQueued + wq.timerCount.armed,
    maxPending: wq.maxPending === Infinity ? undefined : wq.maxPending,
    pwqs: Engine.uniquePwqs(wq).map(pwqSnapshot)
  })),
  pools: sys.pools.map((pool) => poolSnapshot(sys, pool)),
  timers: sys.timers.size,
  runQueue: runQueueUnsafe(sys),
  hookErrors: sys.hookErrors
})

const runQueueUnsafe = (sys: Engine.System): RunQueue => ({
  tasks: sys.scheduler.queued,
  probes: sys.scheduler.probes.length
})

/**
 * Plain data of every workqueue (flags, max_active, pending items and the `maxPending` bound, per-pwq
 * active/inactive counts and statistics) and every
 * pool (CPU or unbound, nice, workers with kworker-style names, idle, busy, what each busy worker runs).
 *
 * **Kernel**: `/sys/kernel/debug/workqueue`, `tools/workqueue/wq_dump.py` and `wq_monitor.py`.
 *
 * **Example** (What is there)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.map(WorkqueueSystem.snapshot, (s) => s.workqueues.map((wq) => wq.name)[0])
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => "events"
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export const snapshot: Effect.Effect<Snapshot, never, WorkqueueSystem> = Effect.map(WorkqueueSystem, (s) =>
  snapshotUnsafe(systemOf(s))
)

/**
 * The system's run queue, cheaply (no full {@link snapshot}): `{ tasks: 0, probes: 0 }` when nothing of the system is
 * runnable. Test kits poll it every scheduler turn to tell when a system has settled.
 *
 * **Kernel**: the runqueues of the CPUs' kworkers (`nr_running` of every pool, and pending wake-ups).
 *
 * **Example** (Idle after boot)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.andThen(Effect.yieldNow, WorkqueueSystem.runQueue)
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => { tasks: 0, probes: 0 }
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export const runQueue: Effect.Effect<RunQueue, never, WorkqueueSystem> = Effect.map(WorkqueueSystem, (s) =>
  runQueueUnsafe(systemOf(s))
)
