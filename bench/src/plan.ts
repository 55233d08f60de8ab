/**
 * What the suite measures: the systems, the scenarios with their sizes and metrics, and this library's targets.
 * Shared by the parent (`run.ts`) and the child (`case.ts`); system modules are loaded lazily, so a child only
 * imports the system it measures.
 */
import type { ScenarioId, SystemImpl } from "./systems/types.ts"

export type { ScenarioId } from "./systems/types.ts"

// ---------------------------------------------------------------------------
// Systems
// ---------------------------------------------------------------------------

export type SystemId =
  | "workqueue"
  | "workqueue-unsafe"
  | "workqueue-data"
  | "workqueue-observed"
  | "workqueue-spans"
  | "workqueue-job"
  | "p-queue"
  | "fastq-callback"
  | "fastq-promise"
  | "effect-queue"
  | "effect-forEach"
  | "effect-semaphore"
  | "raw-loop"
  | "raw-microtask"
  | "effect-gen"

export interface SystemDef {
  readonly id: SystemId
  readonly kind: "ours" | "peer" | "floor"
  /** How the system is used, one line for the report. */
  readonly how: string
  readonly load: () => Promise<SystemImpl>
}

/** The system the ratios and targets are about. */
export const OURS: SystemId = "workqueue"

export const systems: ReadonlyArray<SystemDef> = [
  {
    id: "workqueue",
    kind: "ours",
    how: "the headline, what a user pays per one-shot job: `Workqueue.make` (scoped, unbound, `WorkqueueSystem.layer({ cpus: 4 })`), a fresh item per job made and queued inside the timed region through the Effect API, `yield* Workqueue.queue(wq, yield* Work.make(handler))` in one `Effect.gen` loop (`queueDelayed` / `DelayedWork.make` for delayed jobs, run per chunk of 1,000 in scenario 3); `DelayedWork.cancelUnsafe`",
    load: () => import("./systems/workqueue.ts").then((m) => m.workqueue)
  },
  {
    id: "workqueue-unsafe",
    kind: "ours",
    how: 'the same library, items made before the clock starts (their cost is the "create ns/item" column) and queued with the synchronous `Workqueue.queueUnsafe` / `queueDelayedUnsafe`, one call per job as the peers do',
    load: () => import("./systems/workqueue.ts").then((m) => m.workqueueUnsafe)
  },
  {
    id: "workqueue-data",
    kind: "ours",
    how: "the headline loop with `Work.makeWith(handler, i)` instead of `Work.make(() => handler(i))`: one shared handler, the job's index as the item's datum, no closure per job (scenarios 1, 2, 4; not in any ratio or target)",
    load: () => import("./systems/workqueue.ts").then((m) => m.workqueueData)
  },
  {
    id: "workqueue-observed",
    kind: "ours",
    how: "the headline, with `WorkqueueSystem.layer({ tracepoint })`: every tracepoint to a sink (statistics, watchdog and hog detection are always on) (issue 7)",
    load: () => import("./systems/workqueue.ts").then((m) => m.workqueueObserved)
  },
  {
    id: "workqueue-spans",
    kind: "ours",
    how: "the headline, with `WorkqueueSystem.layer({ tracepoint, spans: true })`: also a root span per handler (opt-in)",
    load: () => import("./systems/workqueue.ts").then((m) => m.workqueueSpans)
  },
  {
    id: "workqueue-job",
    kind: "ours",
    how: "the same workqueue, each job through `Job.submit` with a result (a fresh `DelayedWork`, a `Deferred` and a child fiber per attempt, made inside the timed loop: no separate create cost), all submitted in one `Effect.runSync`; vs `workqueue` = the cost of a job with a result over a plain queued item (issue 14)",
    load: () => import("./systems/workqueue.ts").then((m) => m.workqueueJob)
  },
  {
    id: "p-queue",
    kind: "peer",
    how: "`new PQueue({ concurrency })`, `add(fn)` per job; `autoStart: false` for pending; `{ priority: 1 }` for scenario 6",
    load: () => import("./systems/pQueue.ts").then((m) => m.pQueue)
  },
  {
    id: "fastq-callback",
    kind: "peer",
    how: "`fastq(worker, concurrency)`, `push(i)`; `pause()`/`resume()` for pending",
    load: () => import("./systems/fastq.ts").then((m) => m.fastqCallback)
  },
  {
    id: "fastq-promise",
    kind: "peer",
    how: "`fastq.promise(asyncWorker, concurrency)`, `push(i)`; `unshift` for scenario 6",
    load: () => import("./systems/fastq.ts").then((m) => m.fastqPromise)
  },
  {
    id: "effect-queue",
    kind: "peer",
    how: "`Queue.unbounded` of effects + N worker fibers (`take`, run), `Queue.offerUnsafe` per job",
    load: () => import("./systems/effect.ts").then((m) => m.effectQueue)
  },
  {
    id: "effect-forEach",
    kind: "peer",
    how: "`Effect.forEach(indices, f, { concurrency, discard: true })`",
    load: () => import("./systems/effect.ts").then((m) => m.effectForEach)
  },
  {
    id: "effect-semaphore",
    kind: "peer",
    how: "one fiber per job (`Effect.runFork`) gated by `Semaphore.withPermits(1)`; delayed: `Effect.sleep` in the fiber, cancel = interrupt",
    load: () => import("./systems/effect.ts").then((m) => m.effectSemaphore)
  },
  {
    id: "effect-gen",
    kind: "floor",
    how: "one `Effect.gen` loop with two `yield*` of `Effect.sync` per job, the second running the job: what submitting one job at a time through any Effect API costs before a queue does anything (scenario 1 only)",
    load: () => import("./systems/effect.ts").then((m) => m.effectGen)
  },
  {
    id: "raw-loop",
    kind: "floor",
    how: "a plain loop calling the job (16 async loops when jobs suspend); bare `setTimeout`/`clearTimeout` for timers",
    load: () => import("./systems/raw.ts").then((m) => m.rawLoop)
  },
  {
    id: "raw-microtask",
    kind: "floor",
    how: "an array of thunks drained by `queueMicrotask` (at most 16 in flight when jobs suspend)",
    load: () => import("./systems/raw.ts").then((m) => m.rawMicrotask)
  }
]

