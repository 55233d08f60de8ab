/**
 * The ledger: what the durable workqueue asks of its storage beyond `PersistedQueueStore` (effect/persistence):
 * whether an offer was accepted or coalesced (the kernel's PENDING bit, `queue_work()` → false), cancel of a
 * pending item, and which items are in flight (flush, drain). Two implementations: PostgreSQL (any number of
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
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import { PersistedQueue } from "effect/persistence"
import { SqlClient } from "effect/sql"
import { DurableWorkqueueError } from "../DurableWorkqueueError.ts"

/** @internal */
export type OfferResult = "Queued" | "Pending" | "Running"

/** @internal */
export interface InFlight {
  readonly id: string
  readonly runKey: string
}

/** @internal */
export interface LedgerService {
  /** Offers `element` (an encoded envelope carrying `runKey`) under `id`; says whether this offer was accepted. */
  readonly offer: (options: {
    readonly name: string
    readonly id: string
    readonly runKey: string
    readonly element: unknown
    readonly delay: Duration.Duration | undefined
  }) => Effect.Effect<OfferResult, PersistedQueue.PersistedQueueError>
  /** Removes `id` if it is pending (not claimed by a runner); true if it was. */
  readonly cancel: (name: string, id: string) => Effect.Effect<boolean, PersistedQueue.PersistedQueueError>
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

/**
 * The ledger on the table of `PersistedQueue.makeStoreSql`. The offer runs in a transaction with a read-back of
 * the row: if our INSERT won, the row is ours and locked until commit (no runner can claim it: the store claims
 * with `FOR UPDATE SKIP LOCKED`), so the read sees our run key; if another offer's row was there, `ON CONFLICT`
 * left it and the read sees its run key and state.
 *
 * @internal
 */
export const layerSql = (options: {
  readonly tableName: string
  readonly pollInterval?: Duration.Input | undefined
  readonly lockRefreshInterval?: Duration.Input | undefined
  readonly lockExpiration?: Duration.Input | undefined
}): Layer.Layer<Ledger | PersistedQueue.PersistedQueueStore, DurableWorkqueueError, SqlClient.SqlClient> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const store = yield* PersistedQueue.makeStoreSql(options).pipe(
        Effect.catchCause((cause) =>
          Effect.fail(
            new DurableWorkqueueError({
              workqueue: "",
              reason: "Storage",
              message: `could not prepare the durable workqueue table ${options.tableName}`,
              cause: Cause.squash(cause)
            })
          )
        )
      )
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const table = sql(options.tableName)
      const parse = (element: string) => {
        try {
          return runKeyOf(JSON.parse(element))
        } catch {
          return undefined
        }
      }
      const ledger: LedgerService = {
        offer: ({ delay, element, id, name, runKey }) =>
          sql
            .withTransaction(
              Effect.gen(function* () {
                yield* store.offer({ name, id, element, isCustomId: true, delay, deduplicate: "untilExecuted" })
                // a claimed row stays 'pending' with `acquired_by` set until it settles
                const rows = yield* sql<{ element: string; acquired_by: string | null }>`
                  SELECT element, acquired_by FROM ${table} WHERE id = ${id} AND queue_name = ${name}`
                const row = rows[0]
                if (row === undefined || parse(row.element) === runKey) return "Queued" as const
                return row.acquired_by !== null ? ("Running" as const) : ("Pending" as const)
              })
            )
            .pipe(Effect.catchCause(storageError("Failed to offer an item to the durable workqueue"))),
        cancel: (name, id) =>
          sql<{ id: string }>`
            DELETE FROM ${table} WHERE id = ${id} AND queue_name = ${name} AND state = 'pending'
              AND acquired_by IS NULL RETURNING id`.pipe(
            Effect.map((rows) => rows.length > 0),
            Effect.catchCause(storageError("Failed to cancel an item of the durable workqueue"))
          ),
        inFlight: (name, includeDelayed) =>
          (includeDelayed
            ? sql<{ id: string; element: string }>`
              SELECT id, element FROM ${table}
              WHERE queue_name = ${name} AND state = 'pending'`
            : sql<{ id: string; element: string }>`
              SELECT id, element FROM ${table}
              WHERE queue_name = ${name}
                AND state = 'pending' AND (acquired_by IS NOT NULL OR visible_at <= clock_timestamp())`
          ).pipe(
            Effect.map((rows) => rows.map((row) => ({ id: row.id, runKey: parse(row.element) ?? "" }))),
            Effect.catchCause(storageError("Failed to read the items in flight of the durable workqueue"))
          ),
        stillInFlight: (name, items) =>
          items.length === 0
            ? Effect.succeed([])
            : sql<{ id: string; element: string }>`
              SELECT id, element FROM ${table}
              WHERE queue_name = ${name} AND state = 'pending'
                AND ${sql.in(
                  "id",
                  items.map((item) => item.id)
                )}`.pipe(
                Effect.map((rows) => {
                  const live = new Map(rows.map((row) => [row.id, parse(row.element)]))
                  return items.filter((item) => live.get(item.id) === item.runKey)
                }),
                Effect.catchCause(storageError("Failed to read the items in flight of the durable workqueue"))
              )
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

    const offerUnsafe = (options: {
      readonly name: string
      readonly id: string
      readonly element: unknown
      readonly delay?: Duration.Duration | undefined
    }): OfferResult => {
      const queue = queueOf(options.name)
      const existing = queue.entries.get(options.id)
      if (existing !== undefined && live(existing)) return existing.state === "processing" ? "Running" : "Pending"
      // delete first so the new entry is ordered after the existing ones
      queue.entries.delete(options.id)
      const now = clock.currentTimeMillisUnsafe()
      queue.entries.set(options.id, {
        id: options.id,
        runKey: runKeyOf(options.element) ?? "",
        element: options.element,
        attempts: 0,
        state: "pending",
        visibleAt: options.delay === undefined ? now : now + Duration.toMillis(options.delay)
      })
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
              const settle = (state: "completed" | "failed") => {
                entry.state = state
                if (queue.entries.get(entry.id) === entry) queue.entries.delete(entry.id)
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

    const ledger: LedgerService = {
      offer: (options) => Effect.sync(() => offerUnsafe(options)),
      cancel: (name, id) =>
        Effect.sync(() => {
          const queue = queueOf(name)
          const entry = queue.entries.get(id)
          if (entry === undefined || entry.state !== "pending") return false
          queue.entries.delete(id)
          return true
        }),
      inFlight: (name, includeDelayed) =>
        Effect.sync(() => {
          const now = clock.currentTimeMillisUnsafe()
          const out: Array<InFlight> = []
          for (const entry of queueOf(name).entries.values()) {
            if (
              entry.state === "processing" ||
              (entry.state === "pending" && (includeDelayed || entry.visibleAt <= now))
            ) {
              out.push({ id: entry.id, runKey: entry.runKey })
            }
          }
          return out
        }),
      stillInFlight: (name, items) =>
        Effect.sync(() => {
          const entries = queueOf(name).entries
          return items.filter((item) => {
            const entry = entries.get(item.id)
            return entry !== undefined && live(entry) && entry.runKey === item.runKey
          })
        })
    }
    return Context.make(Ledger, ledger).pipe(Context.add(PersistedQueue.PersistedQueueStore, store))
  })
)
