import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { TestClock } from "effect/testing"
import { NodeShutdown, NodeWorkqueue } from "../src/index.ts"

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
    shutdownDeadlineMs: deadlineMs,
    env: {},
    dumpOnSignal: false,
    forceExitOnSecondSignal: false
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
    }).pipe(Effect.provide(WorkqueueSystem.layer({ cpus: 1 })))
  )
})
