/**
 * Friendly construction: the named options of `Workqueue.make` (`unbound`, `highpri`, `ordered`, `concurrency`,
 * ...) mapped onto exactly one set of `WQ_*` flags and one `max_active`, with `maxPending` beside them.
 *
 * Rules (each broken one is a `WorkqueueError` with `reason: "InvalidOptions"` naming the workqueue and the rule):
 * - a named flag `true` adds its bit; `false` says the bit must be absent — a `flags` bitmask that has it conflicts;
 * - `ordered: true` is `alloc_ordered_workqueue()`: `WQ_UNBOUND | __WQ_ORDERED`, max_active 1; it conflicts with
 *   `unbound: false` and with a `concurrency` or `maxActive` other than 1;
 * - `concurrency: n` is p-queue's "n at once in total": `WQ_UNBOUND` with max_active n (a per-CPU workqueue's
 *   `maxActive` counts per CPU); it must be an integer in 1..2048 and conflicts with `unbound: false` and with a
 *   different `maxActive`;
 * - `unbound: false` adds `WQ_PERCPU` (the newest kernels' explicit complement); `WQ_PERCPU` in the `flags` bitmask
 *   contradicts `unbound: true`, `ordered: true` and `concurrency` (each means unbound);
 * - `maxPending` must be a positive integer or `Infinity` (the default: no bound);
 * - the options are the plain copy `readOptions` made (own known keys only, read once) before these rules run.
 * `WQ_UNBOUND | WQ_PERCPU` in the bitmask alone is not refused here: `Workqueue.make` warns once and drops
 * `WQ_PERCPU`, as the kernel's WARN does.
 * The kernel's own rules (`WQ_BH` allows only `WQ_HIGHPRI` and `WQ_PERCPU`, max_active 0) are checked afterwards by
 * `allocWorkqueue`, as for the bitmask form.
 *
 * @internal
 */
import * as WorkqueueError from "./error.ts"
import { show } from "./validate.ts"
import {
  __WQ_ORDERED,
  WQ_BH,
  WQ_CPU_INTENSIVE,
  WQ_FREEZABLE,
  WQ_HIGHPRI,
  WQ_MAX_ACTIVE,
  WQ_MEM_RECLAIM,
  WQ_PERCPU,
  WQ_POWER_EFFICIENT,
  WQ_SYSFS,
  WQ_UNBOUND
} from "./flags.ts"

/** The named boolean options and their bits: one table, read by the resolver and the docs test. @internal */
export const namedFlags = {
  bh: WQ_BH,
  unbound: WQ_UNBOUND,
  freezable: WQ_FREEZABLE,
  memReclaim: WQ_MEM_RECLAIM,
  highpri: WQ_HIGHPRI,
  cpuIntensive: WQ_CPU_INTENSIVE,
  sysfs: WQ_SYSFS,
  powerEfficient: WQ_POWER_EFFICIENT
} as const

/** @internal */
export type NamedFlag = keyof typeof namedFlags

/** What `Workqueue.make` accepts (see `Workqueue.Options`). @internal */
export interface RawOptions {
  readonly flags?: number | undefined
  readonly maxActive?: number | undefined
  readonly ordered?: boolean | undefined
  readonly concurrency?: number | undefined
  readonly maxPending?: number | undefined
  readonly bh?: boolean | undefined
  readonly unbound?: boolean | undefined
  readonly freezable?: boolean | undefined
  readonly memReclaim?: boolean | undefined
  readonly highpri?: boolean | undefined
  readonly cpuIntensive?: boolean | undefined
  readonly sysfs?: boolean | undefined
  readonly powerEfficient?: boolean | undefined
}

/** The one set of flags and limits the options mean. @internal */
export interface Resolved {
  readonly flags: number // the public WQ_* bits
  readonly internal: number // the kernel-internal bits the options imply (`__WQ_ORDERED`), never from the user
  readonly maxActive: number
  readonly maxPending: number
}

