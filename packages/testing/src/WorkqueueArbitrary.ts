/**
 * Generators of readable, shrinkable workqueue scenarios, built on Effect's own `effect/Arbitrary`.
 *
 * A {@link Scenario} is a configuration (virtual CPUs, workqueues with different flags, plain and delayed items)
 * plus a list of {@link WorkqueueModel.Op}s: queueing calls, cancels, flushes, clock advances and the actions of
 * running handlers (finish, fail, die, suspend on a latch, requeue itself, call the API from inside). Each operation
 * is decoded from a small vector of integers, so shrinking removes operations and moves the remaining ones towards
 * the simplest choice (queue the first item on the first workqueue), and {@link format} prints the result as a
 * numbered op list.
 *
 * @since 0.1.0
 */
import * as Arbitrary from "effect/Arbitrary"
import * as Schema from "effect/Schema"
import * as WorkqueueModel from "./WorkqueueModel.ts"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * A generated test case: the system's shape, the operations, and a seed for the model-only scheduler
 * ({@link chooser}); a checker against a real engine ignores the seed and lets the engine choose.
 *
 * **Kernel**: a boot, some `alloc_workqueue`/`INIT_WORK` calls, then a sequence of API calls.
 *
 * **Example** (A hand-written scenario)
 *
 * ```ts
 * import type { WorkqueueArbitrary } from "@effect-workqueue/testing"
 * const scenario: WorkqueueArbitrary.Scenario = {
 *   config: { cpus: 1, workqueues: [{ name: "wq0", kind: "ordered" }], items: [{ name: "w0", delayed: false }] },
 *   ops: [{ _tag: "Queue", wq: "wq0", item: "w0" }],
 *   seed: 0
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Scenario {
  readonly config: WorkqueueModel.Config
  readonly ops: ReadonlyArray<WorkqueueModel.Op>
  readonly seed: number
}

/**
 * Options for {@link scenario}.
 *
 * - `maxOps`: the longest op list (default 40).
 * - `maxCpus`: CPUs are drawn from `1 .. maxCpus` (default 3).
 * - `maxWorkqueues`: workqueues from `1 .. maxWorkqueues` (default 3).
 * - `handlerBlocking`: whether handlers may make blocking calls (flushes, drain, destroy, cancelSync) on other items
 *   and queues, not only the self-deadlocking ones (default `true`). Wait cycles between handlers then occur: they
 *   block forever, as in the kernel (lockdep only reports them; this library fails only
 *   self-deadlocks, docs/KERNEL-MAPPING.md), and the checker abandons such a
 *   system instead of closing it. Turn it off for implementations that cannot be abandoned that way.
 * - `exclude`: op kinds never generated (default none); an excluded op decodes to a clock advance instead, so the
 *   shape of the generated lists and their shrinking stay the same. Use it to keep a known divergence out of a large
 *   run while a focused regression test tracks it.
 * - `oneWorkqueuePerItem`: every call that names a workqueue and an item uses the item's own workqueue
 *   (`wq(i mod n)` for the i-th item), so an item never runs on two workqueues (default `false`).
 *
 * **Kernel**: —
 *
 * **Example** (Short sequences on one CPU)
 *
 * ```ts
 * import type { WorkqueueArbitrary } from "@effect-workqueue/testing"
 * const options: WorkqueueArbitrary.ScenarioOptions = { maxOps: 10, maxCpus: 1 }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ScenarioOptions {
  readonly maxOps?: number | undefined
  readonly maxCpus?: number | undefined
  readonly maxWorkqueues?: number | undefined
  readonly handlerBlocking?: boolean | undefined
  readonly exclude?: ReadonlyArray<WorkqueueModel.Op["_tag"]> | undefined
  readonly oneWorkqueuePerItem?: boolean | undefined
}

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * The work items of every generated scenario: two plain items (`w0`, `w1`) and two delayed ones (`dw0`, `dw1`).
 *
 * **Kernel**: `DECLARE_WORK` / `DECLARE_DELAYED_WORK`.
 *
 * **Example** (Names)
 *
 * ```ts
 * import { WorkqueueArbitrary } from "@effect-workqueue/testing"
 * WorkqueueArbitrary.items.map((item) => item.name) // => ["w0", "w1", "dw0", "dw1"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const items: ReadonlyArray<WorkqueueModel.ItemSpec> = [
  { name: "w0", delayed: false },
  { name: "w1", delayed: false },
  { name: "dw0", delayed: true },
  { name: "dw1", delayed: true }
]

/**
 * Generates configurations: 1..`maxCpus` CPUs and 1..`maxWorkqueues` workqueues `wq0`, `wq1`, … each bound,
 * unbound or ordered, with `max_active` 1..3 and optionally freezable, highpri or CPU-intensive, plus the fixed {@link items}.
 * Shrinks towards one CPU and one bound, non-freezable workqueue with `max_active` 1.
 *
 * **Kernel**: `alloc_workqueue(name, flags, max_active)`, `alloc_ordered_workqueue(name, flags)`.
 *
 * **Example** (Sampling configurations)
 *
 * ```ts
 * import { Arbitrary, Effect } from "effect"
 * import { WorkqueueArbitrary } from "@effect-workqueue/testing"
 * const configs = await Effect.runPromise(Arbitrary.sampleEffect(WorkqueueArbitrary.config(), { count: 2, seed: 1 }))
 * configs.length // => 2
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const config = (
  options: Pick<ScenarioOptions, "maxCpus" | "maxWorkqueues"> = {}
): Arbitrary.Arbitrary<WorkqueueModel.Config> => {
  const wq = Arbitrary.all([int(0, 2), int(1, 3), int(0, 1), int(0, 3), int(0, 3)])
  return Arbitrary.map(
    Arbitrary.all([
      int(1, Math.max(1, options.maxCpus ?? 3)),
      Arbitrary.array(wq, { minLength: 1, maxLength: Math.max(1, options.maxWorkqueues ?? 3) })
    ]),
    ([cpus, wqs]): WorkqueueModel.Config => ({
      cpus,
      workqueues: wqs.map(
        ([kind, maxActive, freezable, highpri, cpuIntensive], index): WorkqueueModel.WorkqueueSpec => ({
          name: `wq${index}`,
          kind: kind === 0 ? "bound" : kind === 1 ? "unbound" : "ordered",
          maxActive: kind === 2 ? 1 : maxActive,
          freezable: freezable === 1,
          highpri: highpri === 3,
          cpuIntensive: cpuIntensive === 3
        })
      ),
      items
    })
  )
}

