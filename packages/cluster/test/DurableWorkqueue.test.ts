import { DurableWorkqueue, type DurableWorkqueueError } from "@effect-workqueue/cluster"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { PgClient } from "@effect/sql-pg"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import * as ledger from "../src/internal/ledger.ts"
import { pgLayer, storages, uniqueName } from "./utils/storages.ts"

const Payload = Schema.Struct({ n: Schema.Int })

/** The SQL client with its `listen` hidden: a storage on it can only poll (as on a client without LISTEN). */
const withoutListen = Layer.effect(
  SqlClient.SqlClient,
  Effect.map(
    SqlClient.SqlClient,
    (client) =>
      new Proxy(client, {
        get: (target, key, receiver) => (key === "listen" ? undefined : Reflect.get(target, key, receiver))
      })
  )
)

/** Polls `condition` every 20 ms: hang guards only (the project's test timeout), never a speed budget. */
const until = <E, R>(condition: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function* () {
    while (!(yield* condition)) yield* Effect.sleep("20 millis")
  })

describe.each(storages)("DurableWorkqueue on $label", (storage) => {
  const live = <A, E>(self: Effect.Effect<A, E, DurableWorkqueue.Storage | Scope.Scope>) =>
    self.pipe(Effect.scoped, Effect.provide(storage.layer()))

  it.live("queue: true when accepted, false while the item is pending (coalesced: the first payload runs)", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("coalesce"), payload: Payload })
        const first = yield* wq.queue("a", { n: 1 })
        const second = yield* wq.queue("a", { n: 2 })
        const other = yield* wq.queue("b", { n: 3 })
        const seen: Array<[string, number]> = []
        yield* wq.run((payload, run) => Effect.sync(() => void seen.push([run.item, payload.n])))
        yield* wq.flush
        assert.deepStrictEqual([first, second, other], [true, false, true])
        assert.deepStrictEqual(seen.sort(), [
          ["a", 1],
          ["b", 3]
        ])
        // after its run the item can be queued again, with a new run key
        assert.strictEqual(yield* wq.queue("a", { n: 4 }), true)
        yield* wq.flush
        assert.deepStrictEqual(
          seen.filter(([item]) => item === "a"),
          [
            ["a", 1],
            ["a", 4]
          ]
        )
      })
    )
  )

  it.live("concurrent queues of one item: exactly one is accepted, and it alone runs", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("race"), payload: Payload })
        const results = yield* Effect.forEach(
          Array.from({ length: 10 }, (_, n) => n),
          (n) => wq.queue("same", { n }),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.filter(Boolean).length, 1)
        const winner = results.indexOf(true)
        const seen: Array<number> = []
        yield* wq.run((payload) => Effect.sync(() => void seen.push(payload.n)))
        yield* wq.drain
        assert.deepStrictEqual(seen, [winner])
      })
    )
  )

  it.live(
    "queue of a running item queues it again: true, it runs once more after the run, never beside it; a second queue meanwhile coalesces",
    () =>
      live(
        Effect.gen(function* () {
          const wq = yield* DurableWorkqueue.make({ name: uniqueName("requeue"), payload: Payload })
          const started = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const runs: Array<[number, string]> = []
          let active = 0
          let maxOverlap = 0
          yield* wq.run(
            (payload, run) =>
              Effect.gen(function* () {
                active++
                maxOverlap = Math.max(maxOverlap, active)
                runs.push([payload.n, run.runKey])
                yield* Deferred.succeed(started, undefined)
                if (payload.n === 1) yield* Deferred.await(release)
              }).pipe(Effect.ensuring(Effect.sync(() => active--))),
            { concurrency: 4 }
          )
          assert.strictEqual(yield* wq.queue("a", { n: 1 }), true)
          yield* Deferred.await(started)
          assert.strictEqual(yield* wq.queue("a", { n: 2 }), true)
          assert.strictEqual(yield* wq.queue("a", { n: 3 }), false)
          yield* Deferred.succeed(release, undefined)
          // flush waits for the acceptance queued while the item ran, too
          yield* wq.flush
          assert.deepStrictEqual(
            runs.map(([n]) => n),
            [1, 2]
          )
          assert.notStrictEqual(runs[0]![1], runs[1]![1])
          assert.strictEqual(maxOverlap, 1)
          assert.strictEqual(yield* wq.queue("a", { n: 4 }), true)
          yield* wq.flush
          assert.deepStrictEqual(
            runs.map(([n]) => n),
            [1, 2, 4]
          )
        })
      )
  )

  it.live("queueDelayed of a running item: pending after the run until its delay is due; cancel removes it", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("requeue-delayed"), payload: Payload })
        const started = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const runs: Array<number> = []
        yield* wq.run((payload) =>
          Effect.gen(function* () {
            runs.push(payload.n)
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(release)
          })
        )
        assert.isTrue(yield* wq.queue("a", { n: 1 }))
        yield* Deferred.await(started)
        assert.isTrue(yield* wq.queueDelayed("a", { n: 2 }, "1 hour"))
        assert.isFalse(yield* wq.queue("a", { n: 3 }))
        yield* Deferred.succeed(release, undefined)
        // flush waits for the run, not for the acceptance that is not due
        yield* wq.flush
        assert.deepStrictEqual(runs, [1])
        // the acceptance is pending (armed for an hour): a queue coalesces with it, cancel removes it
        assert.isFalse(yield* wq.queue("a", { n: 4 }))
        assert.isTrue(yield* wq.cancel("a"))
        yield* wq.drain
        assert.deepStrictEqual(runs, [1])
      })
    )
  )

  it.live("an item queued while its run fails for the last time still runs once more", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({
          name: uniqueName("requeue-failed"),
          payload: Payload,
          maxAttempts: 1
        })
        const started = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const runs: Array<number> = []
        yield* wq.run((payload) =>
          Effect.gen(function* () {
            runs.push(payload.n)
            if (payload.n !== 1) return
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(release)
            return yield* Effect.fail("boom")
          })
        )
        assert.strictEqual(yield* wq.queue("a", { n: 1 }), true)
        yield* Deferred.await(started)
        assert.strictEqual(yield* wq.queue("a", { n: 2 }), true)
        yield* Deferred.succeed(release, undefined)
        yield* wq.drain
        assert.deepStrictEqual(runs, [1, 2])
      })
    )
  )

  it.live("cancel of a running item with an acceptance waiting: true (it was pending); neither runs on", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("requeue-cancel"), payload: Payload })
        const started = yield* Deferred.make<void>()
        const runs: Array<number> = []
        yield* wq.run((payload) =>
          Effect.gen(function* () {
            runs.push(payload.n)
            if (payload.n === 1) yield* Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
          })
        )
        assert.strictEqual(yield* wq.queue("a", { n: 1 }), true)
        yield* Deferred.await(started)
        assert.strictEqual(yield* wq.queue("a", { n: 2 }), true)
        assert.strictEqual(yield* wq.cancelSync("a"), true)
        yield* wq.drain
        assert.deepStrictEqual(runs, [1])
        // a queue after the cancel is new work
        assert.strictEqual(yield* wq.queue("a", { n: 3 }), true)
        yield* wq.flush
        assert.deepStrictEqual(runs, [1, 3])
      })
    )
  )

  it.live("cancel removes a pending item (true), which never runs; false when nothing is pending", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("cancel"), payload: Payload })
        assert.strictEqual(yield* wq.queue("a", { n: 1 }), true)
        assert.strictEqual(yield* wq.queueDelayed("d", { n: 2 }, "1 hour"), true)
        assert.strictEqual(yield* wq.cancel("a"), true)
        assert.strictEqual(yield* wq.cancel("a"), false)
        assert.strictEqual(yield* wq.cancel("d"), true)
        assert.strictEqual(yield* wq.cancel("never-queued"), false)
        const runs: Array<number> = []
        yield* wq.run((payload) => Effect.sync(() => void runs.push(payload.n)))
        assert.strictEqual(yield* wq.queue("b", { n: 3 }), true)
        yield* wq.drain
        assert.deepStrictEqual(runs, [3])
        // a cancelled item can be queued again
        assert.strictEqual(yield* wq.queue("a", { n: 4 }), true)
        yield* wq.drain
        assert.deepStrictEqual(runs, [3, 4])
      })
    )
  )

  it.live("queueDelayed: coalesces with a pending item; flush does not wait for an item not yet due", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("delayed"), payload: Payload })
        const runs: Array<number> = []
        yield* wq.run((payload) => Effect.sync(() => void runs.push(payload.n)))
        assert.strictEqual(yield* wq.queueDelayed("later", { n: 1 }, "1 hour"), true)
        assert.strictEqual(yield* wq.queueDelayed("later", { n: 2 }, "1 second"), false)
        assert.strictEqual(yield* wq.queue("later", { n: 3 }), false)
        yield* wq.flush
        assert.deepStrictEqual(runs, [])
        assert.strictEqual(yield* wq.cancel("later"), true)
        // a short delay: the item runs once it is due (drain waits for delayed items)
        assert.strictEqual(yield* wq.queueDelayed("soon", { n: 4 }, "1 second"), true)
        yield* wq.drain
        assert.deepStrictEqual(runs, [4])
      })
    )
  )

  it.live("flush waits for the running item queued before it", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("flush"), payload: Payload })
        const started = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        let done = 0
        yield* wq.run(() =>
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Deferred.await(release)),
            Effect.andThen(Effect.sync(() => void done++))
          )
        )
        yield* wq.queue("a", { n: 1 })
        yield* Deferred.await(started)
        const flush = yield* Effect.forkChild(wq.flush)
        // several storage polls pass: the flush cannot return while the item runs
        yield* Effect.sleep("300 millis")
        assert.isUndefined(flush.pollUnsafe())
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(flush)
        assert.strictEqual(done, 1)
      })
    )
  )

  it.live("a runner leaving (its scope closed mid-item) releases the item: another runner runs it, same run key", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("leave"), payload: Payload })
        const leaving = yield* Scope.make()
        const started = yield* Deferred.make<DurableWorkqueue.Run>()
        yield* wq
          .run((_payload, run) => Deferred.succeed(started, run).pipe(Effect.andThen(Effect.never)))
          .pipe(Scope.provide(leaving))
        yield* wq.queue("a", { n: 1 })
        const first = yield* Deferred.await(started)
        const runs: Array<DurableWorkqueue.Run> = []
        yield* wq.run((_payload, run) => Effect.sync(() => void runs.push(run)))
        yield* Scope.close(leaving, Exit.void)
        yield* wq.drain
        assert.strictEqual(runs.length, 1)
        assert.strictEqual(runs[0]!.item, "a")
        assert.strictEqual(runs[0]!.runKey, first.runKey)
      })
    )
  )

  it.live(
    "a handler that interrupts itself ends its run as a cancel does (not retried, no dead letter); its worker runs on",
    () =>
      live(
        Effect.gen(function* () {
          const wq = yield* DurableWorkqueue.make({
            name: uniqueName("self-interrupt"),
            payload: Payload,
            maxAttempts: 3,
            retrySchedule: Schedule.spaced("10 millis")
          })
          const runs: Array<string> = []
          // one worker: a lost worker leaves "next" pending, and the flush waits for it (until the hang guard)
          yield* wq.run(
            (_payload, run) =>
              Effect.sync(() => void runs.push(`${run.item}#${run.attempt}`)).pipe(
                Effect.andThen(run.item === "self" ? Effect.interrupt : Effect.void)
              ),
            { concurrency: 1 }
          )
          assert.isTrue(yield* wq.queue("self", { n: 1 }))
          assert.isTrue(yield* wq.queue("next", { n: 2 }))
          yield* wq.flush
          assert.deepStrictEqual(runs, ["self#1", "next#1"])
          // the interrupted run is finished: the item is not pending, a queue is new work and runs
          assert.isFalse(yield* wq.cancel("self"))
          assert.isTrue(yield* wq.queue("next", { n: 3 }))
          yield* wq.flush
          assert.deepStrictEqual(runs, ["self#1", "next#1", "next#1"])
        })
      )
  )

  it.live("a handler that interrupts itself on one of two workers runs once; both workers run on", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("self-interrupt-2"), payload: Payload })
        const runs: Array<string> = []
        yield* wq.run(
          (_payload, run) =>
            Effect.sync(() => void runs.push(run.item)).pipe(
              Effect.andThen(run.item.startsWith("self") ? Effect.interrupt : Effect.void)
            ),
          { concurrency: 2 }
        )
        for (let n = 0; n < 4; n++) yield* wq.queue(`self-${n}`, { n })
        for (let n = 0; n < 4; n++) yield* wq.queue(`ok-${n}`, { n })
        yield* wq.flush
        assert.deepStrictEqual(runs.toSorted(), [
          "ok-0",
          "ok-1",
          "ok-2",
          "ok-3",
          "self-0",
          "self-1",
          "self-2",
          "self-3"
        ])
      })
    )
  )

  it.live("flush waits for an item waiting for a retry: it returns after the retry's run", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({
          name: uniqueName("flush-retry"),
          payload: Payload,
          maxAttempts: 2,
          retrySchedule: Schedule.spaced("2 seconds")
        })
        const failed = yield* Deferred.make<void>()
        const attempts: Array<number> = []
        yield* wq.run((_payload, run) =>
          Effect.sync(() => void attempts.push(run.attempt)).pipe(
            Effect.andThen(
              run.attempt === 1
                ? Deferred.succeed(failed, undefined).pipe(Effect.andThen(Effect.fail("boom")))
                : Effect.void
            )
          )
        )
        yield* wq.queue("a", { n: 1 })
        yield* Deferred.await(failed)
        // let the failure settle (the item then waits for its retry); a flush begun earlier waits for the run anyway
        yield* Effect.sleep("300 millis")
        yield* wq.flush
        assert.deepStrictEqual(attempts, [1, 2])
      })
    )
  )

  it.live("cancelSync raced with queues of the same item and no runner: returns, never waiting for a run", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("cancel-race"), payload: Payload })
        for (let round = 0; round < 100; round++) {
          const item = `a-${round}`
          yield* Effect.all(
            [wq.queue(item, { n: 1 }), wq.cancel(item), wq.queue(item, { n: 2 }), wq.cancelSync(item)],
            { concurrency: "unbounded" }
          ).pipe(
            // hang guard: no runner exists, so a cancelSync waiting for a run would wait forever
            Effect.timeoutOrElse({
              duration: "60 seconds",
              orElse: () => Effect.die(`cancelSync of ${item} waited for a run that no runner could start`)
            })
          )
          // whatever the order, nothing runs: a cancel leaves nothing in flight, so the flush returns
          yield* wq.cancel(item)
        }
        yield* wq.flush
      })
    )
  )

  it.live("a failed run is retried with the same run key and the next attempt number", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({
          name: uniqueName("retry"),
          payload: Payload,
          retrySchedule: Schedule.spaced("10 millis")
        })
        const runs: Array<DurableWorkqueue.Run> = []
        yield* wq.run((_payload, run) =>
          Effect.sync(() => void runs.push(run)).pipe(
            Effect.andThen(run.attempt < 3 ? Effect.fail("boom") : Effect.void)
          )
        )
        yield* wq.queue("a", { n: 1 })
        yield* wq.drain
        assert.deepStrictEqual(
          runs.map((run) => run.attempt),
          [1, 2, 3]
        )
        assert.strictEqual(new Set(runs.map((run) => run.runKey)).size, 1)
        assert.strictEqual(runs[0]!.item, "a")
      })
    )
  )

  it.live("concurrency bounds this runner's concurrent runs; every item runs once", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("active"), payload: Payload })
        let active = 0
        let peak = 0
        const seen: Array<number> = []
        yield* wq.run(
          (payload) =>
            Effect.gen(function* () {
              active++
              peak = Math.max(peak, active)
              yield* Effect.sleep("5 millis")
              seen.push(payload.n)
              active--
            }),
          { concurrency: 2 }
        )
        for (let n = 0; n < 20; n++) yield* wq.queue(`i${n}`, { n })
        yield* wq.drain
        assert.deepStrictEqual(
          seen.sort((a, b) => a - b),
          Array.from({ length: 20 }, (_, n) => n)
        )
        assert.isAtMost(peak, 2)
      })
    )
  )

  it.live("maxActive bounds the runs of all runners together: two runners of 3 run at most 2 items at once", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("bound"), payload: Payload, maxActive: 2 })
        const gate = yield* Deferred.make<void>()
        let active = 0
        let peak = 0
        const seen: Array<number> = []
        const handler = (payload: { readonly n: number }) =>
          Effect.gen(function* () {
            active++
            peak = Math.max(peak, active)
            yield* Deferred.await(gate)
            yield* Effect.sleep("2 millis")
            seen.push(payload.n)
            active--
          })
        yield* wq.run(handler, { concurrency: 3 })
        yield* wq.run(handler, { concurrency: 3 })
        for (let n = 0; n < 10; n++) yield* wq.queue(`i${n}`, { n })
        yield* until(Effect.sync(() => active === 2))
        // several storage polls pass with four idle workers and eight items waiting: none starts a third run
        yield* Effect.sleep("500 millis")
        assert.strictEqual(active, 2)
        yield* Deferred.succeed(gate, undefined)
        yield* wq.drain
        assert.deepStrictEqual(
          seen.sort((a, b) => a - b),
          Array.from({ length: 10 }, (_, n) => n)
        )
        assert.strictEqual(peak, 2)
      })
    )
  )

  it.live("cancel of a running item interrupts its handler; cancelSync returns after the run ended; no retry", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("cancel-run"), payload: Payload })
        // items with n = 1 or 3 block until interrupted; each start is announced on `started`
        const started = yield* Queue.unbounded<number>()
        const runs: Array<number> = []
        let interrupted = 0
        yield* wq.run((payload) =>
          Effect.gen(function* () {
            runs.push(payload.n)
            if (payload.n === 2) return
            yield* Queue.offer(started, payload.n)
            yield* Effect.never
          }).pipe(Effect.onInterrupt(() => Effect.sync(() => void interrupted++)))
        )
        assert.isTrue(yield* wq.queue("a", { n: 1 }))
        assert.strictEqual(yield* Queue.take(started), 1)
        // not pending (it runs): false, as cancel_work_sync(); on return the handler has been interrupted
        assert.isFalse(yield* wq.cancelSync("a"))
        assert.strictEqual(interrupted, 1)
        // the cancelled run counts as finished: the item is neither retried nor in flight, and can be queued again
        assert.isFalse(yield* wq.cancelSync("a"))
        assert.isTrue(yield* wq.queue("a", { n: 2 }))
        yield* wq.drain
        assert.deepStrictEqual(runs, [1, 2])
        // cancel (not sync) of a running item asks it to stop and returns; the drain then sees it end
        assert.isTrue(yield* wq.queue("b", { n: 3 }))
        assert.strictEqual(yield* Queue.take(started), 3)
        assert.isFalse(yield* wq.cancel("b"))
        yield* wq.drain
        assert.strictEqual(interrupted, 2)
        assert.deepStrictEqual(runs, [1, 2, 3])
      })
    )
  )

  it.live("drain refuses outside queueing with Draining, accepts chained work from the workqueue's own runs", () =>
    live(
      Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({ name: uniqueName("drain"), payload: Payload })
        const started = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const runs: Array<number> = []
        const chained: Array<boolean> = []
        yield* wq.run(
          (payload, run) =>
            Effect.gen(function* () {
              runs.push(payload.n)
              if (payload.n !== 1) return
              yield* Deferred.succeed(started, undefined)
              yield* Deferred.await(release)
              // queued from a run of this workqueue while it drains: accepted, and the drain waits for it
              chained.push(yield* wq.queue(`${run.item}-next`, { n: 2 }))
            }),
          { concurrency: 2 }
        )
        assert.isTrue(yield* wq.queue("a", { n: 1 }))
        yield* Deferred.await(started)
        const drain = yield* Effect.forkChild(wq.drain)
        // until the drain has begun, a probe is accepted (and taken back); then it is refused
        let probes = 0
        yield* until(
          Effect.gen(function* () {
            const exit = yield* Effect.exit(wq.queueDelayed(`probe-${++probes}`, { n: 0 }, "1 hour"))
            if (Exit.isSuccess(exit)) return !(yield* wq.cancel(`probe-${probes}`))
            return exit.cause.reasons.some((reason) => Cause.isFailReason(reason) && reason.error.reason === "Draining")
          })
        )
        const refused = yield* Effect.flip(wq.queue("outside", { n: 3 }))
        assert.strictEqual(refused.reason, "Draining")
        assert.strictEqual(refused.workqueue, wq.name)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(drain)
        assert.deepStrictEqual(chained, [true])
        assert.deepStrictEqual(runs, [1, 2])
        // the drain is over: queueing is accepted again
        assert.isTrue(yield* wq.queue("after", { n: 4 }))
        yield* wq.drain
        assert.deepStrictEqual(runs, [1, 2, 4])
      })
    )
  )

  it.live("destroy drains, then queue, queueDelayed and run fail with Destroyed; drain returns at once", () =>
    live(
      Effect.gen(function* () {
        const name = uniqueName("destroy")
        const wq = yield* DurableWorkqueue.make({ name, payload: Payload, maxActive: 2 })
        const runs: Array<number> = []
        const runner = yield* wq.run(
          (payload) => Effect.sleep("20 millis").pipe(Effect.andThen(Effect.sync(() => void runs.push(payload.n)))),
          { concurrency: 3 }
        )
        assert.isTrue(yield* wq.queue("a", { n: 1 }))
        yield* wq.destroy
        assert.deepStrictEqual(runs, [1])
        // the runners stopped: their fiber has completed (not interrupted) while the scope is still open
        assert.isTrue(Exit.isSuccess(yield* Fiber.await(runner)))
        // another handle on the same workqueue sees it destroyed too
        const other = yield* DurableWorkqueue.make({ name, payload: Payload })
        const errors = yield* Effect.forEach(
          [
            wq.queue("b", { n: 2 }),
            other.queue("b", { n: 2 }),
            other.queueDelayed("b", { n: 2 }, "1 second"),
            other.run(() => Effect.void)
          ] as ReadonlyArray<Effect.Effect<unknown, DurableWorkqueueError.DurableWorkqueueError, Scope.Scope>>,
          (effect) => Effect.flip(effect)
        )
        assert.deepStrictEqual(
          errors.map((error) => error.reason),
          ["Destroyed", "Destroyed", "Destroyed", "Destroyed"]
        )
        yield* other.drain
        yield* other.destroy
      })
    )
  )

  it.live(
    "item ids and names that PostgreSQL cannot store as given (lone surrogates, NUL) are refused with a typed error, on both storages alike",
    () =>
      live(
        Effect.gen(function* () {
          const name = uniqueName("unicode")
          const wq = yield* DurableWorkqueue.make({ name, payload: Payload })
          // PostgreSQL stores a lone surrogate as U+FFFD: "\ud800x", "\udfffx" and "\ufffdx" would be one id there
          const refused = ["\ud800x", "\udfffx", "x\udc00", "\ud83d", "\u0000", "a\u0000b"]
          const errors = yield* Effect.forEach(refused, (item) => Effect.flip(wq.queue(item, { n: 1 })))
          errors.push(yield* Effect.flip(wq.queueDelayed("\ud800x", { n: 1 }, "1 hour")))
          errors.push(yield* Effect.flip(wq.cancel("\ud800x")))
          errors.push(yield* Effect.flip(wq.cancelSync("a\u0000b")))
          for (const error of errors) {
            assert.strictEqual(error.reason, "InvalidItem")
            assert.strictEqual(error.workqueue, name)
            assert.include(error.message, "well-formed Unicode without NUL")
          }
          // well-formed ids, U+FFFD and a surrogate pair among them, are distinct items and run as given
          const accepted = ["\ufffdx", "\ud83d\ude00x", "x"]
          const results = yield* Effect.forEach(accepted, (item, n) => wq.queue(item, { n }))
          const seen: Array<string> = []
          yield* wq.run((_, run) => Effect.sync(() => void seen.push(run.item)))
          yield* wq.flush
          assert.deepStrictEqual(results, [true, true, true])
          assert.deepStrictEqual(seen.sort(), [...accepted].sort())
          // names: two that differ in a lone surrogate would share one workqueue on PostgreSQL
          for (const bad of ["\ud800", "\udfff", "q\u0000"]) {
            const error = yield* Effect.flip(DurableWorkqueue.make({ name: bad, payload: Payload }))
            assert.strictEqual(error.reason, "InvalidName")
            assert.include(error.message, "well-formed Unicode without NUL")
          }
        })
      )
  )

  it.live(
    "payload strings with lone surrogates or NUL come back to the handler as queued, on both storages (stored as JSON escapes)",
    () =>
      live(
        Effect.gen(function* () {
          const Text = Schema.Struct({ s: Schema.String, k: Schema.Record(Schema.String, Schema.Number) })
          const wq = yield* DurableWorkqueue.make({ name: uniqueName("payload-text"), payload: Text })
          const texts = ["\ud800", "\udfffx", "\u0000", "a\u0000b", "\ufffd"]
          const started = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const seen: Array<[string, string, ReadonlyArray<string>]> = []
          yield* wq.run(
            (payload, run) =>
              Effect.gen(function* () {
                seen.push([run.item, payload.s, Object.keys(payload.k)])
                if (run.item === "held" && payload.s === "first") {
                  yield* Deferred.succeed(started, undefined)
                  yield* Deferred.await(release)
                }
              }),
            { concurrency: 2 }
          )
          for (const [n, s] of texts.entries()) assert.strictEqual(yield* wq.queue(`t${n}`, { s, k: { [s]: n } }), true)
          // and through the queue of a running item (kept aside until its run settles)
          assert.strictEqual(yield* wq.queue("held", { s: "first", k: {} }), true)
          yield* Deferred.await(started)
          assert.strictEqual(yield* wq.queue("held", { s: "\ud800\u0000", k: { "\udfff": 1 } }), true)
          yield* Deferred.succeed(release, undefined)
          yield* wq.flush
          const byItem = new Map(seen.map(([item, s, keys]) => [`${item}:${s}`, keys]))
          for (const [n, s] of texts.entries()) assert.deepStrictEqual(byItem.get(`t${n}:${s}`), [s])
          assert.deepStrictEqual(byItem.get("held:\ud800\u0000"), ["\udfff"])
          assert.strictEqual(seen.length, texts.length + 2)
        })
      )
  )

  it.live(
    "a handler failure whose text holds NUL is retried on the retrySchedule, not held until its claim lapses (PostgreSQL's failure text cannot hold NUL)",
    () => {
      // claims that never lapse within the test: each retry must come from the retrySchedule
      const layer = (
        storage.label === "postgresql"
          ? pgLayer({ lockExpiration: "1 hour", lockRefreshInterval: "10 minutes" })
          : storage.layer()
      ) as Layer.Layer<DurableWorkqueue.Storage>
      return Effect.gen(function* () {
        const wq = yield* DurableWorkqueue.make({
          name: uniqueName("nul-failure"),
          payload: Payload,
          maxAttempts: 3,
          retrySchedule: Schedule.spaced("10 millis")
        })
        const attempts: Array<number> = []
        yield* wq.run((_, run) =>
          Effect.sync(() => void attempts.push(run.attempt)).pipe(
            Effect.andThen(
              run.attempt === 1
                ? Effect.fail(new Error("bad\u0000byte"))
                : run.attempt === 2
                  ? Effect.die("defect \u0000 \ud800")
                  : Effect.void
            )
          )
        )
        yield* wq.queue("a", { n: 1 })
        yield* wq.flush.pipe(
          // hang guard: without the escape the PostgreSQL run waits for its claim to lapse (an hour here)
          Effect.timeoutOrElse({
            duration: "120 seconds",
            orElse: () => Effect.die(`the retries did not come (attempts so far: ${attempts.join(", ")})`)
          })
        )
        assert.deepStrictEqual(attempts, [1, 2, 3])
      }).pipe(Effect.scoped, Effect.provide(layer))
    }
  )

  it.live("bad input fails with a typed error naming the workqueue and the rule", () =>
    live(
      Effect.gen(function* () {
        const name = uniqueName("input")
        const wq = yield* DurableWorkqueue.make({ name, payload: Payload })
        const attempts: Array<
          Effect.Effect<unknown, DurableWorkqueueError.DurableWorkqueueError, Scope.Scope | DurableWorkqueue.Storage>
        > = [
          wq.queue("", { n: 1 }),
          wq.queue("x".repeat(37), { n: 1 }),
          wq.queue(42 as unknown as string, { n: 1 }),
          wq.queue("a", { n: 1.5 }),
          wq.queueDelayed("a", { n: 1 }, Number.NaN),
          wq.queueDelayed("a", { n: 1 }, -1),
          wq.queueDelayed("a", { n: 1 }, Number.POSITIVE_INFINITY),
          wq.cancel(""),
          wq.run(() => Effect.void, { concurrency: 0 }),
          Effect.asVoid(DurableWorkqueue.make({ name, payload: Payload, maxActive: 0 })),
          Effect.asVoid(DurableWorkqueue.make({ name, payload: Payload, maxActive: 1.5 })),
          // beyond what the stores hold (a 32-bit column; a timestamp): refused up front, not a Storage failure
          Effect.asVoid(DurableWorkqueue.make({ name, payload: Payload, maxActive: 2 ** 40 })),
          wq.queueDelayed("a", { n: 1 }, "1000000000 days"),
          Effect.asVoid(DurableWorkqueue.make({ name, payload: Payload, retrySchedule: "x" as never })),
          Effect.asVoid(DurableWorkqueue.make({ name, payload: Payload, retrySchedule: 5 as never })),
          Effect.asVoid(DurableWorkqueue.make({ name, payload: Payload, retrySchedule: null as never })),
          Effect.asVoid(DurableWorkqueue.make({ name, payload: undefined as unknown as typeof Payload }))
        ]
        const reasons = yield* Effect.forEach(attempts, (effect) => Effect.flip(effect))
        assert.deepStrictEqual(
          reasons.map((error) => error.reason),
          [
            "InvalidItem",
            "InvalidItem",
            "InvalidItem",
            "InvalidPayload",
            "InvalidDelay",
            "InvalidDelay",
            "InvalidDelay",
            "InvalidItem",
            "InvalidOptions",
            "InvalidOptions",
            "InvalidOptions",
            "InvalidOptions",
            "InvalidDelay",
            "InvalidOptions",
            "InvalidOptions",
            "InvalidOptions",
            "InvalidOptions"
          ]
        )
        assert.strictEqual(
          reasons.every((error) => error.workqueue === name),
          true
        )
        const badName = yield* Effect.flip(DurableWorkqueue.make({ name: "", payload: Payload }))
        assert.strictEqual(badName.reason, "InvalidName")
        const badAttempts = yield* Effect.flip(DurableWorkqueue.make({ name, payload: Payload, maxAttempts: 0 }))
        assert.strictEqual(badAttempts.reason, "InvalidOptions")
        // nothing was stored by the rejected calls
        assert.strictEqual(yield* wq.cancel("a"), false)
      })
    )
  )
})

