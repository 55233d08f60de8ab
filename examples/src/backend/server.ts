/**
 * A backend service that offloads slow work to a workqueue and shuts down gracefully.
 *
 *   node examples/src/backend/server.ts [port]        (port also from PORT; 0 or absent = a random port)
 *
 * - `POST /jobs?ms=50` queues a job of `ms` milliseconds (a decimal integer 0..60000, default 50; anything else
 *   is `400`) on the "jobs" workqueue and answers `202 {"id":N}` at once. `503` with `Retry-After: 1` when
 *   `JOBS_MAX_PENDING` jobs (default 10000) are already waiting to start (the workqueue's `maxPending` bound,
 *   reason `QueueFull`), and `503` when the queue no longer accepts work (shutting down). Only `POST` changes state.
 * - Every completed job prints `{"event":"done","id":N}` on stdout; the bound port is printed first as
 *   `{"event":"listening","port":P}`.
 * - `GET /debug/workqueues` serves `WorkqueueSystem.snapshot` as JSON, only when `EFFECT_WORKQUEUE_DEBUG` is a
 *   true boolean (`true`/`yes`/`on`/`1`/`y`, the platform's one boolean parser). If `EFFECT_WORKQUEUE_DEBUG_TOKEN`
 *   is set, the route also wants `Authorization: Bearer <token>` (`401` otherwise).
 *   `npm run monitor -- P` (installed: `npx effect-workqueue-monitor P`) prints the wq_monitor table from it (`--token` or the same variable).
 * - The server binds 127.0.0.1 only, and every route refuses (`403`) a request whose `Host` is not `localhost`,
 *   `127.0.0.1` or `[::1]` (with any port) — a web page that rebinds its own DNS name to 127.0.0.1 sends its own
 *   name — or whose `Origin` is not one of those: a page cannot reach the service from a browser.
 * - On SIGTERM/SIGINT the drain starts at once (new jobs get 503): `NodeWorkqueue.shutdownLayer` waits for it
 *   within `EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS`, then idle and stalled connections (a client that sent half a
 *   request) are closed, the server closes, "jobs" is destroyed, and the process exits with 130 — no later than
 *   the deadline, with a report of any job not finished by then.
 */
import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { NodeShutdown, NodeWorkqueue } from "@effect-workqueue/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { timingSafeEqual } from "node:crypto"
import { createServer, type Server } from "node:http"
import type { Socket } from "node:net"

/** The workqueue the service offloads to. */
class Jobs extends Context.Service<Jobs, { readonly wq: Workqueue.Workqueue; nextId: number }>()("backend/Jobs") {
  /** 8 jobs at once in total; at most `maxPending` waiting to start (beyond it a request gets 503 at once). */
  static readonly layer = (maxPending: number) =>
    Layer.effect(
      Jobs,
      Effect.map(Workqueue.make("jobs", { concurrency: 8, maxPending }), (wq) => Jobs.of({ wq, nextId: 0 }))
    )
}

const emit = (line: object) => Effect.sync(() => console.log(JSON.stringify(line)))

const json = (body: unknown, status: number) => HttpServerResponse.jsonUnsafe(body, { status })

/** `ms`: absent = 50; else a decimal integer 0..60000. */
const parseMs = (raw: string | null): number | undefined => {
  if (raw === null) return 50
  if (!/^\d{1,5}$/.test(raw)) return undefined
  const ms = Number(raw)
  return ms <= 60_000 ? ms : undefined
}

const queueJob = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const raw = new URL(request.url, "http://localhost").searchParams.get("ms")
  const ms = parseMs(raw)
  if (ms === undefined) {
    return json(
      { error: "BadRequest", message: `ms must be a decimal integer 0..60000, got ${JSON.stringify(raw)}` },
      400
    )
  }
  const jobs = yield* Jobs
  const id = ++jobs.nextId
  const work = yield* Work.make(() => Effect.andThen(Effect.sleep(ms), emit({ event: "done", id })), {
    name: `job-${id}`
  })
  return yield* Workqueue.queue(jobs.wq, work).pipe(
    Effect.map(() => json({ id }, 202)),
    Effect.catch((error) =>
      Effect.succeed(
        HttpServerResponse.jsonUnsafe(
          { error: error.reason, message: error.message },
          // full: worth retrying soon; shutting down (Draining, Destroyed): not here
          error.reason === "QueueFull" ? { status: 503, headers: { "retry-after": "1" } } : { status: 503 }
        )
      )
    )
  )
})

// ---------------------------------------------------------------------------
// who may call: loopback Host and Origin only; the debug route's optional token
// ---------------------------------------------------------------------------

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"])

/** `localhost`, `127.0.0.1` or `[::1]`, with an optional port. */
const isLoopbackHost = (host: string | undefined): boolean => {
  if (host === undefined) return false
  const match = /^(\[[^\]]*\]|[^:]*)(:\d{1,5})?$/.exec(host.trim().toLowerCase())
  return match !== null && LOOPBACK_HOSTS.has(match[1]!)
}

/** No `Origin` (not a browser, or same-origin GET), or a loopback one. */
const isLoopbackOrigin = (origin: string | undefined): boolean => {
  if (origin === undefined) return true
  try {
    const url = new URL(origin)
    return (url.protocol === "http:" || url.protocol === "https:") && isLoopbackHost(url.host)
  } catch {
    return false
  }
}

