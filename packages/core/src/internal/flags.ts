/**
 * The `WQ_*` flags and limits: the one table. The public ones are declared, with their documentation, here and
 * only here: `Workqueue.ts` re-exports them by name (the API reference follows the re-export to this file), and
 * the named options (`options.ts`) derive from them. The `__WQ_*` bits and the derived masks stay internal.
 *
 * @internal
 */

// ---------------------------------------------------------------------------
// constants (wq.h `enum wq_flags`, `enum wq_consts`; wq.c `enum wq_internal_consts`)
// ---------------------------------------------------------------------------

/**
 * Execute in the queueing CPU's BH (softirq) context: queueing order, one at a time, handlers must not
 * suspend. Only `WQ_HIGHPRI` may be added and `maxActive` must be 0. Served before every other pool, but a BH
 * chain that re-queues itself leaves one scheduler turn in 88 to the waiting classes (see `WQ_HIGHPRI`).
 * @category configuration
 * @since 0.1.0
 */
export const WQ_BH = 1 << 0
/**
 * Served by unbound pools: no concurrency management, items start as soon as `max_active` allows.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_UNBOUND = 1 << 1
/**
 * Takes part in `WorkqueueSystem.freeze`: no new item starts while frozen.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_FREEZABLE = 1 << 2
/**
 * Gets a rescuer worker that guarantees forward progress when its pools cannot create workers.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_MEM_RECLAIM = 1 << 3
/**
 * Uses the high-priority pools, served before normal pools by the scheduler (the kernel's nice -20), weighted
 * rather than strictly: while normal work waits on the same CPU, one scheduler turn in 88 goes to it, so a
 * self-requeuing highpri chain slows normal work down about 88-fold and never starves it (the kernel's CFS weights
 * nice -20 against nice 0 about 87 : 1; here the unit is a worker's turn, not CPU time: docs/KERNEL-MAPPING.md).
 * @category configuration
 * @since 0.1.0
 */
export const WQ_HIGHPRI = 1 << 4
/**
 * Items do not count toward concurrency management and are time-sliced so they cannot starve the event loop.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_CPU_INTENSIVE = 1 << 5
/**
 * Visible to monitoring (`/sys/bus/workqueue/devices`); recorded in snapshots.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_SYSFS = 1 << 6
/**
 * Per-CPU unless the system runs in power-efficient mode (`WorkqueueSystem.layer({ powerEfficient: true })`).
 * @category configuration
 * @since 0.1.0
 */
export const WQ_POWER_EFFICIENT = 1 << 7
/**
 * Explicitly bound to a CPU (the newest kernels' complement of `WQ_UNBOUND`).
 * @category configuration
 * @since 0.1.0
 */
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
/**
 * `WQ_MAX_ACTIVE` = 2048.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_MAX_ACTIVE = 2048
/**
 * `WQ_DFL_ACTIVE` = 1024, used when `maxActive` is 0 or absent.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_DFL_ACTIVE = WQ_MAX_ACTIVE / 2
/**
 * `WQ_UNBOUND_MAX_ACTIVE` = 2048.
 * @category configuration
 * @since 0.1.0
 */
export const WQ_UNBOUND_MAX_ACTIVE = WQ_MAX_ACTIVE
/** `WQ_NAME_LEN` */
export const WQ_NAME_LEN = 32
