/**
 * Workqueue statistics as Effect metrics: the `wq_monitor.py` columns, kept as counters in the pwq structs (as
 * the kernel does, no cost on the hot path beyond an increment) and published as `workqueue_*` metrics with a
 * `workqueue` attribute, so OpenTelemetry / Prometheus export (`effect/observability`) works with no glue.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Engine from "./internal/engine.ts"
import type * as Work from "./Work.ts"
import {
  JOB_STAT_NAMES,
  jobCounters,
  type JobStatName,
  makeStats,
  PWQ_STAT_NAMES,
  PWQ_STATS,
  statMetricName,
  type WorkqueueState
} from "./internal/state.ts"
import { systemOf } from "./internal/service.ts"
import { WorkqueueSystem } from "./WorkqueueSystem.ts"

/**
 * A tracepoint (include/trace/events/workqueue.h): `workqueue_queue_work` (after the pwq is chosen; not for a
 * timer being armed, nor when queueing is refused), `workqueue_activate_work` (placed on the pool worklist),
 * `workqueue_execute_start` and `workqueue_execute_end` (around the handler). Receive them with
 * `WorkqueueSystem.layer({ tracepoint })`. `work` is the item itself (the kernel's work pointer; its `name` is the
 * function), so an event costs no name lookup. `reqCpu` is -1 when none was requested (`WORK_CPU_UNBOUND`);
 * `cpu` is -1 for unbound pools; `time` is ms on the system Clock. (`W` is the item type: the engine reports its
 * own item state under the same union; users see `Work`.) A sink that throws is caught: the event is dropped,
 * the engine's step goes on, the first throw per event kind is logged and every one is counted
 * (`WorkqueueSystem.snapshot`'s `hookErrors`).
 *
 * **Calling back in from the sink.** Every event is emitted where the engine's state is consistent, so the sink
 * may call the synchronous entry points (`Work.cancelUnsafe`, `Workqueue.queueUnsafe`, `Workqueue.modDelayedUnsafe`,
 * `Job.submitUnsafe`) on any item, the traced one included; the call acts as if made right after the event, and
 * the events it causes reach the sink re-entrantly, before the call returns. `workqueue_queue_work` comes with the
 * item queued on its pwq, waiting on its inactive list (`workqueue_activate_work` follows if it is activated then:
 * first in line with a slot free; an item the sink cancelled or moved meanwhile is not); `workqueue_activate_work`
 * with the item on its pool's worklist; `workqueue_execute_start` once the start step is complete, right before
 * the handler; `workqueue_execute_end` right after it, before the finish step. A cancel or `modDelayed` that frees
 * an active slot hands it on last, and a finishing item hands its slot on once it is off its worker, so the
 * activation either causes never shows a half-moved item. The kernel emits `workqueue_queue_work` and `workqueue_activate_work` under `pool->lock`, where a probe
 * cannot call back in at all; the execute events come outside it, as here.
 *
 * **Kernel**: `trace_workqueue_queue_work()` & co., kernel/workqueue.c (`__queue_work()`, `pwq_activate_work()`,
 * `process_one_work()`).
 *
 * **Example** (Trace one item)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueMetrics, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const events: Array<WorkqueueMetrics.Tracepoint> = []
 * const program = Effect.gen(function*() {
 *   yield* WorkqueueSystem.schedule(yield* Work.make(() => Effect.void, { name: "traced" }))
 *   yield* WorkqueueSystem.flushScheduled
 *   return events.filter((e) => e.work.name === "traced").map((e) => e._tag)
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer({ tracepoint: (e) => events.push(e) }))))
 * // => ["workqueue_queue_work", "workqueue_activate_work", "workqueue_execute_start", "workqueue_execute_end"]
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export type Tracepoint<W = Work.Work> =
  | {
      readonly _tag: "workqueue_queue_work"
      readonly time: number
      readonly work: W
      readonly workqueue: string
      readonly reqCpu: number
      readonly cpu: number
      readonly pool: number
    }
  | {
      readonly _tag: "workqueue_activate_work"
      readonly time: number
      readonly work: W
      readonly workqueue: string
      readonly pool: number
    }
  | {
      readonly _tag: "workqueue_execute_start"
      readonly time: number
      readonly work: W
      readonly workqueue: string
      readonly worker: string
      readonly cpu: number
      readonly pool: number
    }
  | {
      readonly _tag: "workqueue_execute_end"
      readonly time: number
      readonly work: W
      readonly workqueue: string
      readonly worker: string
      readonly outcome: "success" | "failure" | "defect"
    }
// ---------------------------------------------------------------------------
// the system
// ---------------------------------------------------------------------------

/**
 * The counters of one pool workqueue, `enum pool_workqueue_stats` (`wq_monitor.py`'s columns): the one declaration
 * of the statistics (with the engine's table of their units, which the compiler keeps in step with it).
 * `WorkqueueStats` (a workqueue's sums), `WorkqueueSystem.PwqSnapshot` (per pwq) and
 * `WorkqueueSystem.snapshotStatUnits`, the Effect metrics of `publish` (`workqueue_<name in snake case>`), the
 * engine's own counters and the platform's monitor are all derived from it: a new counter needs no other edit.
 *
 * @category models
 * @since 0.1.0
 */
