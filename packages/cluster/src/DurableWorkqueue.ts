/**
 * A durable workqueue: items queued here are stored (PostgreSQL, or memory for tests) before `queue` returns, run
 * by any number of runner processes that share the storage, and survive the crash of the process that queued or
 * ran them. Built on Effect's `PersistedQueue` (effect/persistence); see docs/DESIGN.md, "The cluster tier".
 *
 * The vocabulary is the kernel's where its contracts hold across processes: `queue` returns false for an item
 * already pending (coalescing by item id, the kernel's PENDING bit), `queueDelayed` arms a delay, `cancel` removes
 * a pending item, `flush` waits for the items queued before it, `drain` until nothing is left. Where a contract
 * cannot hold, the call fails with a `DurableWorkqueueError` naming the rule.
 *
 * Delivery is at least once: a runner killed mid-item has the item re-run by another runner after the lock
 * expires. Each accepted `queue` gets a run key (a UUID) that every re-run of it sees: use it as the idempotency
 * key of the handler's side effects.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { PersistedQueue } from "effect/persistence"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { SqlClient } from "effect/sql"
import { DurableWorkqueueError } from "./DurableWorkqueueError.ts"
import * as ledger from "./internal/ledger.ts"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * What a handler is told about the run it executes.
 *
 * - `item`: the item id given to `queue`.
 * - `runKey`: a UUID made when `queue` accepted the item; the same on every re-run of that acceptance (after a
 *   handler failure or a runner crash): the idempotency key for the handler's side effects.
 * - `attempt`: 1 on the first run of this acceptance, then 2, 3, ... (a crash consumes an attempt).
 *
 * @category models
 * @since 0.1.0
 */
export interface Run {
  readonly item: string
  readonly runKey: string
  readonly attempt: number
}

/**
 * A durable workqueue of payloads of type `A`.
 *
 * @category models
 * @since 0.1.0
 */
export interface DurableWorkqueue<A> {
  readonly name: string
  /**
   * Stores `payload` under `item`. True if accepted; false if `item` is already pending (coalesced: the payload
   * of the pending one is kept, as the kernel keeps the pending work). Fails with `Running` if a runner is
   * executing `item` (docs/DESIGN.md). **Kernel**: `queue_work()`, kernel/workqueue.c.
   */
  readonly queue: (item: string, payload: A) => Effect.Effect<boolean, DurableWorkqueueError>
  /**
   * As `queue`, visible to runners only after `delay`. On PostgreSQL the store rounds delays up to whole
   * seconds (database clock). **Kernel**: `queue_delayed_work()`.
   */
  readonly queueDelayed: (
    item: string,
    payload: A,
    delay: Duration.Input
  ) => Effect.Effect<boolean, DurableWorkqueueError>
  /**
   * Removes `item` if it is pending (queued or delayed, not claimed by a runner): true if it was. A running item
   * is not interrupted (it runs in another process; see docs/DESIGN.md). **Kernel**: `cancel_work()`.
   */
  readonly cancel: (item: string) => Effect.Effect<boolean, DurableWorkqueueError>
  /**
   * On return, every item that was queued (due) or running when `flush` began has finished its run (completed,
   * failed its last attempt, or been cancelled) or been re-queued under a new run key. Delayed items not yet due
   * are not waited for. Polls the storage every `flushPollInterval` on the `Clock` (under `TestClock`, advance
   * it). **Kernel**: `flush_workqueue()`.
   */
  readonly flush: Effect.Effect<void, DurableWorkqueueError>
  /**
   * On return, the workqueue held nothing pending (due or delayed) or running at one poll. Unlike the kernel,
   * other processes may still queue while it drains. **Kernel**: `drain_workqueue()`.
   */
  readonly drain: Effect.Effect<void, DurableWorkqueueError>
  /**
   * Runs items with `handler` in this process, `maxActive` at a time (default 1), until the scope closes.
   * A handler failure retries the run with the workqueue's `retrySchedule`, up to `maxAttempts`. Each item runs
   * at most once at a time across all runners, as long as its handler does not outlive the store's lock
   * (docs/DESIGN.md). **Kernel**: the worker pool, `process_one_work()`.
   */
  readonly run: <E, R>(
    handler: (payload: A, run: Run) => Effect.Effect<void, E, R>,
    options?: { readonly maxActive?: number | undefined }
  ) => Effect.Effect<void, DurableWorkqueueError, R | Scope.Scope>
}

