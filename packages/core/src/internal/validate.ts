/**
 * The rules a caller's input must meet before an engine step changes anything: the CPU, the item's system, the
 * workqueue's lifecycle, the delay, `alloc_workqueue()`'s arguments. Each broken rule is a typed `WorkqueueError`
 * naming the workqueue and the rule; nothing here changes state.
 *
 * @internal
 */
import { type Effect, isEffect } from "effect/Effect"
import * as WorkqueueError from "./error.ts"
import { callerWorker, currentCpuUnsafe, isChainedWork } from "./core.ts"
import { WQ_DFL_ACTIVE, WQ_NAME_LEN, WQ_PUBLIC_FLAGS } from "./flags.ts"
import { type System, type WorkqueueState, type WorkState } from "./state.ts"
import { WORK_PENDING } from "./workData.ts"

// ---------------------------------------------------------------------------
// queueing (the lifecycle, the CPU, the item's system)
// ---------------------------------------------------------------------------

/** Reject queueing on a destroyed wq, or from outside on a draining / destroying one (docs/KERNEL-MAPPING.md). */
export const queueRejection = (wq: WorkqueueState): WorkqueueError.WorkqueueError | undefined => {
  if (wq.system.sealed && wq.lifecycle !== "Destroyed") return sealedRejection(wq)
  switch (wq.lifecycle) {
    case "Open":
      return wq.system.closed || wq.system.shuttingDown ? outsideRejection(wq) : undefined
    case "Destroyed":
      return WorkqueueError.make(
        "Destroyed",
        wq.name,
        wq.system.closed
          ? "cannot queue on a destroyed workqueue (its WorkqueueSystem has closed)"
          : "cannot queue on a destroyed workqueue"
      )
    case "Draining":
    case "Destroying":
      return isChainedWork(wq)
        ? undefined
        : WorkqueueError.make(
            "Draining",
            wq.name,
            `cannot queue while ${wq.lifecycle === "Draining" ? "draining" : "being destroyed"} (only chained work allowed)`
          )
  }
}

/**
 * A sealed system (its shutdown passed the deadline) takes no work at all, not even chained work: a chain that
 * re-queues itself forever would keep the drain, the close and the process alive. The one side effect of this
 * module: the first refusal per workqueue is logged (the kernel warns on a drain that never ends), so a chain cut
 * here is seen even when its handler ignores the error.
 */
const sealedRejection = (wq: WorkqueueState): WorkqueueError.WorkqueueError => {
  const own = callerWorker()?.currentPwq?.wq.system === wq.system
  if (own) {
    wq.system.warnOnce(
      `sealed:${wq.name}`,
      `workqueue ${wq.name}: the shutdown deadline passed; queueing from the system's own work items is refused ` +
        `from now on (a chain that re-queues itself ends here)`
    )
  }
  return WorkqueueError.make(
    "Draining",
    wq.name,
    "cannot queue: the WorkqueueSystem's shutdown passed its deadline (no work is taken any more, not even from its own items)"
  )
}

/** A closing or shutting-down system takes work from its own items only (the pipelines its close still drains). */
const outsideRejection = (wq: WorkqueueState): WorkqueueError.WorkqueueError | undefined => {
  if (callerWorker()?.currentPwq?.wq.system === wq.system) return undefined
  return wq.system.closed
    ? WorkqueueError.make(
        "Destroyed",
        wq.name,
        "cannot queue from outside: its WorkqueueSystem is closing (only its own work items may queue)"
      )
    : WorkqueueError.make(
        "Draining",
        wq.name,
        "cannot queue from outside: its WorkqueueSystem is shutting down (only its own work items may queue)"
      )
}

const isCpu = (sys: System, cpu: number): boolean => Number.isInteger(cpu) && cpu >= 0 && cpu < sys.cpus

/**
 * The CPU a queueing call targets must be one of the system's: the explicit one, or without it the caller's
 * (`onCpu`), validated before any state changes.
 * @internal
 */