export const systemById = (id: string): SystemDef | undefined => systems.find((s) => s.id === id)

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

export interface MetricDef {
  readonly key: string
  readonly label: string
  readonly better: "higher" | "lower" | "none"
  readonly digits: number
  /** Divide the raw value by this for display (e.g. bytes to MB). */
  readonly scale?: number
}

export interface ScenarioDef {
  readonly id: ScenarioId
  readonly number: number
  readonly title: (n: number) => string
  /** The metric the "ours vs peer" ratio is computed on. */
  readonly primary: string
  readonly metrics: ReadonlyArray<MetricDef>
  readonly systems: ReadonlyArray<SystemId>
  readonly size: { readonly full: number; readonly quick: number }
}

/**
 * Every system but the observed variants of ours, which run only where their cost is measured (scenarios 1, 2), the
 * `Work.makeWith` row (scenarios 1, 2, 4), and
 * the effect-gen floor (scenario 1 only).
 */
const all: ReadonlyArray<SystemId> = systems
  .map((s) => s.id)
  .filter(
    (id) =>
      id !== "workqueue-observed" &&
      id !== "workqueue-spans" &&
      id !== "workqueue-job" &&
      id !== "workqueue-data" &&
      id !== "effect-gen"
  )
/** Ours and the peers, with `workqueue-data` after `workqueue-unsafe` (scenarios 1, 2 and 4). */
const withData: ReadonlyArray<SystemId> = [
  "workqueue",
  "workqueue-unsafe",
  "workqueue-data",
  ...all.filter((id) => id !== "workqueue" && id !== "workqueue-unsafe")
]
const withObserved: ReadonlyArray<SystemId> = [
  "workqueue",
  "workqueue-unsafe",
  "workqueue-data",
  "workqueue-observed",
  "workqueue-spans",
  "workqueue-job",
  ...all.filter((id) => id !== "workqueue" && id !== "workqueue-unsafe")
]

const itemsPerSec: MetricDef = { key: "itemsPerSec", label: "items/s", better: "higher", digits: 0 }
const createNs: MetricDef = { key: "createNsPerItem", label: "create ns/item", better: "lower", digits: 0 }

