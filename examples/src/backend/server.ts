/**
 * A backend service that offloads slow work to a workqueue and shuts down gracefully.
 *
 *   node examples/src/backend/server.ts [port]        (port also from PORT; 0 or absent = a random port)
 *
 * - `POST /jobs?ms=50` (or `GET /work?ms=50`) queues a job of `ms` milliseconds on the "jobs" workqueue and
 *   answers `202 {"id":N}` at once; `503` when the queue no longer accepts work (shutting down).
 * - Every completed job prints `{"event":"done","id":N}` on stdout; the bound port is printed first as
 *   `{"event":"listening","port":P}`.
 * - `GET /debug/workqueues` serves `WorkqueueSystem.snapshot` as JSON, only when `EFFECT_WORKQUEUE_DEBUG=1`
 *   (the server binds 127.0.0.1 only). `npm run monitor -- P` (installed: `npx effect-workqueue-monitor P`) prints the wq_monitor table from it.
 * - On SIGTERM/SIGINT, `NodeRuntime.runMain` interrupts the main fiber: `NodeWorkqueue.shutdownLayer` drains every
 *   workqueue within `EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS` (new jobs get 503 meanwhile), then the server closes,
 *   then "jobs" is destroyed (which still runs anything left), and the process exits with 130.
 */
import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { NodeWorkqueue } from "@effect-workqueue/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"

/** The workqueue the service offloads to. */
class Jobs extends Context.Service<Jobs, { readonly wq: Workqueue.Workqueue; nextId: number }>()("backend/Jobs") {
  static readonly layer = Layer.effect(
    Jobs,
    Effect.map(Workqueue.make("jobs", { flags: Workqueue.WQ_UNBOUND, maxActive: 8 }), (wq) =>
      Jobs.of({ wq, nextId: 0 })
    )
  )
}

const emit = (line: object) => Effect.sync(() => console.log(JSON.stringify(line)))

const queueJob = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const ms = Math.max(0, Math.min(Number(new URL(request.url, "http://x").searchParams.get("ms") ?? 50) || 0, 60_000))
  const jobs = yield* Jobs
  const id = ++jobs.nextId
  const work = yield* Work.make(() => Effect.andThen(Effect.sleep(ms), emit({ event: "done", id })), {
    name: `job-${id}`
  })
  return yield* Workqueue.queue(jobs.wq, work).pipe(
    Effect.map(() => HttpServerResponse.jsonUnsafe({ id }, { status: 202 })),
    Effect.catch((error) =>
      Effect.succeed(HttpServerResponse.jsonUnsafe({ error: error.reason, message: error.message }, { status: 503 }))
    )
  )
})

const debugEnabled = process.env.EFFECT_WORKQUEUE_DEBUG === "1"

const Routes = Layer.mergeAll(
  HttpRouter.add("POST", "/jobs", queueJob),
  HttpRouter.add("GET", "/work", queueJob),
  debugEnabled
    ? HttpRouter.add(
        "GET",
        "/debug/workqueues",
        Effect.map(WorkqueueSystem.snapshot, (s) => HttpServerResponse.jsonUnsafe(s))
      )
    : Layer.empty
)

const port = Number(process.argv[2] ?? process.env.PORT ?? 0)

const HttpLive = HttpRouter.serve(Routes, { disableListenLog: true }).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
)

const Listening = Layer.effectDiscard(
  Effect.flatMap(HttpServer.HttpServer, (server) =>
    emit({
      event: "listening",
      port: server.address._tag === "InetAddressV4" || server.address._tag === "InetAddressV6" ? server.address.port : 0
    })
  )
)

const Live = NodeWorkqueue.shutdownLayer().pipe(
  Layer.provideMerge(Listening),
  Layer.provideMerge(HttpLive),
  Layer.provideMerge(Jobs.layer),
  Layer.provideMerge(NodeWorkqueue.layer())
)

NodeRuntime.runMain(Layer.launch(Live))
