/**
 * effect-workqueue, through its public API only (`@effect-workqueue/core`).
 *
 * Each pass boots its own `WorkqueueSystem.layer({ cpus: 4 })` and allocates scoped workqueues (unbound).
 *
 * - `workqueue` (the headline, what a user submitting one-shot jobs pays): one fresh work item per job, made inside
 *   the timed region and queued through the Effect API, `yield* Workqueue.queue(wq, yield* Work.make(handler))`
 *   (`queueDelayed` / `DelayedWork.make` for delayed jobs), in one `Effect.gen` loop run as a fiber (per chunk of
 *   1,000 in scenario 3, whose driver yields to the event loop between chunks).
 * - `workqueue-unsafe`: the same items created before the clock starts (their cost is the "create ns/item" column)
 *   and queued with the synchronous `*Unsafe` twins, one call per job as the peers do.
 * - `workqueue-data`: the headline loop with `Work.makeWith(handler, i)`: one shared handler, the job's index as the
 *   item's datum, no closure per job.
 */
import { DelayedWork, Job, Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { Effect, type Scope } from "effect"
import { highJob, job, jobLate, setDue } from "../job.ts"
import {
  measureDelayed,
  measurePending,
  measurePriority,
  measureThroughput,
  measureTimers,
  type Metrics,
  now,
  slots
} from "../measure.ts"
import type { SystemImpl } from "./types.ts"

type Program = Effect.Effect<Metrics, unknown, Scope.Scope | WorkqueueSystem.WorkqueueSystem>

/** Run one pass in a fresh system whose workqueues are destroyed when the pass ends. */
const run = (program: Program, options: WorkqueueSystem.Options = { cpus: 4 }): Promise<Metrics> =>
  Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer(options))))

/**
 * Observability on: statistics, watchdog and hog detection are always on; here every tracepoint also goes to a
 * sink. `spansToo` adds a root span per handler (opt-in in the library because of its cost).
 */
let tracepoints = 0
const observed: WorkqueueSystem.Options = {
  cpus: 4,
  tracepoint: () => {
    tracepoints++
  }
}
const spansToo: WorkqueueSystem.Options = { ...observed, spans: true }

/** `n` work items, item i running `body(i)`. */
const makeWorks = (n: number, body: (i: number) => Effect.Effect<void>) =>
  Effect.gen(function* () {
    const works: Array<Work.Work> = []
    for (let i = 0; i < n; i++) works.push(yield* Work.make(() => body(i)))
    return works
  })

/** `n` delayed work items, item i running `body(i)`. */
const makeDelayedWorks = (n: number, body: (i: number) => Effect.Effect<void>) =>
  Effect.gen(function* () {
    const works: Array<DelayedWork.DelayedWork> = []
    for (let i = 0; i < n; i++) works.push(yield* DelayedWork.make(() => body(i)))
    return works
  })

/** Time `create` per item, in ns. */
const timed = <A, E, R>(n: number, create: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const t0 = performance.now()
    const value = yield* create
    return [value, ((performance.now() - t0) * 1e6) / n] as const
  })

const syncJob = (i: number) => Effect.sync(() => job(i))
const suspendJob = (i: number) =>
  Effect.andThen(
    Effect.yieldNow,
    Effect.sync(() => job(i))
  )
const lateJob = (i: number) => Effect.sync(() => jobLate(i))

/** Throughput of `n` prepared items on an unbound workqueue with `maxActive`. */
const throughput = (n: number, maxActive: number, body: (i: number) => Effect.Effect<void>): Program =>
  Effect.gen(function* () {
    const wq = yield* Workqueue.make("bench", { flags: Workqueue.WQ_UNBOUND, maxActive })
    const [works, createNsPerItem] = yield* timed(n, makeWorks(n, body))
    const metrics = yield* Effect.promise(() =>
      measureThroughput(n, () => {
        for (let i = 0; i < n; i++) Workqueue.queueUnsafe(wq, works[i]!)
      })
    )
    return { ...metrics, createNsPerItem }
  })

/** Queue `n` fresh items through the Effect API, item i running `body(i)`: the loop a user writes. */
const queueFresh = (wq: Workqueue.Workqueue, n: number, body: (i: number) => Effect.Effect<void>) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Workqueue.queue(wq, yield* Work.make(() => body(i)))
  })

/** The same loop with `Work.makeWith`: `body` is the shared handler, the index each item's datum. */
const queueFreshData = (wq: Workqueue.Workqueue, n: number, body: (i: number) => Effect.Effect<void>) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Workqueue.queue(wq, yield* Work.makeWith(body, i))
  })

/**
 * Throughput of `n` jobs, each a fresh item made and queued inside the timed region through the Effect API, by a
 * fiber running in the program's context (as a user's fiber would).
 */
