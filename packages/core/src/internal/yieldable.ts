/**
 * Submission effects that complete inside the caller's `yield*` (issue 18): `Work.make`, `DelayedWork.make`,
 * `Workqueue.queue` and `Workqueue.queueDelayed` return one of these.
 *
 * Each is an ordinary Effect (it runs through `Effect.runSync`, `pipe`, `flatMap`... exactly as before: one
 * `withFiber` step). What differs is `yield*` inside `Effect.gen`: the generator asks the value for an iterator,
 * and this one runs the synchronous step right there, on the fiber that runs the generator (`Fiber.getCurrent()`,
 * the same fiber the run loop would evaluate it on), and hands the result straight back — no trip through the
 * fiber's run loop, no continuation pushed and popped, no `SingleShotGen`. A typed failure (a queueing refusal)
 * is yielded as `Effect.fail` and fails the generator as before.
 *
 * What the run loop would have done per step is kept: the step counts as one operation on the fiber
 * (`currentOpCount`), and when the fiber's scheduler says it is time to yield (`Scheduler.shouldYield`), or an
 * interrupt arrived during the current synchronous step (the run loop's deferred interrupt), the step goes the
 * ordinary way, so the run loop yields or fails there as it would have; an interrupt the step itself brings (a
 * tracepoint sink interrupting the caller) hands the run loop the step's result, which then fails the fiber
 * before the generator goes on, as after the ordinary step. With a tracer that wraps every
 * operation (`cache.tracerContext`), or outside a fiber, every step goes the ordinary way.
 *
 * The effect values are allocation-light: one object per call holding the step's arguments (no closure); the
 * step function is shared. Building them needs the shape of Effect's `withFiber` primitives (their prototype and
 * their one argument field); that shape is checked when this module loads, by running a probe through
 * `Effect.runSync`, and if it is not what this module expects (another `effect` version) every constructor falls
 * back to `Effect.withFiber` / `Effect.withFiberSucceed` with a closure, with the same results.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { SingleShotGen } from "effect/Utils"

/** A synchronous step on the fiber that runs it; returns the value. */
export type SucceedStep<A, X, Y, Z> = (fiber: Fiber.Fiber<unknown, unknown>, x: X, y: Y, z: Z) => A
/** A synchronous step that may be refused: a boolean outcome, or the typed error to fail with. */
export type ResultStep<E, X, Y, Z> = (fiber: Fiber.Fiber<unknown, unknown>, x: X, y: Y, z: Z) => boolean | E

const exitTrue: Exit.Exit<boolean> = Exit.succeed(true)
const exitFalse: Exit.Exit<boolean> = Exit.succeed(false)

/**
 * `yield*` of a finished step: the iterator's first `next()` returns itself, `done` with the value (the caller's
 * `yield*` reads the value at once and never calls it again; immutable, so the boolean ones are shared).
 */
class Done<A> {
  readonly done = true
  readonly value: A
  constructor(value: A) {
    this.value = value
  }
  next(): IteratorResult<never, A> {
    return this as unknown as IteratorReturnResult<A>
  }
}

/** The two boolean outcomes of a finished step, allocated once (queueing is on every job's path). */
const doneTrue = new Done(true)
const doneFalse = new Done(false)

/**
 * The fiber whose generator is asking, if the step may run inside its `yield*` now: one operation is counted
 * on it (the run loop would count the step), and if its scheduler wants a yield here the step goes the
 * ordinary way so the run loop yields.
 */
const fastFiber = (): Fiber.Fiber<unknown, unknown> | undefined => {
  const fiber = Fiber.getCurrent()
  if (fiber === undefined) return undefined
  const cache = fiber.cache
  if (cache.tracerContext !== undefined) return undefined
  // an interrupt that arrived during this synchronous step (the fiber interrupted itself, or a fiber it resumed
  // inline did): the run loop fails the fiber before its next operation; the ordinary way lets it, so the step
  // does not run (Effect's run loop reads this flag first thing per operation)
  if (interruptArrived(fiber)) return undefined
  ;(fiber as { currentOpCount: number }).currentOpCount++
  if (!cache.preventYield && cache.scheduler.shouldYield(fiber)) return undefined
  return fiber
}

/**
 * Whether an interrupt reached `fiber` during its current synchronous step (Effect's run loop reads this flag first
 * thing per operation, and fails the fiber instead of running the operation).
 */
const interruptArrived = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
  (fiber as unknown as { _deferredInterrupt?: boolean })._deferredInterrupt === true

interface StepFields {
  step: (fiber: Fiber.Fiber<unknown, unknown>, x: unknown, y: unknown, z: unknown) => unknown
  x: unknown
  y: unknown
  z: unknown
}