export interface PwqStats {
  /** `PWQ_STAT_STARTED`: items started (`total`) */
  readonly started: number
  /** `PWQ_STAT_COMPLETED`: items completed */
  readonly completed: number
  /** handlers that failed with a typed error (ours; the kernel has none) */
  readonly failed: number
  /** handlers that died or were interrupted (ours) */
  readonly defects: number
  /** `PWQ_STAT_CPU_TIME` (`CPUtime`): ms of JS-thread time, sampled per scheduler slice */
  readonly cpuTime: number
  /** `PWQ_STAT_CPU_INTENSIVE` (`CPUitsv`): automatic CPU-intensive detections */
  readonly cpuIntensive: number
  /** `PWQ_STAT_CM_WAKEUP` (`CMW`): concurrency-management wake-ups */
  readonly cmWakeup: number
  /** `PWQ_STAT_MAYDAY`: maydays sent to the rescuer */
  readonly mayday: number
  /** `PWQ_STAT_RESCUED`: items run by the rescuer */
  readonly rescued: number
}

/**
 * The statistics of one workqueue: its pwqs' `PwqStats` summed, with `inFlight` (`wq_monitor.py` columns).
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkqueueStats extends PwqStats {
  readonly name: string
  readonly unbound: boolean
  readonly memReclaim: boolean
  /** `infl`: started − completed */
  readonly inFlight: number
}

const statsUnsafe = (sys: Engine.System): Array<WorkqueueStats> => [...sys.workqueues].map(wqStats)

const wqStats = (wq: WorkqueueState): WorkqueueStats => {
  const sum = makeStats()
  for (const pwq of Engine.uniquePwqs(wq)) for (const key of PWQ_STAT_NAMES) sum[key] += pwq.stats[key]
  return {
    name: wq.name,
    unbound: wq.unbound,
    memReclaim: (wq.flags & Engine.WQ_MEM_RECLAIM) !== 0,
    ...sum,
    inFlight: sum.started - sum.completed
  }
}

/**
 * The per-workqueue statistics now (`wq_monitor.py -i 0`).
 *
 * **Kernel**: `tools/workqueue/wq_monitor.py`, backed by `enum pool_workqueue_stats`.
 *
 * **Example** (Count what ran)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, WorkqueueMetrics, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   yield* WorkqueueSystem.schedule(yield* Work.make(() => Effect.void))
 *   yield* WorkqueueSystem.flushScheduled
 *   const stats = yield* WorkqueueMetrics.stats
 *   return stats.find((s) => s.name === "events")?.completed
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => 1
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const stats: Effect.Effect<ReadonlyArray<WorkqueueStats>, never, WorkqueueSystem> = Effect.map(
  WorkqueueSystem,
  (s) => statsUnsafe(systemOf(s))
)

/** One Effect metric per `PwqStats` counter, named and described by the statistics table. */
const counters = Object.fromEntries(
  PWQ_STAT_NAMES.map((key) => [
    key,
    Metric.counter(statMetricName(key), { description: PWQ_STATS[key].description, incremental: true })
  ])
) as { readonly [K in keyof PwqStats]: Metric.Counter<number> }

const inFlightGauge = Metric.gauge("workqueue_in_flight", { description: "started - completed" })

type CounterKey = keyof PwqStats | JobStatName

/**
 * What was last published per workqueue, so counters get deltas: keyed by the workqueue itself, never by its
 * (truncated, maybe shared) name, so each workqueue's deltas are its own. A destroyed workqueue drops out with
 * its entry (weak keys).
 */
const published = new WeakMap<WorkqueueState, Record<CounterKey, number>>()

