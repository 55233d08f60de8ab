/**
 * The work item values: the public `Work` and `DelayedWork` are the engine's `WorkState` / `DelayedWorkState`
 * with these prototypes (one allocation per item); their constructors, the state behind a public value, and the
 * one core every item operation goes through (`onSystem`).
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { pipeArguments } from "effect/Pipeable"
import * as Engine from "./engine.ts"
import * as WorkqueueError from "./error.ts"
import type * as Fiber from "effect/Fiber"
import { type DataWorkState, type DelayedWorkState, type System, workDisableCount, type WorkState } from "./state.ts"
import { WORK_INACTIVE, WORK_PENDING } from "./workData.ts"

/** `Work.TypeId` */
export const WorkTypeId = "~effect-workqueue/Work"

/** `DelayedWork.TypeId` */
export const DelayedWorkTypeId = "~effect-workqueue/DelayedWork"

export const WorkProto = {
  [WorkTypeId]: WorkTypeId,
  isDelayed: false,
  /** false: the worker calls `fn(item)`; true (`Work.makeWith`): `fn(item.datum, item)` */
  hasDatum: false,
  get name(): string {
    // computed when read (logs, spans, snapshots): making an item stores no name
    const self = this as unknown as WorkState
    return self.extra?.name ?? (self.fn.name || (self.isDelayed ? "delayed_work" : "work"))
  },
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: WorkState) {
    return {
      _id: "Work",
      name: this.name,
      state: describe(this)
    }
  },
  toString(this: WorkState) {
    return `Work(${this.name})`
  }
}

export const describe = (work: WorkState): string => {
  const pending = (work.data & WORK_PENDING) !== 0
  const running = work.current !== undefined
  if (workDisableCount(work) > 0 && !pending && !running) return "disabled"
  if (pending && running) return "running+queued"
  if (running) return "running"
  if (!pending) return "idle"
  if (work.pwq === undefined) return "armed"
  return (work.data & WORK_INACTIVE) !== 0 ? "queued-inactive" : "queued-active"
}

/** The types promise these; a JavaScript caller gets a clear defect here rather than a handler dying later. */
const checkMake = (fn: unknown, name: unknown): void => {
  if (typeof fn !== "function") throw new TypeError(`Work.make: the handler must be a function, got ${Engine.show(fn)}`)
  if (name !== undefined && typeof name !== "string") {
    throw new TypeError(`Work.make: the name must be a string, got ${Engine.show(name)}`)
  }
}

/**
 * The fields every item has, assigned in one order in the constructor body itself (one hidden class, named or
 * not; V8 sizes the object from these assignments: 9 fields, 96 bytes on 64-bit V8, where assigning them in a
 * shared helper left 5 slack slots). An explicit name and the disable count live in `extra`, made only for a named
 * item or by the first disable (one field instead of two on every item); never a side table: a `WeakMap` entry per
 * item costs µs at 1M items.
 */
export function WorkImpl(
  this: WorkState,
  fn: (self: any) => Effect.Effect<void, unknown, unknown>,
  ctx: WorkState["ctx"],
  name: string | undefined
) {
  checkMake(fn, name)
  ;(this as any).next = undefined
  ;(this as any).prev = undefined
  ;(this as any).fn = fn
  ;(this as any).ctx = ctx
  this.data = 0
  this.extra = name === undefined ? undefined : { name, disable: 0 }
  this.pwq = undefined
  this.current = undefined
  this.system = undefined
}
WorkImpl.prototype = WorkProto

/**
 * `Work.makeWith`'s item: the fields of `WorkImpl`, in the same order, then the datum the shared handler gets (the
 * kernel's `container_of()` the other way round: the item holds the datum). 10 fields, 104 bytes; no closure per
 * item.
 */
const DataWorkProto = Object.create(WorkProto, { hasDatum: { value: true } })

function DataWorkImpl(
  this: DataWorkState,
  fn: (datum: any, self: any) => Effect.Effect<void, unknown, unknown>,
  ctx: WorkState["ctx"],
  name: string | undefined,
  datum: unknown
) {
  checkMake(fn, name)
  ;(this as any).next = undefined
  ;(this as any).prev = undefined
  ;(this as any).fn = fn
  ;(this as any).ctx = ctx
  this.data = 0
  this.extra = name === undefined ? undefined : { name, disable: 0 }
  this.pwq = undefined
  this.current = undefined
  this.system = undefined
  ;(this as any).datum = datum
}
DataWorkImpl.prototype = DataWorkProto

/** `Work.makeWith`'s step: an item holding `datum`, capturing the making fiber's context. */
export const makeDataWorkStep = (
  fiber: Fiber.Fiber<unknown, unknown>,
  fn: (datum: any, self: any) => Effect.Effect<void, any, any>,
  name: string | undefined,
  datum: unknown
): WorkState => new (DataWorkImpl as any)(fn, fiber.context, name, datum)