/** The argument field of a `withFiber` primitive and its prototype, if Effect's shape is the one expected. */
const primitiveShape = (
  sample: Effect.Effect<unknown, unknown>,
  evaluate: (this: StepFields, fiber: Fiber.Fiber<unknown, unknown>) => unknown,
  expected: unknown
): { readonly key: string; readonly proto: object } | undefined => {
  try {
    const keys = Object.keys(sample)
    if (keys.length !== 1 || typeof (sample as any)[keys[0]!] !== "function") return undefined
    const proto = Object.getPrototypeOf(sample) as object
    const probe = Object.create(proto) as StepFields
    ;(probe as any)[keys[0]!] = evaluate
    probe.step = () => expected
    probe.x = probe.y = probe.z = undefined
    const exit = Effect.runSyncExit(probe as unknown as Effect.Effect<unknown>)
    return Exit.isSuccess(exit) && exit.value === expected ? { key: keys[0]!, proto } : undefined
  } catch {
    return undefined
  }
}

function evaluateSucceed(this: StepFields, fiber: Fiber.Fiber<unknown, unknown>): unknown {
  return this.step(fiber, this.x, this.y, this.z)
}

function evaluateResult(this: StepFields, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<boolean, unknown> {
  return unwrap(this.step(fiber, this.x, this.y, this.z) as boolean | object)
}

const unwrap = (result: boolean | unknown): Effect.Effect<boolean, unknown> =>
  result === true ? exitTrue : result === false ? exitFalse : Effect.fail(result)

const succeedShape = primitiveShape(
  Effect.withFiberSucceed(() => 0),
  evaluateSucceed,
  "probe"
)
const resultShape = primitiveShape(
  Effect.withFiber(() => Effect.void),
  evaluateResult,
  true
)

/** Whether the shared-step form is in use (Effect's primitive shape matched); the fallbacks otherwise. */
export const supported: boolean = succeedShape !== undefined && resultShape !== undefined

const makeCtor = (
  shape: { readonly key: string; readonly proto: object },
  evaluate: (this: StepFields, fiber: Fiber.Fiber<unknown, unknown>) => unknown,
  iterate: (this: StepFields) => Iterator<unknown, unknown, unknown>
) => {
  const key = shape.key
  const proto = Object.create(shape.proto, {
    [Symbol.iterator]: { value: iterate, writable: true, configurable: true }
  })
  function StepEffect(this: StepFields, step: StepFields["step"], x: unknown, y: unknown, z: unknown) {
    ;(this as any)[key] = evaluate
    this.step = step
    this.x = x
    this.y = y
    this.z = z
  }
  StepEffect.prototype = proto
  return StepEffect as unknown as new (
    step: StepFields["step"],
    x: unknown,
    y: unknown,
    z: unknown
  ) => object
}

const SucceedCtor =
  succeedShape === undefined
    ? undefined
    : makeCtor(succeedShape, evaluateSucceed, function (this: StepFields) {
        const fiber = fastFiber()
        if (fiber === undefined) return new SingleShotGen(this) as any
        const value = this.step(fiber, this.x, this.y, this.z)
        // interrupted by the step itself (a tracepoint sink, a waiter resumed inline): hand the run loop the result,
        // which fails the fiber before it, as after the ordinary step — the generator does not go on. Not an
        // `Exit`: Effect's generator driver feeds a yielded Exit straight back into the generator
        return interruptArrived(fiber) ? (new SingleShotGen(Effect.sync(() => value)) as any) : new Done(value)
      })

const ResultCtor =
  resultShape === undefined
    ? undefined
    : makeCtor(resultShape, evaluateResult, function (this: StepFields) {
        const fiber = fastFiber()
        if (fiber === undefined) return new SingleShotGen(this) as any
        const result = this.step(fiber, this.x, this.y, this.z)
        if (interruptArrived(fiber)) return new SingleShotGen(Effect.suspend(() => unwrap(result))) as any
        return result === true
          ? doneTrue
          : result === false
            ? doneFalse
            : (new SingleShotGen(Effect.fail(result)) as any)
      })

/** An effect running `step(fiber, x, y, z)` on its fiber and succeeding with its value. */
export const succeedStep = <A, X, Y, Z>(step: SucceedStep<A, X, Y, Z>, x: X, y: Y, z: Z): Effect.Effect<A> =>
  SucceedCtor !== undefined
    ? (new SucceedCtor(step as StepFields["step"], x, y, z) as Effect.Effect<A>)
    : Effect.withFiberSucceed((fiber) => step(fiber, x, y, z))

/** An effect running `step(fiber, x, y, z)` on its fiber: succeeds with its boolean, or fails with its error. */
export const resultStep = <E, X, Y, Z>(step: ResultStep<E, X, Y, Z>, x: X, y: Y, z: Z): Effect.Effect<boolean, E> =>
  ResultCtor !== undefined
    ? (new ResultCtor(step as StepFields["step"], x, y, z) as Effect.Effect<boolean, E>)
    : Effect.withFiber((fiber) => unwrap(step(fiber, x, y, z)) as Effect.Effect<boolean, E>)
