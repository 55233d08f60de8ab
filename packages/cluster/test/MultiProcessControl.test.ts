/**
 * Real processes sharing one PostgreSQL, for what one process cannot show: the cluster-wide `maxActive` bound (and a
 * killed holder's slot coming back), cancel of an item running in another process, and drain and destroy refusing
 * queueing in every process. The runner processes are test/fixtures/runner.ts.
 */
import { DurableWorkqueue } from "@effect-workqueue/cluster"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { kill, ready, start, until } from "./utils/processes.ts"
import { pgLayer, uniqueName } from "./utils/storages.ts"
import { createTestTables } from "./utils/tables.ts"

const Payload = Schema.Struct({ n: Schema.Int, workMillis: Schema.Int, chain: Schema.optional(Schema.Int) })

/** Runs a one-shot command of the runner fixture in its own process; its printed line. */
const command = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const child = start(args)
    const code = yield* Effect.promise(() => child.exited)
    assert.strictEqual(code, 0, child.output())
    return child.output().trim()
  })

interface Span {
  readonly item: string
  readonly pid: number
  readonly started: number
  readonly ended: number | null
  readonly interrupted: boolean | null
}

const spansOf = (name: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // the spans of this test's workqueue: its items are named after it
    return yield* sql<Span>`
      SELECT item, pid, (extract(epoch from started_at) * 1000)::float8 AS started,
        (extract(epoch from ended_at) * 1000)::float8 AS ended, interrupted
      FROM wq_test_spans WHERE item LIKE ${`${name}%`}`
  })

/** The most runs open at one instant (database clock; an unfinished span counts until `openUntil`). */
const peakOverlap = (spans: ReadonlyArray<Span>, openUntil: number) => {
  const events = spans.flatMap((span) => [
    [span.started, 1],
    [span.ended ?? openUntil, -1]
  ])
  // an end at the same instant as a start is counted first: the slot was given back before it was taken
  events.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!)
  let open = 0
  let peak = 0
  for (const [, delta] of events) {
    open += delta!
    peak = Math.max(peak, open)
  }
  return peak
}

