/**
 * Effect 4 written by hand, the way a user would without this library.
 *
 * - effect-queue: `Queue.unbounded` of effects drained by N worker fibers (`take` then run, in
 *   `Effect.forever(…, { disableYield: true })`); submission with `Queue.offerUnsafe`. Delayed jobs: `setTimeout`,
 *   then offer. Pending: the queue filled before the workers are forked.
 * - effect-forEach: `Effect.forEach(indices, f, { concurrency, discard: true })`.
 * - effect-semaphore: one fiber per job (`Effect.runFork`), gated by `Semaphore.withPermits(1)`. Delayed jobs: the
 *   fiber sleeps (`Effect.sleep`), then takes a permit; scenario 7 interrupts the sleeping fibers.
 * - effect-gen (a floor, not a queue): one `Effect.gen` loop doing per job what the headline row's submission loop
 *   does at the least, two `yield*` of a one-step effect, the second running the job: the cost of submitting one
 *   job at a time through any Effect API, before any queue does anything.
 *
 * The per-job effect is built at submission (`Effect.sync(() => job(i))`), as user code would.
 */
import { Effect, type Fiber, Queue, Semaphore } from "effect"
import { job, jobLate } from "../job.ts"
import { measureDelayed, measurePending, measureThroughput, measureTimers, slots } from "../measure.ts"
import type { SystemImpl } from "./types.ts"

type Job = Effect.Effect<void>

const suspendOnce = (i: number): Job =>
  Effect.andThen(
    Effect.yieldNow,
    Effect.sync(() => job(i))
  )

/** A queue of effects and `workers` fibers running them one at a time; `stop` interrupts the workers. */
const workerPool = (workers: number) => {
  const queue = Effect.runSync(Queue.unbounded<Job>())
  const fibers: Array<Fiber.Fiber<never>> = []
  const start = (): void => {
    for (let w = 0; w < workers; w++) {
      fibers.push(
        Effect.runFork(
          Effect.forever(
            Effect.flatMap(Queue.take(queue), (eff) => eff),
            { disableYield: true }
          )
        )
      )
    }
  }
  const stop = (): void => {
    for (const fiber of fibers) fiber.interruptUnsafe()
  }
  return { queue, start, stop }
}

const indices = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i)

export const effectQueue: SystemImpl = {
  sync: async (n) => {
    const pool = workerPool(1)
    pool.start()
    const metrics = await measureThroughput(n, () => {
      for (let i = 0; i < n; i++)
        Queue.offerUnsafe(
          pool.queue,
          Effect.sync(() => job(i))
        )
    })
    pool.stop()
    return metrics
  },
  suspend: async (n) => {
    const pool = workerPool(16)
    pool.start()
    const metrics = await measureThroughput(n, () => {
      for (let i = 0; i < n; i++) Queue.offerUnsafe(pool.queue, suspendOnce(i))
    })
    pool.stop()
    return metrics
  },
  delayed: async (n, seed) => {
    const pool = workerPool(16)
    pool.start()
    const metrics = await measureDelayed(n, seed, (i, delayMs) => {
      setTimeout(
        () =>
          Queue.offerUnsafe(
            pool.queue,
            Effect.sync(() => jobLate(i))
          ),
        delayMs
      )
    })
    pool.stop()
    return metrics
  },
  pending: async (n) => {
    const pool = workerPool(1)
    const metrics = await measurePending(n, {
      enqueueAll: () => {
        for (let i = 0; i < n; i++)
          Queue.offerUnsafe(
            pool.queue,
            Effect.sync(() => job(i))
          )
      },
      release: () => pool.start()
    })
    pool.stop()
    return metrics
  }
}

export const effectForEach: SystemImpl = {
  sync: (n) => {
    const items = indices(n)
    return measureThroughput(n, () =>
      Effect.runPromise(Effect.forEach(items, (i) => Effect.sync(() => job(i)), { concurrency: 1, discard: true }))
    )
  },
  suspend: (n) => {
    const items = indices(n)
    return measureThroughput(n, () =>
      Effect.runPromise(Effect.forEach(items, suspendOnce, { concurrency: 16, discard: true }))
    )
  }
}

export const effectSemaphore: SystemImpl = {
  sync: (n) => {
    const semaphore = Semaphore.makeUnsafe(1)
    const gated = semaphore.withPermits(1)
    return measureThroughput(n, () => {
      for (let i = 0; i < n; i++) Effect.runFork(gated(Effect.sync(() => job(i))))
    })
  },
  suspend: (n) => {
    const semaphore = Semaphore.makeUnsafe(16)
    const gated = semaphore.withPermits(1)
    return measureThroughput(n, () => {
      for (let i = 0; i < n; i++) Effect.runFork(gated(suspendOnce(i)))
    })
  },
  delayed: (n, seed) => {
    const semaphore = Semaphore.makeUnsafe(16)
    const gated = semaphore.withPermits(1)
    return measureDelayed(n, seed, (i, delayMs) => {
      Effect.runFork(Effect.andThen(Effect.sleep(delayMs), gated(Effect.sync(() => jobLate(i)))))
    })
  },
  pending: (n) => {
    const semaphore = Semaphore.makeUnsafe(1)
    const gated = semaphore.withPermits(1)
    Effect.runSync(semaphore.take(1))
    return measurePending(n, {
      enqueueAll: () => {
        for (let i = 0; i < n; i++) Effect.runFork(gated(Effect.sync(() => job(i))))
      },
      release: () => {
        Effect.runSync(semaphore.release(1))
      }
    })
  },
  timers: (n, seed) => {
    const semaphore = Semaphore.makeUnsafe(16)
    const gated = semaphore.withPermits(1)
    const fibers = slots<Fiber.Fiber<void>>(n)
    return measureTimers(n, seed, {
      arm: (i, delayMs) => {
        fibers[i] = Effect.runFork(Effect.andThen(Effect.sleep(delayMs), gated(Effect.sync(() => job(i)))))
      },
      cancel: (i) => fibers[i]!.interruptUnsafe()
    })
  }
}

const noop = (): void => {}

export const effectGen: SystemImpl = {
  sync: (n) =>
    measureThroughput(n, () =>
      Effect.runPromise(
        Effect.gen(function* () {
          for (let i = 0; i < n; i++) {
            yield* Effect.sync(noop)
            yield* Effect.sync(() => job(i))
          }
        })
      )
    )
}
