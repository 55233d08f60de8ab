import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import { TestClock } from "effect/testing"
import { Job, Work, Workqueue, WorkqueueError, WorkqueueMetrics, WorkqueueSystem } from "../src/index.ts"
import { systemOf } from "../src/internal/service.ts"
import { makeGate, makeLogCapture, settle, systemLayer } from "./utils/recorder.ts"

const layer = systemLayer({ cpus: 2 })

/** The counter's value for one workqueue, once published. */
const counted = (metric: typeof Job.timeouts, workqueue: string) =>
  Effect.andThen(
    WorkqueueMetrics.publish,
    Effect.map(Metric.value(Metric.withAttributes(metric, { workqueue })), (s) => Number(s.count))
  )

/**
 * `effect`'s result, or `"stuck"` if it is still waiting after a virtual minute: a hang guard in TestClock time,
 * so a call that should return without waiting fails its assertion instead of hanging the file.
 */
const unlessStuck = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A | "stuck", E, R> =>
  Effect.flatMap(
    Effect.forkChild(
      Effect.timeoutOrElse(effect, { duration: "1 minute", orElse: () => Effect.succeed("stuck" as const) }),
      {
        startImmediately: true
      }
    ),
    (fiber) => Effect.andThen(TestClock.adjust("1 minute"), Fiber.join(fiber))
  )

