/**
 * Example: CPU-bound work on real cores, offloaded from an HTTP service.
 *
 * A small `node:http` service answers `POST /digest?id=N` by queueing a `ThreadWork` item on the "digest"
 * workqueue (`queue_work` from the request callback, answering 202 at once) and `GET /ping` at once. Each item
 * hashes 1 MiB 40 times (chained SHA-256, ~100 ms of CPU) in a worker thread of a `ThreadPool`, then stores the
 * digest in the main thread. While the threads hash, a 10 ms timer keeps ticking and pings keep being answered;
 * the same work as an ordinary handler on the main thread blocks both.
 *
 * Kernel calls mirrored: `alloc_workqueue("digest", WQ_UNBOUND, 2)`, `INIT_WORK` + `queue_work` per request,
 * `flush_workqueue` before the report, `destroy_workqueue` at the end (the scope's close).
 *
 * Run: `npm run example -- threads`
 */
import { Work, Workqueue } from "@effect-workqueue/core"
import * as ThreadPool from "@effect-workqueue/platform/ThreadPool"
import * as ThreadWork from "@effect-workqueue/platform/ThreadWork"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import { type Program, say } from "./shared.ts"
import { chainedSha256, digest, payload } from "./threadTasks.ts"

const JOBS = 8
const SIZE = 1 << 20
const ROUNDS = 100

/** The lateness of a 10 ms timer chain while it runs: call `stop` for p99 and max, ms. */
const ticker = () => {
  const lates: Array<number> = []
  let last = performance.now()
  let timer: ReturnType<typeof setTimeout> | undefined = undefined
  const tick = () => {
    const now = performance.now()
    lates.push(Math.max(0, now - last - 10))
    last = now
    timer = setTimeout(tick, 10)
  }
  timer = setTimeout(tick, 10)
  return () => {
    clearTimeout(timer)
    const sorted = [...lates].sort((a, b) => a - b)
    return {
      ticks: sorted.length,
      p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0,
      max: sorted[sorted.length - 1] ?? 0
    }
  }
}

const listen = (server: Server) =>
  Effect.acquireRelease(
    Effect.callback<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
    }),
    () => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
  )

const request = (port: number, method: string, path: string) =>
  Effect.promise(() => fetch(`http://127.0.0.1:${port}${path}`, { method }).then((r) => r.status))

export const program: Program = Effect.scoped(
  Effect.gen(function* () {
    // leave one core to the event loop: it serves the requests and timers
    const pool = yield* Effect.orDie(
      ThreadPool.make({ name: "hash", threads: Math.max(1, os.availableParallelism() - 1) })
    )
    const wq = yield* Workqueue.make("digest", { flags: Workqueue.WQ_UNBOUND, maxActive: 2 })
    const digests = new Map<number, string>()
    let pingsWhileHashing = 0
    let pings = 0

    // the service: queue_work from the request callback (the synchronous twin), answer at once
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x")
      if (req.method === "POST" && url.pathname === "/digest") {
        const id = Number(url.searchParams.get("id"))
        const work = Effect.runSync(
          ThreadWork.make(pool, digest, {
            name: `digest_${id}`,
            input: () => Effect.sync(() => ({ bytes: payload(id, SIZE), rounds: ROUNDS })),
            onSuccess: (hex) => Effect.sync(() => void digests.set(id, hex))
          })
        )
        Workqueue.queueUnsafe(wq, work)
        res.writeHead(202).end()
      } else if (url.pathname === "/ping") {
        pings++
        if (ThreadPool.snapshotUnsafe(pool).live.some((t) => t.state === "busy")) pingsWhileHashing++
        res.writeHead(200).end("pong")
      } else {
        res.writeHead(404).end()
      }
    })
    const port = yield* listen(server)
    yield* say(`digest service listening; ${JOBS} jobs of ${SIZE >> 20} MiB × ${ROUNDS} SHA-256 rounds`)

    // the clients: post the jobs, then ping every 20 ms until the workqueue is flushed
    const stopTicker = ticker()
    const statuses = yield* Effect.forEach(
      Array.from({ length: JOBS }, (_, id) => id),
      (id) => request(port, "POST", `/digest?id=${id}`)
    )
    yield* say(`POST /digest × ${JOBS}: ${statuses.every((s) => s === 202) ? "all 202 Accepted at once" : statuses}`)
    const pinger = yield* Effect.forkChild(
      Effect.forever(Effect.andThen(request(port, "GET", "/ping"), Effect.sleep("20 millis")))
    )
    yield* Workqueue.flush(wq)
    yield* Fiber.interrupt(pinger)
    const lag = stopTicker()

    const reference = Array.from({ length: JOBS }, (_, id) => chainedSha256(payload(id, SIZE), ROUNDS))
    const same = reference.every((hex, id) => digests.get(id) === hex)
    yield* say(`${digests.size}/${JOBS} digests done in threads; equal to the main-thread reference: ${same}`)
    const snap = ThreadPool.snapshotUnsafe(pool)
    yield* say(`thread pool "hash": ${snap.stats.succeeded} runs, CPU time > 0: ${snap.stats.cpuTimeMs > 0}`)
    yield* say(`pings answered while a thread was hashing: ${pingsWhileHashing > 0 ? "yes" : "no"}`)
    yield* say(
      `  (timing, machine-dependent) ${pings} pings; 10 ms timer lateness p99 ${lag.p99.toFixed(1)} ms, max ${lag.max.toFixed(1)} ms`
    )

    // for contrast: two of the same jobs as ordinary handlers, on the main thread
    const blocking = yield* Workqueue.make("digest-inline", { flags: Workqueue.WQ_UNBOUND, maxActive: 2 })
    const stopInline = ticker()
    for (let id = 0; id < 2; id++) {
      const work = yield* Work.make(() => Effect.sync(() => void chainedSha256(payload(id, SIZE), ROUNDS)), {
        name: `inline_${id}`
      })
      yield* Workqueue.queue(blocking, work)
    }
    yield* Workqueue.flush(blocking)
    yield* Effect.sleep("15 millis") // one more tick lands after the blocking handlers
    const inline = stopInline()
    yield* say(
      `  (timing, machine-dependent) the same work on the main thread: timer lateness max ${inline.max.toFixed(1)} ms`
    )
  })
)