/**
 * What `Work.make` / `DelayedWork.make` check before building an item: a handler function, a plain options object
 * (or none) read once (`readOptions`: own keys only, `name` the only key) whose `name` is a string (or absent).
 * Returns the name to build with, or the broken rule. The constructors have no error channel (a `DECLARE_WORK`
 * layer cannot fail), so they die with this `WorkqueueError`: the one defect of the item API, for input the types
 * exclude. The item has no workqueue yet: `InvalidArgument` names none, `InvalidOptions` names the handler.
 */
export const makeArgs = (
  fn: unknown,
  options: unknown,
  delayed: boolean
): { readonly name: string | undefined } | WorkqueueError.WorkqueueError => {
  const what = delayed ? "DelayedWork.make" : "Work.make"
  if (typeof fn !== "function") {
    return WorkqueueError.makeUnowned(
      "InvalidArgument",
      `${what}: the handler must be a function, got ${Engine.show(fn)}`
    )
  }
  if (options === undefined) return noName
  const owner = fn.name || what
  const o = Engine.readOptions(owner, what, options, MAKE_KEYS)
  if (o === undefined) return noName
  if (WorkqueueError.isWorkqueueError(o)) return o
  const name = o.name
  return name === undefined || typeof name === "string"
    ? { name }
    : WorkqueueError.make("InvalidOptions", owner, `${what}: the name must be a string, got ${Engine.show(name)}`)
}

const noName = { name: undefined }
const MAKE_KEYS = Engine.optionKeys(["name"])

/** Is `u` a work item (a `DelayedWork` too, if `delayed`)? One `in` test each. */
export const isItem = (u: unknown, delayed: boolean): u is WorkState =>
  Engine.hasMark(u, delayed ? DelayedWorkTypeId : WorkTypeId)

/**
 * The typed error for a value that is not a work item where one is required: `InvalidArgument`. The item belongs
 * to no workqueue, so the error names none (`workqueue: ""`), as `badWorkqueue` for a value that is not a workqueue.
 */
export const badItem = (u: unknown, delayed: boolean): WorkqueueError.WorkqueueError =>
  WorkqueueError.makeUnowned("InvalidArgument", `not a ${delayed ? "DelayedWork" : "Work"}: ${Engine.show(u)}`)

/** The state behind `work` for the synchronous calls: a value that is not a `Work` throws the typed error. */
export const workState = (work: unknown): WorkState => {
  if (!isItem(work, false)) throw badItem(work, false)
  if (isJobItem(work)) throw jobItemRefused("")
  return work
}

/**
 * Run `f` on the item behind `work` (a `DelayedWork` if `delayed`), or fail with the typed `InvalidArgument` error:
 * the Effect-returning item calls never die on a value that is not an item.
 */
export const withItem = <A, E>(
  work: unknown,
  delayed: boolean,
  f: (self: WorkState) => Effect.Effect<A, E>
): Effect.Effect<A, E | WorkqueueError.WorkqueueError> =>
  Effect.suspend(
    (): Effect.Effect<A, E | WorkqueueError.WorkqueueError> =>
      !isItem(work, delayed)
        ? Effect.fail(badItem(work, delayed))
        : isJobItem(work)
          ? Effect.fail(jobItemRefused(""))
          : f(work)
  )

/**
 * An armed item's expiry on the system's Clock now: read the Clock first, so a wall-clock step that system has not
 * seen yet moves its timers before the expiry is reported (`System.fineNow`).
 */
const armedExpiry = (sys: System, dwork: DelayedWorkState): number => {
  sys.fineNow()
  return sys.timers.expiresOf(dwork)
}

const DelayedWorkProto = Object.create(
  WorkProto,
  Object.getOwnPropertyDescriptors({
    [DelayedWorkTypeId]: DelayedWorkTypeId,
    isDelayed: true,
    pipe() {
      return pipeArguments(this, arguments)
    },
    toJSON(this: DelayedWorkState) {
      return {
        _id: "DelayedWork",
        name: this.name,
        state: describe(this),
        expires: this.timerWq !== undefined ? armedExpiry(this.timerWq.system, this) : undefined
      }
    },
    toString(this: DelayedWorkState) {
      return `DelayedWork(${this.name})`
    },
    onTimer(this: DelayedWorkState) {
      Engine.delayedWorkTimerFn(this.timerWq!.system, this)
    }
  })
)

