/**
 * One timer structure per `WorkqueueSystem` (the kernel's timer wheel, for delayed work, idle culling and
 * maydays).
 *
 * Expiries are whole milliseconds (our "jiffy" is 1 ms; a delay is rounded up, so a timer may fire late, never
 * early). "Never early" holds against the Clock below the millisecond (`System.fineNow`): delayed work is armed
 * at the fine arming time plus its delay, rounded up (`arm`), and the timer fiber fires what is due by the fine
 * time, so a timer armed at 1000.9 for 2 ms fires at 1003, not at 1002 (1.1 ms after it was armed). On the live
 * Clock the fiber sleeps whole milliseconds, rounded up, and looks again on every wake, so a sleep that ends early
 * (Node's timers run on a loop time truncated to the millisecond) only sleeps again; on any other Clock it sleeps
 * exactly until the next expiry, so a `TestClock` at a fractional time fires an expiry when it reaches it. Timers with the same expiry share one bucket, an intrusive FIFO list, so they fire in arming order.
 * Distinct expiries live in a binary min-heap of numbers. Arming into an existing bucket is one `Map` lookup and a
 * list append, O(1); a new expiry adds one heap push, O(log buckets); cancel is an O(1) unlink. Nothing is
 * allocated per armed item: the node is the item itself.
 *
 * Reclaiming cancelled timers (lazy deletion with compaction): a cancel that empties its bucket deletes the bucket
 * from the map at once; its expiry stays in the heap as a dead entry (an expiry with no bucket), skipped and popped
 * when it reaches the top. When dead entries outnumber live buckets (plus a small slack), the heap is rebuilt
 * from the map's keys in O(buckets). Each rebuild removes at least as many dead entries as it keeps live ones, and
 * every dead entry was pushed once, so the rebuilds cost O(1) amortised per arm; memory is O(live buckets) at
 * every step: 1M arm+cancel cycles with distinct expiries leave no bucket and a heap of at most `HEAP_SLACK`.
 * A re-armed expiry whose bucket was deleted gets a fresh bucket and a second heap entry; the older one is dead
 * (counted by `heap.length - buckets.size`), so duplicates are harmless.
 *
 * Measured choice (bench scenario 7): in a burst, delays share few distinct milliseconds, so almost every arm is
 * the O(1) path; a hierarchical wheel would make the lazy scan for "the next expiry" the cost instead.
 *
 * Field rule for everything here: L (see `state.ts`).
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { List, type Node } from "./list.ts"
import { ClassTimer, EntityKey, type SchedEntity, type WorkqueueScheduler } from "./scheduler.ts"

/** A node that can sit in the timer structure. @internal */
export interface TimerNode extends Node {
  expires: number // L: expiry in ms relative to TimerBase.base, while armed (see `arm`)
  /** Called by the timer fiber at expiry, after the node was unlinked. */
  onTimer(now: number): void
}

/** A bucket of timers with one expiry; `node.list instanceof TimerBucket` is what "armed" means. @internal */
export class TimerBucket extends List<TimerNode> {}

/** @internal */
export class TimerBase {
  /**
   * L: expiries are stored relative to this epoch (the Clock when the system started, floored to a whole ms), so
   * they stay small integers (V8 Smis) for ~12 days: an absolute Date.now()-sized number would be a heap-allocated
   * double in every armed item, and the old-to-young pointer it creates makes every scavenge slower (measured: arm
   * 978 -> ... ns). Moved only by `shift` (the live Clock's wall clock stepped), exactly, so it then carries the
   * steps' fraction: expiries stay whole ms after it, each rounded up from its arming time.
   */
  base: number
  constructor(base: number) {
    this.base = Math.floor(base)
  }

  /**
   * The frame of the times given to `arm` and `expire` moved by `delta` ms (the live Clock's wall clock stepped):
   * every armed expiry moves with it, exactly, so each keeps the time it had left and steps that cancel out
   * (jitter) cost nothing. O(1): expiries are relative to `base`.
   */
  shift(delta: number): void {
    this.base += delta
  }
  private readonly buckets = new Map<number, TimerBucket>() // L
  private readonly heap: Array<number> = [] // L: min-heap of expiries: every live bucket's, plus dead entries
  private firing: TimerBucket | undefined = undefined // L: the bucket `expire` is taking nodes from (kept until empty)
  size = 0 // L: armed timers

