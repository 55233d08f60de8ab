import { DelayedWork, Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { NodeMonitor, NodeShutdown, NodeWorkqueue } from "../src/index.ts"
import { systemLayer } from "./utils/system.ts"
import { TestWorkqueue } from "@effect-workqueue/testing"

/**
 * 50 scheduler turns of the test fiber. Not `TestWorkqueue.settle`: the system lives in the layer of the forked
 * service, not in the test fiber's context, so there is no system here whose run queue it could watch.
 */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})

/** A logger that keeps `LEVEL message` lines. */
const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    lines.push(`${logLevel} ${(Array.isArray(message) ? message : [message]).map(String).join(" ")}`)
  })
  return { lines, layer: Logger.layer([logger]) }
}

const nodeLayer = (deadlineMs: number) =>
  NodeWorkqueue.layer({
    cpus: 2,
    cpuClock: TestWorkqueue.frozenCpuClock,
    shutdownDeadlineMs: deadlineMs,
    env: {},
    dumpOnSignal: false,
    forceExitOnSecondSignal: false,
    handleSignals: false
  })

/**
 * The "service": a user workqueue (max_active 1, so items wait inactive) with `n` items of `ms` each, plus one on
 * the freezable system queue; then it runs until interrupted, as a main fiber under runMain does.
 */
const service = (n: number, ms: number, done: Array<string>, ready: Deferred.Deferred<Workqueue.Workqueue>) =>
  Effect.gen(function* () {
    const jobs = yield* Workqueue.make("jobs", { maxActive: 1 })
    for (let i = 0; i < n; i++) {
      const work = yield* Work.make(
        () =>
          Effect.andThen(
            Effect.sleep(ms),
            Effect.sync(() => done.push(`job${i}`))
          ),
        {
          name: `job${i}`
        }
      )
      yield* Workqueue.queue(jobs, work)
    }
    const freezable = yield* WorkqueueSystem.systemFreezableWq
    yield* Workqueue.queue(
      freezable,
      yield* Work.make(() => Effect.sync(() => done.push("background")), { name: "background" })
    )
    yield* Deferred.succeed(ready, jobs)
    return yield* Effect.never
  })