describe("Job", () => {
  describe("results", () => {
    it.effect("submit gives the typed Exit: a value, a typed failure, a defect", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("results", { concurrency: 2 })
        const ok = yield* Job.submit(wq, Effect.succeed(42))
        const failed = yield* Job.submit(wq, Effect.fail("declined" as const))
        const died = yield* Job.submit(wq, Effect.die("boom"))
        assert.deepStrictEqual(yield* Job.await(ok), Exit.succeed(42))
        assert.deepStrictEqual(yield* Job.await(failed), Exit.fail("declined" as const))
        const defect = yield* Job.await(died)
        assert.isTrue(Exit.isFailure(defect) && Cause.hasDies(defect.cause))
        assert.strictEqual(yield* Job.join(ok), 42)
        assert.strictEqual(yield* Effect.flip(Job.join(failed)), "declined")
        assert.strictEqual(Job.attemptsUnsafe(failed), 1, "no retrySchedule: one attempt")
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("every waiter gets the job's Exit: one waiting before it ends, one asking only after it ended", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("waiters", { concurrency: 1 })
        const gate = yield* makeGate
        const early = yield* Job.submit(wq, Effect.as(gate.await, "early" as const))
        const waiting = yield* Effect.forkChild(Job.await(early))
        yield* settle()
        yield* gate.open
        assert.deepStrictEqual(yield* Fiber.join(waiting), Exit.succeed("early" as const))
        // never waited on while it ran: its result is still there for a first wait after its end
        const late = yield* Job.submit(wq, Effect.fail("late" as const))
        yield* settle()
        assert.deepStrictEqual(Job.pollUnsafe(late), Exit.fail("late" as const))
        assert.deepStrictEqual(yield* Job.await(late), Exit.fail("late" as const))
        assert.strictEqual(yield* Effect.flip(Job.join(late)), "late")
        assert.isFalse(yield* Job.cancel(late), "cancel of an ended job: false, its Exit kept")
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("the workqueue's max_active and ordering apply to jobs", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("ordered", { ordered: true })
        const log: Array<string> = []
        let running = 0
        let peak = 0
        const step = (name: string) =>
          Effect.gen(function* () {
            running++
            peak = Math.max(peak, running)
            log.push(`start ${name}`)
            yield* Effect.sleep(10)
            log.push(`end ${name}`)
            running--
            return name
          })
        const jobs = yield* Effect.forEach(["a", "b", "c"], (n) => Job.submit(wq, step(n)))
        yield* TestClock.adjust(30)
        assert.deepStrictEqual(yield* Effect.forEach(jobs, Job.join), ["a", "b", "c"])
        assert.strictEqual(peak, 1)
        assert.deepStrictEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"])
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect(
      "a job on a WQ_HIGHPRI workqueue keeps its priority when its attempt yields (the attempt's fiber is the worker's)",
      () =>
        Effect.gen(function* () {
          const started: Array<string> = []
          const ends: Array<string> = []
          const spin = (name: string) =>
            Effect.gen(function* () {
              started.push(name)
              for (let i = 0; i < 400; i++) yield* Effect.yieldNow
              ends.push(name)
            })
          const normal = yield* Workqueue.make("normal")
          const high = yield* Workqueue.make("high", { highpri: true })
          const n = yield* Job.submit(normal, spin("n"))
          while (started.length === 0) yield* Effect.yieldNow // the normal job is under way
          const h = yield* Job.submit(high, spin("h"))
          yield* Job.join(n)
          yield* Job.join(h)
          assert.deepStrictEqual(
            ends,
            ["h", "n"],
            "the highpri job, submitted once the other was under way, finishes first"
          )
        }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2, cpuIntensiveThresh: 0 })))
    )

    it.effect("invalid job options fail with InvalidOptions naming the workqueue", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("opts")
        for (const options of [{ timeout: 0 }, { timeout: Number.NaN }, { maxAttempts: 0 }, { maxAttempts: 1.5 }]) {
          const error = yield* Effect.flip(Job.submit(wq, Effect.void, options))
          assert.strictEqual(error.reason, "InvalidOptions", JSON.stringify(options))
          assert.strictEqual(error.workqueue, "opts")
        }
        assert.strictEqual(
          (yield* Effect.flip(Job.submit(wq, Effect.void, { delay: Number.NaN }))).reason,
          "InvalidDelay"
        )
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("delay postpones the first attempt to exactly now + delay", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("later")
        const job = yield* Job.submit(wq, Clock.currentTimeMillis, { delay: "50 millis" })
        yield* TestClock.adjust(49)
        yield* settle()
        assert.isUndefined(Job.pollUnsafe(job))
        yield* TestClock.adjust(1)
        assert.strictEqual(yield* Job.join(job), 50)
      }).pipe(Effect.scoped, Effect.provide(layer))
    )
  })

  describe("timeouts", () => {
    it.effect("an attempt past its timeout is interrupted at exactly the timeout, fails TimeoutError, is counted", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("slow")
        let finalized = -1
        const job = yield* Job.submit(
          wq,
          Effect.sleep(100).pipe(
            Effect.onInterrupt(() => Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => (finalized = t))))
          ),
          { timeout: "30 millis" }
        )
        const before = yield* counted(Job.timeouts, "slow")
        yield* TestClock.adjust(29)
        yield* settle()
        assert.isUndefined(Job.pollUnsafe(job), "still running at 29")
        yield* TestClock.adjust(1)
        const exit = yield* Job.await(job)
        assert.isTrue(Exit.isFailure(exit) && Cause.isTimeoutError(Cause.squash(exit.cause)))
        assert.strictEqual(finalized, 30, "the attempt was interrupted at 30")
        assert.strictEqual((yield* counted(Job.timeouts, "slow")) - before, 1)
      }).pipe(Effect.scoped, Effect.provide(layer))
    )
  })

  describe("retries", () => {
    it.effect("retries follow the Schedule at exact virtual times, then the dead letter gets the last failure", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("flaky", { concurrency: 1 })
        const starts: Array<number> = []
        const letters: Array<Job.DeadLetter<unknown>> = []
        const job = yield* Job.submit(
          wq,
          ({ attempts }) =>
            Effect.flatMap(Clock.currentTimeMillis, (t) => {
              starts.push(t)
              return Effect.fail(`declined #${attempts}`)
            }),
          {
            id: "charge:o-1",
            retrySchedule: Schedule.exponential("10 millis"),
            maxAttempts: 4,
            deadLetter: (letter) => Effect.sync(() => letters.push(letter))
          }
        )
        yield* TestClock.adjust(10 + 20 + 40)
        const exit = yield* Job.await(job)
        assert.deepStrictEqual(starts, [0, 10, 30, 70], "attempt n+1 starts exactly 10·2^(n-1) ms after attempt n")
        assert.deepStrictEqual(exit, Exit.fail("declined #4"))
        assert.strictEqual(letters.length, 1)
        assert.strictEqual(letters[0]!.id, "charge:o-1")
        assert.strictEqual(letters[0]!.workqueue, "flaky")
        assert.strictEqual(letters[0]!.attempts, 4)
        assert.deepStrictEqual(Cause.squash(letters[0]!.cause), "declined #4")
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("a retry waits as delayed work: the worker and the active slot are free meanwhile", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("one", { concurrency: 1 })
        let attempts = 0
        const job = yield* Job.submit(
          wq,
          () => Effect.suspend(() => (++attempts < 2 ? Effect.fail("again") : Effect.succeed("done"))),
          { retrySchedule: Schedule.spaced("1 second") }
        )
        yield* settle()
        assert.strictEqual(attempts, 1)
        assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 1, "the retry is armed: pending, not running")
        // with concurrency 1, another item runs during the retry's delay
        let other = false
        yield* Workqueue.queue(wq, yield* Work.make(() => Effect.sync(() => (other = true))))
        yield* settle()
        assert.isTrue(other)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Job.join(job), "done")
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect(
      "timeouts are retried like typed failures; a schedule that ends stops retrying; defects are not retried",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("mixed")
          let attempts = 0
          const letters: Array<number> = []
          const timedOut = yield* Job.submit(wq, () => Effect.suspend(() => (++attempts, Effect.never)), {
            timeout: 5,
            retrySchedule: Schedule.recurs(2),
            deadLetter: (l) => Effect.sync(() => letters.push(l.attempts))
          })
          yield* TestClock.adjust(5)
          yield* TestClock.adjust(5)
          yield* TestClock.adjust(5)
          const exit = yield* Job.await(timedOut)
          assert.strictEqual(attempts, 3, "recurs(2): one attempt and two retries")
          assert.isTrue(Exit.isFailure(exit) && Cause.isTimeoutError(Cause.squash(exit.cause)))
          let dies = 0
          const died = yield* Job.submit(wq, () => Effect.suspend(() => (++dies, Effect.die("bug"))), {
            retrySchedule: Schedule.forever,
            deadLetter: (l) => Effect.sync(() => letters.push(l.attempts))
          })
          yield* Job.await(died)
          assert.strictEqual(dies, 1)
          assert.deepStrictEqual(letters, [3, 1], "both failed for good: dead letters")
        }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("an attempt that interrupts itself ends the job interrupted: not retried, not a dead letter", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("selfstop")
        const letters: Array<unknown> = []
        let attempts = 0
        const job = yield* Job.submit(wq, () => Effect.suspend(() => (++attempts, Effect.interrupt)), {
          retrySchedule: Schedule.forever,
          deadLetter: (l) => Effect.sync(() => letters.push(l))
        })
        const exit = yield* Job.await(job)
        assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
        assert.strictEqual(attempts, 1)
        assert.deepStrictEqual(letters, [])
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("drain returns while a job's retry is armed: the retry still runs later (like a delayed timer)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("drained", { concurrency: 1 })
        const job = yield* Job.submit(wq, ({ attempts }) => (attempts < 2 ? Effect.fail("x") : Effect.succeed("ok")), {
          retrySchedule: Schedule.spaced(1000)
        })
        yield* settle()
        assert.strictEqual(Job.attemptsUnsafe(job), 1)
        yield* Workqueue.drain(wq) // returns at once: nothing queued, the retry is an armed timer
        assert.isUndefined(Job.pollUnsafe(job))
        yield* TestClock.adjust(1000)
        assert.deepStrictEqual(yield* Job.await(job), Exit.succeed("ok"))
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect(
      "destroying the workqueue runs an armed retry at once; a further retry cannot be armed: dead letter",
      () =>
        Effect.gen(function* () {
          let attempts = 0
          const letters: Array<number> = []
          const job = yield* Effect.scoped(
            Effect.gen(function* () {
              const wq = yield* Workqueue.make("doomed")
              const job = yield* Job.submit(wq, () => Effect.suspend(() => (++attempts, Effect.fail("down"))), {
                retrySchedule: Schedule.spaced("1 hour"),
                deadLetter: (l) => Effect.sync(() => letters.push(l.attempts))
              })
              yield* settle()
              return job
            })
          )
          assert.deepStrictEqual(yield* Job.await(job), Exit.fail("down"))
          assert.strictEqual(attempts, 2, "destroy fired the armed retry instead of dropping it")
          assert.deepStrictEqual(letters, [2])
        }).pipe(Effect.provide(layer))
    )

    it.effect("a failing dead-letter handler is logged with the job and the failure", () => {
      const logs = makeLogCapture()
      return Effect.gen(function* () {
        const wq = yield* Workqueue.make("dl")
        const job = yield* Job.submit(wq, Effect.fail("x"), { id: "j1", deadLetter: () => Effect.fail("disk full") })
        assert.deepStrictEqual(yield* Job.await(job), Exit.fail("x"))
        yield* settle()
        assert.isTrue(
          logs.lines.some((l) => l.message.includes('job "j1" on "dl"') && l.message.includes("disk full")),
          logs.text()
        )
      }).pipe(Effect.scoped, Effect.provide(layer), Effect.provide(logs.layer))
    })
  })

  describe("counts", () => {
    /** The `workqueue_job_*` series in the registry, by attribute. */
    const jobSeries = Effect.map(Metric.snapshot, (snapshot) =>
      snapshot.filter((m) => m.id.startsWith("workqueue_job_"))
    )

    it.effect("short-lived workqueues with failed jobs leave no workqueue_job_* series behind unless published", () =>
      Effect.gen(function* () {
        // a registry of its own: the series counted are this test's only
        for (let i = 0; i < 50; i++) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const wq = yield* Workqueue.make(`shortlived-${i}`)
              yield* Effect.exit(
                Job.run(wq, Effect.fail("declined"), { retrySchedule: Schedule.spaced(0), maxAttempts: 2 })
              )
              const slow = yield* Job.submit(wq, Effect.never, { timeout: 1 })
              yield* TestClock.adjust(1)
              assert.isTrue(Exit.isFailure(yield* Job.await(slow)))
            })
          )
        }
        assert.deepStrictEqual(yield* jobSeries, [], "nothing reached the registry: no series per destroyed workqueue")
      }).pipe(Effect.provide(layer), Effect.provideService(Metric.MetricRegistry, new Map()))
    )

    it.effect("a destroyed workqueue's job counts are published once, with its statistics", () =>
      Effect.gen(function* () {
        yield* WorkqueueMetrics.publish // from here on destroyed workqueues are kept for their final counts
        yield* Effect.scoped(
          Effect.gen(function* () {
            const wq = yield* Workqueue.make("ephemeral-jobs")
            yield* Effect.exit(
              Job.run(wq, Effect.fail("declined"), { retrySchedule: Schedule.spaced(0), maxAttempts: 3 })
            )
          })
        )
        assert.deepStrictEqual(yield* jobSeries, [], "not published yet")
        assert.strictEqual(yield* counted(Job.retries, "ephemeral-jobs"), 2)
        assert.strictEqual(yield* counted(Job.deadLetters, "ephemeral-jobs"), 1)
        assert.strictEqual(yield* counted(Job.retries, "ephemeral-jobs"), 2, "published once, not again")
        const system = systemOf(yield* WorkqueueSystem.WorkqueueSystem)
        assert.strictEqual(system.retired?.length, 0, "the destroyed workqueue is let go once published")
      }).pipe(Effect.provide(layer), Effect.provideService(Metric.MetricRegistry, new Map()))
    )
  })

  describe("cancelling", () => {
    it.effect("cancel landing while an effectful retry schedule steps: true, interrupted, no dead letter", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("cancel-step")
        const letters: Array<number> = []
        const job = yield* Job.submit(wq, Effect.fail("flaky"), {
          retrySchedule: Schedule.spaced(100).pipe(Schedule.tap(() => Effect.sleep(50))),
          maxAttempts: 5,
          deadLetter: (l) => Effect.sync(() => letters.push(l.attempts))
        })
        yield* TestClock.adjust(10) // attempt 1 failed; the schedule's step is in its 50 ms tap
        const canceller = yield* Effect.forkChild(Job.cancel(job))
        yield* TestClock.adjust(100)
        assert.isTrue(yield* Fiber.join(canceller))
        assert.isTrue(Exit.hasInterrupts(yield* Job.await(job)))
        assert.deepStrictEqual(letters, [])
        assert.strictEqual(Job.attemptsUnsafe(job), 1)
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("a job cancelling itself from its attempt is interrupted at once, its worker freed", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("self-cancel")
        let self: Job.Job<unknown, unknown> | undefined
        let after = false
        const job = yield* Job.submit(
          wq,
          Effect.suspend(() => Job.cancel(self!)).pipe(Effect.tap(() => Effect.sync(() => (after = true))))
        )
        self = job
        const exit = yield* Job.await(job)
        assert.isTrue(Exit.hasInterrupts(exit), "the Exit is an interruption")
        assert.isFalse(after, "cancel did not return into the attempt")
        // the worker is free: the workqueue runs the next job
        assert.strictEqual(yield* Job.join(yield* Job.submit(wq, Effect.succeed(7))), 7)
        // and a fiber forked by the attempt cancels it the same way
        let viaChild: Job.Job<unknown, unknown> | undefined
        const child = yield* Job.submit(
          wq,
          Effect.andThen(Effect.forkChild(Effect.suspend(() => Job.cancel(viaChild!))), Effect.never)
        )
        viaChild = child
        assert.isTrue(Exit.hasInterrupts(yield* Job.await(child)))
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect(
      "a fiber forked by an attempt that outlives it is not the attempt: its cancel during the armed retry ends the job interrupted and returns",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("outlived", { concurrency: 2 })
          let self: Job.Job<string, unknown> | undefined
          let childSaw: Exit.Exit<boolean, unknown> | undefined
          const job = yield* Job.submit(
            wq,
            ({ attempts }) =>
              attempts === 1
                ? Effect.andThen(
                    // outlives the attempt, and acts on the job while its retry is armed
                    Effect.forkDetach(
                      Effect.andThen(
                        Effect.sleep(20),
                        Effect.flatMap(Effect.exit(Effect.suspend(() => Job.cancel(self!))), (exit) =>
                          Effect.sync(() => (childSaw = exit))
                        )
                      )
                    ),
                    Effect.fail("first")
                  )
                : Effect.succeed("second"),
            { retrySchedule: Schedule.spaced(100), maxAttempts: 3 }
          )
          self = job
          yield* settle()
          assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 1, "attempt 1 failed, its retry is armed")
          yield* TestClock.adjust(20)
          assert.deepStrictEqual(childSaw, Exit.succeed(true), "the cancel returned: the armed retry was removed")
          assert.isTrue(Exit.hasInterrupts(Job.pollUnsafe(job)!), "the job has its final Exit, an interruption")
          assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0)
          yield* TestClock.adjust(1000)
          assert.strictEqual(Job.attemptsUnsafe(job), 1, "no further attempt")
          assert.isFalse(yield* Job.cancel(job), "a cancel from outside returns at once: already finished")
        }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect(
      "a fiber forked by an attempt that outlives it awaits the job as anyone does: the retry's result, no Deadlock",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("outlived-await", { concurrency: 2 })
          let self: Job.Job<string, unknown> | undefined
          let childSaw: Exit.Exit<Exit.Exit<string, unknown>, unknown> | undefined
          const job = yield* Job.submit(
            wq,
            ({ attempts }) =>
              attempts === 1
                ? Effect.andThen(
                    Effect.forkDetach(
                      Effect.andThen(
                        Effect.sleep(20),
                        Effect.flatMap(Effect.exit(Effect.suspend(() => Job.await(self!))), (exit) =>
                          Effect.sync(() => (childSaw = exit))
                        )
                      )
                    ),
                    Effect.fail("first")
                  )
                : Effect.succeed("second"),
            { retrySchedule: Schedule.spaced(100), maxAttempts: 3 }
          )
          self = job
          yield* TestClock.adjust(20)
          assert.isUndefined(childSaw, "it waits for the armed retry")
          yield* TestClock.adjust(100)
          yield* settle()
          assert.deepStrictEqual(childSaw, Exit.succeed(Exit.succeed("second")))
          assert.deepStrictEqual(yield* Job.await(job), Exit.succeed("second"))
        }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("a fiber the attempt forks in its first synchronous step cancels the attempt too: the job ends", () => {
      let release: Effect.Effect<void> = Effect.void
      return Effect.gen(function* () {
        const gate = yield* makeGate
        release = gate.open
        const wq = yield* Workqueue.make("self-cancel-sync")
        let self: Job.Job<unknown, unknown> | undefined
        const job = yield* Job.submit(
          wq,
          Effect.andThen(
            // started at once, before the attempt has yielded (the worker has not yet seen the attempt's fiber)
            Effect.forkChild(
              Effect.suspend(() => Job.cancel(self!)),
              { startImmediately: true }
            ),
            gate.await
          )
        )
        self = job
        const exit = yield* unlessStuck(Job.await(job))
        assert.isTrue(exit !== "stuck" && Exit.hasInterrupts(exit), "the attempt was interrupted, the job ended")
      }).pipe(Effect.ensuring(Effect.suspend(() => release)), Effect.scoped, Effect.provide(layer))
    })

    it.effect("Job.await of its own job from its attempt dies with Deadlock instead of waiting for itself", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("self-await")
        let self: Job.Job<unknown, unknown> | undefined
        const job = yield* Job.submit(
          wq,
          Effect.suspend(() => Job.await(self!))
        )
        self = job
        const exit = yield* Job.await(job)
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
        assert.strictEqual((Cause.squash((exit as Exit.Failure<unknown, unknown>).cause) as any).reason, "Deadlock")
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("the dead-letter handler may cancel or await its own job: false and the final Exit, no hang", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("letter-self")
        const seen: Array<unknown> = []
        let self: Job.Job<unknown, unknown> | undefined
        const job = yield* Job.submit(wq, Effect.fail("nope"), {
          deadLetter: () =>
            Effect.gen(function* () {
              seen.push(yield* Job.cancel(self!))
              seen.push(yield* Job.await(self!))
            })
        })
        self = job
        const exit = yield* Job.await(job)
        assert.deepStrictEqual(exit, Exit.fail("nope"))
        assert.deepStrictEqual(seen, [false, Exit.fail("nope")])
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect(
      "a hanging dead-letter handler holds no worker: the next job of an ordered workqueue runs; cancel interrupts the handler and returns",
      () => {
        let release: Effect.Effect<void> = Effect.void
        return Effect.gen(function* () {
          const gate = yield* makeGate
          release = gate.open
          const wq = yield* Workqueue.make("letter-hangs", { ordered: true })
          let handlerStopped = false
          const job = yield* Job.submit(wq, Effect.fail("x"), {
            deadLetter: () => gate.await.pipe(Effect.onInterrupt(() => Effect.sync(() => (handlerStopped = true))))
          })
          yield* settle()
          assert.isUndefined(Job.pollUnsafe(job), "the result waits for the dead-letter handler")
          // the ordered workqueue's single slot is free: the next job starts and ends while the handler hangs
          const next = yield* Job.submit(wq, Effect.succeed(2))
          assert.deepStrictEqual(yield* unlessStuck(Job.await(next)), Exit.succeed(2))
          assert.strictEqual(JSON.parse(JSON.stringify(job)).state, "dead-letter")
          assert.isFalse(yield* unlessStuck(Job.cancel(job)), "it had failed for good: its Exit stays that failure")
          assert.isTrue(handlerStopped, "on return the handler has stopped")
          assert.deepStrictEqual(yield* Job.await(job), Exit.fail("x"))
        }).pipe(Effect.ensuring(Effect.suspend(() => release)), Effect.scoped, Effect.provide(layer))
      }
    )

    it.effect("interrupting Job.run while its dead-letter handler hangs stops the handler and returns", () => {
      let release: Effect.Effect<void> = Effect.void
      return Effect.gen(function* () {
        const gate = yield* makeGate
        release = gate.open
        const wq = yield* Workqueue.make("run-letter-hangs")
        let handlerStopped = false
        const caller = yield* Effect.forkChild(
          Job.run(wq, Effect.fail("x"), {
            deadLetter: () => gate.await.pipe(Effect.onInterrupt(() => Effect.sync(() => (handlerStopped = true))))
          }),
          { startImmediately: true }
        )
        yield* settle()
        assert.isUndefined(caller.pollUnsafe(), "the caller waits for the letter to be handled")
        assert.notStrictEqual(yield* unlessStuck(Fiber.interrupt(caller)), "stuck")
        assert.isTrue(handlerStopped, "the interrupt returned once the handler had stopped")
      }).pipe(Effect.ensuring(Effect.suspend(() => release)), Effect.scoped, Effect.provide(layer))
    })

    it.effect("closing the system waits for a dead-letter handler still running, as for a running item", () =>
      Effect.gen(function* () {
        const handled: Array<string> = []
        const job = yield* Effect.gen(function* () {
          const wq = yield* Workqueue.make("letter-at-close")
          return yield* Job.submit(wq, Effect.fail("x"), {
            deadLetter: (letter) =>
              Effect.andThen(
                Effect.repeat(Effect.yieldNow, { times: 50 }),
                Effect.sync(() => handled.push(letter.id))
              )
          })
        }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
        assert.deepStrictEqual(handled, [job.id])
        assert.deepStrictEqual(Job.pollUnsafe(job), Exit.fail("x"))
      })
    )

    it.effect(
      "cancel removes a pending job (it never runs) and interrupts a running one; Exit is an interruption",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("c", { concurrency: 1 })
          let ranSecond = false
          let stopped = false
          const first = yield* Job.submit(
            wq,
            Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => (stopped = true))))
          )
          const second = yield* Job.submit(
            wq,
            Effect.sync(() => (ranSecond = true))
          )
          yield* settle()
          assert.isTrue(yield* Job.cancel(second))
          assert.isTrue(yield* Job.cancel(first))
          assert.isTrue(stopped, "on return the running attempt has stopped")
          assert.isTrue(Exit.hasInterrupts(yield* Job.await(first)))
          assert.isTrue(Exit.hasInterrupts(yield* Job.await(second)))
          yield* Workqueue.flush(wq)
          assert.isFalse(ranSecond)
          assert.isFalse(yield* Job.cancel(first), "already finished")
        }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("cancel during a retry's delay removes the armed retry: no further attempt", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("r")
        let attempts = 0
        const job = yield* Job.submit(wq, () => Effect.suspend(() => (++attempts, Effect.fail("no"))), {
          retrySchedule: Schedule.spaced(100)
        })
        yield* settle()
        assert.isTrue(yield* Job.cancel(job))
        yield* TestClock.adjust(1000)
        assert.strictEqual(attempts, 1)
        assert.isTrue(Exit.hasInterrupts(yield* Job.await(job)))
        assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 0)
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("run: interrupting the caller cancels the job by default; interruptJob: false leaves it running", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("run")
        let stopped = false
        let finished = false
        const tied = yield* Effect.forkChild(
          Job.run(wq, Effect.sleep(100).pipe(Effect.onInterrupt(() => Effect.sync(() => (stopped = true))))),
          { startImmediately: true }
        )
        const detached = yield* Effect.forkChild(
          Job.run(wq, Effect.sleep(100).pipe(Effect.andThen(Effect.sync(() => (finished = true)))), {
            interruptJob: false
          }),
          { startImmediately: true }
        )
        yield* settle()
        yield* Fiber.interrupt(tied)
        assert.isTrue(stopped, "the job stopped before the caller's interrupt returned")
        yield* Fiber.interrupt(detached)
        yield* TestClock.adjust(100)
        yield* Workqueue.flush(wq)
        yield* settle()
        assert.isTrue(finished, "the detached job ran to the end")
      }).pipe(Effect.scoped, Effect.provide(layer))
    )
  })

  describe("backpressure", () => {
    it.effect("submit at maxPending fails with QueueFull, or waits with whenFull: wait", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("bp", { concurrency: 1, maxPending: 1 })
        const head = yield* Job.submit(wq, gate.await)
        yield* settle()
        const queued = yield* Job.submit(wq, Effect.succeed(1))
        const full = yield* Effect.flip(Job.submit(wq, Effect.succeed(2)))
        assert.strictEqual(full.reason, "QueueFull")
        const waiting = yield* Effect.forkChild(Job.run(wq, Effect.succeed(3), { whenFull: "wait" }), {
          startImmediately: true
        })
        yield* settle()
        assert.isUndefined(waiting.pollUnsafe())
        yield* gate.open
        yield* Job.join(head)
        assert.strictEqual(yield* Job.join(queued), 1)
        assert.strictEqual(yield* Fiber.join(waiting), 3)
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("interrupting a caller that waits for room (whenFull: wait) queues nothing", () =>
      Effect.gen(function* () {
        const gate = yield* makeGate
        const wq = yield* Workqueue.make("bp3", { concurrency: 1, maxPending: 1 })
        yield* Job.submit(wq, gate.await)
        yield* settle()
        yield* Job.submit(wq, Effect.void)
        let ran = false
        const waiting = yield* Effect.forkChild(
          Job.run(
            wq,
            Effect.sync(() => (ran = true)),
            { whenFull: "wait" }
          ),
          { startImmediately: true }
        )
        yield* settle()
        yield* Fiber.interrupt(waiting)
        assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 1)
        yield* gate.open
        yield* Workqueue.flush(wq)
        assert.isFalse(ran)
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.effect("a retry is never refused by maxPending (the job was admitted once)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("bp2", { concurrency: 2, maxPending: 1 })
        let attempts = 0
        const job = yield* Job.submit(
          wq,
          () => Effect.suspend(() => (++attempts < 3 ? Effect.fail("e") : Effect.succeed("ok"))),
          {
            retrySchedule: Schedule.spaced(10)
          }
        )
        yield* settle()
        // fill the bound while the retry is armed... the armed retry already holds it
        const blocked = yield* Effect.flip(Job.submit(wq, Effect.void))
        assert.strictEqual(blocked.reason, "QueueFull")
        yield* TestClock.adjust(10)
        yield* TestClock.adjust(10)
        assert.strictEqual(yield* Job.join(job), "ok")
        assert.strictEqual(attempts, 3)
      }).pipe(Effect.scoped, Effect.provide(layer))
    )
  })
})

