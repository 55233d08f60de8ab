/**
 * One timer structure per `WorkqueueSystem` (the kernel's timer wheel, for delayed work, idle culling and
 * maydays).
 *
 * Expiries are whole milliseconds (our "jiffy" is 1 ms; a delay is rounded up, so a timer may fire late, never
 * early). Timers with the same expiry share one bucket, an intrusive FIFO list, so they fire in arming order.
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
import { List, type Node } from "./list.ts"

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
   * Expiries are stored relative to this epoch (the Clock when the system started), so they stay small
   * integers (V8 Smis) for ~12 days: an absolute Date.now()-sized number would be a heap-allocated double in every
   * armed item, and the old-to-young pointer it creates makes every scavenge slower (measured: arm 978 -> ... ns).
   */
  readonly base: number
  constructor(base: number) {
    this.base = base
  }
  private readonly buckets = new Map<number, TimerBucket>() // L
  private readonly heap: Array<number> = [] // L: min-heap of expiries: every live bucket's, plus dead entries
  private firing: TimerBucket | undefined = undefined // L: the bucket `expire` is taking nodes from (kept until empty)
  size = 0 // L: armed timers

  /** `add_timer()`: arm `node` to fire at `expires` (whole ms). Returns true if it is the new earliest expiry. */
  arm(node: TimerNode, absolute: number): boolean {
    const expires = absolute - this.base
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