/** Every route goes through this: a non-loopback `Host` or `Origin` is refused before the handler runs. */
const loopbackOnly = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (!isLoopbackHost(request.headers.host)) {
      return json({ error: "Forbidden", message: "Host must be localhost, 127.0.0.1 or [::1]" }, 403)
    }
    if (!isLoopbackOrigin(request.headers.origin)) {
      return json({ error: "Forbidden", message: "cross-origin requests are refused" }, 403)
    }
    return yield* handler
  })

const sameToken = (given: string, expected: string): boolean => {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

const debugRoute = (token: string | undefined) =>
  HttpRouter.add(
    "GET",
    "/debug/workqueues",
    loopbackOnly(
      Effect.gen(function* () {
        if (token !== undefined) {
          const request = yield* HttpServerRequest.HttpServerRequest
          const auth = request.headers.authorization ?? ""
          if (!auth.startsWith("Bearer ") || !sameToken(auth.slice("Bearer ".length), token)) {
            return json({ error: "Unauthorized", message: "a bearer token is required" }, 401)
          }
        }
        return HttpServerResponse.jsonUnsafe(yield* WorkqueueSystem.snapshot, {
          headers: { "cache-control": "no-store" }
        })
      })
    )
  )

// ---------------------------------------------------------------------------
// configuration (Effect Config; one boolean parser, strict integers)
// ---------------------------------------------------------------------------

const settings = Effect.gen(function* () {
  const portConfig = NodeWorkqueue.configInteger("PORT", { min: 0, max: 65535 })
  const argvPort = process.argv[2]
  const port =
    argvPort === undefined
      ? yield* NodeWorkqueue.readConfig("PORT", portConfig, "a decimal integer in 0..65535")
      : yield* Effect.provideService(
          NodeWorkqueue.readConfig("PORT", portConfig, "a decimal integer in 0..65535 (the first argument)"),
          ConfigProvider.ConfigProvider,
          ConfigProvider.fromEnv({ env: { PORT: argvPort } })
        )
  const debug = yield* NodeWorkqueue.readConfig(
    "EFFECT_WORKQUEUE_DEBUG",
    NodeWorkqueue.configBoolean("EFFECT_WORKQUEUE_DEBUG"),
    "a boolean: true, false, yes, no, on, off, 1, 0, y or n"
  )
  const token = yield* NodeWorkqueue.readConfig(
    "EFFECT_WORKQUEUE_DEBUG_TOKEN",
    Config.String("EFFECT_WORKQUEUE_DEBUG_TOKEN"),
    "a string"
  )
  const maxPending = yield* NodeWorkqueue.readConfig(
    "JOBS_MAX_PENDING",
    NodeWorkqueue.configInteger("JOBS_MAX_PENDING", { min: 1, max: 10_000_000 }),
    "a decimal integer in 1..10000000"
  )
  const { shutdownDeadlineMs } = yield* NodeWorkqueue.resolveOptions()
  return { port: port ?? 0, debug: debug ?? false, token, maxPending: maxPending ?? 10_000, shutdownDeadlineMs }
})

// ---------------------------------------------------------------------------
// the HTTP server, with its connections closed once the drain is over
// ---------------------------------------------------------------------------

/**
 * Track the server's connections from its creation; once the shutdown drain has finished (this finaliser runs
 * after `shutdownLayer`'s, before the server's own close), destroy every connection that is not in the middle of a
 * response: idle keep-alive ones and stalled ones (half a request head, or a body still trickling after the
 * answer), which the server's close would otherwise wait for. The connections still answering finish; the
 * platform's deadline bounds them too.
 */
const connectionReaper = (server: Server) => {
  const sockets = new Set<Socket>() // the listeners and the finaliser, one synchronous step each
  const responding = new Set<Socket>()
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.once("close", () => {
      sockets.delete(socket)
      responding.delete(socket)
    })
  })
  server.on("request", (req, res) => {
    responding.add(req.socket)
    const done = () => responding.delete(req.socket)
    res.once("finish", done)
    res.once("close", done)
  })
  return Layer.effectDiscard(
    Effect.addFinalizer(() =>
      Effect.andThen(
        NodeShutdown.drainAll(), // joins the shutdown in progress: its report, nothing logged again
        Effect.sync(() => {
          for (const socket of sockets) if (!responding.has(socket)) socket.destroy()
        })
      )
    )
  )
}

const Live = Layer.unwrap(
  Effect.map(settings, ({ debug, maxPending, port, shutdownDeadlineMs, token }) => {
    const server = createServer()
    const Routes = Layer.mergeAll(
      HttpRouter.add("POST", "/jobs", loopbackOnly(queueJob)),
      debug ? debugRoute(token) : Layer.empty
    )
    const HttpLive = HttpRouter.serve(Routes, { disableListenLog: true }).pipe(
      // the server waits for its connections as long as the platform's deadline allows (not its own 20 s)
      Layer.provideMerge(
        NodeHttpServer.layer(() => server, { port, host: "127.0.0.1", gracefulShutdownTimeout: shutdownDeadlineMs })
      )
    )
    const Listening = Layer.effectDiscard(
      Effect.flatMap(HttpServer.HttpServer, (http) =>
        emit({
          event: "listening",
          port: http.address._tag === "InetAddressV4" || http.address._tag === "InetAddressV6" ? http.address.port : 0
        })
      )
    )
    return NodeWorkqueue.shutdownLayer().pipe(
      Layer.provideMerge(Listening),
      Layer.provideMerge(connectionReaper(server)),
      Layer.provideMerge(HttpLive),
      Layer.provideMerge(Jobs.layer(maxPending)),
      Layer.provideMerge(NodeWorkqueue.layer())
    )
  })
)

NodeRuntime.runMain(Layer.launch(Live))