describe("DurableWorkqueue.layerMemory", () => {
  it.live("holds nothing for a run once it has ended: 30 cancels of running items leave no cancel mark behind", () =>
    Effect.gen(function* () {
      const wq = yield* DurableWorkqueue.make({ name: uniqueName("footprint"), payload: Payload })
      const started = yield* Queue.unbounded<string>()
      yield* wq.run((_, run) => Queue.offer(started, run.item).pipe(Effect.andThen(Effect.never)), { concurrency: 3 })
      for (let n = 0; n < 30; n++) {
        assert.isTrue(yield* wq.queue(`item-${n}`, { n }))
        assert.strictEqual(yield* Queue.take(started), `item-${n}`)
        assert.isFalse(yield* wq.cancelSync(`item-${n}`))
      }
      yield* wq.drain
      const service = yield* ledger.Ledger
      assert.deepStrictEqual(yield* service.footprint, { runs: 0, cancelMarks: 0 })
    }).pipe(Effect.scoped, Effect.provide(DurableWorkqueue.layerMemory))
  )
})

describe("DurableWorkqueue.layerPg", () => {
  it.live("a cancel and a destroy in another process reach this one by NOTIFY, without waiting for its poll", () =>
    Effect.gen(function* () {
      const name = uniqueName("notify")
      // this process polls once an hour: only a notification can stop its run and its runners before the hang guard
      const here = yield* Layer.build(pgLayer({ pollInterval: "1 hour" }))
      const elsewhere = yield* Layer.build(pgLayer())
      const wq = yield* DurableWorkqueue.make({ name, payload: Payload }).pipe(Effect.provideContext(here))
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const runner = yield* wq
        .run(() =>
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Effect.never),
            Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
          )
        )
        .pipe(Effect.provideContext(here))
      assert.isTrue(yield* wq.queue("a", { n: 1 }).pipe(Effect.provideContext(here)))
      yield* Deferred.await(started)
      const remote = yield* DurableWorkqueue.make({ name, payload: Payload }).pipe(Effect.provideContext(elsewhere))
      assert.isFalse(yield* remote.cancelSync("a"))
      assert.isTrue(yield* Deferred.isDone(interrupted))
      yield* remote.destroy
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(runner)))
    }).pipe(Effect.scoped)
  )

  it.live("a destroy in another process stops this process's runners within a poll interval (no LISTEN: polling)", () =>
    Effect.gen(function* () {
      const name = uniqueName("destroy-elsewhere")
      // two storages on one database: two processes' ledgers, each with its own runs, waiters and polls; this one's
      // client cannot LISTEN, so only its poll sees the destroy
      const here = yield* Layer.build(
        DurableWorkqueue.layerPg({ pollInterval: "100 millis" }).pipe(
          Layer.provide(withoutListen),
          Layer.provideMerge(PgClient.layer({ url: Redacted.make(inject("pgUrl")) })),
          Layer.orDie
        )
      )
      const elsewhere = yield* Layer.build(pgLayer())
      const wq = yield* DurableWorkqueue.make({ name, payload: Payload }).pipe(Effect.provideContext(here))
      const runner = yield* wq.run(() => Effect.void, { concurrency: 2 }).pipe(Effect.provideContext(here))
      const remote = yield* DurableWorkqueue.make({ name, payload: Payload }).pipe(Effect.provideContext(elsewhere))
      yield* remote.destroy
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(runner)))
    }).pipe(Effect.scoped)
  )

  it.live("a dead letter whose handler failure held NUL records the failure text, NUL escaped", () =>
    Effect.gen(function* () {
      const name = uniqueName("nul-dead-letter")
      const sql = yield* SqlClient.SqlClient
      const wq = yield* DurableWorkqueue.make({ name, payload: Payload, maxAttempts: 1 })
      yield* wq.run(() => Effect.fail(new Error("bad\u0000byte")))
      yield* wq.queue("a", { n: 1 })
      yield* wq.flush.pipe(
        // hang guard: without the escape the failed write leaves the run claimed until its lock lapses (an hour)
        Effect.timeoutOrElse({ duration: "120 seconds", orElse: () => Effect.die("the failure was not recorded") })
      )
      const rows = yield* sql<{ state: string; last_failure: string | null }>`
        SELECT state, last_failure FROM effect_workqueue WHERE queue_name = ${name}`
      assert.strictEqual(rows.length, 1)
      assert.strictEqual(rows[0]!.state, "failed")
      assert.include(rows[0]!.last_failure ?? "", "bad\\u0000byte")
    }).pipe(
      Effect.scoped,
      Effect.provide(pgLayer({ lockExpiration: "1 hour", lockRefreshInterval: "10 minutes" })),
      Effect.orDie
    )
  )

  it.live("cleanup deletes completed rows older than olderThan; pending and failed rows stay (default)", () =>
    Effect.gen(function* () {
      const name = uniqueName("cleanup")
      const sql = yield* SqlClient.SqlClient
      const wq = yield* DurableWorkqueue.make({ name, payload: Payload, maxAttempts: 1 })
      yield* wq.run((payload) => (payload.n < 0 ? Effect.fail("bad") : Effect.void))
      yield* wq.queue("good-1", { n: 1 })
      yield* wq.queue("good-2", { n: 2 })
      yield* wq.queue("bad", { n: -1 })
      yield* wq.queueDelayed("later", { n: 3 }, "1 hour")
      yield* wq.flush
      const rows = sql<{ id: string; state: string }>`
        SELECT id, state FROM wq_cleanup_test WHERE queue_name = ${name} ORDER BY id`
      // the cleanup runs every 100 ms in this process: wait until it has removed the completed rows
      yield* until(Effect.map(rows, (left) => left.every((row) => row.state !== "completed")))
      assert.deepStrictEqual(yield* rows, [
        { id: "bad", state: "failed" },
        { id: "later", state: "pending" }
      ])
      // a completed and deleted item can be queued again
      assert.isTrue(yield* wq.queue("good-1", { n: 4 }))
      yield* wq.cancel("later")
    }).pipe(
      Effect.scoped,
      Effect.provide(pgLayer({ tableName: "wq_cleanup_test", cleanup: { olderThan: 0, interval: "100 millis" } }))
    )
  )

  it.live("bad settings fail with InvalidOptions", () =>
    Effect.gen(function* () {
      const settings: Array<Parameters<typeof DurableWorkqueue.layerPg>[0]> = [
        { pollInterval: 0 },
        { lockExpiration: Number.NaN },
        { lockRefreshInterval: -1 },
        { tableName: "Bad-Name" },
        { cleanup: { olderThan: -1 } },
        { cleanup: { interval: 0 } },
        { cleanup: { failedOlderThan: Number.POSITIVE_INFINITY } },
        { cleanup: true as never },
        { cleanup: "x" as never },
        // a refresh must come at least twice within the expiration, else a live run's claim and slot lapse
        { lockRefreshInterval: "10 seconds", lockExpiration: "2 seconds" },
        { lockRefreshInterval: "3 seconds", lockExpiration: "5 seconds" },
        { lockRefreshInterval: "2 minutes" }
      ]
      for (const options of settings) {
        const error = yield* Effect.scoped(Layer.build(DurableWorkqueue.layerPg(options))).pipe(
          Effect.provide(Layer.orDie(PgClient.layer({ url: Redacted.make(inject("pgUrl")) }))),
          Effect.flip
        )
        assert.strictEqual(error.reason, "InvalidOptions", JSON.stringify(options))
      }
      // exactly half is accepted
      yield* Effect.scoped(
        Layer.build(DurableWorkqueue.layerPg({ lockRefreshInterval: "1 second", lockExpiration: "2 seconds" }))
      ).pipe(Effect.provide(Layer.orDie(PgClient.layer({ url: Redacted.make(inject("pgUrl")) }))))
    })
  )
})
