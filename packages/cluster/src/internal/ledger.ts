/**
 * The ledger: what the durable workqueue asks of its storage beyond `PersistedQueueStore` (effect/persistence):
 * whether an offer was accepted or coalesced (the kernel's PENDING bit, `queue_work()` → false), the queue of a
 * running item (kept until its run settles, then run), cancel of a pending or running item, and which items are in flight (flush, drain). Two implementations: PostgreSQL (any number of
 * processes) and memory (one process, tests).
 *
 * Every stored element is an envelope `{ runKey, payload }`: `runKey` is a fresh UUID per accepted queue, so the
 * row itself tells which offer won a race (read back in the offering transaction), and it is the idempotency key
 * a handler sees (the same on every re-run of that acceptance, after a crash or a retry).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Latch from "effect/Latch"
import * as Queue from "effect/Queue"
import * as Layer from "effect/Layer"
import { PersistedQueue } from "effect/persistence"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { SqlClient } from "effect/sql"
import { DurableWorkqueueError } from "../DurableWorkqueueError.ts"

/** @internal */
export type OfferResult = "Queued" | "Pending" | "Draining" | "Destroyed"

/** @internal */
export interface InFlight {
  readonly id: string
  readonly runKey: string
}

/** @internal */
export interface CancelResult {
  /** The item was pending (queued, delayed or waiting for a retry) and is removed. */
  readonly pending: boolean
  /** The run of the item that a runner holds, asked to stop; undefined when none is running. */
  readonly running: InFlight | undefined
}

/** @internal */
export interface LedgerService {
  /**
   * Makes the workqueue's control row if missing; sets its cluster-wide `maxActive` when given (null: unbounded;
   * undefined: leave as stored).
   */
  readonly open: (
    name: string,
    maxActive: number | null | undefined
  ) => Effect.Effect<void, PersistedQueue.PersistedQueueError>
  /**
   * Offers `element` (an encoded envelope carrying `runKey`) under `id`; says whether this offer was accepted.
   * Refused (`Draining`) while a drain holds the workqueue, unless `fromOwnWork` (a run of this workqueue queues:
   * the kernel's chained work); refused (`Destroyed`) once destroyed.
   */
  readonly offer: (options: {
    readonly name: string
    readonly id: string
    readonly runKey: string
    readonly element: unknown
    readonly delay: Duration.Duration | undefined
    readonly fromOwnWork: boolean
  }) => Effect.Effect<OfferResult, PersistedQueue.PersistedQueueError>
  /** Removes `id` if it is pending (not claimed by a live runner); asks its running run, if any, to stop. */
  readonly cancel: (name: string, id: string) => Effect.Effect<CancelResult, PersistedQueue.PersistedQueueError>
  /** Items pending (due now, or `includeDelayed`) or running. */
  readonly inFlight: (
    name: string,
    includeDelayed: boolean
  ) => Effect.Effect<ReadonlyArray<InFlight>, PersistedQueue.PersistedQueueError>
  /** Which of `items` are still pending or running with the same run key. */
  readonly stillInFlight: (
    name: string,
    items: ReadonlyArray<InFlight>
  ) => Effect.Effect<ReadonlyArray<InFlight>, PersistedQueue.PersistedQueueError>
  /**
   * Waits for one of the workqueue's cluster-wide active slots and holds it until the scope closes. "Unbounded" at
   * once when the workqueue has no `maxActive`. A slot is a lease: a process that dies loses it after the lock
   * expiration.
   */
  readonly acquireSlot: (
    name: string
  ) => Effect.Effect<"Slot" | "Unbounded", PersistedQueue.PersistedQueueError, Scope.Scope>
  /**
   * How long a worker may hold a slot while no item arrives before it gives the slot back (so idle processes do
   * not keep the slots from busy ones); undefined: never (one process only).
   */
  readonly slotIdle: Duration.Duration | undefined
  /**
   * Registers the run `runKey` of `id` as running in this process until the scope closes; the returned effect
   * completes when a `cancel` (from any process) asks the run to stop.
   */
  readonly watchRun: (
    name: string,
    id: string,
    runKey: string
  ) => Effect.Effect<Effect.Effect<void>, never, Scope.Scope>
  /** Holds the workqueue in the draining state (a lease) until the scope closes; fails once it is destroyed. */
  readonly beginDrain: (
    name: string
  ) => Effect.Effect<"Draining" | "Destroyed", PersistedQueue.PersistedQueueError, Scope.Scope>
  /** Marks the workqueue destroyed: every later offer is refused. */
  readonly destroy: (name: string) => Effect.Effect<void, PersistedQueue.PersistedQueueError>
  /**
   * Completes once the workqueue is destroyed: at once for a destroy in this process; for one in another process,
   * within a poll interval. Never fails (a failed poll is retried at the next one).
   */
  readonly awaitDestroyed: (name: string) => Effect.Effect<void>
  /** Whether the workqueue is destroyed. */
  readonly isDestroyed: (name: string) => Effect.Effect<boolean, PersistedQueue.PersistedQueueError>
  /**
   * What this process holds in memory for runs: registrations of runs in progress, and cancel marks (memory
   * storage; PostgreSQL keeps them in its cancel table). Tests pin that neither grows with the runs ever made.
   */
  readonly footprint: Effect.Effect<{ readonly runs: number; readonly cancelMarks: number }>
}

