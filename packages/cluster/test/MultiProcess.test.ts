/**
 * Real processes sharing one PostgreSQL: a runner killed with SIGKILL mid-item loses nothing (its items re-run on
 * the survivor once their lock expires, with the same run key), and coalescing holds across processes.
 */
import { DurableWorkqueue } from "@effect-workqueue/cluster"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { kill, start, until } from "./utils/processes.ts"
import { pgLayer, uniqueName } from "./utils/storages.ts"
import { createTestTables } from "./utils/tables.ts"

const Payload = Schema.Struct({ n: Schema.Int, workMillis: Schema.Int })

describe("DurableWorkqueue across processes (PostgreSQL)", () => {
  it.live(
    "SIGKILL of a runner mid-item: every accepted item completes on the survivor, re-runs keep their run key",
    () =>
      Effect.gen(function* () {
        const url = inject("pgUrl")
        const name = uniqueName("sigkill")
        const sql = yield* SqlClient.SqlClient
        yield* createTestTables
        const wq = yield* DurableWorkqueue.make({ name, payload: Payload })
        const items = 40
        // the victim claims items and never finishes them: it is certainly mid-item when killed
        const victim = start(["run", url, name, "hang", "2"])
        yield* Effect.addFinalizer(() => kill(victim))
        yield* until(Effect.sync(() => victim.output().includes("ready") || victim.process.exitCode !== null))
        for (let n = 0; n < items; n++) yield* wq.queue(`item-${n}`, { n, workMillis: 20 })
        const victimPid = victim.process.pid!
        yield* until(
          sql<{ n: number }>`SELECT count(*)::int AS n FROM wq_test_starts WHERE pid = ${victimPid}`.pipe(
            Effect.map((rows) => rows[0]!.n >= 2)
          )
        )
        const survivor = start(["run", url, name, "work", "4"])
        yield* Effect.addFinalizer(() => kill(survivor))
        yield* kill(victim)
        // every accepted item completes (the drain waits; the project's timeout is the hang guard)
        yield* wq.drain
        // the tables are shared by the run's tests: this test's rows are those of its run keys
        const starts = yield* sql<{ item: string; run_key: string; attempt: number; pid: number }>`
          SELECT item, run_key, attempt, pid FROM wq_test_starts`
        const results = yield* sql<{ item: string; run_key: string; pid: number }>`
          SELECT item, run_key, pid FROM wq_test_results`
        const pids = new Set([victimPid, survivor.process.pid])
        const ourStarts = starts.filter((row) => pids.has(row.pid))
        const runKeys = new Set(ourStarts.map((row) => row.run_key))
        const mine = results.filter((row) => runKeys.has(row.run_key))
        const victimStarts = ourStarts.filter((row) => row.pid === victimPid)
        assert.isAtLeast(victimStarts.length, 2, "the victim was mid-item when killed")
        // none lost: one result per item, each written once (the run key is the idempotency key)
        assert.deepStrictEqual(
          new Set(mine.map((row) => row.item)),
          new Set(Array.from({ length: items }, (_, n) => `item-${n}`))
        )
        assert.strictEqual(mine.length, items)
        assert.isTrue(mine.every((row) => row.pid === survivor.process.pid))
        // the victim's items re-ran on the survivor under the same run key, with a later attempt number
        for (const start of victimStarts) {
          const rerun = ourStarts.find(
            (row) => row.run_key === start.run_key && row.pid === survivor.process.pid && row.attempt > start.attempt
          )
          assert.isDefined(rerun, `item ${start.item} re-ran on the survivor with the same run key`)
        }
      }).pipe(Effect.scoped, Effect.provide(pgLayer()))
  )

  it.live("across processes: a delayed item runs on the runner when due; flush waits for its run; cancel wins", () =>
    Effect.gen(function* () {
      const url = inject("pgUrl")
      const name = uniqueName("remote")
      const sql = yield* SqlClient.SqlClient
      yield* createTestTables
      const wq = yield* DurableWorkqueue.make({ name, payload: Payload })
      const runner = start(["run", url, name, "work", "2"])
      yield* Effect.addFinalizer(() => kill(runner))
      yield* until(Effect.sync(() => runner.output().includes("ready") || runner.process.exitCode !== null))
      const item = (label: string) => `${label}-${name}`.slice(0, 36)
      assert.isTrue(yield* wq.queueDelayed(item("cancelled"), { n: 0, workMillis: 0 }, "1 hour"))
      assert.isTrue(yield* wq.cancel(item("cancelled")))
      assert.isTrue(yield* wq.queueDelayed(item("delayed"), { n: 1, workMillis: 0 }, "1 second"))
      assert.isTrue(yield* wq.queue(item("slow"), { n: 2, workMillis: 300 }))
      // flush returns only after the runner process has finished the slow item
      yield* wq.flush
      const afterFlush = yield* sql<{ item: string }>`SELECT item FROM wq_test_results WHERE item = ${item("slow")}`
      assert.strictEqual(afterFlush.length, 1)
      yield* wq.drain
      const ran = yield* sql<{ item: string; pid: number }>`
        SELECT item, pid FROM wq_test_starts WHERE ${sql.in("item", [item("cancelled"), item("delayed"), item("slow")])}`
      assert.deepStrictEqual(ran.map((row) => row.item).sort(), [item("delayed"), item("slow")].sort())
      assert.isTrue(ran.every((row) => row.pid === runner.process.pid))
    }).pipe(Effect.scoped, Effect.provide(pgLayer()))
  )

  it.live("coalescing across processes: another process's queue of a pending item returns false", () =>
    Effect.gen(function* () {
      const url = inject("pgUrl")
      const name = uniqueName("coalesce-x")
      const wq = yield* DurableWorkqueue.make({ name, payload: Payload })
      assert.isTrue(yield* wq.queue("shared", { n: 1, workMillis: 0 }))
      const other = start(["queue", url, name, "shared"])
      const code = yield* Effect.promise(() => other.exited)
      assert.strictEqual(code, 0, other.output())
      assert.strictEqual(other.output().trim(), "false")
      const fresh = start(["queue", url, name, "fresh"])
      yield* Effect.promise(() => fresh.exited)
      assert.strictEqual(fresh.output().trim(), "true")
      assert.isFalse(yield* wq.queue("fresh", { n: 2, workMillis: 0 }))
      assert.isTrue(yield* wq.cancel("shared"))
      assert.isTrue(yield* wq.cancel("fresh"))
    }).pipe(Effect.scoped, Effect.provide(pgLayer()))
  )
})