/**
 * Generates complete scenarios: a {@link config}, up to `maxOps` operations decoded against it, and a scheduler seed.
 * The op list shrinks by dropping operations and simplifying each (towards `queue(wq0, w0)`).
 *
 * **Kernel**: —
 *
 * **Example** (A property over scenarios)
 *
 * ```ts
 * import { Arbitrary, Effect } from "effect"
 * import { WorkqueueArbitrary, WorkqueueModel } from "@effect-workqueue/testing"
 * const result = await Effect.runPromise(Arbitrary.checkEffect(WorkqueueArbitrary.scenario(), (s) => {
 *   const { state } = WorkqueueModel.run(s.config, s.ops, WorkqueueArbitrary.chooser(s.seed))
 *   return WorkqueueModel.invariantViolations(state).length === 0
 * }, { runs: 20 }))
 * result._tag // => "Passed"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const scenario = (options: ScenarioOptions = {}): Arbitrary.Arbitrary<Scenario> => {
  const gene = Arbitrary.all([int(0, OP_KINDS - 1), int(0, 11), int(0, 11), int(0, 11), int(0, 11)])
  return Arbitrary.map(
    Arbitrary.all([
      config(options),
      Arbitrary.array(gene, { maxLength: Math.max(0, options.maxOps ?? 40) }),
      int(0, 1_000_000)
    ]),
    ([cfg, genes, seed]): Scenario => ({
      config: cfg,
      ops: genes.map((g) => narrow(cfg, decodeOp(cfg, g, options.handlerBlocking !== false), g, options)),
      seed
    })
  )
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/**
 * A deterministic model scheduler for {@link WorkqueueModel.run}: from `seed` it picks which allowed event happens
 * next and, now and then, stops settling early so that the next operation meets items that are active but not yet
 * started, handlers that returned but were not yet accounted for, and calls not yet returned.
 *
 * **Kernel**: the freedom of the pools' workers.
 *
 * **Example** (Running a scenario through the model)
 *
 * ```ts
 * import { WorkqueueArbitrary, WorkqueueModel } from "@effect-workqueue/testing"
 * const s: WorkqueueArbitrary.Scenario = {
 *   config: { cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: WorkqueueArbitrary.items },
 *   ops: [{ _tag: "Queue", wq: "wq0", item: "w0" }],
 *   seed: 7
 * }
 * WorkqueueModel.run(s.config, s.ops, WorkqueueArbitrary.chooser(s.seed)).trace.length // => 1
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const chooser = (seed: number): WorkqueueModel.Chooser => {
  let state = seed >>> 0
  const next = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return (events) => (next() < 0.15 ? -1 : Math.floor(next() * events.length))
}

/**
 * Prints a scenario as a readable, numbered op list headed by its configuration.
 *
 * **Kernel**: —
 *
 * **Example** (Printing)
 *
 * ```ts
 * import { WorkqueueArbitrary } from "@effect-workqueue/testing"
 * WorkqueueArbitrary.format({
 *   config: { cpus: 1, workqueues: [{ name: "wq0", kind: "ordered", maxActive: 1 }], items: WorkqueueArbitrary.items },
 *   ops: [{ _tag: "Queue", wq: "wq0", item: "w0" }, { _tag: "Requeue", item: "w0" }],
 *   seed: 3
 * })
 * // => "cpus=1 seed=3 wq0(ordered, max_active=1)\n  1. queue(wq0, w0)\n  2. w0> requeue()"
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const format = (s: Scenario): string => {
  const wqs = s.config.workqueues.map((wq) => {
    const flags = [wq.kind, `max_active=${wq.maxActive ?? "dfl"}`]
    if (wq.freezable === true) flags.push("freezable")
    if (wq.highpri === true) flags.push("highpri")
    return `${wq.name}(${flags.join(", ")})`
  })
  const lines = s.ops.map((op, index) => `  ${index + 1}. ${WorkqueueModel.formatOp(op)}`)
  return [`cpus=${s.config.cpus} seed=${s.seed} ${wqs.join(" ")}`, ...lines].join("\n")
}

// ---------------------------------------------------------------------------
// Private helpers
// ---------------------------------------------------------------------------

const int = (minimum: number, maximum: number): Arbitrary.Arbitrary<number> =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })))

const DELAYS = [0, 5, 10, 10, 20] as const
const ADVANCES = [5, 10, 1, 20] as const

// Kind 0 is the simplest op, so shrinking lands on it. Queueing is listed twice to keep items flowing.
const OP_KINDS = 24

const pick = <A>(xs: ReadonlyArray<A>, n: number): A => xs[n % xs.length]!

// Decodes one gene [kind, a, b, c, d] against the configuration. Decoding depends only on the configuration, never
// on a state, so a shrunk list is still a valid list.
const decodeOp = (
  cfg: WorkqueueModel.Config,
  [kind, a, b, c, d]: readonly [number, number, number, number, number],
  handlerBlocking: boolean
): WorkqueueModel.Op => {
  const wq = pick(cfg.workqueues, a).name
  const item = pick(cfg.items, b).name
  const plain = pick(
    cfg.items.filter((x) => !x.delayed),
    b
  ).name
  const delayed = pick(
    cfg.items.filter((x) => x.delayed),
    b
  ).name
  const other = pick(cfg.items, d).name
  // c picks "no CPU" (the caller's) or one of the CPUs
  const cpu = c % (cfg.cpus + 1) === cfg.cpus ? undefined : c % (cfg.cpus + 1)
  switch (kind) {
    // `sameStep` (about one in three): issued in one synchronous step with the op before (the lost timer wake-up
    // needed two arms in one step); decided by gene digits, so shrinking (towards 0) drops the mark
    case 0:
    case 1:
      return sameStep(d, { _tag: "Queue", wq, item: plain, cpu })
    case 2:
      return sameStep(a + b, { _tag: "QueueDelayed", wq, item: delayed, delay: pick(DELAYS, d), cpu })
    case 3:
      return sameStep(a + b, { _tag: "ModDelayed", wq, item: delayed, delay: pick(DELAYS, d), cpu })
    case 4:
    case 5:
      return { _tag: "Finish", item, outcome: "success" }
    case 6:
      return { _tag: "Finish", item, outcome: c % 2 === 0 ? "failure" : "defect" }
    case 7:
      return { _tag: "Requeue", item }
    case 8:
      return { _tag: "Suspend", item, latch: c % 2 }
    case 9:
      return { _tag: "Release", latch: a % 2 }
    case 10:
      return sameStep(c, { _tag: "Cancel", item })
    case 11:
      return { _tag: "CancelSync", item }
    case 12:
      return { _tag: "Disable", item }
    case 13:
      return { _tag: "Enable", item }
    case 14:
      return { _tag: "FlushWork", item }
    case 15:
      return { _tag: "FlushDelayedWork", item: delayed }
    case 16:
      return { _tag: "FlushWorkqueue", wq }
    case 17:
      return d % 3 === 0 ? { _tag: "Drain", wq } : { _tag: "AdvanceClock", ms: pick(ADVANCES, c) }
    case 18:
      return d % 4 === 0 ? { _tag: "Destroy", wq } : { _tag: "AdvanceClock", ms: pick(ADVANCES, c) }
    case 19:
      return { _tag: "SetMaxActive", wq, maxActive: 1 + (c % 3) }
    case 20:
      return d % 2 === 0 ? { _tag: "Freeze" } : { _tag: "Thaw" }
    case 21:
      return { _tag: "AdvanceClock", ms: pick(ADVANCES, c) }
    case 22:
      return handlerCall(item, wq, other, cpu, c, d)
    default:
      return handlerBlockingCall(item, wq, other, c, handlerBlocking)
  }
}

const sameStep = <A extends WorkqueueModel.Op>(digit: number, op: A): A =>
  digit % 3 === 2 ? { ...op, sameStep: true } : op

// Applies the `exclude` and `oneWorkqueuePerItem` options to a decoded op.
const narrow = (
  cfg: WorkqueueModel.Config,
  op: WorkqueueModel.Op,
  gene: readonly [number, number, number, number, number],
  options: ScenarioOptions
): WorkqueueModel.Op => {
  if (options.exclude !== undefined && options.exclude.includes(op._tag)) {
    return { _tag: "AdvanceClock", ms: pick(ADVANCES, gene[3]) }
  }
  if (options.oneWorkqueuePerItem === true && "wq" in op && "item" in op) {
    const index = cfg.items.findIndex((x) => x.name === op.item)
    return { ...op, wq: pick(cfg.workqueues, Math.max(0, index)).name }
  }
  return op
}

// A non-blocking call made from inside a running handler (chained when it targets the handler's own queue).
const handlerCall = (
  from: WorkqueueModel.ItemId,
  wq: WorkqueueModel.WqId,
  other: WorkqueueModel.ItemId,
  cpu: number | undefined,
  c: number,
  d: number
): WorkqueueModel.Op => {
  switch (c % 5) {
    case 0:
      return { _tag: "Queue", wq, item: other, cpu, from }
    case 1:
      return { _tag: "QueueDelayed", wq, item: other, delay: pick(DELAYS, d), cpu, from }
    case 2:
      return { _tag: "ModDelayed", wq, item: other, delay: pick(DELAYS, d), cpu, from }
    case 3:
      return { _tag: "Cancel", item: other, from }
    default:
      return { _tag: "SetMaxActive", wq, maxActive: 1 + (d % 3), from }
  }
}

// A blocking call made from inside a running handler: on itself or its own queue these are the self-deadlocks that
// lockdep reports (check_flush_dependency(), __flush_work()); on others they block the handler until they return.
const handlerBlockingCall = (
  from: WorkqueueModel.ItemId,
  wq: WorkqueueModel.WqId,
  other: WorkqueueModel.ItemId,
  c: number,
  handlerBlocking: boolean
): WorkqueueModel.Op => {
  const target = handlerBlocking ? other : from
  switch (c % 6) {
    case 0:
      return { _tag: "FlushWork", item: from, from }
    case 1:
      return { _tag: "CancelSync", item: from, from }
    case 2:
      return { _tag: "FlushWork", item: target, from }
    case 3:
      return handlerBlocking ? { _tag: "FlushWorkqueue", wq, from } : { _tag: "CancelSync", item: target, from }
    case 4:
      return handlerBlocking ? { _tag: "Drain", wq, from } : { _tag: "FlushWork", item: target, from }
    default:
      return handlerBlocking ? { _tag: "Destroy", wq, from } : { _tag: "CancelSync", item: target, from }
  }
}