  /**
   * `add_timer()`: arm `node` to fire at `absolute`, rounded up to a whole ms. Returns true if it is the new
   * earliest expiry.
   */
  arm(node: TimerNode, absolute: number): boolean {
    const expires = Math.ceil(absolute - this.base) // whole ms after `base`, rounded up: never early
    node.expires = expires
    let bucket = this.buckets.get(expires)
    let earliest = false
    if (bucket === undefined) {
      const next = this.nextRelative()
      earliest = next === undefined || expires < next
      bucket = new TimerBucket()
      this.buckets.set(expires, bucket)
      heapPush(this.heap, expires)
    }
    bucket.push(node)
    this.size++
    return earliest
  }

  /** `timer_delete()`: the node must be armed here. An emptied bucket is dropped at once (see the module doc). */
  cancel(node: TimerNode): void {
    const bucket = node.list as TimerBucket
    bucket.remove(node)
    this.size--
    if (bucket.length === 0 && bucket !== this.firing) {
      this.buckets.delete(node.expires)
      if (this.heap.length > 2 * this.buckets.size + HEAP_SLACK) this.compact()
    }
  }

  /** Distinct expiries with a live bucket (for tests and snapshots). */
  get bucketCount(): number {
    return this.buckets.size
  }

  /** Heap entries, live and dead (for tests: reclaimed memory is visible here). */
  get heapLength(): number {
    return this.heap.length
  }

  /** Rebuild the heap from the live buckets' expiries (Floyd's heapify, O(buckets)). */
  private compact(): void {
    const heap = this.heap
    heap.length = 0
    for (const expires of this.buckets.keys()) heap.push(expires)
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i, heap[i]!)
  }

  isArmed(node: TimerNode): boolean {
    return node.list instanceof TimerBucket
  }

  /** The absolute expiry of an armed node. */
  expiresOf(node: TimerNode): number {
    return node.expires + this.base
  }

  /** The earliest expiry (absolute) with a live timer. */
  nextExpiry(): number | undefined {
    const next = this.nextRelative()
    return next === undefined ? undefined : next + this.base
  }

  /** The earliest expiry (relative) with a live timer, dropping emptied buckets on the way. */
  private nextRelative(): number | undefined {
    const heap = this.heap
    while (heap.length > 0) {
      const top = heap[0]!
      const bucket = this.buckets.get(top)
      if (bucket !== undefined && bucket.length > 0) return top
      // a dead entry (its bucket was cancelled empty), a duplicate, or the bucket `expire` just emptied
      if (bucket !== undefined) this.buckets.delete(top)
      heapPop(heap)
    }
    return undefined
  }

  /** Unlink every timer due at `now` and hand them to `fire`, earliest first, arming order within an expiry. */
  expire(absoluteNow: number, fire: (node: TimerNode) => void): number {
    let fired = 0
    const now = absoluteNow - this.base
    for (let next = this.nextRelative(); next !== undefined && next <= now; next = this.nextRelative()) {
      // the bucket stays in the map while it fires, one node at a time, so a callback that arms, cancels or
      // re-arms any timer (even one of this bucket) sees a consistent structure; nextExpiry drops it once empty
      const bucket = this.buckets.get(next)!
      const node = bucket.shift()!
      this.size--
      fired++
      this.firing = bucket
      try {
        fire(node)
      } finally {
        this.firing = undefined
      }
    }
    return fired
  }

  /** Every armed node, for destroy (fire a workqueue's timers now) and snapshots. */
  *nodes(): IterableIterator<TimerNode> {
    for (const bucket of this.buckets.values()) yield* bucket
  }
}

const heapPush = (heap: Array<number>, value: number): void => {
  let i = heap.length
  heap.push(value)
  while (i > 0) {
    const parent = (i - 1) >> 1
    const p = heap[parent]!
    if (p <= value) break
    heap[i] = p
    i = parent
  }
  heap[i] = value
}

/** Heap entries beyond twice the live buckets that trigger a rebuild: keeps tiny heaps from rebuilding often. */
const HEAP_SLACK = 64

const heapPop = (heap: Array<number>): void => {
  const last = heap.pop()!
  if (heap.length === 0) return
  siftDown(heap, 0, last)
}

/** Place `value` at `i` or below, moving smaller children up. */
const siftDown = (heap: Array<number>, i: number, last: number): void => {
  const n = heap.length
  while (true) {
    const l = 2 * i + 1
    if (l >= n) break
    const r = l + 1
    const c = r < n && heap[r]! < heap[l]! ? r : l
    if (heap[c]! >= last) break
    heap[i] = heap[c]!
    i = c
  }
  heap[i] = last
}

