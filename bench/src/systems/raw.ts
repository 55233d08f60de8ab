/**
 * The floor: no queue library at all.
 *
 * - raw-loop: a plain loop calling the job (scenario 2: 16 async loops sharing an index, each awaiting a resolved
 *   promise per job; scenario 4: an array of pending indices; scenarios 3 and 7: bare `setTimeout`/`clearTimeout`).
 * - raw-microtask: an array of thunks drained by `queueMicrotask` (at most 16 in flight in scenario 2; scenario 3:
 *   `setTimeout`, then push).
 */
import { job, jobLate } from "../job.ts"
import { measureDelayed, measurePending, measureThroughput, measureTimers, slots } from "../measure.ts"
import type { SystemImpl } from "./types.ts"

const resolved = Promise.resolve()

export const rawLoop: SystemImpl = {
  sync: (n) =>
    measureThroughput(n, () => {
      for (let i = 0; i < n; i++) job(i)
    }),
  suspend: (n) => {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++
        await resolved
        job(i)
      }
    }
    return measureThroughput(n, () => {
      for (let w = 0; w < 16; w++) void worker()
    })
  },
  delayed: (n, seed) =>
    measureDelayed(n, seed, (i, delayMs) => {
      setTimeout(() => jobLate(i), delayMs)
    }),
  pending: (n) => {
    const pending: Array<number> = []
    return measurePending(n, {
      enqueueAll: () => {
        for (let i = 0; i < n; i++) pending.push(i)
      },
      release: () => {
        for (let k = 0; k < pending.length; k++) job(pending[k]!)
      }
    })
  },
  timers: (n, seed) => {
    const handles = slots<NodeJS.Timeout>(n)
    return measureTimers(n, seed, {
      arm: (i, delayMs) => {
        handles[i] = setTimeout(() => job(i), delayMs)
      },
      cancel: (i) => clearTimeout(handles[i])
    })
  }
}

/** A minimal microtask-drained FIFO of thunks with an in-flight limit for async thunks. */
class MicrotaskQueue {
  readonly thunks: Array<() => void | Promise<void>> = []
  head = 0
  active = 0
  scheduled = false
  paused = false
  readonly limit: number
  readonly drain = (): void => {
    this.scheduled = false
    while (this.head < this.thunks.length && this.active < this.limit) {
      const thunk = this.thunks[this.head]!
      this.thunks[this.head++] = noop
      const result = thunk()
      if (result !== undefined) {
        this.active++
        void result.then(this.settle)
      }
    }
    if (this.head === this.thunks.length) {
      this.thunks.length = 0
      this.head = 0
    }
  }
  readonly settle = (): void => {
    this.active--
    if (!this.paused) this.drain()
  }
  constructor(limit: number) {
    this.limit = limit
  }
  push(thunk: () => void | Promise<void>): void {
    this.thunks.push(thunk)
    this.schedule()
  }
  schedule(): void {
    if (!this.scheduled && !this.paused) {
      this.scheduled = true
      queueMicrotask(this.drain)
    }
  }
  resume(): void {
    this.paused = false
    this.schedule()
  }
}

const noop = (): void => {}

export const rawMicrotask: SystemImpl = {
  sync: (n) => {
    const queue = new MicrotaskQueue(1)
    return measureThroughput(n, () => {
      for (let i = 0; i < n; i++) queue.push(() => job(i))
    })
  },
  suspend: (n) => {
    const queue = new MicrotaskQueue(16)
    return measureThroughput(n, () => {
      for (let i = 0; i < n; i++) {
        queue.push(async () => {
          await resolved
          job(i)
        })
      }
    })
  },
  delayed: (n, seed) => {
    const queue = new MicrotaskQueue(16)
    return measureDelayed(n, seed, (i, delayMs) => {
      setTimeout(() => queue.push(() => jobLate(i)), delayMs)
    })
  },
  pending: (n) => {
    const queue = new MicrotaskQueue(1)
    queue.paused = true
    return measurePending(n, {
      enqueueAll: () => {
        for (let i = 0; i < n; i++) queue.push(() => job(i))
      },
      release: () => queue.resume()
    })
  }
}