export function DelayedWorkImpl(
  this: DelayedWorkState,
  fn: (self: any) => Effect.Effect<void, unknown, unknown>,
  ctx: DelayedWorkState["ctx"],
  name: string | undefined
) {
  checkMake(fn, name)
  ;(this as any).next = undefined
  ;(this as any).prev = undefined
  ;(this as any).list = undefined
  ;(this as any).fn = fn
  ;(this as any).ctx = ctx
  this.data = 0
  this.extra = name === undefined ? undefined : { name, disable: 0 }
  this.pwq = undefined
  this.current = undefined
  this.system = undefined
  this.expires = 0
  this.timerWq = undefined
  this.armedPrev = undefined
  this.armedNext = undefined
}
DelayedWorkImpl.prototype = DelayedWorkProto

/** `Work.make`'s step: an item capturing the making fiber's context (a reference, nothing copied). */
export const makeWorkStep = (
  fiber: Fiber.Fiber<unknown, unknown>,
  fn: (self: any) => Effect.Effect<void, any, any>,
  name: string | undefined,
  _: undefined
): WorkState => new (WorkImpl as any)(fn, fiber.context, name)

/** `DelayedWork.make`'s step. */
export const makeDelayedWorkStep = (
  fiber: Fiber.Fiber<unknown, unknown>,
  fn: (self: any) => Effect.Effect<void, any, any>,
  name: string | undefined,
  _: undefined
): DelayedWorkState => new (DelayedWorkImpl as any)(fn, fiber.context, name)

/**
 * A job's own item (`Job.submit`): a `DelayedWork` whose prototype says so (`isJobItem`). It can reach a caller
 * (a tracepoint names the item it traces), but no public item or queueing call acts on it — cancelling or
 * disabling it behind the job's back would strand `Job.await` — only the `Job` calls do, through the engine.
 */
const JobItemProto = Object.create(DelayedWorkProto, { isJobItem: { value: true }, hasDatum: { value: true } })

function JobItemImpl(
  this: DelayedWorkState,
  fn: (datum: any, self: any) => Effect.Effect<void, unknown, unknown>,
  ctx: DelayedWorkState["ctx"],
  name: string | undefined,
  datum: unknown
) {
  ;(this as any).next = undefined
  ;(this as any).prev = undefined
  ;(this as any).list = undefined
  ;(this as any).fn = fn
  ;(this as any).ctx = ctx
  this.data = 0
  this.extra = name === undefined ? undefined : { name, disable: 0 }
  this.pwq = undefined
  this.current = undefined
  this.system = undefined
  this.expires = 0
  this.timerWq = undefined
  this.armedPrev = undefined
  this.armedNext = undefined
  ;(this as any).datum = datum
}
JobItemImpl.prototype = JobItemProto

/** Is `u` (already known to be an item) a job's own item? */
export const isJobItem = (u: WorkState): boolean => (u as { isJobItem?: boolean }).isJobItem === true

/** The refusal of a public call given a job's own item. */
export const jobItemRefused = (workqueue: string): WorkqueueError.WorkqueueError =>
  workqueue === ""
    ? WorkqueueError.makeUnowned("InvalidArgument", "a job's own item: act on the job (Job.cancel, Job.await)")
    : WorkqueueError.make("InvalidArgument", workqueue, "a job's own item: act on the job (Job.cancel, Job.await)")

/**
 * `DelayedWork.make` with the services already at hand, for a job's own item (no extra effect per job). The item
 * holds `datum` (the job's state) and its shared handler gets it (`fn(datum, item)`, as `Work.makeWith`): no
 * closure per job. @internal
 */
export const makeWithContext = (
  fn: (datum: any, self: any) => Effect.Effect<void, any, any>,
  ctx: Context.Context<any>,
  name: string | undefined,
  datum: unknown
): DelayedWorkState => new (JobItemImpl as any)(fn, ctx, name, datum)

/** `cancel_work()` on a job's own item, for the `Job` calls (the public `cancelUnsafe` refuses it). @internal */
export const cancelItemUnsafe = (self: WorkState): boolean =>
  onSystem(
    self,
    (sys, item) => Engine.cancelWorkUnsafe(sys, item, false),
    () => false
  )

/**
 * The one core of the item operations (`Work.cancel`, `flush`, `disable`, ... and their `DelayedWork` twins): the
 * step runs on the system the item is queued, armed or running on; an item on none (never queued, or idle) gets
 * `idle` instead, since there is nothing to cancel or wait for there.
 */
export const onSystem = <A>(
  self: WorkState,
  step: (sys: System, self: WorkState) => A,
  idle: (self: WorkState) => A
): A => {
  const sys = Engine.workSystem(self)
  return sys === undefined ? idle(self) : step(sys, self)
}

/**
 * Run `step`, then log the WARN it raised for an item on no system (a disable count at its cap, an enable below
 * zero) through the caller's own logger: with no system there is no system logger to warn through.
 */
export const withIdleWarning = (step: (warn: (message: string) => void) => boolean): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    let warning: string | undefined
    const result = step((message) => {
      warning = message
    })
    return warning === undefined ? Effect.succeed(result) : Effect.as(Effect.logWarning(warning), result)
  })
