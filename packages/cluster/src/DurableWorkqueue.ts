/**
 * A durable workqueue: items queued here are stored (PostgreSQL, or memory for tests) before `queue` returns, run
 * by any number of runner processes that share the storage, and survive the crash of the process that queued or
 * ran them. Built on Effect's `PersistedQueue` (effect/persistence); see docs/DESIGN.md, "The cluster tier".
 *
 * The vocabulary is the kernel's where its contracts hold across processes: `queue` returns false for an item
 * already pending (coalescing by item id, the kernel's PENDING bit) and queues a running item again, `queueDelayed` arms a delay, `maxActive`
 * bounds the runs at once over all processes, `cancel` removes a pending item and stops a running one wherever it
 * runs, `flush` waits for the items queued before it, `drain` until nothing is left (refusing outside queueing in
 * every process meanwhile), `destroy` for good. Where a contract cannot hold, the call fails with a
 * `DurableWorkqueueError` naming the rule.
 *
 * Delivery is at least once: a runner killed mid-item has the item re-run by another runner after the lock
 * expires. Each accepted `queue` gets a run key (a UUID) that every re-run of it sees: use it as the idempotency
 * key of the handler's side effects.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Layer from "effect/Layer"
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
   * of the pending one is kept, as the kernel keeps the pending work). If a runner is executing `item` (in any
   * process), the item is pending again: true, and it runs once more, with this payload and a new run key, after
   * the current run has finished (completed, failed its last attempt or been cancelled), never beside it; a further
   * `queue` meanwhile returns false. **Kernel**: `queue_work()`, kernel/workqueue.c (PENDING is clear while the
   * work runs, so it is queued again).
   *
   * `item` is 1..36 characters of well-formed Unicode without NUL (U+0000), else `InvalidItem` and nothing is stored,
   * on either storage: PostgreSQL would turn a lone surrogate into U+FFFD (merging distinct ids) and refuses NUL.
   * The payload is stored as the JSON its `Schema` encodes, in which a lone surrogate or a NUL inside a string is an
   * escape (`\ud800`, `\u0000`): the handler gets such strings back as queued, on both storages.
   */
  readonly queue: (item: string, payload: A) => Effect.Effect<boolean, DurableWorkqueueError>
  /**
   * As `queue`, visible to runners only after `delay` (at most 36,500 days, else `InvalidDelay`). On PostgreSQL the
   * store rounds delays up to whole seconds (database clock). **Kernel**: `queue_delayed_work()`.
   */
  readonly queueDelayed: (
    item: string,
    payload: A,
    delay: Duration.Input
  ) => Effect.Effect<boolean, DurableWorkqueueError>
  /**
   * Removes `item` if it is pending (queued, delayed or waiting for a retry): true if it was. If a runner is
   * executing it, in this process or another, the run is asked to stop: its handler is interrupted (in another
   * process within that process's `pollInterval`) and the run counts as finished, not retried. Returns without
   * waiting for that. **Kernel**: `cancel_work()`, which cannot stop a running item: here it can.
   */
  readonly cancel: (item: string) => Effect.Effect<boolean, DurableWorkqueueError>
  /**
   * As `cancel`, and on return the run of `item` that was executing (if any) has ended: the item is neither pending
   * nor running under the acceptance it had (a later `queue` of it is new work). True if it was pending.
   * **Kernel**: `cancel_work_sync()`.
   */
  readonly cancelSync: (item: string) => Effect.Effect<boolean, DurableWorkqueueError>
  /**
   * On return, every item that was queued (due), running or waiting for a retry when `flush` began has finished its
   * run (completed, failed its last attempt, or been cancelled) or been re-queued under a new run key. Delayed items
   * not yet due are not waited for. Polls the storage every `flushPollInterval` on the `Clock` (under `TestClock`, advance
   * it). **Kernel**: `flush_workqueue()`.
   */
  readonly flush: Effect.Effect<void, DurableWorkqueueError>
  /**
   * On return, the workqueue held nothing pending (due or delayed) or running. While it drains, `queue` and
   * `queueDelayed` fail with `Draining` in every process, except from a run of this workqueue (chained work, as the
   * kernel allows); afterwards queueing is accepted again. The draining state is a lease in the storage: a process
   * that dies mid-drain releases it after the lock expiration. **Kernel**: `drain_workqueue()`.
   */
  readonly drain: Effect.Effect<void, DurableWorkqueueError>
  /**
   * Drains the workqueue, then marks it destroyed in the storage: from then on `queue`, `queueDelayed` and `run`
   * fail with `Destroyed` in every process, for good (the rows already settled stay until cleanup). Runners already
   * started stop: at once in this process, within `pollInterval` in others (their `run` fiber completes).
   * **Kernel**: `destroy_workqueue()`.
   */
  readonly destroy: Effect.Effect<void, DurableWorkqueueError>
  /**
   * Runs items with `handler` in this process, `concurrency` at a time (default 1), until the scope closes or the
   * workqueue is destroyed; never more than the workqueue's cluster-wide `maxActive` at once over all processes. A
   * handler failure retries the run with the workqueue's `retrySchedule`, up to `maxAttempts`. A handler that
   * interrupts itself (`Effect.interrupt`, or joining an interrupted fiber) ends its run as a `cancel` does:
   * finished, neither retried nor a dead letter (as core's `Job`, whose interrupted attempt is not a dead letter),
   * with a warning logged; its worker takes the next item. Each item runs at
   * most once at a time across all runners, as long as its handler does not outlive the store's lock
   * (docs/DESIGN.md). Returns the runners' fiber: it completes once the workqueue is destroyed — at once for a
   * `destroy` in this process, within `pollInterval` for one in another — the runners having stopped taking items
   * and given their slots back (`destroy` drains first, so none is running then); interrupting it stops them as
   * closing the scope does. Fails with `Destroyed` on a destroyed workqueue. **Kernel**: the worker pool,
   * `process_one_work()`; `destroy_workqueue()` stops its workers.
   */
  readonly run: <E, R>(
    handler: (payload: A, run: Run) => Effect.Effect<void, E, R>,
    options?: { readonly concurrency?: number | undefined }
  ) => Effect.Effect<Fiber.Fiber<void>, DurableWorkqueueError, R | Scope.Scope>
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
 * Storage in PostgreSQL through an `effect/sql` client (`@effect/sql-pg`'s `PgClient.layer`). Creates its tables
 * (`tableName`, default `effect_workqueue`, and `<tableName>_control`, `_leases`, `_cancels`, `_requeues`, with a trigger
 * `<tableName>_rearm`) on first use. With `@effect/sql-pg`'s `PgClient` it holds one connection that LISTENs on
 * `<tableName>_events`, so a cancel or a destroy in another process reaches this one at once. The database should
 * use the UTF8 encoding: on another (LATIN1, ...) a `queue` whose item id or payload holds a character the encoding
 * lacks fails with `Storage` (nothing stored), where the memory storage accepts it. Timing settings, with their
 * trade-off:
 *
 * - `pollInterval` (default 1 s): how often each runner process looks for items offered by other processes, for
 *   delayed items, for a free active slot, for cancels of its runs and for a destroy; an offer in the same process
 *   wakes its runners at once, and cancels and destroys also arrive at once by NOTIFY (the poll is their fallback). Shorter: lower latency across processes, more queries.
 * - `lockExpiration` (default 2 min): how long a claimed item, an active slot or a drain stays held without a
 *   refresh. After a runner dies, its items run again elsewhere and its slots come back after this (plus one
 *   poll). Shorter: faster failover; but a handler that blocks the event loop longer than this, or outlives it
 *   without a refresh, runs concurrently with a re-run (and beside `maxActive` others).
 * - `lockRefreshInterval` (default 30 s): how often a live process renews its claims and leases. At most half of
 *   `lockExpiration` (else `InvalidOptions`), so one late or failed refresh does not let a live claim lapse.
 * - `cleanup` (default `{ olderThan: "1 day", interval: "1 hour" }`): every `interval`, rows of completed items
 *   older than `olderThan` are deleted (with old cancel requests and dead leases), so the table does not grow
 *   forever. Failed rows (the dead letters) are kept unless `failedOlderThan` is given. `false`: never (provide
 *   `PersistedQueue.layerCleanup` yourself). Racing cleanups in several processes are harmless.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerPg = (options?: {
  readonly tableName?: string | undefined
  readonly pollInterval?: Duration.Input | undefined
  readonly lockRefreshInterval?: Duration.Input | undefined
  readonly lockExpiration?: Duration.Input | undefined
  readonly cleanup?:
    | false
    | {
        readonly olderThan?: Duration.Input | undefined
        readonly failedOlderThan?: Duration.Input | undefined
        readonly interval?: Duration.Input | undefined
      }
    | undefined
}): Layer.Layer<Storage, DurableWorkqueueError, SqlClient.SqlClient> => {
  const tableName = options?.tableName ?? "effect_workqueue"
  const invalid = (message: string) =>
    Layer.effectContext(
      Effect.fail(new DurableWorkqueueError({ workqueue: "", reason: "InvalidOptions", message }))
    ) as Layer.Layer<Storage, DurableWorkqueueError, SqlClient.SqlClient>
  if (typeof tableName !== "string" || !/^[a-z_][a-z0-9_]{0,40}$/.test(tableName)) {
    return invalid(`tableName must be a lower-case SQL identifier of at most 41 characters, got ${describe(tableName)}`)
  }
  const cleanupOption: unknown = options?.cleanup
  if (
    cleanupOption !== undefined &&
    cleanupOption !== false &&
    (typeof cleanupOption !== "object" || cleanupOption === null)
  ) {
    return invalid(`cleanup must be false or an object of durations, got ${describe(cleanupOption)}`)
  }
  const durations: Record<string, Duration.Duration | undefined> = {}
  const inputs: Record<string, [unknown, Duration.Input, boolean]> = {
    pollInterval: [options?.pollInterval, "1 second", false],
    lockRefreshInterval: [options?.lockRefreshInterval, "30 seconds", false],
    lockExpiration: [options?.lockExpiration, "2 minutes", false],
    "cleanup.olderThan": [options?.cleanup === false ? undefined : options?.cleanup?.olderThan, "1 day", true],
    "cleanup.interval": [options?.cleanup === false ? undefined : options?.cleanup?.interval, "1 hour", false]
  }
  for (const [key, [input, fallback, zeroAllowed]] of Object.entries(inputs)) {
    const duration = validDuration(input ?? fallback)
    if (duration === undefined || Duration.isNegative(duration) || (!zeroAllowed && Duration.isZero(duration))) {
      return invalid(
        `${key} must be a finite ${zeroAllowed ? "non-negative" : "positive"} duration, got ${describe(input)}`
      )
    }
    durations[key] = duration
  }
  // a claim or a lease is refreshed at least twice within its expiration: one late or failed refresh does not let
  // a live run's item, slot or drain lapse (and run twice at once, or beside maxActive others)
  if (Duration.isGreaterThan(Duration.times(durations["lockRefreshInterval"]!, 2), durations["lockExpiration"]!)) {
    return invalid(
      `lockRefreshInterval must be at most half of lockExpiration, got ${describe(options?.lockRefreshInterval ?? "30 seconds")} against ${describe(options?.lockExpiration ?? "2 minutes")}`
    )
  }
  let failedOlderThan: Duration.Duration | undefined
  if (options?.cleanup !== false && options?.cleanup?.failedOlderThan !== undefined) {
    failedOlderThan = validDuration(options.cleanup.failedOlderThan)
    if (failedOlderThan === undefined || Duration.isNegative(failedOlderThan)) {
      return invalid(
        `cleanup.failedOlderThan must be a finite non-negative duration, got ${describe(options.cleanup.failedOlderThan)}`
      )
    }
  }
  return ledger.layerSql({
    tableName,
    pollInterval: durations["pollInterval"]!,
    lockRefreshInterval: durations["lockRefreshInterval"]!,
    lockExpiration: durations["lockExpiration"]!,
    cleanup:
      options?.cleanup === false
        ? undefined
        : {
            olderThan: durations["cleanup.olderThan"]!,
            interval: durations["cleanup.interval"]!,
            failedOlderThan
          }
  })
}

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * Opens the durable workqueue `name` on the storage in context. Any number of processes may open the same name
 * on the same storage: they share its items.
 *
 * **Example** (Queue again while running: one more run, after the first)
 *
 * ```ts
 * import { DurableWorkqueue } from "@effect-workqueue/cluster"
 * import { Deferred, Effect, Schema } from "effect"
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const seen: Array<string> = []
 *   const started = yield* Deferred.make<void>()
 *   const release = yield* Deferred.make<void>()
 *   const wq = yield* DurableWorkqueue.make({ name: "sync", payload: Schema.String })
 *   yield* wq.run((state) => Effect.gen(function*() {
 *     seen.push(state)
 *     yield* Deferred.succeed(started, undefined)
 *     yield* Deferred.await(release)
 *   }))
 *   yield* wq.queue("doc-1", "v1")
 *   yield* Deferred.await(started)
 *   const again = yield* wq.queue("doc-1", "v2") // running: queued again
 *   const coalesced = yield* wq.queue("doc-1", "v3") // v2 is pending
 *   yield* Deferred.succeed(release, undefined)
 *   yield* wq.flush
 *   return [again, coalesced, seen]
 * })).pipe(Effect.provide(DurableWorkqueue.layerMemory))
 * Effect.runPromise(program) // => [true, false, ["v1", "v2"]]
 * ```
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
 * **Example** (Cancel a running item, destroy)
 *
 * ```ts
 * import { DurableWorkqueue } from "@effect-workqueue/cluster"
 * import { Deferred, Effect, Fiber, Schema } from "effect"
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const started = yield* Deferred.make<void>()
 *   const wq = yield* DurableWorkqueue.make({ name: "reports", payload: Schema.Number, maxActive: 2 })
 *   const runner = yield* wq.run(() => Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never)))
 *   yield* wq.queue("report-1", 1)
 *   yield* Deferred.await(started)
 *   const wasPending = yield* wq.cancelSync("report-1") // the run is interrupted; false: it was running
 *   yield* wq.destroy
 *   const error = yield* Effect.flip(wq.queue("report-2", 2))
 *   const stopped = yield* Fiber.await(runner) // destroy stopped the runners
 *   return [wasPending, error.reason, stopped._tag]
 * })).pipe(Effect.provide(DurableWorkqueue.layerMemory))
 * Effect.runPromise(program) // => [false, "Destroyed", "Success"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <S extends Schema.Codec<any, any, never, never>>(options: {
  /**
   * The workqueue's name in the storage: 1..100 characters of well-formed Unicode without NUL (U+0000), else
   * `InvalidName` (PostgreSQL would merge names that differ in a lone surrogate, and refuses NUL).
   */
  readonly name: string
  readonly payload: S
  /**
   * At most this many runs of the workqueue at once over all processes (the kernel's `max_active`). Given: stored
   * for every process (the latest `make` that gives it wins, as `workqueue_set_max_active()`); absent: whatever is
   * stored (unbounded at first). `null`: unbounded.
   */
  readonly maxActive?: number | null | undefined
  readonly maxAttempts?: number | undefined
  readonly retrySchedule?: Schedule.Schedule<any, number> | undefined
  /** How often `flush`, `drain` and `cancelSync` read the storage (default 100 ms). */
  readonly flushPollInterval?: Duration.Input | undefined
}): Effect.Effect<DurableWorkqueue<S["Type"]>, DurableWorkqueueError, Storage> =>
  Effect.gen(function* () {
    const name = options.name
    const fail = (reason: DurableWorkqueueError["reason"], message: string, cause?: unknown) =>
      Effect.fail(new DurableWorkqueueError({ workqueue: String(name), reason, message, cause }))
    if (typeof name !== "string" || name.length === 0 || name.length > 100) {
      return yield* fail("InvalidName", "a durable workqueue name must be a string of 1..100 characters")
    }
    if (!storableText(name)) {
      return yield* fail(
        "InvalidName",
        `a durable workqueue name must be well-formed Unicode without NUL (U+0000), got ${describe(name)}`
      )
    }
    if (!Schema.isSchema(options.payload)) {
      return yield* fail("InvalidOptions", `payload must be a Schema, got ${describe(options.payload)}`)
    }
    const maxAttempts = options.maxAttempts ?? 10
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > maxInt32) {
      return yield* fail(
        "InvalidOptions",
        `maxAttempts must be an integer in 1..${maxInt32}, got ${describe(maxAttempts)}`
      )
    }
    const maxActive = options.maxActive
    if (
      maxActive !== undefined &&
      maxActive !== null &&
      (!Number.isSafeInteger(maxActive) || maxActive < 1 || maxActive > maxInt32)
    ) {
      return yield* fail(
        "InvalidOptions",
        `maxActive must be an integer in 1..${maxInt32} or null, got ${describe(maxActive)}`
      )
    }
    if (options.retrySchedule !== undefined && !Schedule.isSchedule(options.retrySchedule)) {
      return yield* fail("InvalidOptions", `retrySchedule must be a Schedule, got ${describe(options.retrySchedule)}`)
    }
    const flushPoll = validDuration(options.flushPollInterval ?? "100 millis")
    if (flushPoll === undefined || !Duration.isPositive(flushPoll)) {
      return yield* fail("InvalidOptions", "flushPollInterval must be a positive finite duration")
    }
    const ledgerService = yield* ledger.Ledger
    const storage = (cause: unknown) => fail("Storage", "the durable workqueue's storage failed", cause)
    yield* ledgerService.open(name, maxActive).pipe(Effect.catchTag("PersistedQueueError", storage))
    const envelope = Schema.Struct({ runKey: Schema.String, payload: options.payload })
    const encode = Schema.encodeUnknownEffect(Schema.toCodecJson(envelope))
    const factory = yield* PersistedQueue.makeFactory
    const persisted = yield* factory.make({
      name,
      schema: envelope,
      maxAttempts,
      retrySchedule: options.retrySchedule ?? Schedule.exponential("1 second", 2)
    })

    const checkItem = (item: string) =>
      typeof item !== "string" || item.length === 0 || item.length > 36
        ? fail("InvalidItem", `an item id must be a string of 1..36 characters, got ${describe(item)}`)
        : !storableText(item)
          ? fail("InvalidItem", `an item id must be well-formed Unicode without NUL (U+0000), got ${describe(item)}`)
          : Effect.void

    const offer = (item: string, payload: S["Type"], delay: Duration.Duration | undefined) =>
      Effect.gen(function* () {
        yield* checkItem(item)
        const runKey = crypto.randomUUID()
        const element = yield* encode({ runKey, payload }).pipe(
          Effect.catchCause((cause) =>
            fail("InvalidPayload", `the payload of item ${item} does not encode`, Cause.squash(cause))
          )
        )
        const fromOwnWork = (yield* CurrentWorkqueue) === name
        const result = yield* ledgerService
          .offer({ name, id: item, runKey, element, delay, fromOwnWork })
          .pipe(Effect.catchCause((cause) => storage(Cause.squash(cause))))
        switch (result) {
          case "Draining":
            return yield* fail(
              "Draining",
              `item ${item} was not queued: the workqueue is draining (only its own runs may queue until the drain ends)`
            )
          case "Destroyed":
            return yield* fail("Destroyed", `item ${item} was not queued: the workqueue is destroyed`)
          default:
            return result === "Queued"
        }
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

    const waitUntilGone = (items: ReadonlyArray<ledger.InFlight>) =>
      Effect.gen(function* () {
        let left = yield* ledgerService.stillInFlight(name, items)
        while (left.length > 0) {
          yield* Effect.sleep(flushPoll)
          left = yield* ledgerService.stillInFlight(name, left)
        }
      }).pipe(Effect.catchTag("PersistedQueueError", (error) => storage(error)))

    const cancel = (item: string) =>
      checkItem(item).pipe(
        Effect.andThen(ledgerService.cancel(name, item)),
        Effect.catchTag("PersistedQueueError", (error) => storage(error))
      )

    // drain: the draining lease is held from before the first read until the wait ends (scoped)
    const drainWith = <A>(after: Effect.Effect<A, DurableWorkqueueError>) =>
      Effect.scoped(
        Effect.gen(function* () {
          const state = yield* ledgerService
            .beginDrain(name)
            .pipe(Effect.catchTag("PersistedQueueError", (error) => storage(error)))
          if (state === "Destroyed") return undefined
          yield* waitFor(true, false)
          return yield* after
        })
      )

    // one run: the handler, stopped by a cancel from any process (the run then counts as finished, not retried).
    // A handler that interrupts itself ends its run as a cancel does (core's Job: an interrupted attempt is neither
    // retried nor a dead letter). The handler runs in the race's own fiber, so an interruption seen there as the
    // handler's result is its own: an interruption of this worker (its runner leaving) ends the race from outside,
    // without that result, and the store releases the item for another runner.
    const runOne = <E, R>(
      handler: (payload: S["Type"], run: Run) => Effect.Effect<void, E, R>,
      value: { readonly runKey: string; readonly payload: S["Type"] },
      meta: { readonly id: string; readonly attempts: number }
    ) =>
      Effect.scoped(
        Effect.gen(function* () {
          const cancelled = yield* ledgerService.watchRun(name, meta.id, value.runKey)
          const outcome = yield* handler(value.payload, {
            item: meta.id,
            runKey: value.runKey,
            attempt: meta.attempts
          }).pipe(
            Effect.provideService(CurrentWorkqueue, name),
            Effect.catchCause((cause) =>
              Cause.hasInterruptsOnly(cause)
                ? Effect.succeed("SelfInterrupted" as const)
                : Effect.failCause(storableFailure(cause as Cause.Cause<E>))
            ),
            Effect.raceFirst(cancelled)
          )
          if (outcome === "SelfInterrupted") {
            yield* Effect.logWarning(
              `durable workqueue ${name}: the run of item ${meta.id} interrupted itself: it counts as cancelled (finished, not retried)`
            )
          }
        })
      )

    // one item, taken and run; with `idle`, the take gives up (and the caller its slot) if no item arrives in time
    const takeOne = <E, R>(
      handler: (payload: S["Type"], run: Run) => Effect.Effect<void, E, R>,
      idle: Duration.Duration | undefined
    ) =>
      Effect.gen(function* () {
        // the take's function and this fiber each read and write `state` in one synchronous step
        let state: "waiting" | "running" | "abandoned" = "waiting"
        const taking = persisted.take((value, meta) =>
          Effect.suspend(() => {
            if (state === "abandoned") return Effect.interrupt // released to the store, attempt not counted
            state = "running"
            return runOne(handler, value as { readonly runKey: string; readonly payload: S["Type"] }, meta)
          })
        )
        if (idle === undefined) return yield* taking
        const fiber = yield* Effect.forkChild(taking)
        const done = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(idle))
        if (Option.isNone(done) && state === "waiting") {
          state = "abandoned"
          yield* Fiber.interrupt(fiber)
          return
        }
        return yield* Fiber.join(fiber)
      })

    const self: DurableWorkqueue<S["Type"]> = {
      name,
      queue: (item, payload) => offer(item, payload, undefined),
      queueDelayed: (item, payload, delay) => {
        const duration = validDuration(delay)
        if (duration === undefined || Duration.isNegative(duration) || Duration.isGreaterThan(duration, maxDelay)) {
          return fail(
            "InvalidDelay",
            `a delay must be a non-negative duration of at most 36500 days, got ${describe(delay)}`
          )
        }
        return offer(item, payload, Duration.isPositive(duration) ? duration : undefined)
      },
      cancel: (item) => Effect.map(cancel(item), (result) => result.pending),
      cancelSync: (item) =>
        Effect.gen(function* () {
          const result = yield* cancel(item)
          if (result.running !== undefined) yield* waitUntilGone([result.running])
          return result.pending
        }),
      flush: waitFor(false, true),
      drain: Effect.asVoid(drainWith(Effect.void)),
      destroy: Effect.asVoid(
        drainWith(ledgerService.destroy(name).pipe(Effect.catchTag("PersistedQueueError", (error) => storage(error))))
      ),
      run: (handler, runOptions) =>
        Effect.gen(function* () {
          const concurrency = runOptions?.concurrency ?? 1
          if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
            return yield* fail("InvalidOptions", `concurrency must be a positive integer, got ${describe(concurrency)}`)
          }
          if (yield* ledgerService.isDestroyed(name).pipe(Effect.catchTag("PersistedQueueError", storage))) {
            return yield* fail("Destroyed", "the workqueue is destroyed: nothing can run on it")
          }
          const worker = Effect.scoped(
            Effect.gen(function* () {
              const slot = yield* ledgerService.acquireSlot(name)
              yield* takeOne(handler, slot === "Slot" ? ledgerService.slotIdle : undefined)
            })
          ).pipe(
            Effect.catchCause((cause) =>
              Cause.hasInterruptsOnly(cause)
                ? Effect.failCause(cause as Cause.Cause<never>)
                : Cause.squash(cause) instanceof PersistedQueue.PersistedQueueError
                  ? Effect.logWarning(`durable workqueue ${name}: the storage failed (retried in 1 s)`, cause).pipe(
                      Effect.andThen(Effect.sleep("1 second"))
                    )
                  : Effect.logWarning(`durable workqueue ${name}: a run failed (retried while attempts remain)`, cause)
            ),
            Effect.forever
          )
          // the workers run until the scope closes, or until the workqueue is destroyed (in any process): then
          // their take loops end, their slots are given back, and the returned fiber completes
          const workers = Effect.forEach(Array.from({ length: concurrency }), () => worker, {
            concurrency: "unbounded",
            discard: true
          })
          return yield* Effect.forkScoped(Effect.raceFirst(workers, ledgerService.awaitDestroyed(name)))
        })
    }
    return self
  })

/**
 * The workqueue whose run the current fiber executes (a handler's `queue` to its own workqueue during a drain is
 * chained work, accepted as the kernel's `is_chained_work()` allows).
 */
const CurrentWorkqueue = Context.Reference<string | undefined>("@effect-workqueue/cluster/CurrentWorkqueue", {
  defaultValue: () => undefined
})

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** The largest `maxActive` and `maxAttempts`: the stores keep them in 32-bit integer columns. */
const maxInt32 = 2 ** 31 - 1

/** The longest delay (100 years): the PostgreSQL store adds it to a `TIMESTAMP`, whose range it must not leave. */
const maxDelay = Duration.days(36500)

/**
 * Whether PostgreSQL stores `text` as it is, so that the memory storage may accept it too (both storages accept the
 * same): well-formed UTF-16 (a lone surrogate is encoded to UTF-8 as U+FFFD, which would merge distinct ids) and no
 * NUL (a `text` column refuses U+0000).
 */
const storableText = (text: string): boolean => text.isWellFormed() && !text.includes("\u0000")

/**
 * A handler failure as the store can record it. The PostgreSQL store writes `Cause.pretty` of the failure into a
 * `text` column, which refuses NUL: that write failed, so the run was neither retried on the `retrySchedule` nor
 * marked failed, but held until its lock expired (and its failure text was lost). A failure whose text holds NUL is
 * replaced by a defect carrying that text with each NUL escaped as `\u0000`; any other failure passes unchanged. On
 * both storages alike, so the logs read the same.
 */
const storableFailure = <E>(cause: Cause.Cause<E>): Cause.Cause<E> => {
  let text: string
  try {
    text = Cause.pretty(cause)
  } catch {
    return cause
  }
  if (!text.includes("\u0000")) return cause
  const error = new Error(
    `the handler failed (NUL escaped as \\u0000, which PostgreSQL cannot store): ${text.replaceAll("\u0000", "\\u0000")}`
  )
  error.stack = error.message
  return Cause.die(error)
}

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