describe("DurableWorkqueue control across processes (PostgreSQL)", () => {
  it.live(
    "maxActive 2 over two runner processes: never more than 2 runs at once; a SIGKILLed holder's slots come back",
    () =>
      Effect.gen(function* () {
        const url = inject("pgUrl")
        const name = uniqueName("bound-x")
        const sql = yield* SqlClient.SqlClient
        yield* createTestTables
        const wq = yield* DurableWorkqueue.make({ name, payload: Payload, maxActive: 2 })
        const env = { WQ_MAX_ACTIVE: "2", WQ_LOCK_EXPIRATION: "6 seconds" }
        const item = (n: number) => `${name}-${n}`
        // phase 1: two gated runners with 2 workers each (4 workers, 2 slots)
        const first = start(["run", url, name, "gate", "2"], env)
        const second = start(["run", url, name, "gate", "2"], env)
        yield* Effect.addFinalizer(() => Effect.all([kill(first), kill(second)]))
        yield* ready(first)
        yield* ready(second)
        for (let n = 0; n < 8; n++) yield* wq.queue(item(n), { n, workMillis: 10 })
        yield* until(Effect.map(spansOf(name), (spans) => spans.length >= 2))
        // the runners poll every 200 ms: several polls pass with 2 idle workers and 6 items waiting
        yield* Effect.sleep("1 second")
        assert.strictEqual((yield* spansOf(name)).length, 2, "a third run started while two held the slots")
        yield* sql`INSERT INTO wq_test_gates (name) VALUES (${name})`
        yield* wq.drain
        const phase1 = yield* spansOf(name)
        assert.strictEqual(phase1.length, 8)
        assert.strictEqual(peakOverlap(phase1, Number.POSITIVE_INFINITY), 2)
        yield* Effect.all([kill(first), kill(second)])

        // phase 2: a runner that hangs holds both slots; a working runner runs nothing until it is killed
        const victim = start(["run", url, name, "hang", "2"], env)
        yield* Effect.addFinalizer(() => kill(victim))
        yield* ready(victim)
        for (let n = 10; n < 14; n++) yield* wq.queue(item(n), { n, workMillis: 10 })
        const victimPid = victim.process.pid!
        yield* until(Effect.map(spansOf(name), (spans) => spans.filter((s) => s.pid === victimPid).length >= 2))
        const survivor = start(["run", url, name, "work", "2"], env)
        yield* Effect.addFinalizer(() => kill(survivor))
        yield* ready(survivor)
        yield* Effect.sleep("1 second")
        const survivorPid = survivor.process.pid!
        assert.strictEqual(
          (yield* spansOf(name)).filter((s) => s.pid === survivorPid).length,
          0,
          "the survivor ran an item while the victim held both slots"
        )
        yield* kill(victim)
        // the victim's slots (and items) come back after the lock expiration: everything completes on the survivor
        yield* wq.drain
        const phase2 = (yield* spansOf(name)).filter((s) => s.pid === survivorPid)
        assert.deepStrictEqual(
          new Set(phase2.map((s) => s.item)),
          new Set([10, 11, 12, 13].map(item)),
          "every item ran on the survivor, the victim's two re-run"
        )
        assert.isAtMost(peakOverlap(phase2, Number.POSITIVE_INFINITY), 2)
      }).pipe(Effect.scoped, Effect.provide(pgLayer()))
  )

  it.live(
    "queue of an item running in another process queues it again: it runs once more, after the run, on either process",
    () =>
      Effect.gen(function* () {
        const url = inject("pgUrl")
        const name = uniqueName("requeue-x")
        const sql = yield* SqlClient.SqlClient
        yield* createTestTables
        const wq = yield* DurableWorkqueue.make({ name, payload: Payload })
        const first = start(["run", url, name, "gate", "2"])
        const second = start(["run", url, name, "gate", "2"])
        yield* Effect.addFinalizer(() => Effect.all([kill(first), kill(second)]))
        yield* ready(first)
        yield* ready(second)
        const items = [0, 1, 2, 3].map((n) => `${name}-${n}`)
        for (const [n, item] of items.entries()) assert.isTrue(yield* wq.queue(item, { n, workMillis: 0 }))
        // every item is running (held at the gate)
        yield* until(Effect.map(spansOf(name), (spans) => spans.length === items.length))
        // queued again while running: accepted, from this process and from a third one; a second time: coalesced
        assert.isTrue(yield* wq.queue(items[0]!, { n: 10, workMillis: 0 }))
        assert.isTrue(yield* wq.queue(items[1]!, { n: 11, workMillis: 0 }))
        assert.strictEqual(yield* command(["queue", url, name, items[2]!]), "true")
        assert.strictEqual(yield* command(["queue", url, name, items[3]!]), "true")
        assert.isFalse(yield* wq.queue(items[0]!, { n: 20, workMillis: 0 }))
        assert.strictEqual(yield* command(["queue", url, name, items[3]!]), "false")
        yield* sql`INSERT INTO wq_test_gates (name) VALUES (${name})`
        yield* wq.drain
        const runs = yield* sql<{ item: string; run_key: string; started: number; ended: number }>`
          SELECT item, run_key, (extract(epoch from started_at) * 1000)::float8 AS started,
            (extract(epoch from ended_at) * 1000)::float8 AS ended
          FROM wq_test_spans WHERE item LIKE ${`${name}%`} ORDER BY started_at`
        for (const item of items) {
          const spans = runs.filter((run) => run.item === item)
          assert.strictEqual(spans.length, 2, `${item} ran twice: once, and once more after the queue while it ran`)
          assert.notStrictEqual(spans[0]!.run_key, spans[1]!.run_key, "the second run is new work (a new run key)")
          // non-reentrance on the database clock, whichever process ran each
          assert.isAtLeast(spans[1]!.started, spans[0]!.ended, `${item}'s second run overlapped its first`)
        }
        const results = yield* sql<{
          n: number
        }>`SELECT count(*)::int AS n FROM wq_test_results WHERE item LIKE ${`${name}%`}`
        assert.strictEqual(results[0]!.n, 2 * items.length)
      }).pipe(Effect.scoped, Effect.provide(pgLayer()))
  )

  it.live("cancel interrupts an item running in another process; cancelSync returns after its run ended", () =>
    Effect.gen(function* () {
      const url = inject("pgUrl")
      const name = uniqueName("cancel-x")
      yield* createTestTables
      const wq = yield* DurableWorkqueue.make({ name, payload: Payload })
      const runner = start(["run", url, name, "hang", "2"])
      yield* Effect.addFinalizer(() => kill(runner))
      yield* ready(runner)
      const item = (label: string) => `${name}-${label}`
      // cancelSync from this process of an item running in the runner process
      assert.isTrue(yield* wq.queue(item("a"), { n: 1, workMillis: 0 }))
      yield* until(Effect.map(spansOf(item("a")), (spans) => spans.length === 1))
      assert.isFalse(yield* wq.cancelSync(item("a")))
      const [span] = yield* spansOf(item("a"))
      assert.strictEqual(span!.interrupted, true, "the handler was interrupted before cancelSync returned")
      assert.isNotNull(span!.ended)
      // cancelSync from a third process of an item running in the runner process
      assert.isTrue(yield* wq.queue(item("b"), { n: 2, workMillis: 0 }))
      yield* until(Effect.map(spansOf(item("b")), (spans) => spans.length === 1))
      assert.strictEqual(yield* command(["cancelSync", url, name, item("b")]), "false")
      assert.strictEqual((yield* spansOf(item("b")))[0]!.interrupted, true)
      // a pending item cancelled from another process never runs
      assert.isTrue(yield* wq.queueDelayed(item("c"), { n: 3, workMillis: 0 }, "1 hour"))
      assert.strictEqual(yield* command(["cancelSync", url, name, item("c")]), "true")
      // nothing is left and nothing re-ran: one span each for a and b, none for c
      yield* wq.drain
      const spans = yield* spansOf(name)
      assert.deepStrictEqual(spans.map((s) => s.item).sort(), [item("a"), item("b")])
      // a cancelled item can be queued again (new work); cancel it at once
      assert.isTrue(yield* wq.queue(item("a"), { n: 4, workMillis: 0 }))
      yield* wq.cancelSync(item("a"))
    }).pipe(Effect.scoped, Effect.provide(pgLayer()))
  )

  it.live(
    "drain in one process refuses queueing in others (chained work accepted); destroy refuses for good and stops the runners of every process",
    () =>
      Effect.gen(function* () {
        const url = inject("pgUrl")
        const name = uniqueName("drain-x")
        const sql = yield* SqlClient.SqlClient
        yield* createTestTables
        const wq = yield* DurableWorkqueue.make({ name, payload: Payload })
        const runner = start(["run", url, name, "gate", "2"])
        yield* Effect.addFinalizer(() => kill(runner))
        yield* ready(runner)
        const item = (label: string) => `${name}-${label}`
        // a gated item that chains one more item from its run
        assert.isTrue(yield* wq.queue(item("a"), { n: 1, workMillis: 0, chain: 1 }))
        yield* until(Effect.map(spansOf(item("a")), (spans) => spans.length === 1))
        const drainer = start(["drain", url, name])
        yield* until(
          Effect.map(
            sql`SELECT 1 FROM effect_workqueue_leases WHERE queue_name = ${name} AND kind = 'drain'`,
            (rows) => rows.length > 0
          )
        )
        // refused here and in a third process while the drain holds the workqueue
        const refused = yield* Effect.flip(wq.queue(item("b"), { n: 2, workMillis: 0 }))
        assert.strictEqual(refused.reason, "Draining")
        assert.strictEqual(yield* command(["queue", url, name, item("c")]), "Draining")
        assert.isNull(drainer.process.exitCode, "the drain waits for the gated item")
        yield* sql`INSERT INTO wq_test_gates (name) VALUES (${name})`
        yield* Effect.promise(() => drainer.exited)
        assert.strictEqual(drainer.output().trim(), "drained")
        // the chained item (queued by the run during the drain) ran before the drain returned
        const ran = yield* sql<{ item: string }>`SELECT item FROM wq_test_results WHERE item LIKE ${`${name}%`}`
        assert.deepStrictEqual(ran.map((row) => row.item).sort(), [item("a"), `${item("a")}+`])
        // after the drain, queueing is accepted again
        assert.strictEqual(yield* command(["queue", url, name, item("d")]), "true")
        // destroy in another process: drains, then every process is refused for good
        assert.strictEqual(yield* command(["destroy", url, name]), "destroyed")
        const results = yield* sql<{ item: string }>`SELECT item FROM wq_test_results WHERE item = ${item("d")}`
        assert.strictEqual(results.length, 1, "destroy drained the pending item first")
        assert.strictEqual((yield* Effect.flip(wq.queue(item("e"), { n: 5, workMillis: 0 }))).reason, "Destroyed")
        assert.strictEqual(yield* command(["queue", url, name, item("f")]), "Destroyed")
        // the runner process's runners stopped on the destroy: it printed "stopped" and exited by itself
        assert.strictEqual(yield* Effect.promise(() => runner.exited), 0, runner.output())
        assert.isTrue(runner.output().includes("stopped"), runner.output())
        assert.strictEqual((yield* Effect.flip(wq.run(() => Effect.void))).reason, "Destroyed")
      }).pipe(Effect.scoped, Effect.provide(pgLayer()))
  )
})