export const checkCpu = (
  sys: System,
  wq: WorkqueueState,
  cpu: number | undefined
): WorkqueueError.WorkqueueError | undefined => {
  if (cpu !== undefined) {
    return isCpu(sys, cpu)
      ? undefined
      : WorkqueueError.make(
          "InvalidCpu",
          wq.name,
          `CPU ${show(cpu)} is not one of the ${sys.cpus} CPUs (0..${sys.cpus - 1})`
        )
  }
  return callerCpuRejection(sys, wq, currentCpuUnsafe(sys))
}

/** The caller's CPU (`currentCpuUnsafe`, already read) is not one of `sys`'s: `InvalidCpu` naming `wq`. */
export const callerCpuRejection = (
  sys: System,
  wq: WorkqueueState,
  caller: number
): WorkqueueError.WorkqueueError | undefined =>
  isCpu(sys, caller)
    ? undefined
    : WorkqueueError.make(
        "InvalidCpu",
        wq.name,
        `the caller's CPU ${show(caller)} (onCpu) is not one of the ${sys.cpus} CPUs (0..${sys.cpus - 1})`
      )

/**
 * A work item belongs to one system: the first it is queued or armed on (`work.system`, set when that succeeds),
 * until that system has closed and the item is neither pending nor running there. Its pending bit, running
 * instances and waiters all live in that system, so queueing it on another is refused (one system's cancel_sync
 * could not wait for an instance on another). The kernel has one system; see docs/DESIGN.md §7a.
 */
export const foreignSystem = (
  sys: System,
  wq: WorkqueueState,
  work: WorkState
): WorkqueueError.WorkqueueError | undefined => {
  const owner = work.system
  if (owner === sys || owner === undefined) return undefined
  // a closed system lets go of an item once it is done there (its close may still be running it)
  if (owner.closed && work.current === undefined && (work.data & WORK_PENDING) === 0) return undefined
  return WorkqueueError.make(
    "ForeignSystem",
    wq.name,
    `work item "${work.name}" belongs to another WorkqueueSystem (the first it was queued on); a work item serves one system`
  )
}

// ---------------------------------------------------------------------------
// delays
// ---------------------------------------------------------------------------

/** Validate a delay: NaN and infinite are rejected; a negative delay is clamped to 0 (jiffies can't be < 0). */
export const delayMillis = (wq: WorkqueueState, millis: number): number | WorkqueueError.WorkqueueError => {
  if (Number.isNaN(millis) || !Number.isFinite(millis)) {
    return WorkqueueError.make("InvalidDelay", wq.name, `delay ${millis} ms is not a finite number of milliseconds`)
  }
  return millis <= 0 ? 0 : Math.ceil(millis)
}

/**
 * Arming a timer on a workqueue being destroyed is refused even from its own items: destroy fires the armed
 * timers once and drains, so a timer armed after that would fire on a destroyed queue (the kernel's
 * use-after-free: `destroy_workqueue()` leaves armed timers alone). Delay 0 is ordinary chained queueing and
 * stays allowed.
 */
export const armRejection = (wq: WorkqueueState, ms: number): WorkqueueError.WorkqueueError | undefined =>
  ms > 0 && wq.lifecycle === "Destroying"
    ? WorkqueueError.make(
        "Draining",
        wq.name,
        "cannot arm a delayed item while being destroyed (the timer would outlive it)"
      )
    : undefined

// ---------------------------------------------------------------------------
// alloc_workqueue's arguments
// ---------------------------------------------------------------------------

/**
 * Does `u` carry the marker `key` (a `TypeId`)? The one `in` test of the type guards, which never throws: a
 * `Proxy` whose `has` trap throws is simply not marked (so the public `is*` guards answer `false` and the calls
 * refuse it with their typed `InvalidArgument`).
 * @internal
 */
export const hasMark = (u: unknown, key: string): boolean => {
  if (typeof u !== "object" || u === null) return false
  try {
    return key in u
  } catch {
    return false
  }
}