/** @internal */
export class Ledger extends Context.Service<Ledger, LedgerService>()("@effect-workqueue/cluster/Ledger") {}

const runKeyOf = (element: unknown): string | undefined =>
  typeof element === "object" && element !== null && typeof (element as { runKey?: unknown }).runKey === "string"
    ? (element as { runKey: string }).runKey
    : undefined

const storageError = (message: string) => (cause: Cause.Cause<unknown>) =>
  Effect.fail(new PersistedQueue.PersistedQueueError({ message, cause: Cause.squash(cause) }))

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

/** What a client that can LISTEN offers (@effect/sql-pg's `PgClient`; seen by shape, so the package stays optional). */
interface Listener {
  readonly listen: (
    channel: string
  ) => Effect.Effect<Queue.Dequeue<{ readonly payload: string }, unknown>, unknown, Scope.Scope>
}

/** @internal */
export interface SqlOptions {
  readonly tableName: string
  readonly pollInterval: Duration.Duration
  readonly lockRefreshInterval: Duration.Duration
  readonly lockExpiration: Duration.Duration
  /** Settled rows older than `olderThan` are deleted every `interval`; failed rows only with `failedOlderThan`. */
  readonly cleanup:
    | {
        readonly interval: Duration.Duration
        readonly olderThan: Duration.Duration
        readonly failedOlderThan: Duration.Duration | undefined
      }
    | undefined
}

/**
 * The ledger on the table of `PersistedQueue.makeStoreSql`, plus four tables, a trigger and a channel of its own:
 *
 * - `<table>_control`: one row per workqueue: its cluster-wide `max_active` and whether it is destroyed. Every offer
 *   reads it `FOR SHARE`, every slot acquisition and drain start locks it `FOR UPDATE`: an offer either commits
 *   before a drain starts (and the drain waits for its item) or sees the drain.
 * - `<table>_leases`: active slots and drains, each held by a holder (a UUID) and refreshed every
 *   `lockRefreshInterval` by the process holding it; a lease not refreshed for `lockExpiration` is dead (its process
 *   died) and no longer counts.
 * - `<table>_cancels`: a request to stop the run with a given run key; the process running it polls for it.
 * - `<table>_requeues`: an acceptance of an item queued while it runs; the trigger `<table>_rearm`, fired by the
 *   store's settlement of the run (`state` to 'completed' or 'failed'), moves it into the item's row in that statement.
 * - the channel `<table>_events`: `cancel:<run key>` and `destroy:<name>`, sent on commit; a client that can LISTEN
 *   reacts at once, the polls stay the fallback.
 *
 * The offer runs in a transaction with a read-back of the row: if our INSERT won, the row is ours and locked until
 * commit (no runner can claim it: the store claims with `FOR UPDATE SKIP LOCKED`), so the read sees our run key; if
 * another offer's row was there, `ON CONFLICT` left it and the read sees its run key and state.
 *
 * @internal
 */
