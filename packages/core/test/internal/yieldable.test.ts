import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Tracer from "effect/Tracer"
import { DelayedWork, Work, Workqueue, WorkqueueError } from "../../src/index.ts"
import { supported } from "../../src/internal/yieldable.ts"
import { systemLayer } from "../utils/recorder.ts"

class Greeting extends Context.Service<Greeting, { readonly text: string }>()("test/Greeting") {}

const withSystem = <A, E>(program: Effect.Effect<A, E, any>) =>
  program.pipe(Effect.scoped, Effect.provide(systemLayer())) as Effect.Effect<A, E>

/** A gate a blocker item waits on; opened whatever happens, so the workqueue always drains at scope close. */
const withGate = <A, E>(body: (gate: Deferred.Deferred<void>) => Effect.Effect<A, E, any>): Effect.Effect<A, E> =>
  Effect.flatMap(Deferred.make<void>(), (gate) =>
    withSystem(Effect.ensuring(body(gate), Deferred.succeed(gate, undefined)))
  )

describe("yieldable submission (Work.make, DelayedWork.make, Workqueue.queue, queueDelayed)", () => {
  it("matches the pinned effect's primitive shape, so yield* takes the in-step path these tests pin", () => {
    assert.isTrue(supported)
  })

  it.effect("yield* and running the effect make the same kind of item, capturing the caller's services", () =>
    withSystem(
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("capture")
        const seen: Array<string> = []
        const handler = () =>
          Effect.gen(function* () {
            seen.push((yield* Greeting).text)
          })
        const viaYield = yield* Work.make(handler, { name: "y" })
        const viaRun = yield* Effect.flatMap(Effect.succeed(0), () => Work.make(handler, { name: "r" }))
        assert.isTrue(Work.isWork(viaYield) && Work.isWork(viaRun))
        assert.strictEqual(viaYield.name, "y")
        assert.strictEqual(viaRun.name, "r")
        assert.isTrue(yield* Workqueue.queue(wq, viaYield))
        assert.isTrue(yield* Workqueue.queue(wq, viaRun))
        yield* Workqueue.flush(wq)
        assert.deepStrictEqual(seen, ["hello", "hello"])
      }).pipe(Effect.provideService(Greeting, { text: "hello" }))
    )
  )

  it.effect("the effects stay lazy: building one queues nothing, each yield* runs it once (PENDING coalesces)", () =>
    withGate((gate) =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("lazy", { maxActive: 1 })
        const blocker = yield* Work.make(() => Deferred.await(gate))
        yield* Workqueue.queue(wq, blocker)
        const make = Work.make(() => Effect.void)
        const a = yield* make
        const b = yield* make
        assert.notStrictEqual(a, b, "one item per yield*")
        const queueA = Workqueue.queue(wq, a)
        assert.isFalse(Work.pendingUnsafe(a), "building the effect queues nothing")
        assert.isTrue(yield* queueA)
        assert.isFalse(yield* queueA, "already pending")
        assert.isTrue(Work.pendingUnsafe(a))
        const dwork = yield* DelayedWork.make(() => Effect.void)
        const arm = Workqueue.queueDelayed(wq, dwork, "1 hour")
        assert.isFalse(Work.pendingUnsafe(dwork))
        assert.isTrue(yield* arm)
        assert.isFalse(yield* arm)
        assert.isTrue(yield* DelayedWork.cancel(dwork))
      })
    )
  )

  it.effect("a refused queueing fails the generator at its yield* with the typed error", () =>
    withGate((gate) =>
      Effect.gen(function* () {
        const work = yield* Work.make(() => Effect.void)
        const wq = yield* Workqueue.make("refusing", { maxPending: 1 })
        const blocker = yield* Work.make(() => Deferred.await(gate))
        let after = false
        const exit = yield* Effect.exit(
          Effect.gen(function* () {
            yield* Workqueue.queue(wq, blocker)
            yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
            yield* Workqueue.queue(wq, work)
            after = true
          })
        )
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const error = exit.cause.reasons[0]
          assert.strictEqual(error?._tag, "Fail")
          if (error?._tag === "Fail") {
            assert.isTrue(WorkqueueError.isWorkqueueError(error.error))
            assert.strictEqual((error.error as WorkqueueError.WorkqueueError).reason, "QueueFull")
          }
        }
        assert.isFalse(after, "nothing after the refused yield* ran")
        assert.isFalse(Work.pendingUnsafe(work))
      })
    )
  )

  it.effect("a loop of submissions still yields to other fibers (each step counts as an operation)", () =>
    withGate((gate) =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("yielding", { maxActive: 1 })
        const blocker = yield* Work.make(() => Deferred.await(gate))
        yield* Workqueue.queue(wq, blocker)
        let otherRan = false
        let submittedWhenOtherRan = -1
        let i = 0
        yield* Effect.forkChild(
          Effect.sync(() => {
            otherRan = true
            submittedWhenOtherRan = i
          })
        )
        // 20,000 submissions are 40,000 steps: the default scheduler yields every 2,048 operations
        for (; i < 20_000; i++) yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void))
        assert.isTrue(otherRan)
        assert.isTrue(
          submittedWhenOtherRan >= 0 && submittedWhenOtherRan < 20_000,
          `the forked fiber ran inside the loop (at ${submittedWhenOtherRan})`
        )
      })
    )
  )

  it.effect("an interrupt that arrived in the current synchronous step stops the fiber before the step runs", () =>
    withSystem(
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("interrupted-step")
        let ran = 0
        const w = yield* Work.make(() =>
          Effect.sync(() => {
            ran++
          })
        )
        const made: Array<unknown> = []
        const fiber = yield* Effect.forkChild(
          Effect.gen(function* () {
            yield* Effect.yieldNow
            // as a fiber resumed inline by this one could: the run loop fails it before its next operation
            Fiber.getCurrent()!.interruptUnsafe()
            made.push(yield* Work.make(() => Effect.void))
            return yield* Workqueue.queue(wq, w)
          })
        )
        const exit = yield* Fiber.await(fiber)
        yield* Workqueue.flush(wq)
        assert.isTrue(Exit.hasInterrupts(exit))
        // before: the in-step path ran both steps, the item was queued and ran, and the caller saw an interrupt
        assert.deepStrictEqual(made, [], "Work.make ran after the interrupt")
        assert.strictEqual(ran, 0, "the item was queued by an interrupted fiber")
        assert.isFalse(yield* Work.pending(w))
      })
    )
  )

  it.effect("an interrupt the step itself brings (a tracepoint sink) stops the generator at that yield*", () => {
    let onQueue: (() => void) | undefined
    return Effect.gen(function* () {
      const wq = yield* Workqueue.make("interrupted-in-step")
      let ran = 0
      let after = 0
      const handler = () =>
        Effect.sync(() => {
          ran++
        })
      const fiber = yield* Effect.forkChild(
        Effect.gen(function* () {
          yield* Effect.yieldNow
          const me = Fiber.getCurrent()!
          const first = yield* Work.make(handler)
          const second = yield* Work.make(handler)
          onQueue = () => {
            onQueue = undefined
            me.interruptUnsafe()
          }
          yield* Workqueue.queue(wq, first)
          // before: the generator went on synchronously past the yield*, queueing a second item
          after++
          Workqueue.queueUnsafe(wq, second)
        })
      )
      const exit = yield* Fiber.await(fiber)
      yield* Workqueue.flush(wq)
      assert.isTrue(Exit.hasInterrupts(exit))
      assert.strictEqual(after, 0, "the generator ran past the interrupted step")
      assert.strictEqual(ran, 1, "only the item of the interrupted step was queued (as on the ordinary path)")
    }).pipe(
      Effect.scoped,
      Effect.provide(
        systemLayer({
          tracepoint: (event) => {
            if (event._tag === "workqueue_queue_work") onQueue?.()
          }
        })
      )
    )
  })

  it("outside a fiber, yield* hands the effect itself to the driver (the ordinary way)", () => {
    const make = Work.make(() => Effect.void)
    const iterator = make[Symbol.iterator]()
    const first = iterator.next()
    assert.isFalse(first.done)
    assert.strictEqual(first.value, make)
  })

  it.effect("with a tracer that wraps every operation, each step runs through the tracer's context", () =>
    Effect.gen(function* () {
      const wrapped: Array<unknown> = []
      const tracer = Tracer.make({
        span: (options) => new Tracer.NativeSpan(options as any),
        context: (primitive, fiber) => {
          wrapped.push(primitive)
          return primitive["~effect/Effect/evaluate"](fiber)
        }
      })
      const program = withSystem(
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("traced")
          const make = Work.make(() => Effect.void)
          const work = yield* make
          const queue = Workqueue.queue(wq, work)
          assert.isTrue(yield* queue)
          assert.isTrue(wrapped.includes(make), "Work.make went through the tracer")
          assert.isTrue(wrapped.includes(queue), "Workqueue.queue went through the tracer")
          yield* Workqueue.flush(wq)
        })
      )
      yield* Effect.withTracer(program, tracer)
    })
  )

  it.effect("the step runs on the fiber that runs the generator", () =>
    Effect.gen(function* () {
      const fiber = Fiber.getCurrent()
      let seen: unknown
      const work = yield* Work.make(() => Effect.void)
      seen = Fiber.getCurrent()
      assert.isTrue(Work.isWork(work))
      assert.strictEqual(seen, fiber)
    })
  )
})
