/**
 * The tables the runner fixture (test/fixtures/runner.ts) writes, made by the tests before they start runners.
 */
import * as Effect from "effect/Effect"
import { SqlClient } from "effect/sql"

export const createTestTables = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* Effect.all(
    [
      sql`CREATE TABLE IF NOT EXISTS wq_test_starts (item TEXT, run_key TEXT, attempt INT, pid INT)`,
      sql`CREATE TABLE IF NOT EXISTS wq_test_results (run_key TEXT PRIMARY KEY, item TEXT, pid INT)`,
      sql`CREATE TABLE IF NOT EXISTS wq_test_spans (run_key TEXT, attempt INT, item TEXT, pid INT,
        started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ, interrupted BOOLEAN, PRIMARY KEY (run_key, attempt))`,
      sql`CREATE TABLE IF NOT EXISTS wq_test_gates (name TEXT PRIMARY KEY)`
    ],
    { discard: true }
  ).pipe(Effect.retry({ times: 5 })) // test files running at once may race on CREATE TABLE IF NOT EXISTS
})
