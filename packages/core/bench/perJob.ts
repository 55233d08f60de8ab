// Per-job cost probe (issue 18): a fresh work item per job, queued through the Effect API, against Effect.forEach.
// ./node_modules/.bin/node --conditions=@effect-workqueue/source --expose-gc packages/core/bench/perJob.ts [n] [reps] [cases]
// (without the condition "@effect-workqueue/core" resolves to the last dist build, not the sources)
import { Effect } from "effect"
import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"

const N = Number(process.argv[2] ?? 1_000_000)
const REPS = Number(process.argv[3] ?? 3)
const only = process.argv[4]?.split(",")
let sink = 0
let done = 0
let total = 0
let onAll: () => void = () => {}
const expectAll = (n: number) => {
  sink = 0
  done = 0
  total = n
  return new Promise<void>((r) => (onAll = r))
}
const job = (i: number) => {
  sink += i
  if (++done === total) onAll()
}
const gc = () => (globalThis as any).gc?.()
const syncJob = (i: number) => Effect.sync(() => job(i))
const suspendJob = (i: number) =>
  Effect.andThen(
    Effect.yieldNow,
    Effect.sync(() => job(i))
  )

const withSystem = <A, E>(f: (wq: Workqueue.Workqueue) => Effect.Effect<A, E>, maxActive: number) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("bench", { flags: Workqueue.WQ_UNBOUND, maxActive })
      return yield* f(wq)
    }).pipe(Effect.scoped, Effect.provide(WorkqueueSystem.layer({ cpus: 4 })))
  )

const cases: Record<string, (n: number) => Promise<number>> = {
  forEachSync: async (n) => {
    const items = Array.from({ length: n }, (_, i) => i)
    gc()
    const all = expectAll(n)
    const t0 = performance.now()
    await Effect.runPromise(Effect.forEach(items, syncJob, { concurrency: 1, discard: true }))
    await all
    return performance.now() - t0
  },
  makeOnly: (n) =>
    withSystem(
      () =>
        Effect.gen(function* () {
          gc()
          const t0 = performance.now()
          let last: Work.Work | undefined
          for (let i = 0; i < n; i++) last = yield* Work.make(() => syncJob(i))
          const t = performance.now() - t0
          if (last === undefined) throw new Error("none")
          return t
        }),
      1
    ),
  freshSync: (n) =>
    withSystem(
      (wq) =>
        Effect.gen(function* () {
          gc()
          const all = expectAll(n)
          const t0 = performance.now()
          for (let i = 0; i < n; i++) yield* Workqueue.queue(wq, yield* Work.make(() => syncJob(i)))
          yield* Effect.promise(() => all)
          return performance.now() - t0
        }),
      1
    ),
  preUnsafeSync: (n) =>
    withSystem(
      (wq) =>
        Effect.gen(function* () {
          const works: Array<Work.Work> = []
          for (let i = 0; i < n; i++) works.push(yield* Work.make(() => syncJob(i)))
          gc()
          const all = expectAll(n)
          const t0 = performance.now()
          for (let i = 0; i < n; i++) Workqueue.queueUnsafe(wq, works[i]!)
          yield* Effect.promise(() => all)
          return performance.now() - t0
        }),
      1
    ),
  forEachSuspend: async (n) => {
    const items = Array.from({ length: n }, (_, i) => i)
    gc()
    const all = expectAll(n)
    const t0 = performance.now()
    await Effect.runPromise(Effect.forEach(items, suspendJob, { concurrency: 16, discard: true }))
    await all
    return performance.now() - t0
  },
  freshSuspend: (n) =>
    withSystem(
      (wq) =>
        Effect.gen(function* () {
          gc()
          const all = expectAll(n)
          const t0 = performance.now()
          for (let i = 0; i < n; i++) yield* Workqueue.queue(wq, yield* Work.make(() => suspendJob(i)))
          yield* Effect.promise(() => all)
          return performance.now() - t0
        }),
      16
    )
}

const results: Record<string, Array<number>> = {}
for (let r = 0; r < REPS; r++) {
  for (const [name, run] of Object.entries(cases)) {
    if (only !== undefined && !only.includes(name)) continue
    const n = name.endsWith("Suspend") ? Math.round(N / 5) : N
    await run(Math.min(n, 10_000))
    const ms = await run(n)
    ;(results[name] ??= []).push((ms * 1e6) / n)
  }
}
for (const [name, ns] of Object.entries(results)) {
  const sorted = [...ns].sort((a, b) => a - b)
  const med = sorted[sorted.length >> 1]!
  process.stdout.write(
    `${name.padEnd(16)} ${med.toFixed(0).padStart(6)} ns/job  ${(1e3 / med).toFixed(2)} M/s  [${ns.map((x) => x.toFixed(0)).join(" ")}]\n`
  )
}
