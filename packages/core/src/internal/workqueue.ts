/**
 * The workqueue handle and the calls behind `Workqueue`'s public functions: the public `Workqueue` value is the
 * engine's `WorkqueueState` with this module's prototype; the public functions check their arguments here
 * (`badArguments`), run one engine step (`queueOnResult`, `queueDelayedResult`) and turn its result into an
 * Effect (`unwrap`) or a throw (`orThrow`); `queueWaitWith` waits for room under `maxPending`. `Job.ts` and
 * `WorkqueueSystem.ts` use it too, which is why it is not private to `Workqueue.ts`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { pipeArguments } from "effect/Pipeable"
import type * as DelayedWork from "../DelayedWork.ts"
import type * as Work from "../Work.ts"
import type { Workqueue } from "../Workqueue.ts"
import * as Engine from "./engine.ts"
import * as WorkqueueError from "./error.ts"
import type { DelayedWorkState, PendingWaiter, WorkqueueState } from "./state.ts"
import { jobItemRefused, WorkTypeId } from "./work.ts"

/** The mark of a work item (read before any field of a value that should be one). */
export const WorkTypeIdKey = WorkTypeId

/** `Workqueue.TypeId` */
export const TypeId = "~effect-workqueue/Workqueue"

/** `Workqueue.isWorkqueue` */
export const isWorkqueue = (u: unknown): u is Workqueue => {
  // `Engine.hasMark`, with an `in` test of its own: a shared one sees every kind of value (workqueues, four kinds
  // of item, jobs...) and goes megamorphic, a generic lookup on every queueing call
  if (typeof u !== "object" || u === null) return false
  try {
    return TypeId in u
  } catch {
    return false
  }
}

/** Is `u` a work item (any kind)? `Engine.hasMark(u, WorkTypeId)` with its own `in` test (see `isWorkqueue`). */
const isWorkItem = (u: unknown): boolean => {
  if (typeof u !== "object" || u === null) return false
  try {
    return WorkTypeId in u
  } catch {
    return false
  }
}

const WorkqueueProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: WorkqueueState) {
    return {
      _id: "Workqueue",
      name: this.name,
      state: this.lifecycle,
      flags: this.flags,
      maxActive: this.savedMaxActive
    }
  },
  toString(this: WorkqueueState) {
    return `Workqueue(${this.name})`
  }
}

/**
 * The `dual` predicate of the workqueue calls: data-first when all `arity` arguments are given, or when the first
 * one is a workqueue — so a call missing an argument (`queueOn(wq, work)` without its CPU, `queue(wq)`) runs and
 * fails with its typed error instead of returning a function that waits for a workqueue.
 * @internal
 */
export const dataFirst =
  (arity: number) =>
  (args: IArguments): boolean =>
    args.length >= arity || isWorkqueue(args[0])

export const toState = (wq: Workqueue): WorkqueueState => wq as unknown as WorkqueueState

/**
 * The state behind `wq` for the synchronous accessors (`Workqueue.name`, `pendingCountUnsafe`, ...): a value that
 * is not a `Workqueue` throws the typed `InvalidArgument` error, as the `*Unsafe` twins throw theirs.
 */
export const toStateOrThrow = (wq: unknown): WorkqueueState => {
  if (!isWorkqueue(wq)) throw badWorkqueue(wq)
  return wq as unknown as WorkqueueState
}

/**
 * The public handle is the state itself, given the workqueue prototype: the literal keeps its fast properties (one
 * hidden class, fields in the object). Copying its 26 fields into `Object.create(WorkqueueProto)` with
 * `Object.assign` had turned every workqueue into a dictionary-mode object, one hash lookup per field read on every
 * queueing and every item's start and end.
 */
export const makeHandle = (state: WorkqueueState): WorkqueueState => Object.setPrototypeOf(state, WorkqueueProto)

export const allocUnsafe = (
  sys: Engine.System,
  name: string,
  flags: number,
  maxActive: number
): Workqueue | WorkqueueError.WorkqueueError => {
  const wq = Engine.allocWorkqueue(sys, name, flags, maxActive, makeHandle)
  return WorkqueueError.isWorkqueueError(wq) ? wq : (wq as unknown as Workqueue)
}

/** The two successful outcomes, allocated once (queueing is on every job's path). */
export const succeedTrue: Effect.Effect<boolean> = Effect.succeed(true)
export const succeedFalse: Effect.Effect<boolean> = Effect.succeed(false)

export const unwrap = (result: Engine.QueueResult): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  result === true ? succeedTrue : result === false ? succeedFalse : Effect.fail(result)

export const orThrow = (result: Engine.QueueResult): boolean => {
  if (typeof result === "boolean") return result
  throw result
}

/**
 * The arguments of a public call that the types promise but JavaScript callers may break: a workqueue, an item
 * (a delayed one for the delayed calls), a CPU for the `*On` calls. One `in` test each on the hot path.
 * @internal
 */
