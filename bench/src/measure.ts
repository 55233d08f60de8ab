/**
 * Measurement drivers shared by every system, so each scenario is timed the same way whatever runs the jobs.
 *
 * A system supplies only the calls that differ (how to submit, arm, cancel, release); the driver owns the clock,
 * the heap samples and the job accounting. All times come from `performance.now()`; heap samples are
 * `process.memoryUsage().heapUsed` after two `gc()` calls (the child runs with `--expose-gc`).
 */
import { completed, expectAll, expectHigh, highStart, lateness, setDue, trackLateness, verifyAll } from "./job.ts"

/** One measured pass: metric name to value. */
export type Metrics = Record<string, number>

/** Milliseconds from an arbitrary origin, sub-microsecond resolution. */
export const now = (): number => performance.now()

/** A full collection (twice, so finalisers and weak cells settle). Requires `--expose-gc`. */
export const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("global.gc is missing: run the child with --expose-gc")
  collect()
  collect()
}

/** Bytes in use on the V8 heap now. */
export const heapUsed = (): number => process.memoryUsage().heapUsed

/** A packed array of `n` empty slots, allocated before a heap baseline so the holder is not counted per item. */
export const slots = <A>(n: number): Array<A | undefined> => {
  const out: Array<A | undefined> = []
  for (let i = 0; i < n; i++) out.push(undefined)
  return out
}

/** mulberry32: a small deterministic PRNG, uniform on [0, 1). */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `n` integer delays in `[min, max]` milliseconds from `seed`. */
export const delays = (n: number, seed: number, min: number, max: number): Uint32Array => {
  const random = prng(seed)
  const out = new Uint32Array(n)
  for (let i = 0; i < n; i++) out[i] = min + Math.floor(random() * (max - min + 1))
  return out
}

/** The `q` quantile (0..1) of ascending `sorted`, nearest rank. */
export const quantile = (sorted: ArrayLike<number>, q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]!
}

/** Run `create` (if any) and return its cost in ns per item, or nothing. */
const timeCreate = async (n: number, create: (() => void | PromiseLike<void>) | undefined): Promise<Metrics> => {
  if (create === undefined) return {}
  const t0 = now()
  await create()
  return { createNsPerItem: ((now() - t0) * 1e6) / n }
}

/** `promise` plus the time it settled, without leaving a rejection unhandled. */
const settleTime = (promise: Promise<void>): Promise<number> => promise.then(() => now())

// ---------------------------------------------------------------------------
// Scenarios 1, 2, 5 (throughput)
// ---------------------------------------------------------------------------

/**
 * Throughput: `submitAll` submits all `n` jobs at once (it may return a promise that settles when its own
 * machinery is done); the clock runs from the first submission to the last completion.
 * Heap delta: heapUsed at the last completion (no gc) minus heapUsed after a gc just before submitting.
 */
export const measureThroughput = async (n: number, submitAll: () => void | PromiseLike<unknown>): Promise<Metrics> => {
  gc()
  const all = expectAll(n)
  const heap0 = heapUsed()
  const t0 = now()
  const finished = settleTime(all)
  const submitted = submitAll()
  const t1 = await finished
  const heap1 = heapUsed()
  await submitted
  verifyAll(n)
  const ms = t1 - t0
  return { ms, itemsPerSec: (n * 1000) / ms, nsPerItem: (ms * 1e6) / n, heapDeltaBytes: heap1 - heap0 }
}

// ---------------------------------------------------------------------------
// Scenario 3 (delayed jobs, lateness)
// ---------------------------------------------------------------------------

/** Jobs armed per synchronous chunk in scenario 3; the driver yields to the event loop between chunks. */
export const ARM_CHUNK = 1000

/** Let the event loop run its timers and I/O (setImmediate runs after the timers phase). */
const yieldToLoop = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * Arming a whole chunk in one call (a system whose API is a loop of effects, run once per chunk): it must, for each
 * `i` in `[start, end)` in order, call `setDue(i, now() + delays[i])` just before arming job i with `delays[i]`.
 */
export interface ArmChunk {
  readonly chunk: (start: number, end: number, delays: Uint32Array) => void
}

/**
 * Delayed jobs with seeded random delays in `[0, 100]` ms. `arm(i, delayMs)` must arrange for `jobLate(i)` to run
 * after `delayMs`; the due time of job i is `performance.now()` just before its `arm` call plus its delay.
 * Jobs are armed in chunks of {@link ARM_CHUNK} with a yield to the event loop between chunks, so lateness measures
 * how precisely due jobs start rather than how long one arming loop blocks the loop (200k arms take ~100 ms, as long
 * as the longest delay). Reports the time from the first arm to the last completion, arm ns per job (arming loops
 * only) and the lateness distribution.
 */
export const measureDelayed = async (
  n: number,
  seed: number,
  arm: ((i: number, delayMs: number) => void) | ArmChunk
): Promise<Metrics> => {
  const ds = delays(n, seed, 0, 100)
  trackLateness(n)
  gc()
  const all = expectAll(n)
  const finished = settleTime(all)
  let armMs = 0
  const t0 = now()
  for (let start = 0; start < n; start += ARM_CHUNK) {
    const end = Math.min(n, start + ARM_CHUNK)
    const c0 = now()
    if (typeof arm === "function") {
      for (let i = start; i < end; i++) {
        const d = ds[i]!
        setDue(i, now() + d)
        arm(i, d)
      }
    } else {
      arm.chunk(start, end, ds)
    }
    armMs += now() - c0
    if (end < n) await yieldToLoop()
  }
  const t2 = await finished
  verifyAll(n)
  const sorted = Float64Array.from(lateness()).sort()
  return {
    totalMs: t2 - t0,
    armNsPerItem: (armMs * 1e6) / n,
    lateP50Ms: quantile(sorted, 0.5),
    lateP99Ms: quantile(sorted, 0.99),
    lateMaxMs: sorted[sorted.length - 1] ?? Number.NaN
  }
}