/**
 * The storage a durable workqueue needs: `layerMemory` or `layerPg`.
 *
 * @category services
 * @since 0.1.0
 */
export type Storage = ledger.Ledger | PersistedQueue.PersistedQueueStore

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

/**
 * Storage in this process's memory: for tests and development. Nothing survives the process.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Storage> = ledger.layerMemory

/**
 * Storage in PostgreSQL through an `effect/sql` client (`@effect/sql-pg`'s `PgClient.layer`). Creates its table
 * (`tableName`, default `effect_workqueue`) on first use. Timing settings, with their trade-off:
 *
 * - `pollInterval` (default 1 s): how often each runner process looks for items offered by other processes and
 *   for delayed items; an offer in the same process wakes its runners at once. Shorter: lower latency across
 *   processes, more queries.
 * - `lockExpiration` (default 2 min): how long a claimed item stays claimed without a lock refresh. After a runner
 *   dies, its items run again elsewhere after this (plus one poll). Shorter: faster failover; but a handler that
 *   blocks the event loop longer than this, or outlives it without a refresh, runs concurrently with a re-run.
 * - `lockRefreshInterval` (default 30 s): how often a live runner renews its claims. Must be well below
 *   `lockExpiration`.
 *
 * **Gotchas**: completed and failed rows stay in the table (they are the store's history and its dead letters)
 * until `PersistedQueue.layerCleanup` (effect/persistence) removes them: provide it in one process.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerPg = (options?: {
  readonly tableName?: string | undefined
  readonly pollInterval?: Duration.Input | undefined
  readonly lockRefreshInterval?: Duration.Input | undefined
  readonly lockExpiration?: Duration.Input | undefined
}): Layer.Layer<Storage, DurableWorkqueueError, SqlClient.SqlClient> =>
  ledger.layerSql({
    tableName: options?.tableName ?? "effect_workqueue",
    pollInterval: options?.pollInterval,
    lockRefreshInterval: options?.lockRefreshInterval,
    lockExpiration: options?.lockExpiration
  })

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * Opens the durable workqueue `name` on the storage in context. Any number of processes may open the same name
 * on the same storage: they share its items.
 *
 * **Example** (Queue, coalesce, run, flush)
 *
 * ```ts
 * import { DurableWorkqueue } from "@effect-workqueue/cluster"
 * import { Effect, Schema } from "effect"
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const seen: Array<string> = []
 *   const wq = yield* DurableWorkqueue.make({ name: "emails", payload: Schema.String })
 *   yield* wq.run((to) => Effect.sync(() => void seen.push(to)))
 *   const first = yield* wq.queue("user-1", "a@example.com")
 *   const second = yield* wq.queue("user-1", "b@example.com")
 *   yield* wq.flush
 *   return [first, second, seen]
 * })).pipe(Effect.provide(DurableWorkqueue.layerMemory))
 * Effect.runPromise(program) // => [true, false, ["a@example.com"]]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <S extends Schema.Codec<any, any, never, never>>(options: {
  readonly name: string
  readonly payload: S
  readonly maxAttempts?: number | undefined
  readonly retrySchedule?: Schedule.Schedule<any, number> | undefined
  /** How often `flush` and `drain` read the storage (default 100 ms). */
  readonly flushPollInterval?: Duration.Input | undefined
}): Effect.Effect<DurableWorkqueue<S["Type"]>, DurableWorkqueueError, Storage> =>
  Effect.gen(function* () {
    const name = options.name
    const fail = (reason: DurableWorkqueueError["reason"], message: string, cause?: unknown) =>
      Effect.fail(new DurableWorkqueueError({ workqueue: String(name), reason, message, cause }))
    if (typeof name !== "string" || name.length === 0 || name.length > 100) {
      return yield* fail("InvalidName", "a durable workqueue name must be a string of 1..100 characters")
    }
    const maxAttempts = options.maxAttempts ?? 10
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
      return yield* fail("InvalidOptions", `maxAttempts must be a positive integer, got ${String(maxAttempts)}`)
    }
    const flushPoll = validDuration(options.flushPollInterval ?? "100 millis")
    if (flushPoll === undefined || !Duration.isPositive(flushPoll)) {
      return yield* fail("InvalidOptions", "flushPollInterval must be a positive finite duration")
    }
    const ledgerService = yield* ledger.Ledger
    const envelope = Schema.Struct({ runKey: Schema.String, payload: options.payload })
    const encode = Schema.encodeUnknownEffect(Schema.toCodecJson(envelope))
    const factory = yield* PersistedQueue.makeFactory
    const persisted = yield* factory.make({
      name,
      schema: envelope,
      maxAttempts,
      retrySchedule: options.retrySchedule ?? Schedule.exponential("1 second", 2)
    })
    const storage = (cause: unknown) => fail("Storage", "the durable workqueue's storage failed", cause)

    const checkItem = (item: string) =>
      typeof item === "string" && item.length > 0 && item.length <= 36
        ? Effect.void
        : fail("InvalidItem", `an item id must be a string of 1..36 characters, got ${describe(item)}`)

    const offer = (item: string, payload: S["Type"], delay: Duration.Duration | undefined) =>
      Effect.gen(function* () {
        yield* checkItem(item)
        const runKey = crypto.randomUUID()
        const element = yield* encode({ runKey, payload }).pipe(
          Effect.catchCause((cause) =>
            fail("InvalidPayload", `the payload of item ${item} does not encode`, Cause.squash(cause))
          )
        )
        const result = yield* ledgerService
          .offer({ name, id: item, runKey, element, delay })
          .pipe(Effect.catchCause((cause) => storage(Cause.squash(cause))))
        if (result === "Running") {
          return yield* fail(
            "Running",
            `item ${item} is running: a durable workqueue keeps one entry per item, so it cannot be queued again until its run ends`
          )
        }
        return result === "Queued"
      })

    const waitFor = (includeDelayed: boolean, once: boolean): Effect.Effect<void, DurableWorkqueueError> =>
      Effect.gen(function* () {
        let items = yield* ledgerService.inFlight(name, includeDelayed)
        while (items.length > 0) {
          yield* Effect.sleep(flushPoll)
          items = once
            ? yield* ledgerService.stillInFlight(name, items)
            : yield* ledgerService.inFlight(name, includeDelayed)
        }
      }).pipe(Effect.catchTag("PersistedQueueError", (error) => storage(error)))

    const self: DurableWorkqueue<S["Type"]> = {
      name,
      queue: (item, payload) => offer(item, payload, undefined),
      queueDelayed: (item, payload, delay) => {
        const duration = validDuration(delay)
        if (duration === undefined || Duration.isNegative(duration)) {
          return fail("InvalidDelay", `a delay must be a finite, non-negative duration, got ${describe(delay)}`)
        }
        return offer(item, payload, Duration.isPositive(duration) ? duration : undefined)
      },
      cancel: (item) =>
        checkItem(item).pipe(
          Effect.andThen(ledgerService.cancel(name, item)),
          Effect.catchTag("PersistedQueueError", (error) => storage(error))
        ),
      flush: waitFor(false, true),
      drain: waitFor(true, false),
      run: (handler, runOptions) => {
        const maxActive = runOptions?.maxActive ?? 1
        if (!Number.isSafeInteger(maxActive) || maxActive < 1) {
          return fail("InvalidOptions", `maxActive must be a positive integer, got ${describe(maxActive)}`)
        }
        const worker = persisted
          .take((value, meta) => {
            const { payload, runKey } = value as { readonly runKey: string; readonly payload: S["Type"] }
            return handler(payload, { item: meta.id, runKey, attempt: meta.attempts })
          })
          .pipe(
            Effect.catchCause((cause) =>
              Cause.hasInterruptsOnly(cause)
                ? Effect.failCause(cause)
                : Effect.logWarning(`durable workqueue ${name}: a run failed (it is retried)`, cause)
            ),
            Effect.forever
          )
        return Effect.forEach(Array.from({ length: maxActive }), () => Effect.forkScoped(worker), {
          discard: true
        })
      }
    }
    return self
  })

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const validDuration = (input: unknown): Duration.Duration | undefined => {
  // `Duration.fromInputUnsafe` reads NaN as zero
  if (typeof input === "number" && !Number.isFinite(input)) return undefined
  try {
    const duration = Duration.fromInputUnsafe(input as Duration.Input)
    return Duration.isFinite(duration) ? duration : undefined
  } catch {
    return undefined
  }
}

const describe = (value: unknown): string => {
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(value)
  } catch {
    return typeof value
  }
}