export const badArguments = (
  wq: unknown,
  work: unknown,
  delayed: boolean,
  on: boolean,
  cpu: unknown,
  job = false
): WorkqueueError.WorkqueueError | undefined => {
  if (!isWorkqueue(wq)) return badWorkqueue(wq)
  if (on && typeof cpu !== "number") {
    return WorkqueueError.make(
      "InvalidArgument",
      toState(wq).name,
      `a CPU is required (a number), got ${Engine.show(cpu)} (the call without On has none)`
    )
  }
  if (!isWorkItem(work) || (delayed && (work as { isDelayed?: unknown }).isDelayed !== true)) {
    return WorkqueueError.make(
      "InvalidArgument",
      toState(wq).name,
      `not a ${delayed ? "DelayedWork" : "Work"}: ${Engine.show(work)}`
    )
  }
  // a job's own item is queued by its job only (`Job.ts` passes `job`)
  if (!job && (work as { isJobItem?: boolean }).isJobItem === true) return jobItemRefused(toState(wq).name)
  return undefined
}

export const badWorkqueue = (wq: unknown): WorkqueueError.WorkqueueError =>
  WorkqueueError.makeUnowned("InvalidArgument", `not a Workqueue: ${Engine.show(wq)}`)

export const queueOnResult = (
  wq: Workqueue,
  cpu: number | undefined,
  work: Work.Work,
  on = false
): Engine.QueueResult => {
  const bad = badArguments(wq, work, false, on, cpu)
  if (bad !== undefined) return bad
  const state = toState(wq)
  return Engine.queueWorkOn(state.system, cpu, state, work as any)
}

/** The fields of a `Duration.DurationObject` with their ms: an object delay must have one, each a number. */
const DURATION_FIELDS: ReadonlyArray<readonly [string, number]> = [
  ["weeks", 604_800_000],
  ["days", 86_400_000],
  ["hours", 3_600_000],
  ["minutes", 60_000],
  ["seconds", 1_000],
  ["milliseconds", 1],
  ["microseconds", 1e-3],
  ["nanoseconds", 1e-6]
]

/**
 * An object given as a delay, as a `Duration.DurationObject` read once (a getter is called once; the copy is what
 * Effect converts), or undefined when it is not a duration at all: no duration field (Effect reads `{}`, a work
 * item, a workqueue as 0), a field that is not a number, or fields whose total is NaN (`{ seconds: NaN }`, or
 * `{ seconds: Infinity, milliseconds: -Infinity }`: Effect skips a NaN field and reads a NaN total as 0). Never a
 * silent 0 or a silently shorter delay: `InvalidDelay`.
 */
const durationObject = (o: object): Duration.DurationObject | undefined => {
  const copy: Record<string, number> = {}
  let fields = 0
  let total = 0
  for (const [key, ms] of DURATION_FIELDS) {
    const v = (o as Record<string, unknown>)[key]
    if (v === undefined) continue
    if (typeof v !== "number") return undefined
    copy[key] = v
    total += v * ms
    fields++
  }
  return fields > 0 && !Number.isNaN(total) ? copy : undefined
}

/**
 * A `[seconds, nanos]` pair read once, or undefined when it is not one Effect reads as written: a hole (sparse,
 * `new Array(2)`), a NaN, or a NaN total (`[Infinity, -Infinity]`) — Effect reads those as 0.
 */
const durationPair = (a: ReadonlyArray<unknown>): readonly [number, number] | undefined => {
  if (a.length !== 2 || !(0 in a) || !(1 in a)) return undefined
  const seconds = a[0]
  const nanos = a[1]
  if (typeof seconds !== "number" || typeof nanos !== "number") return undefined
  return Number.isNaN(seconds * 1e3 + nanos / 1e6) ? undefined : [seconds, nanos]
}

/** A delay in ms: `NaN` for what is not a duration (then refused with `InvalidDelay`). */
export const toMillis = (delay: Duration.Input): number => {
  if (typeof delay === "number") return delay
  try {
    let input: Duration.Input | undefined = delay
    if (Array.isArray(delay)) input = durationPair(delay)
    else if (typeof delay === "object" && delay !== null && !Duration.isDuration(delay)) input = durationObject(delay)
    if (input === undefined) return Number.NaN
    return Duration.toMillis(Duration.fromInputUnsafe(input))
  } catch {
    // not a duration, or a value whose getters or traps throw (a hostile `Proxy`): refused, never a defect
    return Number.NaN
  }
}

export const queueDelayedResult = (
  wq: Workqueue,
  cpu: number | undefined,
  dwork: DelayedWork.DelayedWork,
  delay: Duration.Input,
  mod: boolean,
  on = false,
  job = false
): Engine.QueueResult => {
  const bad = badArguments(wq, dwork, true, on, cpu, job)
  if (bad !== undefined) return bad
  const state = toState(wq)
  const f = mod ? Engine.modDelayedWorkOn : Engine.queueDelayedWorkOn
  const result = f(state.system, cpu, state, dwork as unknown as DelayedWorkState, toMillis(delay))
  // the refusal names the delay the caller gave ("soon"), not the NaN it converted to
  return typeof result !== "boolean" && result.reason === "InvalidDelay"
    ? WorkqueueError.make("InvalidDelay", state.name, `delay ${showDelay(delay)} is not a finite duration`)
    : result
}