describe("cancel recipe (docs/JOBS.md)", () => {
  /** A handler that polls a shared abort flag and consumes it when it stops, as a typical loop does. */
  const makeLooper = Effect.gen(function* () {
    const state = { abort: false, starts: 0, stoppedByAbort: 0 }
    const work = yield* Work.make(
      () =>
        Effect.gen(function* () {
          state.starts++
          while (!state.abort) yield* Effect.sleep(10)
          state.abort = false // consumed
          state.stoppedByAbort++
        }),
      { name: "looper" }
    )
    return { state, work }
  })

  it.effect(
    "cancel pending, then signal, then cancelSync: the running instance stops and the queued one never starts",
    () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("recipe", { concurrency: 1 })
        const { state, work } = yield* makeLooper
        yield* Workqueue.queue(wq, work)
        yield* settle()
        assert.isTrue(yield* Workqueue.queue(wq, work), "a second instance is queued behind the running one")
        assert.isTrue(yield* Work.cancel(work), "1. the pending instance is removed")
        state.abort = true // 2. signal the running one
        yield* settle() // the caller does something asynchronous in between: harmless now
        const canceller = yield* Effect.forkChild(Work.cancelSync(work), { startImmediately: true })
        yield* TestClock.adjust(10)
        yield* Fiber.join(canceller) // 3. wait for it
        assert.deepStrictEqual(state, { abort: false, starts: 1, stoppedByAbort: 1 })
        assert.deepStrictEqual(Work.busyUnsafe(work), { pending: false, running: false })
      }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect("signal first and the queued instance starts and runs on after the abort was consumed (the hazard)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("hazard", { concurrency: 1 })
      const { state, work } = yield* makeLooper
      yield* Workqueue.queue(wq, work)
      yield* settle()
      yield* Workqueue.queue(wq, work)
      state.abort = true // signal before cancelling the pending instance
      yield* TestClock.adjust(10) // the caller yields once (a log line, an await) before its cancelSync
      assert.strictEqual(state.starts, 2, "the queued instance started")
      assert.isFalse(state.abort, "the abort was consumed by the first instance")
      const canceller = yield* Effect.forkChild(Work.cancelSync(work), { startImmediately: true })
      yield* TestClock.adjust(100)
      assert.isUndefined(canceller.pollUnsafe(), "cancelSync now waits for an instance nobody will stop")
      state.abort = true
      yield* TestClock.adjust(10)
      yield* Fiber.join(canceller)
    }).pipe(Effect.scoped, Effect.provide(layer))
  )
})