const throughputFresh = (
  n: number,
  maxActive: number,
  body: (i: number) => Effect.Effect<void>,
  loop: typeof queueFresh = queueFresh
): Program =>
  Effect.gen(function* () {
    const wq = yield* Workqueue.make("bench", { flags: Workqueue.WQ_UNBOUND, maxActive })
    const ctx = yield* Effect.context<never>()
    return yield* Effect.promise(() => measureThroughput(n, () => Effect.runPromiseWith(ctx)(loop(wq, n, body))))
  })

/** A workqueue whose only active slot is held by a blocker item until `release`. */
const blocked = Effect.gen(function* () {
  const wq = yield* Workqueue.make("bench", { flags: Workqueue.WQ_UNBOUND, maxActive: 1 })
  const gate = Promise.withResolvers<void>()
  const blockerStarted = Promise.withResolvers<void>()
  const blocker = yield* Work.make(() =>
    Effect.andThen(
      Effect.sync(() => blockerStarted.resolve()),
      Effect.promise(() => gate.promise)
    )
  )
  Workqueue.queueUnsafe(wq, blocker)
  yield* Effect.promise(() => blockerStarted.promise)
  return { wq, release: () => gate.resolve() }
})

/**
 * The same throughput, each job submitted with `Job.submit` (a result per job) instead of a plain fresh `Work`:
 * the difference to `workqueue` is the jobs layer's cost per job (issue 14). The submit loop runs in one
 * `Effect.runSync`; completion is the job body running, its `Deferred` completed right after.
 */
const jobThroughput = (n: number, maxActive: number, body: (i: number) => Effect.Effect<void>): Program =>
  Effect.gen(function* () {
    const wq = yield* Workqueue.make("bench", { concurrency: maxActive })
    return yield* Effect.promise(() =>
      measureThroughput(n, () => {
        Effect.runSync(
          Effect.gen(function* () {
            for (let i = 0; i < n; i++) yield* Job.submit(wq, body(i))
          })
        )
      })
    )
  })

/** Jobs with a result (`Job.submit`) on the same workqueue shape as `workqueue`. */
export const workqueueJob: SystemImpl = {
  sync: (n) => run(jobThroughput(n, 1, syncJob)),
  suspend: (n) => run(jobThroughput(n, 16, suspendJob))
}

/** The headline form with the tracepoint sink on (issue 7: the cost of observability). */
export const workqueueObserved: SystemImpl = {
  sync: (n) => run(throughputFresh(n, 1, syncJob), observed).then((m) => ({ ...m, tracepoints: tracepoints / n })),
  suspend: (n) =>
    run(throughputFresh(n, 16, suspendJob), observed).then((m) => ({ ...m, tracepoints: tracepoints / n }))
}

/** The headline form with the tracepoint sink and a root span per handler. */
export const workqueueSpans: SystemImpl = {
  sync: (n) => run(throughputFresh(n, 1, syncJob), spansToo),
  suspend: (n) => run(throughputFresh(n, 16, suspendJob), spansToo)
}

/** The headline loop with `Work.makeWith(handler, i)`: a shared handler, the index as the datum. */
export const workqueueData: SystemImpl = {
  sync: (n) => run(throughputFresh(n, 1, syncJob, queueFreshData)),
  suspend: (n) => run(throughputFresh(n, 16, suspendJob, queueFreshData)),
  pending: (n) =>
    run(
      Effect.gen(function* () {
        const { wq, release } = yield* blocked
        const runSync = Effect.runSyncWith(yield* Effect.context<never>())
        return yield* Effect.promise(() =>
          measurePending(n, { enqueueAll: () => runSync(queueFreshData(wq, n, syncJob)), release })
        )
      })
    )
}