/** `Effect.isEffect` that never throws (a `Proxy` whose `has` trap throws is not an Effect). @internal */
export const isEffectSafe = (u: unknown): u is Effect<unknown, unknown, unknown> => {
  try {
    return isEffect(u)
  } catch {
    return false
  }
}

/** The kinds the engine's values render as in a message: marker and the field naming the value. */
const KINDS: ReadonlyArray<readonly [marker: string, kind: string, nameField: string]> = [
  ["~effect-workqueue/DelayedWork", "DelayedWork", "name"],
  ["~effect-workqueue/Work", "Work", "name"],
  ["~effect-workqueue/Workqueue", "Workqueue", "name"],
  ["~effect-workqueue/Job", "Job", "id"]
]

/**
 * A caller's value in a message: never throws (a symbol, an object with a throwing `toString`, a hostile `Proxy`).
 * A work item, a workqueue or a job is shown by kind and name (`Workqueue("events")`), never `[object Object]`.
 * @internal
 */
export const show = (u: unknown): string => clip(showWhole(u))

/** At most `SHOW_MAX` characters of a caller's value go into a message (a 1 MB string, a function's source). */
const SHOW_MAX = 120

/** `s`, cut to `SHOW_MAX` characters with an ellipsis. @internal */
export const clip = (s: string): string => (s.length <= SHOW_MAX ? s : `${s.slice(0, SHOW_MAX - 1)}…`)

const showWhole = (u: unknown): string => {
  if (typeof u === "string") return JSON.stringify(u)
  if (typeof u === "bigint") return `${u}n`
  try {
    if (typeof u === "symbol") return u.toString()
    if (typeof u === "function") return u.name === "" ? "a function" : `function ${u.name}`
    if (isEffectSafe(u)) return "an Effect"
    if (typeof u === "object" && u !== null) {
      for (const [marker, kind, field] of KINDS) {
        if (hasMark(u, marker)) return `${kind}(${JSON.stringify(String((u as Record<string, unknown>)[field]))})`
      }
      return Object.prototype.toString.call(u)
    }
    return String(u)
  } catch {
    return typeof u
  }
}

/** The keys an options argument may hold: checked by `readOptions`, copied in one order. @internal */
export interface OptionKeys {
  readonly keys: ReadonlySet<string>
  readonly template: Readonly<Record<string, undefined>> // every key, `undefined`: the copy's one hidden class
}

/** The `OptionKeys` of `keys`. @internal */
export const optionKeys = (keys: ReadonlyArray<string>): OptionKeys => ({
  keys: new Set(keys),
  template: Object.freeze(Object.fromEntries(keys.map((key) => [key, undefined])))
})

/** The copy `readOptions` starts from: every known key its own property, `undefined` (a spread of the template). @internal */
export const noOptions = (known: OptionKeys): Record<string, unknown> => ({ ...known.template })

/**
 * Read a caller's options object ONCE into a plain copy, the only thing validated and kept afterwards (a getter
 * runs once, a later write to the caller's object changes nothing). Rules, each broken one an `InvalidOptions`
 * error naming `owner` (the workqueue, or the item's name) and the rule:
 * - absent (`undefined`) is no options; anything else must be a plain object (prototype `Object.prototype` or
 *   `null`): `null`, an array, a function, a primitive, a `Map`, a `Date`, a work item or a workqueue is refused;
 * - only its own enumerable string keys are read (`Object.hasOwn`): a property inherited from a polluted
 *   `Object.prototype` is never an option;
 * - every key must be one of `known`: a typo (`maxActvie`) is refused, never silently ignored;
 * - a getter or `Proxy` trap that throws is refused with the rule, never escaping as a raw `Error`.
 * A key whose value is `undefined` is the option omitted (`null` is a value, checked by each option's rule). The
 * copy holds every known key as its own property (`undefined` when not given), so reading it never reaches a
 * prototype.
 * @internal
 */