describe("Job.submitUnsafe (the synchronous twin of submit)", () => {
  it.effect("submits from a plain callback: the handle at once, the same result, the same workqueue limits", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("unsafe", { concurrency: 1 })
      const jobs: Array<Job.Job<string, never>> = []
      // a plain JavaScript callback, outside any Effect: a microtask, as an event emitter would call it
      yield* Effect.promise(
        () =>
          new Promise<void>((resolve) =>
            queueMicrotask(() => {
              for (const n of ["a", "b"]) {
                jobs.push(Job.submitUnsafe(wq, Effect.as(Effect.sleep(10), n)) as Job.Job<string, never>)
              }
              resolve()
            })
          )
      )
      assert.lengthOf(jobs, 2)
      assert.isTrue(Job.isJob(jobs[0]))
      assert.match(jobs[0]!.id, /^unsafe-\d+$/)
      assert.strictEqual(jobs[0]!.workqueue, "unsafe")
      assert.isUndefined(Job.pollUnsafe(jobs[0]!), "queued, not run: submitting runs nothing synchronously")
      yield* TestClock.adjust(10)
      yield* settle()
      assert.deepStrictEqual(Exit.isSuccess(Job.pollUnsafe(jobs[0]!)!), true, "the first ran alone (concurrency 1)")
      assert.isUndefined(Job.pollUnsafe(jobs[1]!), "the second waits for the slot")
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(yield* Effect.forEach(jobs, Job.join), ["a", "b"])
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect("retries on its schedule and runs with the system's services (its TestClock)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("unsafe-retry")
      const times: Array<number> = []
      const job = Job.submitUnsafe(
        wq,
        ({ attempts }) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            times.push(now)
            return attempts < 3 ? Effect.fail("again" as const) : Effect.succeed(attempts)
          }),
        { id: "retry", retrySchedule: Schedule.spaced("100 millis") }
      )
      assert.strictEqual(job.id, "retry")
      yield* settle()
      yield* TestClock.adjust(100)
      yield* settle()
      yield* TestClock.adjust(100)
      assert.strictEqual(yield* Job.join(job), 3)
      assert.deepStrictEqual(times, [0, 100, 200], "attempts at the TestClock's times: the system's Clock")
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it.effect("throws the WorkqueueError instead of failing: QueueFull queues nothing; whenFull: wait is refused", () =>
    Effect.gen(function* () {
      const gate = yield* makeGate
      const wq = yield* Workqueue.make("unsafe-full", { concurrency: 1, maxPending: 1 })
      yield* Job.submit(wq, gate.await)
      yield* settle()
      Job.submitUnsafe(wq, Effect.void) // pending: the bound
      const thrown = (f: () => unknown) => {
        try {
          f()
        } catch (e) {
          return e as WorkqueueError.WorkqueueError
        }
        return assert.fail("did not throw")
      }
      const full = thrown(() => Job.submitUnsafe(wq, Effect.void))
      assert.isTrue(WorkqueueError.isWorkqueueError(full))
      assert.strictEqual(full.reason, "QueueFull")
      assert.strictEqual(Workqueue.pendingCountUnsafe(wq), 1, "the refused job was not queued")
      const wait = thrown(() => Job.submitUnsafe(wq, Effect.void, { whenFull: "wait" }))
      assert.strictEqual(wait.reason, "InvalidOptions")
      assert.include(wait.message, 'whenFull: "wait" cannot wait outside an Effect')
      yield* gate.open
      yield* Workqueue.flush(wq)
    }).pipe(Effect.scoped, Effect.provide(layer))
  )
})