/**
 * A refused delay as the caller wrote it: a plain object or an array by its own fields (`{ seconds: NaN }`,
 * `[1, NaN]`: what was wrong is in the message), anything else as `show` prints it; a field whose getter or
 * trap throws falls back to `show`.
 */
export const showDelay = (delay: unknown): string => {
  try {
    if (Array.isArray(delay) && delay.length <= 8) return Engine.clip(`[${delay.map(showField).join(", ")}]`)
    if (typeof delay === "object" && delay !== null && Object.getPrototypeOf(delay) === Object.prototype) {
      const keys = Object.keys(delay)
      if (keys.length > 0 && keys.length <= 8) {
        return Engine.clip(
          `{ ${keys.map((k) => `${Engine.clip(k)}: ${showField((delay as Record<string, unknown>)[k])}`).join(", ")} }`
        )
      }
    }
  } catch {
    // a hostile value: printed the safe way below
  }
  return Engine.show(delay)
}

const showField = (v: unknown): string => (typeof v === "number" ? String(v) : Engine.show(v))

export const isQueueFull = (result: Engine.QueueResult): boolean =>
  typeof result !== "boolean" && result.reason === "QueueFull"

/**
 * Park the caller until `wq` has room for one more pending item: a node on the workqueue's waiter list (FIFO, O(1)
 * to add, wake and remove; no Semaphore and no fiber per waiter). `front` puts a caller that was woken but lost
 * the room to a faster queuer back at the head. Interrupted, it leaves the list and passes a wake-up it may have
 * received on to the next waiter.
 */
const waitRoom = (state: WorkqueueState, front: boolean): Effect.Effect<void> =>
  Effect.suspend(() => {
    const waiter: PendingWaiter = {
      next: undefined,
      prev: undefined,
      list: undefined,
      woken: false,
      wake: () => {}
    }
    return Effect.onInterrupt(
      Effect.callback<void>((resume) => {
        ;(waiter as { wake: () => void }).wake = () => state.system.scheduler.scheduleTask(() => resume(Effect.void), 0)
        if (front) state.pendingWaiters.unshift(waiter)
        else state.pendingWaiters.push(waiter)
        // room made since the caller found the queue full (it may have yielded since, see flush.ts `waitOn`) woke
        // no one: wake the head now if there is room for it
        Engine.wqWakePendingWaiter(state.system, state)
        return Effect.sync(() => {
          if (waiter.list !== undefined) state.pendingWaiters.remove(waiter)
        })
      }),
      () =>
        Effect.sync(() => {
          // a wake-up received and not used: give back the room reserved for it and pass it on
          if (waiter.woken) {
            waiter.woken = false
            state.nrWoken--
          }
          Engine.wqWakePendingWaiter(state.system, state)
        })
    ).pipe(
      Effect.andThen(
        Effect.sync(() => {
          // back to retry: the reserved room is ours to take in this same step (`queueWaitLoop`)
          if (waiter.woken) {
            waiter.woken = false
            state.nrWoken--
          }
        })
      )
    )
  })

/**
 * Run the queueing step `attempt` (one L step returning the kernel's boolean or the rule broken); while it fails
 * with `QueueFull`, wait for room and try again. Shared by `queueWait` and `Job.submit`'s `whenFull: "wait"`.
 * @internal
 */
export const queueWaitWith = (
  wq: Workqueue,
  attempt: () => Engine.QueueResult
): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  isWorkqueue(wq) ? queueWaitLoop(toState(wq), attempt, false) : Effect.fail(badWorkqueue(wq))

const queueWaitLoop = (
  state: WorkqueueState,
  attempt: () => Engine.QueueResult,
  woken: boolean
): Effect.Effect<boolean, WorkqueueError.WorkqueueError> =>
  Effect.suspend(() => {
    if (!woken && (state.pendingWaiters.length > 0 || state.nrWoken > 0)) {
      // callers already waiting go first: a newcomer does not overtake them; it joins the tail, and if there is
      // room (the head was woken and is on its way) nothing is lost — the wake chain reaches it in turn
      return Effect.flatMap(
        Effect.andThen(
          Effect.sync(() => Engine.wqWakePendingWaiter(state.system, state)),
          waitRoom(state, false)
        ),
        () => queueWaitLoop(state, attempt, true)
      )
    }
    const result = attempt()
    if (isQueueFull(result)) {
      return Effect.flatMap(waitRoom(state, woken), () => queueWaitLoop(state, attempt, true))
    }
    // room left after ours: the next waiter may take it (each freed slot wakes one waiter only)
    if (woken) Engine.wqWakePendingWaiter(state.system, state)
    return unwrap(result)
  })