/** A timer node that runs `onTimer` at its expiry (`timer_setup()`). @internal */
export const makeTimerNode = (onTimer: (now: number) => void): TimerNode => ({
  next: undefined,
  prev: undefined,
  list: undefined,
  expires: 0,
  onTimer
})

// ---------------------------------------------------------------------------
// the timer fiber: one fiber sleeping on the Clock until the earliest expiry
// ---------------------------------------------------------------------------

/**
 * A sleep on a Clock other than the live one, from `fine` to at least `next` (> `fine`): whole nanoseconds (a
 * `Duration`'s resolution), the nearest, grown until `fine` plus it, summed in floating point as `TestClock`
 * sums a sleep, reaches `next`. `next - fine` sent as it is came back from the sum an ulp short of `next` (a
 * `TestClock` at 2.5999999999999996 sleeping 1.4 ms woke at 3.9999999999999996): nothing was due, the next sleep
 * rounded to 0 ns, and the fiber slept 0 ns at the same virtual time until `TestClock.adjust` gave up on it.
 * Never 0, and at a virtual time whose ulp is above 1 ns (a `TestClock` set to epoch milliseconds) the growth
 * doubles, so it ends in a few steps. @internal
 */
export const sleepUntil = (fine: number, next: number): Duration.Duration => {
  const ms = next - fine
  // beyond ~31 years nanoseconds add nothing, and past ~1e302 ms they are not finite: whole ms, rounded up (a sum
  // that still falls an ulp short only sleeps again, by at least that ulp)
  if (ms > 1e12) return Duration.millis(Math.ceil(ms))
  let ns = Math.max(1, Math.round(ms * 1e6))
  for (let grow = 1; fine + ns / 1e6 < next; grow *= 2) ns += grow
  return Duration.nanos(BigInt(ns))
}

/** The one fiber that fires a system's `TimerBase` (`run_timer_softirq()`), and the kicks that wake it. @internal */
export class TimerFiber {
  readonly timers: TimerBase // I
  readonly entity: SchedEntity // I: its scheduling entity (class ClassTimer: ahead of every worker)
  private readonly scheduler: WorkqueueScheduler // I
  private readonly now: () => number // I: the system Clock, ms (what `onTimer` is given)
  private readonly fineNow: () => number // I: the system Clock below the ms (what is due is decided on it)
  /**
   * I: sleeps are whole ms, rounded up (the live Clock: host timers have ms resolution); any other Clock (a
   * `TestClock`, a user's) sleeps exactly until the next expiry, so at a fractional virtual time it still wakes
   * when the Clock reaches the expiry, not up to 1 ms after.
   */
  private readonly wholeMsSleeps: boolean
  private readonly log: (message: string) => void // I: an error in the kernel's voice
  private fiber: Fiber.Fiber<unknown, unknown> | undefined = undefined // I (set by `start`)
  target = Infinity // L: the fiber looks at the structure again by this time (<= every armed expiry)
  private parked: (() => void) | undefined = undefined // L: resumes the fiber's current wait (see below)
  private kickQueued = false // L: a kick task is in the run queue and has not started

  constructor(
    timers: TimerBase,
    scheduler: WorkqueueScheduler,
    now: () => number,
    fineNow: () => number,
    wholeMsSleeps: boolean,
    log: (message: string) => void
  ) {
    this.timers = timers
    this.scheduler = scheduler
    this.now = now
    this.fineNow = fineNow
    this.wholeMsSleeps = wholeMsSleeps
    this.log = log
    this.entity = {
      schedClass: ClassTimer,
      nrQueuedTasks: 0,
      cpuIntensive: false,
      onRunnable() {},
      onSlice() {}
    }
  }