export const layerSql = (
  options: SqlOptions
): Layer.Layer<Ledger | PersistedQueue.PersistedQueueStore, DurableWorkqueueError, SqlClient.SqlClient> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const prepareError = (cause: Cause.Cause<unknown>) =>
        Effect.fail(
          new DurableWorkqueueError({
            workqueue: "",
            reason: "Storage",
            message: `could not prepare the durable workqueue table ${options.tableName}`,
            cause: Cause.squash(cause)
          })
        )
      const store = yield* PersistedQueue.makeStoreSql(options).pipe(Effect.catchCause(prepareError))
      const client = yield* SqlClient.SqlClient
      const sql = client.withoutTransforms()
      const table = sql(options.tableName)
      const control = sql(`${options.tableName}_control`)
      const leases = sql(`${options.tableName}_leases`)
      const cancels = sql(`${options.tableName}_cancels`)
      const requeues = sql(`${options.tableName}_requeues`)
      const channel = `${options.tableName}_events`
      // one process at a time prepares the tables (concurrent CREATE OR REPLACE FUNCTION would conflict)
      yield* sql
        .withTransaction(
          Effect.gen(function* () {
            yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`effect-workqueue:${options.tableName}`}))`
            yield* sql`CREATE TABLE IF NOT EXISTS ${control} (
              queue_name VARCHAR(255) PRIMARY KEY,
              max_active INTEGER NULL,
              destroyed BOOLEAN NOT NULL DEFAULT FALSE)`
            yield* sql`CREATE TABLE IF NOT EXISTS ${leases} (
              holder UUID PRIMARY KEY,
              queue_name VARCHAR(255) NOT NULL,
              kind VARCHAR(10) NOT NULL,
              leased_at TIMESTAMPTZ NOT NULL)`
            yield* sql`CREATE INDEX IF NOT EXISTS ${sql(`idx_${options.tableName}_leases`)} ON ${leases} (queue_name, kind)`
            yield* sql`CREATE TABLE IF NOT EXISTS ${cancels} (
              run_key VARCHAR(36) PRIMARY KEY,
              queue_name VARCHAR(255) NOT NULL,
              id VARCHAR(255) NOT NULL,
              created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())`
            // a queue of a running item: the next acceptance, waiting for the running one to settle
            yield* sql`CREATE TABLE IF NOT EXISTS ${requeues} (
              queue_name VARCHAR(255) NOT NULL,
              id VARCHAR(255) NOT NULL,
              run_key VARCHAR(36) NOT NULL,
              element TEXT NOT NULL,
              visible_at TIMESTAMP NOT NULL,
              PRIMARY KEY (queue_name, id))`
            // the run's settlement (the store's own UPDATE to 'completed' or 'failed') re-arms the row with the
            // waiting acceptance in the same statement: no window where the requeue could be lost or run beside
            // the settling run (the table name is a checked identifier)
            const t = options.tableName
            yield* sql.unsafe(`CREATE OR REPLACE FUNCTION ${t}_rearm() RETURNS trigger LANGUAGE plpgsql AS $rearm$
              DECLARE next RECORD;
              BEGIN
                DELETE FROM ${t}_requeues WHERE queue_name = NEW.queue_name AND id = NEW.id
                  RETURNING element, visible_at INTO next;
                IF FOUND THEN
                  NEW.state := 'pending';
                  NEW.element := next.element;
                  NEW.visible_at := next.visible_at;
                  NEW.attempts := 0;
                  NEW.acquired_at := NULL;
                  NEW.acquired_by := NULL;
                  NEW.last_failure := NULL;
                END IF;
                RETURN NEW;
              END $rearm$`)
            yield* sql.unsafe(`CREATE OR REPLACE TRIGGER ${t}_rearm BEFORE UPDATE OF state ON ${t} FOR EACH ROW
              WHEN (OLD.state = 'pending' AND NEW.state IN ('completed', 'failed')) EXECUTE FUNCTION ${t}_rearm()`)
          })
        )
        .pipe(Effect.catchCause(prepareError))

      const expirySeconds = Math.max(Duration.toSeconds(options.lockExpiration), 0.001)
      // a lease or a claim older than this is dead: its holder stopped refreshing it
      const expired = sql.literal(`clock_timestamp() - INTERVAL '${expirySeconds} seconds'`)
      const parse = (element: string) => {
        try {
          return runKeyOf(JSON.parse(element))
        } catch {
          return undefined
        }
      }

      // leases held by this process (slots and drains): refreshed by one fiber; a drain's Latch closes when its
      // lease is found dead (this process stalled past the expiration), the slot's holder is then simply over
      const held = new Set<string>() // the lease fibers add and delete, the refresher reads
      yield* Effect.suspend(() =>
        held.size === 0
          ? Effect.void
          : Effect.asVoid(
              sql`UPDATE ${leases} SET leased_at = clock_timestamp() WHERE ${sql.in("holder", Array.from(held))}`
            )
      ).pipe(
        Effect.catchCause((cause) => Effect.logWarning("durable workqueue: a lease refresh failed", cause)),
        Effect.schedule(Schedule.spaced(options.lockRefreshInterval)),
        Effect.forever,
        Effect.forkScoped
      )

      // runs in this process, by run key: the watcher polls their cancel requests
      const runs = new Map<string, Deferred.Deferred<void>>() // watchRun adds and deletes; the watcher reads
      const signal = (runKey: string) => {
        const cancelled = runs.get(runKey)
        if (cancelled !== undefined) Deferred.doneUnsafe(cancelled, Exit.void)
      }
      yield* Effect.suspend(() =>
        runs.size === 0
          ? Effect.void
          : sql<{
              run_key: string
            }>`SELECT run_key FROM ${cancels} WHERE ${sql.in("run_key", Array.from(runs.keys()))}`.pipe(
              Effect.map((rows) => rows.forEach((row) => signal(row.run_key)))
            )
      ).pipe(
        Effect.catchCause((cause) => Effect.logWarning("durable workqueue: a cancel poll failed", cause)),
        Effect.schedule(Schedule.spaced(options.pollInterval)),
        Effect.forever,
        Effect.forkScoped
      )

      // workqueues whose runners in this process wait for a destroy (awaitDestroyed adds, the poll and destroy
      // complete and delete)
      const destroyWaiters = new Map<string, Deferred.Deferred<void>>()
      const destroyed = (name: string) => {
        const waiter = destroyWaiters.get(name)
        if (waiter === undefined) return
        destroyWaiters.delete(name)
        Deferred.doneUnsafe(waiter, Exit.void)
      }
      yield* Effect.suspend(() =>
        destroyWaiters.size === 0
          ? Effect.void
          : sql<{ queue_name: string }>`SELECT queue_name FROM ${control}
              WHERE destroyed AND ${sql.in("queue_name", Array.from(destroyWaiters.keys()))}`.pipe(
              Effect.map((rows) => rows.forEach((row) => destroyed(row.queue_name)))
            )
      ).pipe(
        Effect.catchCause((cause) => Effect.logWarning("durable workqueue: a destroy poll failed", cause)),
        Effect.schedule(Schedule.spaced(options.pollInterval)),
        Effect.forever,
        Effect.forkScoped
      )

      // prompt delivery: a cancel of a running item and a destroy also NOTIFY `<table>_events` (sent on commit); a
      // process whose client can LISTEN (@effect/sql-pg's PgClient) reacts at once, polling stays the fallback (a
      // notification is lost while the listening connection is down). Costs one connection per process.
      const notify = (payload: string) => sql`SELECT pg_notify(${channel}, ${payload})`
      const listener = client as Partial<Listener>
      if (typeof listener.listen === "function") {
        const listen = listener.listen
        const onNotification = (payload: string) => {
          const colon = payload.indexOf(":")
          const kind = payload.slice(0, colon)
          const subject = payload.slice(colon + 1)
          if (kind === "cancel") signal(subject)
          else if (kind === "destroy") destroyed(subject)
        }
        type Notifications = Queue.Dequeue<{ readonly payload: string }, unknown>
        const consume = (queue: Notifications): Effect.Effect<never, unknown> =>
          Effect.forever(Effect.map(Queue.take(queue), (notification) => onNotification(notification.payload)))
        // the first LISTEN is confirmed before the storage is ready: no notification sent after that is missed
        // while the connection holds (it is held until the storage's scope closes)
        const first: Notifications | undefined = yield* listen(channel).pipe(
          Effect.catchCause((cause) =>
            Effect.as(
              Effect.logWarning("durable workqueue: LISTEN failed (polling only until it holds)", cause),
              undefined
            )
          )
        )
        const again: Effect.Effect<never> = Effect.scoped(Effect.flatMap(listen(channel), consume)).pipe(
          Effect.catchCause((cause) =>
            Effect.logWarning("durable workqueue: the LISTEN connection failed", cause).pipe(
              Effect.andThen(Effect.sleep(options.pollInterval))
            )
          ),
          Effect.forever
        )
        const consumeFirst: Effect.Effect<void, unknown> = first === undefined ? Effect.void : consume(first)
        yield* consumeFirst.pipe(
          Effect.catchCause((cause) => Effect.logWarning("durable workqueue: the LISTEN connection failed", cause)),
          Effect.andThen(again),
          Effect.forkScoped
        )
      }

      if (options.cleanup !== undefined) {
        const cleanup = options.cleanup
        yield* Effect.gen(function* () {
          yield* store.cleanup({ timeToLive: cleanup.olderThan, failedTimeToLive: cleanup.failedOlderThan })
          const age = sql.literal(`clock_timestamp() - INTERVAL '${Duration.toSeconds(cleanup.olderThan)} seconds'`)
          yield* sql`DELETE FROM ${cancels} WHERE created_at <= ${age}`
          yield* sql`DELETE FROM ${leases} WHERE leased_at <= ${expired}`
        }).pipe(
          Effect.catchCause((cause) => Effect.logWarning("durable workqueue: a cleanup failed", cause)),
          Effect.schedule(Schedule.spaced(cleanup.interval)),
          Effect.forever,
          Effect.forkScoped
        )
      }

      // the cluster-wide bound, read at most once per poll interval per workqueue in this process
      const maxActiveCache = new Map<string, { readonly value: number | null; readonly readAt: number }>()
      const slotReleased = Latch.makeUnsafe(false) // opened when this process gives a slot back
      const readMaxActive = (name: string) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const cached = maxActiveCache.get(name)
          if (cached !== undefined && now - cached.readAt < Duration.toMillis(options.pollInterval)) {
            return cached.value
          }
          const rows = yield* sql<{ max_active: number | null }>`
            SELECT max_active FROM ${control} WHERE queue_name = ${name}`
          const value = rows[0]?.max_active ?? null
          maxActiveCache.set(name, { value, readAt: now })
          return value
        })
      const takeLease = (name: string, kind: "slot" | "drain") =>
        Effect.gen(function* () {
          const holder = crypto.randomUUID()
          yield* sql`INSERT INTO ${leases} (holder, queue_name, kind, leased_at)
            VALUES (${holder}, ${name}, ${kind}, clock_timestamp())`
          // refreshed from the commit on (the caller adds it to `held`)
          return holder
        })
      const releaseLease = (holder: string) =>
        Effect.suspend(() => {
          held.delete(holder)
          return sql`DELETE FROM ${leases} WHERE holder = ${holder}`
        }).pipe(
          Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 10 }),
          Effect.catchCause((cause) =>
            Effect.logWarning("durable workqueue: a lease was not released (it expires on its own)", cause)
          )
        )

      const ledger: LedgerService = {
        open: (name, maxActive) =>
          (maxActive === undefined
            ? sql`INSERT INTO ${control} (queue_name) VALUES (${name}) ON CONFLICT (queue_name) DO NOTHING`
            : sql`INSERT INTO ${control} (queue_name, max_active) VALUES (${name}, ${maxActive})
                ON CONFLICT (queue_name) DO UPDATE SET max_active = EXCLUDED.max_active`
          ).pipe(
            Effect.tap(() => Effect.sync(() => maxActiveCache.delete(name))),
            Effect.asVoid,
            Effect.catchCause(storageError("Failed to open the durable workqueue"))
          ),
        offer: ({ delay, element, fromOwnWork, id, name, runKey }) =>
          sql
            .withTransaction(
              Effect.gen(function* () {
                const state = yield* sql<{ destroyed: boolean; draining: boolean }>`
                  SELECT destroyed, EXISTS (SELECT 1 FROM ${leases} WHERE queue_name = ${name} AND kind = 'drain'
                    AND leased_at > ${expired}) AS draining
                  FROM ${control} WHERE queue_name = ${name} FOR SHARE`
                if (state[0]?.destroyed === true) return "Destroyed" as const
                if (state[0]?.draining === true && !fromOwnWork) return "Draining" as const
                // the item's row, locked to the end of the transaction: its run cannot settle (and its settlement
                // re-arm the row) between our read and our requeue below
                const current = sql<{ state: string; element: string; acquired_by: string | null }>`
                  SELECT state, element, acquired_by FROM ${table} WHERE id = ${id} AND queue_name = ${name} FOR UPDATE`
                let row = (yield* current)[0]
                if (row === undefined || row.state === "completed" || row.state === "failed") {
                  yield* store.offer({ name, id, element, isCustomId: true, delay, deduplicate: "untilExecuted" })
                  row = (yield* current)[0]
                  if (row === undefined || parse(row.element) === runKey) return "Queued" as const
                }
                // pending and unclaimed (due, delayed, or waiting for a retry): coalesced
                if (row.acquired_by === null) return "Pending" as const
                // running: the acceptance waits beside the row until the run settles; a second one coalesces
                const visibleAt =
                  delay === undefined
                    ? sql.literal("NOW()")
                    : sql.literal(
                        `clock_timestamp() + INTERVAL '${Math.max(Math.ceil(Duration.toSeconds(delay)), 0)} seconds'`
                      )
                yield* sql`INSERT INTO ${requeues} (queue_name, id, run_key, element, visible_at)
                  VALUES (${name}, ${id}, ${runKey}, ${JSON.stringify(element)}, ${visibleAt})
                  ON CONFLICT (queue_name, id) DO NOTHING`
                const waiting = yield* sql<{ run_key: string }>`
                  SELECT run_key FROM ${requeues} WHERE queue_name = ${name} AND id = ${id}`
                return waiting[0]?.run_key === runKey ? ("Queued" as const) : ("Pending" as const)
              })
            )
            .pipe(Effect.catchCause(storageError("Failed to offer an item to the durable workqueue"))),
        cancel: (name, id) =>
          sql
            .withTransaction(
              Effect.gen(function* () {
                // the row first (the order the settling run's re-arm takes: row, then requeue), locked: every
                // decision below is on this one read. A row an offer commits after it is not seen (the cancel came
                // first); reading it again later could take a just-queued, unclaimed row for a running one and
                // make cancelSync wait for a run that nothing will ever start
                const rows = yield* sql<{ state: string; element: string; claimed: boolean; lapsed: boolean }>`
                  SELECT state, element, acquired_by IS NOT NULL AS claimed,
                    (acquired_by IS NOT NULL AND acquired_at < ${expired}) AS lapsed
                  FROM ${table} WHERE id = ${id} AND queue_name = ${name} FOR UPDATE`
                const row = rows[0]
                // an acceptance waiting for the running one to settle is pending: removed
                const requeued =
                  (yield* sql`DELETE FROM ${requeues} WHERE queue_name = ${name} AND id = ${id} RETURNING 1`).length > 0
                if (row === undefined || row.state !== "pending") {
                  return { pending: requeued, running: undefined } satisfies CancelResult
                }
                // pending: not claimed, or claimed by a runner that died (its lock expired)
                if (!row.claimed || row.lapsed) {
                  yield* sql`DELETE FROM ${table} WHERE id = ${id} AND queue_name = ${name}`
                  return { pending: requeued || !row.claimed, running: undefined } satisfies CancelResult
                }
                const runKey = parse(row.element)
                if (runKey === undefined) return { pending: requeued, running: undefined } satisfies CancelResult
                yield* sql`INSERT INTO ${cancels} (run_key, queue_name, id) VALUES (${runKey}, ${name}, ${id})
                  ON CONFLICT (run_key) DO NOTHING`
                yield* notify(`cancel:${runKey}`)
                return { pending: requeued, running: { id, runKey } } satisfies CancelResult
              })
            )
            .pipe(
              // a run in this process stops at once, without waiting for the watcher's poll
              Effect.tap((result) => Effect.sync(() => result.running !== undefined && signal(result.running.runKey))),
              Effect.catchCause(storageError("Failed to cancel an item of the durable workqueue"))
            ),
        // an acceptance waiting for a running one (`requeues`) is in flight too, under its own run key; so is one
        // waiting for a retry (attempts > 0: its run has not finished), due or not
        inFlight: (name, includeDelayed) =>
          (includeDelayed
            ? sql<{ id: string; element: string }>`
              SELECT id, element FROM ${table}
              WHERE queue_name = ${name} AND state = 'pending'
              UNION ALL SELECT id, element FROM ${requeues} WHERE queue_name = ${name}`
            : sql<{ id: string; element: string }>`
              SELECT id, element FROM ${table}
              WHERE queue_name = ${name} AND state = 'pending'
                AND (acquired_by IS NOT NULL OR visible_at <= clock_timestamp() OR attempts > 0)
              UNION ALL SELECT id, element FROM ${requeues}
              WHERE queue_name = ${name} AND visible_at <= clock_timestamp()`
          ).pipe(
            Effect.map((rows) => rows.map((row) => ({ id: row.id, runKey: parse(row.element) ?? "" }))),
            Effect.catchCause(storageError("Failed to read the items in flight of the durable workqueue"))
          ),
        stillInFlight: (name, items) =>
          items.length === 0
            ? Effect.succeed([])
            : sql<{ element: string }>`
              SELECT element FROM ${table}
              WHERE queue_name = ${name} AND state = 'pending' AND ${sql.in(
                "id",
                items.map((item) => item.id)
              )}
              UNION ALL SELECT element FROM ${requeues} WHERE queue_name = ${name} AND ${sql.in(
                "id",
                items.map((item) => item.id)
              )}`.pipe(
                Effect.map((rows) => {
                  const live = new Set(rows.map((row) => parse(row.element)))
                  return items.filter((item) => live.has(item.runKey))
                }),
                Effect.catchCause(storageError("Failed to read the items in flight of the durable workqueue"))
              ),
        acquireSlot: (name) =>
          Effect.gen(function* () {
            while (true) {
              if ((yield* readMaxActive(name)) === null) return "Unbounded" as const
              slotReleased.closeUnsafe()
              // uninterruptible from the insert to the finalizer's registration: a slot is never leaked
              const got = yield* Effect.uninterruptible(
                Effect.gen(function* () {
                  const holder = yield* sql.withTransaction(
                    Effect.gen(function* () {
                      // the control row's lock serializes acquisitions: count and insert see the same leases
                      const rows = yield* sql<{ max_active: number | null }>`
                        SELECT max_active FROM ${control} WHERE queue_name = ${name} FOR UPDATE`
                      const max = rows[0]?.max_active ?? null
                      if (max === null) return "Unbounded" as const
                      yield* sql`DELETE FROM ${leases} WHERE queue_name = ${name} AND kind = 'slot'
                        AND leased_at <= ${expired}`
                      const active = yield* sql<{ n: number }>`
                        SELECT count(*)::int AS n FROM ${leases} WHERE queue_name = ${name} AND kind = 'slot'`
                      if (active[0]!.n >= max) return undefined
                      return yield* takeLease(name, "slot")
                    })
                  )
                  if (holder === undefined || holder === "Unbounded") return holder
                  held.add(holder)
                  yield* Effect.addFinalizer(() =>
                    releaseLease(holder).pipe(Effect.andThen(Effect.sync(() => slotReleased.openUnsafe())))
                  )
                  return "Slot" as const
                })
              )
              if (got === "Unbounded") maxActiveCache.delete(name)
              if (got !== undefined) return got
              // another process frees its slot: seen at the next poll; one of ours: at once
              yield* Effect.race(Effect.sleep(options.pollInterval), slotReleased.await)
            }
          }).pipe(
            Effect.catchCause((cause) =>
              Cause.hasInterruptsOnly(cause)
                ? Effect.failCause(cause as Cause.Cause<never>)
                : storageError("Failed to acquire an active slot of the durable workqueue")(cause)
            )
          ),
        slotIdle: Duration.times(options.pollInterval, 2),
        watchRun: (_name, _id, runKey) =>
          Effect.gen(function* () {
            const cancelled = yield* Deferred.make<void>()
            yield* Effect.acquireRelease(
              Effect.sync(() => runs.set(runKey, cancelled)),
              () => Effect.sync(() => runs.delete(runKey))
            )
            return Deferred.await(cancelled)
          }),
        beginDrain: (name) =>
          Effect.acquireRelease(
            sql
              .withTransaction(
                Effect.gen(function* () {
                  const rows = yield* sql<{ destroyed: boolean }>`
                  SELECT destroyed FROM ${control} WHERE queue_name = ${name} FOR UPDATE`
                  if (rows[0]?.destroyed === true) return undefined
                  return yield* takeLease(name, "drain")
                })
              )
              .pipe(Effect.tap((holder) => Effect.sync(() => holder !== undefined && held.add(holder)))),
            (holder) => (holder === undefined ? Effect.void : releaseLease(holder))
          ).pipe(
            Effect.map((holder) => (holder === undefined ? ("Destroyed" as const) : ("Draining" as const))),
            Effect.catchCause(storageError("Failed to start a drain of the durable workqueue"))
          ),
        destroy: (name) =>
          sql
            .withTransaction(
              sql`UPDATE ${control} SET destroyed = TRUE WHERE queue_name = ${name}`.pipe(
                Effect.andThen(notify(`destroy:${name}`))
              )
            )
            .pipe(
              Effect.andThen(Effect.sync(() => destroyed(name))),
              Effect.catchCause(storageError("Failed to destroy the durable workqueue"))
            ),
        isDestroyed: (name) =>
          sql<{ destroyed: boolean }>`SELECT destroyed FROM ${control} WHERE queue_name = ${name}`.pipe(
            Effect.map((rows) => rows[0]?.destroyed === true),
            Effect.catchCause(storageError("Failed to read the state of the durable workqueue"))
          ),
        awaitDestroyed: (name) =>
          Effect.suspend(() => {
            let waiter = destroyWaiters.get(name)
            if (waiter === undefined) {
              waiter = Deferred.makeUnsafe<void>()
              destroyWaiters.set(name, waiter)
            }
            return Deferred.await(waiter)
          }),
        footprint: Effect.sync(() => ({ runs: runs.size, cancelMarks: 0 }))
      }
      return Context.make(Ledger, ledger).pipe(Context.add(PersistedQueue.PersistedQueueStore, store))
    })
  )

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

type MemoryState = "pending" | "processing" | "completed" | "failed"

interface MemoryEntry {
  readonly id: string // I
  readonly runKey: string // I
  readonly element: unknown // I
  attempts: number // one synchronous step (offer, take, the take's finalizer)
  state: MemoryState // one synchronous step
  visibleAt: number // one synchronous step
  /** A `cancel` asked this acceptance's run to stop (dies with the entry); written by cancel, read by watchRun. */
  cancelled: boolean
  /** An acceptance queued while this one runs: it replaces the entry when the run settles; offer and cancel write. */
  next: { readonly runKey: string; readonly element: unknown; readonly visibleAt: number } | undefined
}

/**
 * One process's ledger and store, in memory: `PersistedQueue.layerStoreMemory`'s algorithm (same claim, retry
 * and dead-letter rules) with the ledger's reads and a cancel that removes a pending entry. Every read and write
 * of an entry is one synchronous step (no `yield*` between read and write).
 *
 * @internal
 */
export const layerMemory: Layer.Layer<Ledger | PersistedQueue.PersistedQueueStore> = Layer.effectContext(
  Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const queues = new Map<string, { readonly latch: Latch.Latch; readonly entries: Map<string, MemoryEntry> }>()
    const queueOf = (name: string) => {
      let queue = queues.get(name)
      if (queue === undefined) {
        queue = { latch: Latch.makeUnsafe(false), entries: new Map() }
        queues.set(name, queue)
      }
      return queue
    }
    const live = (entry: MemoryEntry) => entry.state === "pending" || entry.state === "processing"

    const entryOf = (id: string, element: unknown, visibleAt: number): MemoryEntry => ({
      id,
      runKey: runKeyOf(element) ?? "",
      element,
      attempts: 0,
      state: "pending",
      visibleAt,
      cancelled: false,
      next: undefined
    })

    const offerUnsafe = (options: {
      readonly name: string
      readonly id: string
      readonly element: unknown
      readonly delay?: Duration.Duration | undefined
    }): OfferResult => {
      const queue = queueOf(options.name)
      const existing = queue.entries.get(options.id)
      const now = clock.currentTimeMillisUnsafe()
      const visibleAt = options.delay === undefined ? now : now + Duration.toMillis(options.delay)
      if (existing !== undefined && existing.state === "pending") return "Pending"
      if (existing !== undefined && existing.state === "processing") {
        // running: the acceptance waits on the entry until its run settles; a second one coalesces
        if (existing.next !== undefined) return "Pending"
        existing.next = { runKey: runKeyOf(options.element) ?? "", element: options.element, visibleAt }
        return "Queued"
      }
      // delete first so the new entry is ordered after the existing ones
      queue.entries.delete(options.id)
      queue.entries.set(options.id, entryOf(options.id, options.element, visibleAt))
      queue.latch.openUnsafe()
      return "Queued"
    }

    const store = PersistedQueue.PersistedQueueStore.of({
      offer: (options) => Effect.sync(() => void offerUnsafe(options)),
      take: Effect.fnUntraced(function* (options) {
        const queue = queueOf(options.name)
        while (true) {
          queue.latch.closeUnsafe()
          const now = clock.currentTimeMillisUnsafe()
          let item: MemoryEntry | undefined
          let nextVisibleAt = Infinity
          for (const entry of queue.entries.values()) {
            if (entry.state !== "pending" || entry.attempts >= options.maxAttempts) continue
            if (entry.visibleAt <= now) {
              item = entry
              break
            }
            nextVisibleAt = Math.min(nextVisibleAt, entry.visibleAt)
          }
          if (item === undefined) {
            yield* nextVisibleAt === Infinity
              ? queue.latch.await
              : Effect.race(queue.latch.await, Effect.sleep(Duration.millis(nextVisibleAt - now)))
            continue
          }
          const entry = item
          entry.state = "processing"
          entry.attempts += 1
          queue.latch.openUnsafe()
          yield* Effect.addFinalizer(
            Effect.fnUntraced(function* (exit) {
              // a settled entry is forgotten at once (the memory store keeps no history; nothing lists dead
              // letters), so a long-running test process does not grow with every item it ever ran
              // an acceptance queued while it ran takes its place (the kernel runs the work once more)
              const settle = (state: "completed" | "failed") => {
                entry.state = state
                if (queue.entries.get(entry.id) !== entry) return
                queue.entries.delete(entry.id)
                if (entry.next !== undefined) {
                  queue.entries.set(entry.id, entryOf(entry.id, entry.next.element, entry.next.visibleAt))
                }
              }
              if (exit._tag === "Success") {
                settle("completed")
              } else if (PersistedQueue.isDeadLetterCause(exit.cause)) {
                settle("failed")
              } else if (Cause.hasInterruptsOnly(exit.cause)) {
                entry.attempts -= 1
                entry.state = "pending"
              } else if (entry.attempts >= options.maxAttempts) {
                settle("failed")
              } else {
                const delay = yield* options.retryDelay(entry.attempts)
                entry.visibleAt = clock.currentTimeMillisUnsafe() + Duration.toMillis(delay)
                entry.state = "pending"
              }
              queue.latch.openUnsafe()
            })
          )
          return { id: entry.id, attempts: entry.attempts, element: entry.element }
        }
      }),
      cleanup: () => Effect.void
    })

    // control state per workqueue; every read and write is one synchronous step
    interface Control {
      maxActive: number | null
      destroyed: boolean
      readonly destroyedLatch: Latch.Latch // opened by destroy, for good
      drains: number
      active: number
      readonly released: Latch.Latch
    }
    const controls = new Map<string, Control>()
    const controlOf = (name: string) => {
      let state = controls.get(name)
      if (state === undefined) {
        state = {
          maxActive: null,
          destroyed: false,
          destroyedLatch: Latch.makeUnsafe(false),
          drains: 0,
          active: 0,
          released: Latch.makeUnsafe(false)
        }
        controls.set(name, state)
      }
      return state
    }
    // runs in this process by run key (watchRun adds and deletes). A cancel marks the entry (`cancelled`), so a
    // run that registers after the cancel, or re-runs after its runner left, stops too; the mark goes with the entry
    const runs = new Map<string, Deferred.Deferred<void>>()

    const ledger: LedgerService = {
      open: (name, maxActive) =>
        Effect.sync(() => {
          const state = controlOf(name)
          if (maxActive !== undefined) state.maxActive = maxActive
          state.released.openUnsafe()
        }),
      offer: (options) =>
        Effect.sync(() => {
          const state = controlOf(options.name)
          if (state.destroyed) return "Destroyed"
          if (state.drains > 0 && !options.fromOwnWork) return "Draining"
          return offerUnsafe(options)
        }),
      cancel: (name, id) =>
        Effect.sync((): CancelResult => {
          const queue = queueOf(name)
          const entry = queue.entries.get(id)
          if (entry === undefined || !live(entry)) return { pending: false, running: undefined }
          if (entry.state === "pending") {
            queue.entries.delete(id)
            return { pending: true, running: undefined }
          }
          // running: an acceptance waiting for it is pending (removed); the run is asked to stop
          const pending = entry.next !== undefined
          entry.next = undefined
          entry.cancelled = true
          const cancelled = runs.get(entry.runKey)
          if (cancelled !== undefined) Deferred.doneUnsafe(cancelled, Exit.void)
          return { pending, running: { id, runKey: entry.runKey } }
        }),
      inFlight: (name, includeDelayed) =>
        Effect.sync(() => {
          const now = clock.currentTimeMillisUnsafe()
          const out: Array<InFlight> = []
          for (const entry of queueOf(name).entries.values()) {
            // waiting for a retry (attempts > 0) counts as in flight, due or not: its run has not finished
            if (
              entry.state === "processing" ||
              (entry.state === "pending" && (includeDelayed || entry.visibleAt <= now || entry.attempts > 0))
            ) {
              out.push({ id: entry.id, runKey: entry.runKey })
            }
            if (entry.next !== undefined && (includeDelayed || entry.next.visibleAt <= now)) {
              out.push({ id: entry.id, runKey: entry.next.runKey })
            }
          }
          return out
        }),
      stillInFlight: (name, items) =>
        Effect.sync(() => {
          const entries = queueOf(name).entries
          return items.filter((item) => {
            const entry = entries.get(item.id)
            return (
              entry !== undefined && live(entry) && (entry.runKey === item.runKey || entry.next?.runKey === item.runKey)
            )
          })
        }),
      acquireSlot: (name) =>
        Effect.gen(function* () {
          const state = controlOf(name)
          while (true) {
            if (state.maxActive === null) return "Unbounded" as const
            state.released.closeUnsafe()
            const got = yield* Effect.uninterruptible(
              Effect.suspend(() => {
                if (state.maxActive === null || state.active >= state.maxActive) return Effect.succeed(false)
                state.active++
                return Effect.as(
                  Effect.addFinalizer(() =>
                    Effect.sync(() => {
                      state.active--
                      state.released.openUnsafe()
                    })
                  ),
                  true
                )
              })
            )
            if (got) return "Slot" as const
            yield* state.released.await
          }
        }),
      slotIdle: undefined,
      watchRun: (name, id, runKey) =>
        Effect.gen(function* () {
          const cancelled = yield* Deferred.make<void>()
          yield* Effect.acquireRelease(
            Effect.sync(() => {
              runs.set(runKey, cancelled)
              const entry = queueOf(name).entries.get(id)
              if (entry?.runKey === runKey && entry.cancelled) Deferred.doneUnsafe(cancelled, Exit.void)
            }),
            () => Effect.sync(() => runs.delete(runKey))
          )
          return Deferred.await(cancelled)
        }),
      beginDrain: (name) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            const state = controlOf(name)
            if (state.destroyed) return false
            state.drains++
            return true
          }),
          (draining) => Effect.sync(() => void (draining && controlOf(name).drains--))
        ).pipe(Effect.map((draining) => (draining ? ("Draining" as const) : ("Destroyed" as const)))),
      destroy: (name) =>
        Effect.sync(() => {
          const state = controlOf(name)
          state.destroyed = true
          state.destroyedLatch.openUnsafe()
        }),
      awaitDestroyed: (name) => Effect.suspend(() => controlOf(name).destroyedLatch.await),
      isDestroyed: (name) => Effect.sync(() => controlOf(name).destroyed),
      footprint: Effect.sync(() => {
        let cancelMarks = 0
        for (const queue of queues.values()) {
          for (const entry of queue.entries.values()) if (entry.cancelled) cancelMarks++
        }
        return { runs: runs.size, cancelMarks }
      })
    }
    return Context.make(Ledger, ledger).pipe(Context.add(PersistedQueue.PersistedQueueStore, store))
  })
)
