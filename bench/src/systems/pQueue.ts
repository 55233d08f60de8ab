/**
 * p-queue: `add(fn)` per job (its promise ignored), `concurrency` as the limit, `autoStart: false` to hold jobs
 * pending, and the `priority` option for scenario 6. Delayed jobs: `setTimeout`, then `add`.
 */
import PQueue from "p-queue"
import { highJob, job, jobLate } from "../job.ts"
import { measureDelayed, measurePending, measurePriority, measureThroughput } from "../measure.ts"
import type { SystemImpl } from "./types.ts"

const resolved = Promise.resolve()

export const pQueue: SystemImpl = {
  sync: (n) => {
    const queue = new PQueue({ concurrency: 1 })
    return measureThroughput(n, () => {
      for (let i = 0; i < n; i++) void queue.add(() => job(i))
    })
  },
  suspend: (n) => {
    const queue = new PQueue({ concurrency: 16 })
    return measureThroughput(n, () => {
      for (let i = 0; i < n; i++) {
        void queue.add(async () => {
          await resolved
          job(i)
        })
      }
    })
  },
  delayed: (n, seed) => {
    const queue = new PQueue({ concurrency: 16 })
    return measureDelayed(n, seed, (i, delayMs) => {
      setTimeout(() => void queue.add(() => jobLate(i)), delayMs)
    })
  },
  pending: (n) => {
    const queue = new PQueue({ concurrency: 1, autoStart: false })
    return measurePending(n, {
      enqueueAll: () => {
        for (let i = 0; i < n; i++) void queue.add(() => job(i))
      },
      release: () => {
        queue.start()
      }
    })
  },
  priority: (n) => {
    const queue = new PQueue({ concurrency: 1 })
    return measurePriority(n, {
      enqueueNormals: () => {
        for (let i = 0; i < n; i++) void queue.add(() => job(i))
      },
      enqueueHigh: () => void queue.add(highJob, { priority: 1 })
    })
  }
}
