/**
 * One thread-bench case in a fresh process: `node bench/src/threads/case.ts --system S --threads N [--quick]`.
 * Prints one JSON line of metrics.
 *
 * - `spawnMs`: from creating the pool to N threads each having answered one trivial task.
 * - `rtSeqPerSec`: trivial round trips per second, one in flight.
 * - `rtParPerSec`: trivial tasks per second, all submitted at once.
 * - `batchMs`: 64 × fib(27) (quick: 16 × fib(25)) on the warm pool, all submitted at once.
 * - `lagP99Ms` / `lagMaxMs`: main-thread event-loop lag during the batch (a 1 ms timer chain's lateness).
 * - `single` system: the batch on the main thread, for the target's single-thread time.
 */
import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import * as ThreadPool from "@effect-workqueue/platform/ThreadPool"
import * as ThreadWork from "@effect-workqueue/platform/ThreadWork"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { Worker } from "node:worker_threads"
import { parseArgs } from "node:util"
import { Piscina } from "piscina"
import { fibOf } from "./fibOf.ts"
import { fib, noop } from "./tasks.ts"

const { values } = parseArgs({
  options: { system: { type: "string" }, threads: { type: "string" }, quick: { type: "boolean", default: false } }
})
const system = values.system!
const threads = Number(values.threads)
const quick = values.quick
const batch = quick ? { count: 16, n: 25 } : { count: 64, n: 27 }
const seqN = quick ? 1_000 : 5_000
const parN = quick ? 5_000 : 20_000

/** The lateness of a 1 ms timer chain while `body` runs: p99 and max, ms. */
const lagDuring = async <A>(
  body: () => Promise<A>
): Promise<{ readonly value: A; readonly p99: number; readonly max: number }> => {
  const lates: Array<number> = []
  let running = true
  let last = performance.now()
  const tick = () => {
    const now = performance.now()
    lates.push(Math.max(0, now - last - 1))
    last = now
    if (running) setTimeout(tick, 1)
  }
  setTimeout(tick, 1)
  const value = await body()
  running = false
  lates.sort((a, b) => a - b)
  const p99 = lates[Math.min(lates.length - 1, Math.floor(lates.length * 0.99))] ?? 0
  return { value, p99, max: lates[lates.length - 1] ?? 0 }
}

interface Sys {
  readonly run: (op: "noop" | "fib", n: number) => Promise<number>
  readonly runMany: (op: "noop" | "fib", n: number, count: number) => Promise<void>
  readonly runSeq: (count: number) => Promise<void>
  readonly close: () => Promise<void>
}

const ours = async (viaWorkqueue: boolean): Promise<Sys> => {
  const scope = Effect.runSync(Scope.make())
  const pool = await Effect.runPromise(ThreadPool.make({ name: "bench", threads }).pipe(Scope.provide(scope)))
  const wqLayer = WorkqueueSystem.layer({ cpus: threads })
  const runMany = (op: "noop" | "fib", n: number, count: number): Promise<void> => {
    const task = op === "fib" ? fib : noop
    if (!viaWorkqueue) {
      return Effect.runPromise(
        Effect.asVoid(
          Effect.forEach(Array.from({ length: count }), () => ThreadPool.run(pool, task, n), {
            concurrency: "unbounded",
            discard: true
          })
        )
      )
    }
    return Effect.runPromise(
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("bench", { flags: Workqueue.WQ_UNBOUND, maxActive: 512 })
        const works = yield* Effect.forEach(Array.from({ length: count }), (_, i) =>
          ThreadWork.make(pool, task, { name: `t${i}`, input: () => Effect.succeed(n) })
        )
        for (const work of works) yield* Workqueue.queue(wq, work)
        yield* Workqueue.flush(wq)
      }).pipe(Effect.scoped, Effect.provide(wqLayer))
    )
  }
  return {
    run: (op, n) => Effect.runPromise(ThreadPool.run(pool, op === "fib" ? fib : noop, n)),
    runMany,
    runSeq: (count) =>
      Effect.runPromise(
        Effect.gen(function* () {
          for (let i = 0; i < count; i++) yield* ThreadPool.run(pool, noop, i)
        })
      ),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const piscina = (): Sys => {
  const pool = new Piscina({
    filename: new URL("./piscinaWorker.ts", import.meta.url).href,
    minThreads: threads,
    maxThreads: threads
  })
  return {
    run: (op, n) => pool.run({ op, n }),
    runMany: async (op, n, count) => {
      await Promise.all(Array.from({ length: count }, () => pool.run({ op, n })))
    },
    runSeq: async (count) => {
      for (let i = 0; i < count; i++) await pool.run({ op: "noop", n: i })
    },
    close: () => pool.destroy()
  }
}

/** A minimal pool over bare worker_threads: round-robin, a callback per message id. The floor. */
const bare = (): Sys => {
  const workers = Array.from({ length: threads }, () => new Worker(new URL("./bareWorker.ts", import.meta.url)))
  const callbacks = new Map<number, (r: number) => void>()
  for (const w of workers) {
    w.on("message", (m: { readonly id: number; readonly r: number }) => {
      const cb = callbacks.get(m.id)!
      callbacks.delete(m.id)
      cb(m.r)
    })
  }
  let next = 0
  const run = (op: "noop" | "fib", n: number) =>
    new Promise<number>((resolve) => {
      const id = next++
      callbacks.set(id, resolve)
      workers[id % threads]!.postMessage({ id, op, n })
    })
  return {
    run,
    runMany: async (op, n, count) => {
      await Promise.all(Array.from({ length: count }, () => run(op, n)))
    },
    runSeq: async (count) => {
      for (let i = 0; i < count; i++) await run("noop", i)
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()))
    }
  }
}

const main = async () => {
  if (system === "single") {
    const lag = await lagDuring(async () => {
      const t = performance.now()
      for (let i = 0; i < batch.count; i++) fibOf(batch.n)
      return performance.now() - t
    })
    // the batch blocks the loop from start to end: the loop's lag is the whole batch
    return { batchMs: lag.value, lagP99Ms: lag.value, lagMaxMs: lag.value }
  }
  const t0 = performance.now()
  const sys =
    system === "ours"
      ? await ours(false)
      : system === "ours-wq"
        ? await ours(true)
        : system === "piscina"
          ? piscina()
          : bare()
  // warm: every thread answers once (threads × 4 trivial tasks at once reach all of them in each system)
  await sys.runMany("noop", 0, threads * 4)
  const spawnMs = performance.now() - t0
  await sys.runSeq(200)
  let t = performance.now()
  await sys.runSeq(seqN)
  const rtSeqPerSec = seqN / ((performance.now() - t) / 1000)
  await sys.runMany("noop", 1, 500)
  t = performance.now()
  await sys.runMany("noop", 1, parN)
  const rtParPerSec = parN / ((performance.now() - t) / 1000)
  const lag = await lagDuring(async () => {
    const t1 = performance.now()
    await sys.runMany("fib", batch.n, batch.count)
    return performance.now() - t1
  })
  if ((await sys.run("fib", 20)) !== 6765) throw new Error("wrong fib")
  await sys.close()
  return { spawnMs, rtSeqPerSec, rtParPerSec, batchMs: lag.value, lagP99Ms: lag.p99, lagMaxMs: lag.max }
}

main().then(
  (metrics) => {
    process.stdout.write(`${JSON.stringify({ ok: true, metrics })}\n`)
    process.exit(0)
  },
  (error) => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: String(error?.stack ?? error) })}\n`)
    process.exit(1)
  }
)
