/**
 * The `work->data` word of a work item (`WorkState.data`), every bit of it, and the helpers that read and write
 * it. The kernel packs the same facts into `work_struct.data` (wq.h `enum work_bits`); ours differs where an item
 * is never off-queue on a pool (no pool id when idle) and where it may run on several pools at once.
 *
 * ```
 * bit  0      WORK_PENDING      queued or armed: owned by whoever set it (queueing is a test-and-set)
 * bit  1      WORK_INACTIVE     on its pwq's inactive list (held back by max_active or freezing)
 * bit  2      WORK_FLUSHERS     its queued instance has flush_work waiters (`System.workFlushers`)
 * bit  3      WORK_LAST_GONE    the instance on its last pool ended while another pool still runs it
 * bits 4..7   colour            the flush colour it was queued with (WORK_NR_COLORS = 16)
 * bits 8..18  CPU + 1           the CPU it was queued for, or recorded at arming (`dwork->cpu`); 0: none
 * bits 19..26 exec count        how many workers run it right now (WORK_EXEC_ONE per instance)
 * ```
 *
 * Every write is part of one engine step (rule L in `state.ts`). This module reads nothing but the word and the
 * fields it names (`work.current` for the last pool).
 *
 * @internal
 */
import type { Worker, WorkState } from "./state.ts"

/** bit 0: queued or armed (`WORK_STRUCT_PENDING`). @internal */
export const WORK_PENDING = 1
/** bit 1: on its pwq's inactive list (`WORK_STRUCT_INACTIVE`). @internal */
export const WORK_INACTIVE = 2
/** bit 2: the item has flush_work waiters on its queued instance (ours: the kernel queues a barrier item). @internal */
export const WORK_FLUSHERS = 4
/**
 * bit 3: the instance of the item's last pool has ended while another (another pool) still runs: `work.current`
 * then points at a remaining instance (so cancel and the system lookup find it), but the redirect and flush_work,
 * which in the kernel look only at the last pool, see nothing.
 * @internal
 */
export const WORK_LAST_GONE = 8
/** bits 4..7: the flush colour (`WORK_STRUCT_COLOR_SHIFT`). @internal */
export const WORK_COLOR_SHIFT = 4
/** `WORK_NR_COLORS`: flush colours in rotation. @internal */
export const WORK_NR_COLORS = 16
/** bits 8..18 hold CPU + 1 (0: none): the CPU it was queued for, or recorded at arming (`dwork->cpu`). @internal */
export const WORK_CPU_SHIFT = 8
/** @internal */
export const WORK_CPU_MASK = 0x7ff
/**
 * bits 19..26: how many workers execute the item right now. Normally 0 or 1; more only when the same item was
 * queued on workqueues of different pools (`find_worker_executing_work()` looks per pool). `work.current` is the
 * last one started (the kernel's "last pool"); the others are found by a scan, only when the count says so.
 */
const WORK_EXEC_SHIFT = 19
/** One running instance in the exec count. @internal */
export const WORK_EXEC_ONE = 1 << WORK_EXEC_SHIFT
/** `WORK_OFFQ_DISABLE_MAX`: the cap of the disable count (`WorkExtra.disable`, not data bits). @internal */
export const WORK_OFFQ_DISABLE_MAX = 65535

/** The flush colour it was queued with. @internal */
export const workColor = (work: WorkState): number => (work.data >>> WORK_COLOR_SHIFT) & (WORK_NR_COLORS - 1)
/** The CPU recorded in `work->data` (queued for, or recorded at arming); -1 for none. */
export const workCpu = (work: WorkState): number => ((work.data >>> WORK_CPU_SHIFT) & WORK_CPU_MASK) - 1
export const workSetCpu = (work: WorkState, cpu: number): void => {
  work.data = (work.data & ~(WORK_CPU_MASK << WORK_CPU_SHIFT)) | ((cpu + 1) << WORK_CPU_SHIFT)
}

/** The worker of the item's last pool, if it still runs it (redirect, flush_work). */
export const workLastRunning = (work: WorkState): Worker | undefined =>
  (work.data & WORK_LAST_GONE) !== 0 ? undefined : work.current
export const workNrExec = (work: WorkState): number => (work.data >>> WORK_EXEC_SHIFT) & 0xff