  /**
   * The timer fiber: fire what is due, then wait until the earliest expiry or a kick, whichever comes first.
   *
   * Why no wake-up can be lost, whatever arms, cancels and re-arms happen in however many synchronous steps
   * (every line below is one L step; `target` is T, the earliest armed expiry is M):
   *
   * - (I1) T <= M at every step boundary: `arm` lowers T to the new expiry when it is earlier; cancel and
   *   expiry only raise M; the fiber sets T = M when it computes (`next` below).
   * - (I2) the fiber looks at the structure again by time T: it is (a) not parked (running, runnable, or between
   *   computing `next` and registering its wait), or (b) parked with a Clock sleep until exactly T, or (c)
   *   parked with a kick task queued that has not started.
   *   - An arm that lowers T queues a kick, or finds one queued and not started, which therefore runs after the
   *     arm: (b) becomes (c). A kick reads `parked` when it runs, not when it was queued: it resumes
   *     whatever wait is registered then, or finds the fiber in (a), where nothing is needed.
   *   - Between computing `next` and registering (the fiber may yield there), an arm can lower T below `next`
   *     while nothing is registered; the registration compares T with `next` and does not park: (a).
   *   - Only the wait's own registration writes `parked`; only a kick (that resumes it) or the wait's own
   *     interruption (identity-checked) clears it. No stale closure can erase a newer registration — the defect
   *     of the old design, where a wake closure scheduled twice in one step cleared the fiber's next registration.
   *
   * So every armed timer is seen by a computation at a time <= its expiry, which fires it (due) or sleeps until
   * an expiry <= it. Under `TestClock` the sleep wakes at exactly that expiry; a kick runs in the next pump, at
   * the timer class, ahead of every worker. A spurious kick (its arm was cancelled) costs one re-computation.
   */
  start(baseCtx: Context.Context<never>): void {
    const self = this
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      // due by the fine time (an expiry is whole ms, so `now` is past it too); see the module doc
      const fine = self.fineNow()
      // the Clock's ms as the callbacks' time, never behind the fine reading; a Clock that throws or gives NaN (a
      // patched `Date.now`) gives the fine reading's ms instead of killing the fiber, and with it every timer
      const ms = self.clockMs()
      const now = ms >= Math.floor(fine) ? ms : Math.floor(fine)
      self.timers.expire(fine, (node) => {
        try {
          node.onTimer(now)
        } catch (defect) {
          // WARN_ON: a broken invariant in one expiry must not stop every other timer
          self.log(`workqueue: timer callback failed: ${String(defect)}`)
        }
      })
      const next = self.timers.nextExpiry() ?? Infinity
      self.target = next
      const park = Effect.callback<void>((resume) => {
        // an arm lowered the target after `next` was computed (I2, case a): look again instead of parking
        if (self.target < next) return resume(Effect.void)
        const wake = () => resume(Effect.void)
        self.parked = wake
        return Effect.sync(() => {
          if (self.parked === wake) self.parked = undefined
        })
      })
      // live: whole ms, rounded up; a sleep that still ends before `next` (the host's timer resolution) looks again.
      // Any other Clock: exactly until `next` (see `wholeMsSleeps`)
      const wait =
        next === Infinity
          ? park
          : Effect.raceFirst(Effect.sleep(self.wholeMsSleeps ? Math.ceil(next - fine) : sleepUntil(fine, next)), park)
      return Effect.flatMap(wait, () => loop)
    })
    const entity = this.entity
    this.fiber = Effect.runForkWith(baseCtx)(
      Effect.withFiber((fiber) => {
        ;(fiber as any)[EntityKey] = entity
        return Effect.flatMap(Effect.yieldNow, () => loop)
      })
    )
  }

  /** `add_timer()`: arm `node` at `absolute` (rounded up); kick the timer fiber if that is earlier than it will look (I1). */
  arm(node: TimerNode, absolute: number): void {
    this.timers.arm(node, absolute)
    const expires = this.timers.expiresOf(node) // rounded up to a whole ms
    if (expires < this.target) {
      this.target = expires
      if (!this.kickQueued) {
        this.kickQueued = true
        this.scheduler.scheduleTask(this.kick, 0, this.entity)
      }
    }
  }

  /**
   * The frame of `fineNow` moved by `delta` (a wall-clock step on the live Clock): shift every armed expiry by
   * `delta`, and `target` with them (I1 and I2 hold in the new frame: the fiber's sleep is a host timer, which the
   * step does not move). Called inside the reading that saw the step, before anything is armed or fired on it.
   */
  shift(delta: number): void {
    this.timers.shift(delta)
    this.target += delta
  }

  /** `now()`, or NaN if it throws. */
  private clockMs(): number {
    try {
      return this.now()
    } catch {
      return Number.NaN
    }
  }

  /** The kick task: resume the wait registered now, if any (I2). */
  private readonly kick = (): void => {
    this.kickQueued = false
    const wake = this.parked
    if (wake === undefined) return
    this.parked = undefined
    wake()
  }

  stop(): Effect.Effect<void> {
    const fiber = this.fiber
    return fiber === undefined ? Effect.void : Fiber.interrupt(fiber)
  }
}