export const readOptions = (
  owner: string,
  what: string,
  options: unknown,
  known: OptionKeys
): Record<string, unknown> | undefined | WorkqueueError.WorkqueueError => {
  if (options === undefined) return undefined
  const refuse = (rule: string) => WorkqueueError.make("InvalidOptions", owner, `${what}: ${rule}`)
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    return refuse(`options must be a plain object (or absent), got ${show(options)}`)
  }
  // every known key an own property, in one order (one hidden class per key set, fast to read): a key the caller
  // did not give reads as `undefined`, never as a value inherited from a polluted `Object.prototype`
  const copy = noOptions(known)
  try {
    const proto = Object.getPrototypeOf(options)
    if (proto !== Object.prototype && proto !== null) {
      return refuse(`options must be a plain object (or absent), got ${show(options)}`)
    }
    for (const key of Object.keys(options)) {
      if (!known.keys.has(key)) {
        return refuse(`unknown option ${JSON.stringify(key)} (known: ${[...known.keys].join(", ")})`)
      }
      copy[key] = (options as Record<string, unknown>)[key]
    }
  } catch (e) {
    return refuse(`reading the options threw: ${show(e instanceof Error ? e.message : e)}`)
  }
  return copy
}

/**
 * What a caller passes to `alloc_workqueue()`, checked before anything is built: a non-empty string name, flags
 * made of the public `WQ_*` bits only (a non-negative integer), an integer max_active (out of range is clamped
 * later, with the kernel's warning). The `__WQ_*` bits are the engine's: `makeOrdered` and the legacy creators
 * add them after this check.
 * @internal
 */
export const checkAllocArgs = (
  name: unknown,
  flags: unknown,
  maxActive: unknown
): WorkqueueError.WorkqueueError | undefined => {
  if (typeof name !== "string" || name.length === 0) {
    return WorkqueueError.make(
      "InvalidName",
      show(name),
      `a workqueue name must be a non-empty string, got ${show(name)}`
    )
  }
  const wqName = name.length >= WQ_NAME_LEN ? name.slice(0, WQ_NAME_LEN - 1) : name
  if (
    typeof flags !== "number" ||
    !Number.isInteger(flags) ||
    flags < 0 ||
    flags > WQ_PUBLIC_FLAGS ||
    (flags & ~WQ_PUBLIC_FLAGS) !== 0
  ) {
    return WorkqueueError.make(
      "InvalidFlags",
      wqName,
      `flags must be a combination of the WQ_* flags (0x${WQ_PUBLIC_FLAGS.toString(16)}), got ${show(flags)}`
    )
  }
  if (typeof maxActive !== "number" || !Number.isInteger(maxActive)) {
    return WorkqueueError.make(
      "InvalidMaxActive",
      wqName,
      `max_active must be an integer (0 for the default ${WQ_DFL_ACTIVE}), got ${show(maxActive)}`
    )
  }
  return undefined
}

// ---------------------------------------------------------------------------
// the preludes: the checks each queueing entry runs before its own, in one order
// ---------------------------------------------------------------------------

/** What every queueing call checks first, in this order: the CPU, then the item's system. */
export const checkCaller = (
  sys: System,
  wq: WorkqueueState,
  cpu: number | undefined,
  work: WorkState
): WorkqueueError.WorkqueueError | undefined => checkCpu(sys, wq, cpu) ?? foreignSystem(sys, wq, work)

/** What every arming call checks first: `checkCaller`, then the delay; the delay in whole ms when all pass. */
export const checkArmCaller = (
  sys: System,
  wq: WorkqueueState,
  cpu: number | undefined,
  dwork: WorkState,
  millis: number
): number | WorkqueueError.WorkqueueError => checkCaller(sys, wq, cpu, dwork) ?? delayMillis(wq, millis)

/** Arming refused by the workqueue's lifecycle: queueing's rule, then the timer-outlives-destroy rule. */
export const armRefusal = (wq: WorkqueueState, ms: number): WorkqueueError.WorkqueueError | undefined =>
  queueRejection(wq) ?? armRejection(wq, ms)