export const scenarios: ReadonlyArray<ScenarioDef> = [
  {
    id: "sync",
    number: 1,
    title: (n) => `${fmtCount(n)} synchronous jobs submitted at once, concurrency 1`,
    primary: "itemsPerSec",
    metrics: [
      itemsPerSec,
      { key: "heapDeltaBytes", label: "heap Δ MB", better: "lower", digits: 1, scale: 1024 * 1024 },
      { key: "peakRssMB", label: "peak RSS MB", better: "lower", digits: 0 },
      createNs
    ],
    systems: [...withObserved, "effect-gen"],
    size: { full: 1_000_000, quick: 100_000 }
  },
  {
    id: "suspend",
    number: 2,
    title: (n) => `${fmtCount(n)} jobs that each suspend once, concurrency 16`,
    primary: "itemsPerSec",
    metrics: [itemsPerSec, { key: "nsPerItem", label: "ns/item", better: "lower", digits: 0 }, createNs],
    systems: withObserved,
    size: { full: 200_000, quick: 20_000 }
  },
  {
    id: "delayed",
    number: 3,
    title: (n) => `${fmtCount(n)} delayed jobs, seeded delays 0–100 ms, concurrency 16`,
    primary: "lateP99Ms",
    metrics: [
      { key: "totalMs", label: "all done ms", better: "lower", digits: 0 },
      { key: "lateP50Ms", label: "late p50 ms", better: "lower", digits: 2 },
      { key: "lateP99Ms", label: "late p99 ms", better: "lower", digits: 2 },
      { key: "lateMaxMs", label: "late max ms", better: "lower", digits: 2 },
      { key: "armNsPerItem", label: "arm ns/item", better: "lower", digits: 0 }
    ],
    systems: all.filter((s) => s !== "effect-forEach"),
    size: { full: 200_000, quick: 20_000 }
  },
  {
    id: "pending",
    number: 4,
    title: (n) => `${fmtCount(n)} jobs queued, none started`,
    primary: "bytesPerItem",
    metrics: [
      { key: "bytesPerItem", label: "heap B/pending job", better: "lower", digits: 1 },
      { key: "enqueueNsPerItem", label: "enqueue ns/job", better: "lower", digits: 0 },
      createNs
    ],
    systems: withData.filter((s) => s !== "effect-forEach"),
    size: { full: 1_000_000, quick: 100_000 }
  },
  {
    id: "priority",
    number: 6,
    title: (n) => `${fmtCount(n)} normal jobs pending, then one high-priority job`,
    primary: "startLatencyMs",
    metrics: [
      { key: "startLatencyMs", label: "high start latency ms", better: "lower", digits: 3 },
      { key: "normalsBefore", label: "normal jobs run first", better: "none", digits: 0 }
    ],
    systems: ["workqueue", "workqueue-unsafe", "p-queue", "fastq-promise"],
    size: { full: 100_000, quick: 100_000 }
  },
  {
    id: "timers",
    number: 7,
    title: (n) => `${fmtCount(n)} armed delayed jobs (delays 60–120 s), then all cancelled`,
    primary: "armCancelNsPerItem",
    metrics: [
      { key: "armNsPerItem", label: "arm ns", better: "lower", digits: 0 },
      { key: "cancelNsPerItem", label: "cancel ns", better: "lower", digits: 0 },
      { key: "armCancelNsPerItem", label: "arm+cancel ns", better: "lower", digits: 0 },
      { key: "bytesPerItem", label: "heap B/armed", better: "lower", digits: 1 },
      { key: "bytesAfterCancelPerItem", label: "heap B/cancelled", better: "lower", digits: 1 },
      createNs
    ],
    systems: ["workqueue", "workqueue-unsafe", "raw-loop", "effect-semaphore"],
    size: { full: 1_000_000, quick: 100_000 }
  }
]

export const scenarioById = (id: string): ScenarioDef | undefined => scenarios.find((s) => s.id === id)

/** Scenario 5: scenarios 2 and 4 again at these sizes; cost per item should stay flat. */
export const scalingSizes = { full: [10_000, 100_000, 1_000_000], quick: [1_000, 10_000, 100_000] } as const

/** Which scenario-5 series are computed: (scenario, metric). */
export const scalingSeries: ReadonlyArray<{
  readonly scenario: ScenarioId
  readonly key: string
  readonly label: string
}> = [
  { scenario: "suspend", key: "nsPerItem", label: "scenario 2 ns/job" },
  { scenario: "pending", key: "enqueueNsPerItem", label: "scenario 4 enqueue ns/job" },
  { scenario: "pending", key: "bytesPerItem", label: "scenario 4 heap B/job" }
]

// ---------------------------------------------------------------------------
// Targets (for this library, as ratios or values in the same run)
// ---------------------------------------------------------------------------