/**
 * Publish the statistics to the `workqueue_*` metrics (counters get the delta since the last publication, the
 * `workqueue_in_flight` gauge the current value), each with a `workqueue` attribute, and the job counters to
 * `Job.timeouts`, `Job.retries` and `Job.deadLetters` (`workqueue_job_*`) the same way. Nothing reaches Effect's
 * metric registry (which keeps every series it is given for ever) until it is published.
 *
 * **Details**: deltas are kept per workqueue, not per name: two workqueues with the same (truncated) name add up
 * under one attribute without corrupting each other's counts. A workqueue destroyed since the last publication
 * has its final counts published once; the system keeps destroyed workqueues for this only from the first
 * `publish` on (`WorkqueueMetrics.layer` publishes at once), so one nobody publishes keeps nothing.
 *
 * **Example** (Read a metric)
 *
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Work, WorkqueueMetrics, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   yield* WorkqueueSystem.schedule(yield* Work.make(() => Effect.void))
 *   yield* WorkqueueSystem.flushScheduled
 *   yield* WorkqueueMetrics.publish
 *   const snapshot = yield* Metric.snapshot
 *   return snapshot.some((m) => m.id === "workqueue_completed")
 * })
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => true
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const publish: Effect.Effect<void, never, WorkqueueSystem> = Effect.flatMap(WorkqueueSystem, (service) =>
  Effect.suspend(() => {
    const system = systemOf(service)
    // workqueues destroyed since the last publication: their final counts go out once (from now on the system
    // keeps each destroyed workqueue until the next publication; before the first one it keeps none)
    const retired = system.retired ?? []
    system.retired = []
    const updates: Array<Effect.Effect<void>> = []
    // the gauge is per attribute: workqueues sharing a (truncated) name add up
    const inFlight = new Map<string, number>()
    for (const wq of [...system.workqueues, ...retired]) {
      const s = wqStats(wq)
      const attributes = { workqueue: s.name }
      const prev = published.get(wq)
      const next = {} as Record<CounterKey, number>
      for (const key of PWQ_STAT_NAMES) {
        next[key] = s[key]
        const delta = s[key] - (prev?.[key] ?? 0)
        if (delta > 0) updates.push(Metric.update(counters[key].pipe(Metric.withAttributes(attributes)), delta))
      }
      for (const key of JOB_STAT_NAMES) {
        next[key] = wq.jobStats[key]
        const delta = wq.jobStats[key] - (prev?.[key] ?? 0)
        if (delta > 0) updates.push(Metric.update(jobCounters[key].pipe(Metric.withAttributes(attributes)), delta))
      }
      published.set(wq, next)
      inFlight.set(s.name, (inFlight.get(s.name) ?? 0) + (wq.lifecycle === "Destroyed" ? 0 : s.inFlight))
    }
    for (const [name, value] of inFlight) {
      updates.push(Metric.update(inFlightGauge.pipe(Metric.withAttributes({ workqueue: name })), value))
    }
    return Effect.asVoid(Effect.all(updates, { discard: true }))
  })
)

/**
 * Publish the metrics every `intervalMs` (default 1000) on the Clock for as long as the layer lives.
 *
 * **Example** (Metrics every second)
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { WorkqueueMetrics, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const Live = WorkqueueMetrics.layer({ intervalMs: 1000 }).pipe(Layer.provideMerge(WorkqueueSystem.layer()))
 * await Effect.runPromise(Effect.succeed("ok").pipe(Effect.provide(Live))) // => "ok"
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options?: {
  readonly intervalMs?: number | undefined
}): Layer.Layer<never, never, WorkqueueSystem> =>
  Layer.effectDiscard(
    Effect.suspend(() => {
      const intervalMs = options?.intervalMs ?? 1000
      if (typeof intervalMs !== "number" || !(intervalMs > 0) || intervalMs === Infinity) {
        return Effect.die(
          new RangeError(
            `WorkqueueMetrics.layer: intervalMs must be a finite number > 0, got ${Engine.show(intervalMs)}`
          )
        )
      }
      return Effect.forkScoped(Effect.repeat(publish, Schedule.spaced(intervalMs))).pipe(Effect.asVoid)
    })
  )

/**
 * Charge `ms` of CPU time that the running work item used outside the event loop — in a worker thread — to its
 * pwq's `cpuTime` (the `wq_monitor.py` CPUtime column). Call it from inside the item's handler; anywhere else, or
 * with a non-positive or non-finite `ms`, it changes nothing and returns `false`. The time does not count toward
 * CPU-hog detection (it did not hold the event loop). `@effect-workqueue/platform`'s `ThreadPool.run` charges
 * each run's thread CPU time this way.
 *
 * **Kernel**: the scheduler's per-tick sampling into `PWQ_STAT_CPU_TIME` (`wq_worker_tick()`), for time the
 * kernel would have seen on the worker's CPU.
 *
 * **Example** (Thread time in the CPUtime column)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Work, Workqueue, WorkqueueMetrics, WorkqueueSystem } from "@effect-workqueue/core"
 *
 * const program = Effect.gen(function*() {
 *   const wq = yield* Workqueue.make("offload")
 *   yield* Workqueue.queue(wq, yield* Work.make(() => Effect.asVoid(WorkqueueMetrics.chargeCpuTime(250))))
 *   yield* Workqueue.flush(wq)
 *   const stats = yield* WorkqueueMetrics.stats
 *   return [yield* WorkqueueMetrics.chargeCpuTime(1), stats.find((s) => s.name === "offload")!.cpuTime >= 250]
 * })
 * await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer()))) // => [false, true]
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const chargeCpuTime = (ms: number): Effect.Effect<boolean> => Effect.sync(() => Engine.chargeCpuTimeUnsafe(ms))