describe("NodeShutdown", () => {
  it.effect("interrupting the main fiber drains every workqueue before the layer closes (drain_workqueue)", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const done: Array<string> = []
      const ready = yield* Deferred.make<Workqueue.Workqueue>()
      const main = yield* Effect.forkChild(
        service(3, 100, done, ready).pipe(Effect.scoped, Effect.provide(Layer.merge(nodeLayer(1000), logs.layer)))
      )
      const jobs = yield* Deferred.await(ready)
      yield* settle
      // the "runMain" interrupt: the layer's finaliser drains (the service's own scope closed first here, so "jobs"
      // was destroyed by its scope — which drains — before the system layer runs its drain of the rest)
      const interrupter = yield* Effect.forkChild(Fiber.interrupt(main))
      yield* settle
      assert.isUndefined(interrupter.pollUnsafe())
      // outside queueing is rejected while draining
      const rejected = yield* Effect.flip(Workqueue.queue(jobs, yield* Work.make(() => Effect.void)))
      assert.include(["Draining", "Destroyed"], rejected.reason)
      yield* TestClock.adjust(300)
      yield* Fiber.join(interrupter)
      assert.deepStrictEqual(done, ["background", "job0", "job1", "job2"])
    })
  )

  it.effect("NodeShutdown.layer drains within the deadline before the app's scopes close", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const done: Array<string> = []
      const ready = yield* Deferred.make<Workqueue.Workqueue>()
      const App = Layer.effectDiscard(Effect.forkScoped(service(3, 100, done, ready)))
      const Live = NodeShutdown.layer({ deadlineMs: 1000 }).pipe(
        Layer.provideMerge(App),
        Layer.provideMerge(nodeLayer(1000)),
        Layer.provideMerge(logs.layer)
      )
      const main = yield* Effect.forkChild(Layer.launch(Live))
      yield* Deferred.await(ready)
      yield* settle
      const interrupter = yield* Effect.forkChild(Fiber.interrupt(main))
      yield* settle
      yield* TestClock.adjust(100)
      yield* settle
      assert.deepStrictEqual(done, ["background", "job0"])
      assert.isUndefined(interrupter.pollUnsafe(), "the drain waits for the accepted items")
      yield* TestClock.adjust(200)
      yield* Fiber.join(interrupter)
      assert.deepStrictEqual(done, ["background", "job0", "job1", "job2"])
      assert.include(logs.lines, "Info workqueue shutdown: every workqueue drained in 300 ms")
    })
  )

  it.effect("past the deadline the report lists what was still running or pending, and nothing is dropped", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const done: Array<string> = []
      const ready = yield* Deferred.make<Workqueue.Workqueue>()
      const App = Layer.effectDiscard(Effect.forkScoped(service(3, 5000, done, ready)))
      const Live = NodeShutdown.layer({ deadlineMs: 1000 }).pipe(
        Layer.provideMerge(App),
        Layer.provideMerge(nodeLayer(1000)),
        Layer.provideMerge(logs.layer)
      )
      const main = yield* Effect.forkChild(Layer.launch(Live))
      yield* Deferred.await(ready)
      yield* settle
      yield* TestClock.adjust(500)
      const interrupter = yield* Effect.forkChild(Fiber.interrupt(main))
      yield* settle
      yield* TestClock.adjust(1000)
      yield* settle
      const report = logs.lines.find((line) => line.startsWith("Warn workqueue shutdown: deadline"))
      assert.strictEqual(
        report,
        [
          "Warn workqueue shutdown: deadline of 1000 ms passed with 3 accepted item(s) not finished in 1 workqueue(s); they are listed here, not dropped",
          "  workqueue jobs: 1 running, 2 pending, 0 armed",
          "  kworker/0:0+jobs runs job0 for 1500 ms"
        ].join("\n")
      )
      assert.deepStrictEqual(done, ["background"])
      // the accepted work still runs to the end (the app's scope destroys "jobs", which drains)
      for (let i = 0; i < 4; i++) {
        yield* TestClock.adjust(5000)
        yield* settle
      }
      yield* Fiber.join(interrupter)
      assert.deepStrictEqual(done, ["background", "job0", "job1", "job2"])
    })
  )

  it.effect("drainAll returns a drained report when everything finished in time", () =>
    Effect.gen(function* () {
      yield* WorkqueueSystem.schedule(yield* Work.make(() => Effect.sleep(10)))
      const fiber = yield* Effect.forkChild(NodeShutdown.drainAll({ deadlineMs: 50 }))
      yield* TestClock.adjust(10)
      const report = yield* Fiber.join(fiber)
      assert.deepStrictEqual(report, {
        outcome: "drained",
        drained: true,
        deadlineMs: 50,
        elapsedMs: 10,
        fired: 0,
        workqueues: [],
        running: []
      })
      assert.strictEqual(NodeShutdown.formatReport(report), "workqueue shutdown: every workqueue drained in 10 ms")
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect(
    "a drain that ends only after the deadline is not 'drained': a handler that blocks the thread past it",
    () =>
      Effect.gen(function* () {
        // The test clock with a jump: the handler moves "now" 120 s on without letting any timer fire, which is what a
        // handler blocking the event loop across the deadline does (the deadline's timer cannot run before it
        // returns). The drain then ends in the same turn as, or before, the deadline's timer.
        const base = yield* Clock.Clock
        let jumpMs = 0
        const millis = () => base.currentTimeMillisUnsafe() + jumpMs
        const nanos = () => base.currentTimeNanosUnsafe() + BigInt(jumpMs) * 1_000_000n
        const jumpy: Clock.Clock = {
          currentTimeMillisUnsafe: millis,
          currentTimeMillis: Effect.sync(millis),
          currentTimeNanosUnsafe: nanos,
          currentTimeNanos: Effect.sync(nanos),
          monotonicTimeNanosUnsafe: nanos,
          monotonicTimeNanos: Effect.sync(nanos),
          sleep: (duration) => base.sleep(duration)
        }
        const logs = captureLogs()
        const report = yield* Effect.gen(function* () {
          yield* WorkqueueSystem.schedule(
            yield* Work.make(() =>
              Effect.sync(() => {
                jumpMs += 120_000
              })
            )
          )
          return yield* NodeShutdown.drainAll({ deadlineMs: 60_000 })
        }).pipe(
          Effect.provide(Layer.merge(systemLayer({ cpus: 1 }), logs.layer)),
          Effect.provideService(Clock.Clock, jumpy)
        )
        assert.strictEqual(report.outcome, "deadline")
        assert.isFalse(report.drained)
        assert.isAbove(report.elapsedMs, 60_000)
        assert.deepStrictEqual([report.workqueues, report.running], [[], []], "nothing was left: every item finished")
        const lines = logs.lines.filter((line) => line.includes("workqueue shutdown"))
        assert.deepStrictEqual(lines, [
          "Warn workqueue shutdown: deadline of 60000 ms passed with every accepted item finished"
        ])
      })
  )

  it.effect("for the whole shutdown every workqueue refuses outside work, idle ones too; handlers still chain", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const busy = yield* Workqueue.make("busy").pipe(Scope.provide(scope))
      const idle = yield* Workqueue.make("idle").pipe(Scope.provide(scope))
      let chainedRan = false
      const chained = yield* Work.make(() => Effect.sync(() => (chainedRan = true)))
      yield* Workqueue.queue(
        busy,
        yield* Work.make(() =>
          Effect.andThen(
            Effect.sleep(500),
            Effect.flatMap(WorkqueueSystem.schedule(chained), () => Effect.void)
          )
        )
      )
      yield* settle
      const shutdown = yield* Effect.forkChild(NodeShutdown.drainAll({ deadlineMs: 2000 }))
      yield* TestClock.adjust(100) // "busy" still drains; "idle"'s drain has ended
      const reason = <R>(r: Effect.Effect<boolean, { readonly reason: string }, R>) =>
        Effect.map(Effect.flip(r), (e) => e.reason)
      assert.strictEqual(yield* reason(Workqueue.queue(busy, yield* Work.make(() => Effect.void))), "Draining")
      assert.strictEqual(yield* reason(Workqueue.queue(idle, yield* Work.make(() => Effect.void))), "Draining")
      assert.strictEqual(yield* reason(WorkqueueSystem.schedule(yield* Work.make(() => Effect.void))), "Draining")
      yield* TestClock.adjust(400)
      const report = yield* Fiber.join(shutdown)
      assert.isTrue(report.drained)
      assert.isTrue(chainedRan) // a handler's work on another workqueue still flowed
      assert.strictEqual(yield* reason(Workqueue.queue(idle, yield* Work.make(() => Effect.void))), "Draining")
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect("an armed delayed item is fired by the drain and waited for, within the deadline (issue 12.10)", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const done: Array<string> = []
      const wq = yield* Workqueue.make("debounce")
      const dwork = yield* DelayedWork.make(() =>
        Effect.andThen(
          Effect.sleep(100),
          Effect.sync(() => done.push("armed"))
        )
      )
      yield* Workqueue.queueDelayed(wq, dwork, "60 seconds")
      const fiber = yield* Effect.forkChild(NodeShutdown.drainAll({ deadlineMs: 500 }).pipe(Effect.provide(logs.layer)))
      yield* settle
      yield* TestClock.adjust(100)
      const report = yield* Fiber.join(fiber)
      assert.deepStrictEqual(done, ["armed"], "it ran within the drain, not later in destroy")
      assert.strictEqual(report.outcome, "drained")
      assert.strictEqual(report.fired, 1)
      assert.deepStrictEqual(logs.lines, [
        "Info workqueue shutdown: every workqueue drained in 100 ms; 1 armed delayed item(s) were fired early and ran"
      ])
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect("an item re-armed by a handler during the drain is fired again: nothing armed is left behind", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("rearm")
      let runs = 0
      const dwork: DelayedWork.DelayedWork = yield* DelayedWork.make(() =>
        Effect.suspend(() =>
          ++runs < 3 ? Effect.asVoid(Workqueue.queueDelayed(wq, dwork, "1 hour")) : Effect.void
        ).pipe(Effect.orDie)
      )
      yield* Workqueue.queueDelayed(wq, dwork, "1 hour")
      const report = yield* NodeShutdown.drainAll({ deadlineMs: 500 })
      assert.strictEqual(runs, 3)
      assert.strictEqual(report.fired, 3)
      assert.isFalse(yield* DelayedWork.pending(dwork))
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect("a handler that re-arms itself forever: the deadline report lists it, and the firing stops there", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const wq = yield* Workqueue.make("forever")
      let runs = 0
      const dwork: DelayedWork.DelayedWork = yield* DelayedWork.make(
        () =>
          Effect.andThen(
            Effect.sleep(10),
            Effect.suspend(() => {
              runs++
              return Effect.asVoid(Workqueue.queueDelayed(wq, dwork, "1 hour"))
            })
          ).pipe(Effect.orDie),
        { name: "rearm" }
      )
      yield* Workqueue.queueDelayed(wq, dwork, "1 hour")
      const fiber = yield* Effect.forkChild(NodeShutdown.drainAll({ deadlineMs: 95 }).pipe(Effect.provide(logs.layer)))
      for (let i = 0; i < 10; i++) {
        yield* settle
        yield* TestClock.adjust(10)
      }
      const report = yield* Fiber.join(fiber)
      assert.strictEqual(report.outcome, "deadline")
      assert.strictEqual(report.workqueues.length, 1)
      assert.strictEqual(report.workqueues[0]!.running + report.workqueues[0]!.armed, 1, "the item, running or armed")
      const atDeadline = runs
      for (let i = 0; i < 5; i++) {
        yield* settle
        yield* TestClock.adjust(10)
      }
      assert.isAtMost(runs, atDeadline + 1, "after the deadline it is not fired again")
      yield* Work.cancelSync(dwork)
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect(
    "a work item that re-queues itself forever: past the deadline it is refused (sealed) and the drain ends",
    () => {
      const logs = captureLogs()
      return Effect.gen(function* () {
        let runs = 0
        const refused: Array<string> = []
        const chain: Work.Work = yield* Work.make(
          (self) =>
            Effect.gen(function* () {
              runs++
              yield* Effect.sleep(10)
              const again = yield* Effect.result(WorkqueueSystem.schedule(self))
              if (again._tag === "Failure") refused.push(again.failure.reason)
            }),
          { name: "chain" }
        )
        yield* WorkqueueSystem.schedule(chain)
        const fiber = yield* Effect.forkChild(NodeShutdown.drainAll({ deadlineMs: 95 }))
        for (let i = 0; i < 10; i++) {
          yield* settle
          yield* TestClock.adjust(10)
        }
        const report = yield* Fiber.join(fiber)
        assert.strictEqual(report.outcome, "deadline")
        assert.isAtLeast(runs, 9, "chained work flows until the deadline (a run every 10 ms)")
        const atDeadline = runs
        for (let i = 0; i < 5; i++) {
          yield* settle
          yield* TestClock.adjust(10)
        }
        assert.strictEqual(runs, atDeadline, "the run in progress at the deadline was the last")
        assert.deepStrictEqual(refused, ["Draining"])
        assert.isFalse(yield* Work.pending(chain))
        const snapshot = yield* WorkqueueSystem.snapshot
        const busy = snapshot.workqueues.some((wq) => wq.pwqs.some((pwq) => pwq.active + pwq.inactive > 0))
        assert.isFalse(busy, "nothing left: the drains end")
        assert.isTrue(
          logs.lines.some((line) => line.includes("workqueue events: the shutdown deadline passed")),
          logs.lines.join("\n")
        )
      }).pipe(Effect.provide(systemLayer({ cpus: 1 }).pipe(Layer.provideMerge(logs.layer))))
    }
  )

  it.effect("past the deadline an item armed after the drain's firing is reported as armed, not dropped", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const armNow = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const wq = yield* Workqueue.make("blocked")
      const late = yield* DelayedWork.make(() => Effect.void, { name: "late" })
      yield* Workqueue.queue(
        wq,
        yield* Work.make(
          () =>
            Effect.gen(function* () {
              yield* Deferred.await(armNow)
              yield* Effect.orDie(Workqueue.queueDelayed(wq, late, "1 hour"))
              yield* Deferred.await(gate)
            }),
          { name: "slow" }
        )
      )
      yield* settle
      const fiber = yield* Effect.forkChild(NodeShutdown.drainAll({ deadlineMs: 200 }).pipe(Effect.provide(logs.layer)))
      yield* settle
      yield* Deferred.succeed(armNow, undefined)
      yield* settle
      yield* TestClock.adjust(200)
      const report = yield* Fiber.join(fiber)
      assert.strictEqual(report.outcome, "deadline")
      assert.deepStrictEqual(report.workqueues, [{ name: "blocked", running: 1, pending: 0, armed: 1 }])
      assert.strictEqual(logs.lines[0]?.split("\n")[1], "  workqueue blocked: 1 running, 0 pending, 1 armed")
      yield* Deferred.succeed(gate, undefined)
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect("a system shuts down once: a second drainAll joins the first (one report, one log, one freeze)", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      yield* WorkqueueSystem.schedule(yield* Work.make(() => Effect.sleep(10)))
      const first = yield* Effect.forkChild(NodeShutdown.drainAll({ deadlineMs: 50 }).pipe(Effect.provide(logs.layer)))
      const second = yield* Effect.forkChild(
        NodeShutdown.drainAll({ deadlineMs: 999 }).pipe(Effect.provide(logs.layer))
      )
      yield* TestClock.adjust(10)
      const a = yield* Fiber.join(first)
      const b = yield* Fiber.join(second)
      assert.strictEqual(a, b)
      assert.strictEqual(b.deadlineMs, 50, "the first call fixes the deadline")
      const third = yield* NodeShutdown.drainAll({ deadlineMs: 1 }).pipe(Effect.provide(logs.layer))
      assert.strictEqual(third, a)
      assert.deepStrictEqual(logs.lines, ["Info workqueue shutdown: every workqueue drained in 10 ms"])
    }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it.effect(
    "shutdownLayer above an app's queue and NodeWorkqueue.layer below: one drain, logged once, no refreeze",
    () =>
      Effect.gen(function* () {
        const logs = captureLogs()
        const done: Array<string> = []
        const ready = yield* Deferred.make<Workqueue.Workqueue>()
        const App = Layer.effectDiscard(Effect.forkScoped(service(2, 100, done, ready)))
        const Live = NodeWorkqueue.shutdownLayer({ shutdownDeadlineMs: 1000, env: {} }).pipe(
          Layer.provideMerge(App),
          Layer.provideMerge(nodeLayer(1000)),
          Layer.provideMerge(logs.layer)
        )
        const main = yield* Effect.forkChild(Layer.launch(Live))
        yield* Deferred.await(ready)
        yield* settle
        const interrupter = yield* Effect.forkChild(Fiber.interrupt(main))
        yield* settle
        yield* TestClock.adjust(200)
        yield* Fiber.join(interrupter)
        assert.deepStrictEqual(done, ["background", "job0", "job1"])
        assert.deepStrictEqual(
          logs.lines.filter((line) => line.includes("workqueue")),
          ["Info workqueue shutdown: every workqueue drained in 200 ms"]
        )
      })
  )

  it.effect("the deadline warning and formatReport print every name escaped (NodeMonitor.escapeName)", () => {
    const logs = captureLogs()
    const evilWork = "job-\x1b]0;PWNED\x07\x1b[2J\u202eevil"
    const evilWq = "q\x1b[5m"
    return Effect.gen(function* () {
      const wq = yield* Workqueue.make(evilWq, { flags: Workqueue.WQ_UNBOUND })
      const release = yield* Deferred.make<void>()
      yield* Workqueue.queue(wq, yield* Work.make(() => Deferred.await(release), { name: evilWork }))
      yield* settle
      yield* Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(NodeShutdown.drainAll({ deadlineMs: 100 }))
        yield* TestClock.adjust(100)
        const report = yield* Fiber.join(fiber)
        assert.strictEqual(report.running[0]?.work, evilWork, "the report's data keeps the name as it is")
        const text = NodeShutdown.formatReport(report)
        const warning = logs.lines.find((line) => line.includes("deadline of 100 ms passed")) ?? ""
        for (const printed of [text, warning]) {
          // oxlint-disable-next-line no-control-regex -- no control or bidi character may reach the terminal
          assert.notMatch(printed.replace(/\n/g, " "), /[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/, printed)
          assert.include(printed, `workqueue ${NodeMonitor.escapeName(evilWq)}: 1 running`)
          assert.include(printed, `runs ${NodeMonitor.escapeName(evilWork)} for`)
        }
      }).pipe(Effect.ensuring(Deferred.succeed(release, undefined))) // the item ends either way: the scope's destroy waits for it
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 1 }).pipe(Layer.provideMerge(logs.layer))))
  })

  it.effect("formatReport: a forced exit says 'second signal', not 'deadline passed'", () =>
    Effect.sync(() => {
      const text = NodeShutdown.formatReport({
        outcome: "signal",
        drained: false,
        deadlineMs: 10_000,
        elapsedMs: 1500,
        fired: 0,
        workqueues: [{ name: "jobs", running: 1, pending: 0, armed: 0 }],
        running: []
      })
      assert.strictEqual(
        text.split("\n")[0],
        "workqueue shutdown: second signal after 1500 ms, exiting now with 1 accepted item(s) not finished in 1 " +
          "workqueue(s); they are listed here, not dropped"
      )
      assert.notInclude(text, "deadline")
    })
  )

  it.effect.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    "a deadline of %s dies with a RangeError naming the rule",
    (deadlineMs) =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(NodeShutdown.drainAll({ deadlineMs }))
        assert.isTrue(Exit.hasDies(exit))
        assert.include(
          String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : ""),
          "deadlineMs must be an integer >= 0"
        )
        const built = yield* Effect.exit(Layer.build(NodeShutdown.layer({ deadlineMs })).pipe(Effect.scoped))
        assert.isTrue(Exit.hasDies(built), "the layer refuses it when built, not when it closes")
      }).pipe(Effect.provide(systemLayer({ cpus: 1 })))
  )

  it("formatReport lists at most 64 busy workers one per line; the counts stay complete", () => {
    const running = Array.from({ length: 70 }, (_, i) => ({
      worker: `kworker/u8:${i}`,
      work: `job${i}`,
      workqueue: "jobs",
      runningForMs: 5
    }))
    const lines = NodeShutdown.formatReport({
      outcome: "deadline",
      drained: false,
      deadlineMs: 10,
      elapsedMs: 10,
      fired: 0,
      workqueues: [{ name: "jobs", running: 70, pending: 5, armed: 0 }],
      running
    }).split("\n")
    assert.strictEqual(lines[1], "  workqueue jobs: 70 running, 5 pending, 0 armed")
    assert.strictEqual(lines.length, 1 + 1 + 64 + 1)
    assert.strictEqual(lines.at(-1), "  ... and 6 more busy worker(s) (counted above, in Report.running)")
  })
})