/** The headline: a fresh item per job, made and queued through the Effect API inside the timed region. */
export const workqueue: SystemImpl = {
  sync: (n) => run(throughputFresh(n, 1, syncJob)),
  suspend: (n) => run(throughputFresh(n, 16, suspendJob)),
  delayed: (n, seed) =>
    run(
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("bench", { flags: Workqueue.WQ_UNBOUND, maxActive: 16 })
        const runSync = Effect.runSyncWith(yield* Effect.context<never>())
        return yield* Effect.promise(() =>
          measureDelayed(n, seed, {
            chunk: (start, end, delays) =>
              runSync(
                Effect.gen(function* () {
                  for (let i = start; i < end; i++) {
                    const d = delays[i]!
                    setDue(i, now() + d)
                    yield* Workqueue.queueDelayed(wq, yield* DelayedWork.make(() => lateJob(i)), d)
                  }
                })
              )
          })
        )
      })
    ),
  pending: (n) =>
    run(
      Effect.gen(function* () {
        // a blocker holds the only active slot, so every item queued after it waits on the inactive list
        const { wq, release } = yield* blocked
        const runSync = Effect.runSyncWith(yield* Effect.context<never>())
        return yield* Effect.promise(() =>
          measurePending(n, { enqueueAll: () => runSync(queueFresh(wq, n, syncJob)), release })
        )
      })
    ),
  priority: (n) =>
    run(
      Effect.gen(function* () {
        const normal = yield* Workqueue.make("normal", { maxActive: 1 })
        const high = yield* Workqueue.make("high", { flags: Workqueue.WQ_HIGHPRI })
        const runSync = Effect.runSyncWith(yield* Effect.context<never>())
        return yield* Effect.promise(() =>
          measurePriority(n, {
            enqueueNormals: () => runSync(queueFresh(normal, n, syncJob)),
            enqueueHigh: () =>
              runSync(
                Effect.gen(function* () {
                  yield* Workqueue.queue(high, yield* Work.make(() => Effect.sync(highJob)))
                })
              )
          })
        )
      })
    ),
  timers: (n, seed) =>
    run(
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("bench", { flags: Workqueue.WQ_UNBOUND, maxActive: 16 })
        const works = slots<DelayedWork.DelayedWork>(n)
        const runSync = Effect.runSyncWith(yield* Effect.context<never>())
        return yield* Effect.promise(() =>
          measureTimers(n, seed, {
            armAll: (delays) =>
              runSync(
                Effect.gen(function* () {
                  for (let i = 0; i < n; i++) {
                    const dwork = yield* DelayedWork.make(() => syncJob(i))
                    works[i] = dwork
                    yield* Workqueue.queueDelayed(wq, dwork, delays[i]!)
                  }
                })
              ),
            cancel: (i) => {
              DelayedWork.cancelUnsafe(works[i]!)
            }
          })
        )
      })
    )
}

/** The second row: items created before the clock starts, queued with the synchronous `*Unsafe` twins. */
export const workqueueUnsafe: SystemImpl = {
  sync: (n) => run(throughput(n, 1, syncJob)),
  suspend: (n) => run(throughput(n, 16, suspendJob)),
  delayed: (n, seed) =>
    run(
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("bench", { flags: Workqueue.WQ_UNBOUND, maxActive: 16 })
        const [works, createNsPerItem] = yield* timed(n, makeDelayedWorks(n, lateJob))
        const metrics = yield* Effect.promise(() =>
          measureDelayed(n, seed, (i, delayMs) => {
            Workqueue.queueDelayedUnsafe(wq, works[i]!, delayMs)
          })
        )
        return { ...metrics, createNsPerItem }
      })
    ),
  pending: (n) =>
    run(
      Effect.gen(function* () {
        // a blocker holds the only active slot, so every item queued after it waits on the inactive list
        const wq = yield* Workqueue.make("bench", { flags: Workqueue.WQ_UNBOUND, maxActive: 1 })
        const gate = Promise.withResolvers<void>()
        const blockerStarted = Promise.withResolvers<void>()
        const blocker = yield* Work.make(() =>
          Effect.andThen(
            Effect.sync(() => blockerStarted.resolve()),
            Effect.promise(() => gate.promise)
          )
        )
        Workqueue.queueUnsafe(wq, blocker)
        yield* Effect.promise(() => blockerStarted.promise)
        const works = slots<Work.Work>(n)
        return yield* Effect.promise(() =>
          measurePending(n, {
            create: () =>
              Effect.runPromise(
                Effect.gen(function* () {
                  for (let i = 0; i < n; i++) works[i] = yield* Work.make(() => syncJob(i))
                })
              ),
            enqueueAll: () => {
              for (let i = 0; i < n; i++) Workqueue.queueUnsafe(wq, works[i]!)
            },
            release: () => gate.resolve()
          })
        )
      })
    ),
  priority: (n) =>
    run(
      Effect.gen(function* () {
        const normal = yield* Workqueue.make("normal", { maxActive: 1 })
        const high = yield* Workqueue.make("high", { flags: Workqueue.WQ_HIGHPRI })
        const works = yield* makeWorks(n, syncJob)
        const highWork = yield* Work.make(() => Effect.sync(highJob))
        return yield* Effect.promise(() =>
          measurePriority(n, {
            enqueueNormals: () => {
              for (let i = 0; i < n; i++) Workqueue.queueUnsafe(normal, works[i]!)
            },
            enqueueHigh: () => {
              Workqueue.queueUnsafe(high, highWork)
            }
          })
        )
      })
    ),
  timers: (n, seed) =>
    run(
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("bench", { flags: Workqueue.WQ_UNBOUND, maxActive: 16 })
        const works = slots<DelayedWork.DelayedWork>(n)
        return yield* Effect.promise(() =>
          measureTimers(n, seed, {
            create: () =>
              Effect.runPromise(
                Effect.gen(function* () {
                  for (let i = 0; i < n; i++) works[i] = yield* DelayedWork.make(() => syncJob(i))
                })
              ),
            arm: (i, delayMs) => {
              Workqueue.queueDelayedUnsafe(wq, works[i]!, delayMs)
            },
            cancel: (i) => {
              DelayedWork.cancelUnsafe(works[i]!)
            }
          })
        )
      })
    )
}