// ---------------------------------------------------------------------------
// Scenarios 4, 5 (pending jobs)
// ---------------------------------------------------------------------------

/** How a system holds jobs pending: `enqueueAll` must not start any; `release` lets them all run. */
export interface Pending {
  /** Create per-item objects that the API needs before queueing (timed separately, counted in the heap). */
  readonly create?: () => void | PromiseLike<void>
  readonly enqueueAll: () => void
  readonly release: () => void | PromiseLike<unknown>
}

/**
 * Pending jobs: heap bytes per pending job (gc'd heapUsed after creating and enqueueing minus before, over n) and
 * enqueue ns per job. Fails if any job started before `release`. Waits for all to run after release.
 */
export const measurePending = async (n: number, pending: Pending): Promise<Metrics> => {
  gc()
  const all = expectAll(n)
  const finished = settleTime(all)
  const heap0 = heapUsed()
  const created = await timeCreate(n, pending.create)
  const t0 = now()
  pending.enqueueAll()
  const t1 = now()
  gc()
  const heap1 = heapUsed()
  const early = completed()
  if (early > 0) throw new Error(`${early} of ${n} jobs ran before release; they were not all pending`)
  const released = pending.release()
  await finished
  await released
  verifyAll(n)
  return { bytesPerItem: (heap1 - heap0) / n, enqueueNsPerItem: ((t1 - t0) * 1e6) / n, ...created }
}

// ---------------------------------------------------------------------------
// Scenario 6 (priority)
// ---------------------------------------------------------------------------

/** How a system runs scenario 6: `n` normal jobs pending on one queue, then one high-priority job. */
export interface Priority {
  readonly create?: () => void | PromiseLike<void>
  /** Queue the `n` normal jobs (running `job(i)`); they must still be pending on return. */
  readonly enqueueNormals: () => void
  /** Queue the one high-priority job (running `highJob()`). */
  readonly enqueueHigh: () => void
}

/** Start latency of one high-priority job queued behind `n` pending normal ones, from its queue call to its start. */
export const measurePriority = async (n: number, priority: Priority): Promise<Metrics> => {
  const all = expectAll(n)
  const high = expectHigh()
  const finished = settleTime(all)
  await timeCreate(n, priority.create)
  gc()
  priority.enqueueNormals()
  // collect what queueing the normals left behind, so the timed call does not pay for it (same for every system)
  gc()
  const t0 = now()
  priority.enqueueHigh()
  await high
  await finished
  verifyAll(n)
  const started = highStart()
  return { startLatencyMs: started.at - t0, normalsBefore: started.normalsBefore }
}

// ---------------------------------------------------------------------------
// Scenario 7 (armed delayed items)
// ---------------------------------------------------------------------------

/** How a system arms and cancels delayed jobs; the jobs must never run. */
export interface Timers {
  readonly create?: () => void | PromiseLike<void>
  /** Arm job i (one call per job)… */
  readonly arm?: (i: number, delayMs: number) => void
  /** …or arm all `n` in one call (a loop of effects run once). */
  readonly armAll?: (delays: Uint32Array) => void
  readonly cancel: (i: number) => void
}

/**
 * `n` armed delayed jobs with seeded delays in [60 s, 120 s], all cancelled: arm ns, cancel ns, heap bytes per armed
 * item (including any per-item object from `create`), and heap bytes per item still held after cancelling.
 */
export const measureTimers = async (n: number, seed: number, timers: Timers): Promise<Metrics> => {
  const ds = delays(n, seed, 60_000, 120_000)
  const all = expectAll(n)
  gc()
  const heap0 = heapUsed()
  const created = await timeCreate(n, timers.create)
  const t0 = now()
  const arm = timers.arm
  if (timers.armAll !== undefined) timers.armAll(ds)
  else if (arm !== undefined) for (let i = 0; i < n; i++) arm(i, ds[i]!)
  else throw new Error("measureTimers needs arm or armAll")
  const t1 = now()
  gc()
  const heap1 = heapUsed()
  const t2 = now()
  for (let i = 0; i < n; i++) timers.cancel(i)
  const t3 = now()
  // let any asynchronous clean-up settle before sampling what the cancelled items still hold
  await yieldToLoop()
  gc()
  const heap2 = heapUsed()
  if (completed() > 0) throw new Error(`${completed()} of ${n} cancelled delayed jobs ran`)
  void all
  const armNsPerItem = ((t1 - t0) * 1e6) / n
  const cancelNsPerItem = ((t3 - t2) * 1e6) / n
  return {
    armNsPerItem,
    cancelNsPerItem,
    armCancelNsPerItem: armNsPerItem + cancelNsPerItem,
    bytesPerItem: (heap1 - heap0) / n,
    bytesAfterCancelPerItem: (heap2 - heap0) / n,
    ...created
  }
}
