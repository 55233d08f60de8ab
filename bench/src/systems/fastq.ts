/**
 * fastq, both APIs. Callback: `fastq(worker, concurrency)` with `worker(i, cb)`; promise: `fastq.promise(async
 * worker, concurrency)` with the promise of `push` ignored. `pause()`/`resume()` hold jobs pending; the promise API's
 * `unshift` is the priority analogue in scenario 6. Delayed jobs: `setTimeout`, then `push`.
 */
import fastq from "fastq"
import { highJob, job, jobLate } from "../job.ts"
import { measureDelayed, measurePending, measurePriority, measureThroughput } from "../measure.ts"
import type { SystemImpl } from "./types.ts"

const resolved = Promise.resolve()

const callbackQueue = (concurrency: number, body: (i: number) => void): fastq.queue<number, void> =>
  fastq<unknown, number, void>((i, cb) => {
    body(i)
    cb(null)
  }, concurrency)

export const fastqCallback: SystemImpl = {
  sync: (n) => {
    const queue = callbackQueue(1, job)
    return measureThroughput(n, () => {
      for (let i = 0; i < n; i++) queue.push(i)
    })
  },
  suspend: (n) => {
    const queue = fastq<unknown, number, void>((i, cb) => {
      void resolved.then(() => {
        job(i)
        cb(null)
      })
    }, 16)
    return measureThroughput(n, () => {
      for (let i = 0; i < n; i++) queue.push(i)
    })
  },
  delayed: (n, seed) => {
    const queue = callbackQueue(16, jobLate)
    return measureDelayed(n, seed, (i, delayMs) => {
      setTimeout(() => queue.push(i), delayMs)
    })
  },
  pending: (n) => {
    // With a synchronous `cb`, `resume()` recurses once per queued task (worker -> cb -> release -> worker) and
    // overflows the stack near 10k tasks. What this scenario measures is over before `resume`, so the worker calls
    // back on a microtask here to let the backlog drain.
    const queue = fastq<unknown, number, void>((i, cb) => {
      job(i)
      queueMicrotask(() => cb(null))
    }, 1)
    queue.pause()
    return measurePending(n, {
      enqueueAll: () => {
        for (let i = 0; i < n; i++) queue.push(i)
      },
      release: () => queue.resume()
    })
  }
}

export const fastqPromise: SystemImpl = {
  sync: (n) => {
    const queue = fastq.promise(async (i: number) => {
      job(i)
    }, 1)
    return measureThroughput(n, () => {
      for (let i = 0; i < n; i++) void queue.push(i)
    })
  },
  suspend: (n) => {
    const queue = fastq.promise(async (i: number) => {
      await resolved
      job(i)
    }, 16)
    return measureThroughput(n, () => {
      for (let i = 0; i < n; i++) void queue.push(i)
    })
  },
  delayed: (n, seed) => {
    const queue = fastq.promise(async (i: number) => {
      jobLate(i)
    }, 16)
    return measureDelayed(n, seed, (i, delayMs) => {
      setTimeout(() => void queue.push(i), delayMs)
    })
  },
  pending: (n) => {
    const queue = fastq.promise(async (i: number) => {
      job(i)
    }, 1)
    queue.pause()
    return measurePending(n, {
      enqueueAll: () => {
        for (let i = 0; i < n; i++) void queue.push(i)
      },
      release: () => queue.resume()
    })
  },
  priority: (n) => {
    // task -1 is the high-priority job; fastq has no priorities, `unshift` puts it at the head of the queue
    const queue = fastq.promise(async (i: number) => {
      if (i < 0) highJob()
      else job(i)
    }, 1)
    return measurePriority(n, {
      enqueueNormals: () => {
        for (let i = 0; i < n; i++) void queue.push(i)
      },
      enqueueHigh: () => void queue.unshift(-1)
    })
  }
}
