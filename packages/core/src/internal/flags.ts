/**
 * The `WQ_*` flags and limits: the one table. The public `Workqueue.WQ_*` constants and the named options
 * (`options.ts`) derive from it.
 *
 * @internal
 */

// ---------------------------------------------------------------------------
// constants (wq.h `enum wq_flags`, `enum wq_consts`; wq.c `enum wq_internal_consts`)
// ---------------------------------------------------------------------------

/** @internal */
export const WQ_BH = 1 << 0
/** @internal */
export const WQ_UNBOUND = 1 << 1
/** @internal */
export const WQ_FREEZABLE = 1 << 2
/** @internal */
export const WQ_MEM_RECLAIM = 1 << 3
/** @internal */
export const WQ_HIGHPRI = 1 << 4
/** @internal */
export const WQ_CPU_INTENSIVE = 1 << 5
/** @internal */
export const WQ_SYSFS = 1 << 6
/** @internal */
export const WQ_POWER_EFFICIENT = 1 << 7
/** @internal */
export const WQ_PERCPU = 1 << 8
/** @internal */
export const __WQ_DESTROYING = 1 << 15
/** @internal */
export const __WQ_DRAINING = 1 << 16
/** @internal */
export const __WQ_ORDERED = 1 << 17
/** @internal */
export const __WQ_LEGACY = 1 << 18
/** The public `WQ_*` bits: any other bit in a caller's flags is refused (the `__WQ_*` bits are the engine's). */
export const WQ_PUBLIC_FLAGS =
  WQ_BH |
  WQ_UNBOUND |
  WQ_FREEZABLE |
  WQ_MEM_RECLAIM |
  WQ_HIGHPRI |
  WQ_CPU_INTENSIVE |
  WQ_SYSFS |
  WQ_POWER_EFFICIENT |
  WQ_PERCPU
/** `__WQ_BH_ALLOWS` */
export const WQ_BH_ALLOWS = WQ_BH | WQ_HIGHPRI | WQ_PERCPU
/** @internal */
export const WQ_MAX_ACTIVE = 2048
/** @internal */
export const WQ_DFL_ACTIVE = WQ_MAX_ACTIVE / 2
/** @internal */
export const WQ_UNBOUND_MAX_ACTIVE = WQ_MAX_ACTIVE
/** `WQ_NAME_LEN` */
export const WQ_NAME_LEN = 32