export type TargetDef =
  | {
      /** ours / peer on `key`: at least `min` (a throughput), or at most 1 / `min` when `better` is "lower" */
      readonly kind: "ratio"
      readonly label: string
      readonly scenario: ScenarioId
      readonly peer: SystemId
      readonly key: string
      readonly min: number
      readonly better?: "higher" | "lower"
      readonly unit?: string
    }
  | {
      /** ours at or below every system that is not ours, on a lower-is-better `key` */
      readonly kind: "best"
      readonly label: string
      readonly scenario: ScenarioId
      readonly key: string
      readonly unit: string
    }
  | {
      readonly kind: "value"
      readonly label: string
      readonly scenario: ScenarioId
      readonly key: string
      readonly max: number
      readonly unit: string
    }
  | {
      readonly kind: "scaling"
      readonly label: string
      readonly scenario: ScenarioId
      readonly key: string
      readonly max: number
    }
  | {
      /** 1 − variant/ours on `key` (a throughput): what switching the variant's features on costs */
      readonly kind: "overhead"
      readonly label: string
      readonly scenario: ScenarioId
      readonly variant: SystemId
      readonly key: string
      readonly max: number
    }

/**
 * Every target is measured on the headline row (`workqueue`: a fresh item per job, queued through the Effect
 * API). The "(#18)" targets are issue 18's; the others were set earlier and are kept as set.
 */
export const targets: ReadonlyArray<TargetDef> = [
  {
    kind: "ratio",
    label: "1: throughput vs Effect.forEach (#18)",
    scenario: "sync",
    peer: "effect-forEach",
    key: "itemsPerSec",
    min: 0.5
  },
  {
    kind: "ratio",
    label: "1: throughput vs p-queue (#18)",
    scenario: "sync",
    peer: "p-queue",
    key: "itemsPerSec",
    min: 10
  },
  {
    kind: "ratio",
    label: "1: throughput vs fastq (callback)",
    scenario: "sync",
    peer: "fastq-callback",
    key: "itemsPerSec",
    min: 0.5
  },
  {
    kind: "ratio",
    label: "2: throughput vs fastq (promise) (#18)",
    scenario: "suspend",
    peer: "fastq-promise",
    key: "itemsPerSec",
    min: 1
  },
  {
    kind: "ratio",
    label: "2: throughput vs Effect.forEach (#18)",
    scenario: "suspend",
    peer: "effect-forEach",
    key: "itemsPerSec",
    min: 1
  },
  {
    kind: "ratio",
    label: "2: throughput vs fastq (callback)",
    scenario: "suspend",
    peer: "fastq-callback",
    key: "itemsPerSec",
    min: 1
  },
  { kind: "best", label: "3: p99 lateness, lowest of all (#18)", scenario: "delayed", key: "lateP99Ms", unit: "ms" },
  { kind: "value", label: "3: p99 lateness", scenario: "delayed", key: "lateP99Ms", max: 5, unit: "ms" },
  {
    kind: "ratio",
    label: "4: enqueue ns/job vs Effect Queue (#18)",
    scenario: "pending",
    peer: "effect-queue",
    key: "enqueueNsPerItem",
    min: 1,
    better: "lower",
    unit: "ns"
  },
  {
    kind: "value",
    label: "4: heap per pending job, item included (#18)",
    scenario: "pending",
    key: "bytesPerItem",
    max: 150,
    unit: "B"
  },
  { kind: "value", label: "4: heap per pending job", scenario: "pending", key: "bytesPerItem", max: 100, unit: "B" },
  {
    kind: "overhead",
    label: "obs: scenario 2 cost of observability (tracepoints on)",
    scenario: "suspend",
    variant: "workqueue-observed",
    key: "itemsPerSec",
    max: 0.1
  },
  {
    kind: "overhead",
    label: "obs: scenario 2 cost with handler spans too",
    scenario: "suspend",
    variant: "workqueue-spans",
    key: "itemsPerSec",
    max: 0.1
  },
  {
    kind: "scaling",
    label: "5: scenario 2 ns/job, largest/smallest size",
    scenario: "suspend",
    key: "nsPerItem",
    max: 1.5
  },
  {
    kind: "scaling",
    label: "5: scenario 4 enqueue ns/job, largest/smallest",
    scenario: "pending",
    key: "enqueueNsPerItem",
    max: 1.5
  },
  {
    kind: "scaling",
    label: "5: scenario 4 heap B/job, largest/smallest",
    scenario: "pending",
    key: "bytesPerItem",
    max: 1.5
  },
  {
    kind: "value",
    label: "6: high-priority start latency",
    scenario: "priority",
    key: "startLatencyMs",
    max: 1,
    unit: "ms"
  },
  { kind: "value", label: "7: arm + cancel", scenario: "timers", key: "armCancelNsPerItem", max: 300, unit: "ns" }
]

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** 1000000 → "1,000,000". */
export const fmtCount = (n: number): string => n.toLocaleString("en-US")