const invalid = (name: string, rule: string) => WorkqueueError.make("InvalidOptions", name, rule)

/** The options argument must be an object or absent: `null`, an array, a function or a primitive is refused. @internal */
export const badOptionsObject = (name: string, options: unknown): WorkqueueError.WorkqueueError | undefined =>
  options === undefined || (typeof options === "object" && options !== null && !Array.isArray(options))
    ? undefined
    : invalid(name, `options must be an object (or absent), got ${show(options)}`)

/** Resolve named options and the bitmask into one set, or the rule they break. @internal */
export const resolveOptions = (
  name: string,
  options: RawOptions | undefined
): Resolved | WorkqueueError.WorkqueueError => {
  // the bitmask and max_active are validated before (`checkAllocArgs`: public WQ_* bits, integers), the kernel's
  // combination rules after, by `allocWorkqueue`
  const bitmask = options?.flags ?? 0
  let flags = bitmask
  let maxActive = options?.maxActive ?? 0
  let internal = 0
  if (options === undefined) return { flags, internal, maxActive, maxPending: Infinity }
  const notObject = badOptionsObject(name, options)
  if (notObject !== undefined) return notObject
  for (const key of Object.keys(namedFlags) as Array<NamedFlag>) {
    const value = options[key]
    if (value === undefined) continue
    if (typeof value !== "boolean") return invalid(name, `option ${key} must be a boolean, got ${show(value)}`)
    const bit = namedFlags[key]
    if (value) flags |= bit
    else if ((bitmask & bit) !== 0) return invalid(name, `${key}: false conflicts with the same bit in flags`)
  }
  if (options.unbound === false) flags |= WQ_PERCPU
  if (options.unbound === true && (bitmask & WQ_PERCPU) !== 0) {
    return invalid(name, "unbound: true conflicts with WQ_PERCPU in flags")
  }
  if (options.ordered !== undefined && typeof options.ordered !== "boolean") {
    return invalid(name, `option ordered must be a boolean, got ${show(options.ordered)}`)
  }
  const concurrency = options.concurrency
  if (concurrency !== undefined) {
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > WQ_MAX_ACTIVE) {
      return invalid(name, `concurrency ${show(concurrency)} is not an integer in 1..${WQ_MAX_ACTIVE}`)
    }
    if (options.unbound === false) {
      return invalid(name, "concurrency counts in total (unbound); with unbound: false use maxActive (per CPU)")
    }
    if (options.maxActive !== undefined && options.maxActive !== concurrency) {
      return invalid(name, `concurrency ${concurrency} conflicts with maxActive ${show(options.maxActive)}`)
    }
    if ((bitmask & WQ_PERCPU) !== 0) {
      return invalid(name, "concurrency counts in total (unbound); it conflicts with WQ_PERCPU in flags")
    }
    flags |= WQ_UNBOUND
    maxActive = concurrency
  }
  if (options.ordered === true) {
    if (options.unbound === false) return invalid(name, "ordered: true is unbound; it conflicts with unbound: false")
    if ((bitmask & WQ_PERCPU) !== 0)
      return invalid(name, "ordered: true is unbound; it conflicts with WQ_PERCPU in flags")
    if ((concurrency ?? 1) !== 1 || (options.maxActive ?? 1) !== 1) {
      return invalid(
        name,
        `ordered: true runs one at a time; it conflicts with concurrency/maxActive ${show(concurrency ?? options.maxActive)}`
      )
    }
    flags |= WQ_UNBOUND
    internal = __WQ_ORDERED
    maxActive = 1
  }
  const maxPending = options.maxPending === undefined ? Infinity : options.maxPending
  if (maxPending !== Infinity && (!Number.isInteger(maxPending) || maxPending < 1)) {
    return invalid(name, `maxPending ${show(maxPending)} is not a positive integer (or Infinity for no bound)`)
  }
  return { flags, internal, maxActive, maxPending }
}
