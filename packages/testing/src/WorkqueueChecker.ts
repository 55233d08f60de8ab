/**
 * A lockstep checker: runs a generated {@link WorkqueueArbitrary.Scenario} against a real `WorkqueueSystem` under
 * `TestClock` and against {@link WorkqueueModel} at the same time, and reports the first divergence.
 *
 * Every work item's handler is a puppet driven by the scenario: when a worker calls it, it records a `Start` (with
 * the CPU from `WorkqueueSystem.currentCpu` and the workqueue from `WorkqueueSystem.snapshot`) and then waits for
 * commands: finish (succeed, fail or die), sleep on a latch, or make a call (`from` ops, `Requeue`) inside the
 * handler. Each op's engine result is compared with the model's; after each op the engine is settled (yielding,
 * never moving the clock except for `AdvanceClock`), and every observed event (handler start, handler end, return
 * of a blocked call) is fed to `WorkqueueModel.observe`. If the engine goes quiet while the model still expects
 * something, that is a liveness divergence.
 *
 * The system under test is a parameter ({@link SystemUnderTest}); {@link engine} is the adapter over
 * `@effect-workqueue/core`, and wrappers (or deliberately broken variants, for mutation testing) are built by
 * overriding some of its operations.
 *
 * @since 0.1.0
 */
import { DelayedWork, Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import * as TestWorkqueue from "./TestWorkqueue.ts"
import type * as WorkqueueArbitrary from "./WorkqueueArbitrary.ts"
import * as WorkqueueModel from "./WorkqueueModel.ts"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * The operations the checker needs from a workqueue implementation. `Q` is its workqueue handle, `W` its work item
 * handle (plain and delayed items use the same handle type here). Every operation runs with the system's
 * `WorkqueueSystem` in context; failures must carry a `reason` (`WorkqueueError`'s reasons) to be compared with the
 * model's `Failed` results.
 *
 * **Kernel**: the `kernel/workqueue.c` entry points that the model covers (docs/KERNEL-MAPPING.md).
 *
 * **Example** (A wrapper that logs every queueing call)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkqueueChecker } from "@effect-workqueue/testing"
 * const logged: WorkqueueChecker.SystemUnderTest = {
 *   ...WorkqueueChecker.engine,
 *   name: "logged",
 *   queue: (wq, work, cpu) => Effect.tap(WorkqueueChecker.engine.queue(wq, work, cpu), (r) => Effect.log(r))
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface SystemUnderTest<Q = Workqueue.Workqueue, W = Work.Work> {
  /** Printed in reports. */
  readonly name: string
  /** The system layer for one scenario; built under the checker's `TestClock`. */
  readonly layer: (options: { readonly cpus: number }) => Layer.Layer<WorkqueueSystem.WorkqueueSystem>
  readonly makeWorkqueue: (
    spec: WorkqueueModel.WorkqueueSpec
  ) => Effect.Effect<Q, unknown, Scope.Scope | WorkqueueSystem.WorkqueueSystem>
  /** A work item named `spec.name` (delayed if `spec.delayed`) whose handler is `handler`. */
  readonly makeWork: (
    spec: WorkqueueModel.ItemSpec,
    handler: Effect.Effect<void, unknown, WorkqueueSystem.WorkqueueSystem>
  ) => Effect.Effect<W, never, WorkqueueSystem.WorkqueueSystem>
  readonly queue: (wq: Q, work: W, cpu: number | undefined) => Effect.Effect<boolean, unknown>
  readonly queueDelayed: (wq: Q, work: W, delay: number, cpu: number | undefined) => Effect.Effect<boolean, unknown>
  readonly modDelayed: (wq: Q, work: W, delay: number, cpu: number | undefined) => Effect.Effect<boolean, unknown>
  readonly cancel: (work: W) => Effect.Effect<boolean, unknown>
  readonly cancelSync: (work: W) => Effect.Effect<boolean, unknown>
  readonly disable: (work: W) => Effect.Effect<boolean, unknown>
  readonly enable: (work: W) => Effect.Effect<boolean, unknown>
  readonly flushWork: (work: W) => Effect.Effect<boolean, unknown>
  readonly flushDelayedWork: (work: W) => Effect.Effect<boolean, unknown>
  readonly flushWorkqueue: (wq: Q) => Effect.Effect<void, unknown, WorkqueueSystem.WorkqueueSystem>
  readonly drain: (wq: Q) => Effect.Effect<void, unknown, WorkqueueSystem.WorkqueueSystem>
  readonly destroy: (wq: Q) => Effect.Effect<void, unknown, WorkqueueSystem.WorkqueueSystem>
  readonly setMaxActive: (wq: Q, n: number) => Effect.Effect<void, unknown>
  readonly freeze: Effect.Effect<void, unknown, WorkqueueSystem.WorkqueueSystem>
  readonly thaw: Effect.Effect<void, unknown, WorkqueueSystem.WorkqueueSystem>
  /** The CPU the calling handler runs on (`raw_smp_processor_id()`). */
  readonly currentCpu: Effect.Effect<number>
  /** The names of the workqueues on which a worker is executing the item named `item` right now. */
  readonly runningOn: (item: string) => Effect.Effect<ReadonlyArray<string>, never, WorkqueueSystem.WorkqueueSystem>
  /**
   * Optional: one outside `Queue`, `QueueDelayed`/`ModDelayed` (without a CPU) or `Cancel` done synchronously (the
   * `*Unsafe` twins), returning its boolean or throwing its typed error (`wq` is undefined for `Cancel`). With it, ops
   * marked `sameStep` are issued together in one synchronous step; without it, one by one.
   */
  readonly callUnsafe?:
    | ((
        op: Extract<WorkqueueModel.Op, { readonly _tag: "Queue" | "QueueDelayed" | "ModDelayed" | "Cancel" }>,
        wq: Q | undefined,
        work: W
      ) => boolean)
    | undefined
  /** Optional: true when nothing is runnable (lets `settle` stop early). Without it, settling yields a fixed number of turns. */
  readonly idle?: Effect.Effect<boolean, never, WorkqueueSystem.WorkqueueSystem> | undefined
}

/**
 * The outcome of {@link check}: `Passed`, or the first divergence with the op list up to it, what was observed and
 * what the model allowed, plus a readable trace of every step.
 *
 * - `Result`: an op returned something else than the model's result (or returned at once where the model blocks,
 *   or blocked where the model returns).
 * - `Event`: the engine did something (start, end, return) that the model does not allow now.
 * - `Liveness`: the engine went quiet while the model still expected one of `allowed`.
 * - `Invariant`: the model's own invariants broke (a model bug).
 * - `Teardown`: the engine did not wind down after the scenario (a system whose handlers the model has blocked
 *   forever in a wait cycle, see `WorkqueueModel.deadlocked`, is abandoned instead of closed).
 *
 * **Kernel**: —
 *
 * **Example** (Reading a result)
 *
 * ```ts
 * import type { WorkqueueChecker } from "@effect-workqueue/testing"
 * const ok = (r: WorkqueueChecker.CheckResult) => r._tag === "Passed"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type CheckResult =
  | { readonly _tag: "Passed"; readonly ops: number; readonly events: number }
  | {
      readonly _tag: "Diverged"
      readonly kind: "Result" | "Event" | "Liveness" | "Invariant" | "Teardown"
      /** 1-based index of the op after which the divergence was seen. */
      readonly step: number
      readonly ops: ReadonlyArray<WorkqueueModel.Op>
      readonly observed: string
      readonly allowed: ReadonlyArray<string>
      readonly message: string
      readonly trace: ReadonlyArray<string>
    }

/**
 * Options of {@link check}.
 *
 * - `maxSettleTurns`: the most scheduler turns one settle may take (default 400).
 * - `quietTurns`: consecutive quiet turns that end a settle (default 2; with a SUT lacking `idle`, every settle takes
 *   `fixedTurns`, default 30).
 * - `retargetHandlerActions`: a handler action (`Finish`, `Suspend`, `Requeue`, a `from` call) whose item has no
 *   handler able to act is given to the oldest handler that can, instead of being skipped (default `true`). Generated
 *   op lists cannot see which items run, so most handler actions would otherwise be skipped. The report prints the
 *   op as performed, marked `(retargeted from <item>)`. A call on the acting item itself (a self-flush or
 *   self-cancelSync) stays a call on itself; a queueing call keeps its item and workqueue.
 *
 * **Kernel**: —
 *
 * **Example** (Longer settling)
 *
 * ```ts
 * import type { WorkqueueChecker } from "@effect-workqueue/testing"
 * const options: WorkqueueChecker.CheckOptions = { maxSettleTurns: 1000 }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface CheckOptions {
  readonly maxSettleTurns?: number | undefined
  readonly quietTurns?: number | undefined
  readonly fixedTurns?: number | undefined
  readonly retargetHandlerActions?: boolean | undefined
}

// ---------------------------------------------------------------------------
// The default adapter
// ---------------------------------------------------------------------------

/**
 * The adapter over `@effect-workqueue/core`: `bound` → `Workqueue.make` (per-CPU), `unbound` → `WQ_UNBOUND`,
 * `ordered` → `Workqueue.makeOrdered`, `freezable` → `WQ_FREEZABLE`, `highpri` → `WQ_HIGHPRI`, `cpuIntensive` →
 * `WQ_CPU_INTENSIVE`; delayed items use
 * `DelayedWork`.
 *
 * **Kernel**: `alloc_workqueue()`, `alloc_ordered_workqueue()`, `INIT_WORK()`, `INIT_DELAYED_WORK()` and the calls
 * listed in docs/KERNEL-MAPPING.md.
 *
 * **Example** (Checking a scenario on the engine)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkqueueArbitrary, WorkqueueChecker } from "@effect-workqueue/testing"
 * const scenario: WorkqueueArbitrary.Scenario = {
 *   config: { cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: WorkqueueArbitrary.items },
 *   ops: [{ _tag: "Queue", wq: "wq0", item: "w0" }, { _tag: "Finish", item: "w0", outcome: "success" }],
 *   seed: 0
 * }
 * const result = await Effect.runPromise(WorkqueueChecker.check(scenario, WorkqueueChecker.engine))
 * result._tag // => "Passed"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const engine: SystemUnderTest = {
  name: "@effect-workqueue/core",
  // the CPU clock frozen: the model has no CPU hogs, and the engine's schedule must not depend on machine speed
  layer: ({ cpus }) => WorkqueueSystem.layer({ cpus, cpuClock: TestWorkqueue.frozenCpuClock }),
  makeWorkqueue: (spec) => {
    const extra =
      (spec.freezable === true ? Workqueue.WQ_FREEZABLE : 0) |
      (spec.highpri === true ? Workqueue.WQ_HIGHPRI : 0) |
      (spec.cpuIntensive === true ? Workqueue.WQ_CPU_INTENSIVE : 0)
    switch (spec.kind) {
      case "ordered":
        return Workqueue.makeOrdered(spec.name, { flags: extra })
      case "unbound":
        return Workqueue.make(spec.name, { flags: Workqueue.WQ_UNBOUND | extra, maxActive: spec.maxActive ?? 0 })
      case "bound":
        return Workqueue.make(spec.name, { flags: extra, maxActive: spec.maxActive ?? 0 })
    }
  },
  makeWork: (spec, handler) =>
    spec.delayed ? DelayedWork.make(() => handler, { name: spec.name }) : Work.make(() => handler, { name: spec.name }),
  queue: (wq, work, cpu) => (cpu === undefined ? Workqueue.queue(wq, work) : Workqueue.queueOn(wq, cpu, work)),
  queueDelayed: (wq, work, delay, cpu) =>
    cpu === undefined
      ? Workqueue.queueDelayed(wq, work as DelayedWork.DelayedWork, delay)
      : Workqueue.queueDelayedOn(wq, cpu, work as DelayedWork.DelayedWork, delay),
  modDelayed: (wq, work, delay, cpu) =>
    cpu === undefined
      ? Workqueue.modDelayed(wq, work as DelayedWork.DelayedWork, delay)
      : Workqueue.modDelayedOn(wq, cpu, work as DelayedWork.DelayedWork, delay),
  cancel: (work) => (DelayedWork.isDelayedWork(work) ? DelayedWork.cancel(work) : Work.cancel(work)),
  cancelSync: (work) => (DelayedWork.isDelayedWork(work) ? DelayedWork.cancelSync(work) : Work.cancelSync(work)),
  disable: (work) => Work.disable(work),
  enable: (work) => Work.enable(work),
  flushWork: (work) => Work.flush(work),
  flushDelayedWork: (work) => DelayedWork.flush(work as DelayedWork.DelayedWork),
  flushWorkqueue: (wq) => Workqueue.flush(wq),
  drain: (wq) => Workqueue.drain(wq),
  destroy: (wq) => Workqueue.destroy(wq),
  setMaxActive: (wq, n) => Workqueue.setMaxActive(wq, n),
  freeze: WorkqueueSystem.freeze,
  thaw: WorkqueueSystem.thaw,
  currentCpu: WorkqueueSystem.currentCpu,
  runningOn: (item) =>
    Effect.map(WorkqueueSystem.snapshot, (snap) =>
      snap.pools.flatMap((pool) =>
        pool.workers.flatMap((w) => (w.work === item && w.workqueue !== undefined ? [w.workqueue] : []))
      )
    ),
  callUnsafe: (op, wq, work) => {
    switch (op._tag) {
      case "Queue":
        return op.cpu === undefined ? Workqueue.queueUnsafe(wq!, work) : Workqueue.queueOnUnsafe(wq!, op.cpu, work)
      case "QueueDelayed":
        return Workqueue.queueDelayedUnsafe(wq!, work as DelayedWork.DelayedWork, op.delay)
      case "ModDelayed":
        return Workqueue.modDelayedUnsafe(wq!, work as DelayedWork.DelayedWork, op.delay)
      case "Cancel":
        return Work.cancelUnsafe(work)
    }
  },
  idle: TestWorkqueue.idle
}

// ---------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------

type Command =
  | { readonly _tag: "Call"; readonly op: WorkqueueModel.Op; readonly callId: number }
  | { readonly _tag: "Finish"; readonly outcome: WorkqueueModel.Outcome }
  | { readonly _tag: "Suspend"; readonly latch: number }

interface Puppet {
  readonly item: string
  readonly wq: string
  readonly cpu: number
  instance: number // the checker, when it replays the puppet's Start record: the model's instance id (-1 before)
  inbox: Deferred.Deferred<Command> | undefined // the puppet's handler: set while it awaits its next command, cleared after
}

type Record =
  | { readonly _tag: "Start"; readonly puppet: Puppet }
  | { readonly _tag: "End"; readonly puppet: Puppet }
  | { readonly _tag: "Done"; readonly callId: number; readonly exit: Exit.Exit<unknown, unknown> }

const blockingOps = new Set([
  "CancelSync",
  "FlushWork",
  "FlushDelayedWork",
  "FlushWorkqueue",
  "Drain",
  "Destroy",
  "Freeze"
])

class Stop {
  readonly result: CheckResult
  constructor(result: CheckResult) {
    this.result = result
  }
}

const silent = Logger.layer([])

/**
 * Runs one scenario against `sut` (default {@link engine}) and the model in lockstep, and returns `Passed` or the
 * first divergence. It builds its own `TestClock` and system layer, so it runs in `it.effect`, `it.live` or
 * `Effect.runPromise` alike; the engine's logs are silenced.
 *
 * **Kernel**: the contracts of `kernel/workqueue.c` as encoded by {@link WorkqueueModel}.
 *
 * **Example** (A divergence report)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkqueueArbitrary, WorkqueueChecker } from "@effect-workqueue/testing"
 * const scenario: WorkqueueArbitrary.Scenario = {
 *   config: { cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: WorkqueueArbitrary.items },
 *   ops: [{ _tag: "Queue", wq: "wq0", item: "w0" }],
 *   seed: 0
 * }
 * const result = await Effect.runPromise(WorkqueueChecker.check(scenario))
 * WorkqueueChecker.formatCheckResult(scenario, result).startsWith("passed") // => true
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const check = <Q, W>(
  scenario: WorkqueueArbitrary.Scenario,
  sut: SystemUnderTest<Q, W> = engine as unknown as SystemUnderTest<Q, W>,
  options: CheckOptions = {}
): Effect.Effect<CheckResult> =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const systemCtx = yield* Layer.buildWithScope(sut.layer({ cpus: scenario.config.cpus }), scope)
    const fiber = yield* Effect.forkChild(
      Effect.provideContext(runScenario(scenario, sut, options, scope), systemCtx).pipe(
        Effect.catchDefect((defect) =>
          Effect.succeed<CheckResult>({
            _tag: "Diverged",
            kind: "Result",
            step: 0,
            ops: scenario.ops,
            observed: `defect: ${String(defect)}`,
            allowed: [],
            message: `the checker died: ${String(defect)}`,
            trace: []
          })
        )
      )
    )
    return yield* Fiber.join(fiber)
  }).pipe(
    Effect.provide(Layer.merge(TestClock.layer(), silent), { local: true }),
    Effect.provideService(References.MinimumLogLevel, "None")
  )

const runScenario = <Q, W>(
  scenario: WorkqueueArbitrary.Scenario,
  sut: SystemUnderTest<Q, W>,
  options: CheckOptions,
  systemScope: Scope.Closeable
): Effect.Effect<CheckResult, never, WorkqueueSystem.WorkqueueSystem> =>
  Effect.gen(function* () {
    const wqScope = yield* Scope.make()
    const config = scenario.config
    const kinds = new Map(config.workqueues.map((wq) => [wq.name, wq.kind]))
    let model = WorkqueueModel.initial(config)
    const log: Array<Record> = []
    const puppets: Array<Puppet> = []
    const latches = new Map<number, Deferred.Deferred<void>>()
    const pendingCalls = new Map<number, { readonly waiter: number; readonly op: WorkqueueModel.Op }>()
    const outside: Array<Fiber.Fiber<unknown, unknown>> = []
    const trace: Array<string> = []
    let tearingDown = false
    let callSeq = 0
    let events = 0
    let step = 0

    const diverged = (
      kind: Extract<CheckResult, { _tag: "Diverged" }>["kind"],
      observed: string,
      allowed: ReadonlyArray<string>,
      message: string
    ): Stop =>
      new Stop({
        _tag: "Diverged",
        kind,
        step,
        ops: scenario.ops.slice(0, step),
        observed,
        allowed,
        message,
        trace: [...trace]
      })

    const latch = (n: number): Effect.Effect<Deferred.Deferred<void>> =>
      Effect.suspend(() => {
        const existing = latches.get(n)
        if (existing !== undefined) return Effect.succeed(existing)
        return Effect.map(Deferred.make<void>(), (d) => {
          latches.set(n, d)
          return d
        })
      })

    // handlers: puppets driven by commands
    const handlerFor = (item: string): Effect.Effect<void, unknown, WorkqueueSystem.WorkqueueSystem> =>
      Effect.gen(function* () {
        if (tearingDown) return
        const cpu = yield* sut.currentCpu
        const on = yield* sut.runningOn(item)
        // the workqueue with one more worker running `item` than the harness knows of
        const surplus = new Map<string, number>()
        for (const name of on) surplus.set(name, (surplus.get(name) ?? 0) + 1)
        for (const p of puppets) if (p.item === item) surplus.set(p.wq, (surplus.get(p.wq) ?? 0) - 1)
        const wq = on.find((name) => (surplus.get(name) ?? 0) > 0) ?? on[0] ?? "?"
        const puppet: Puppet = { item, wq, cpu, instance: -1, inbox: undefined }
        puppets.push(puppet)
        log.push({ _tag: "Start", puppet })
        for (;;) {
          if (tearingDown) {
            removeFrom(puppets, puppet)
            return
          }
          const inbox = yield* Deferred.make<Command>()
          puppet.inbox = inbox
          const command = yield* Deferred.await(inbox)
          puppet.inbox = undefined
          switch (command._tag) {
            case "Finish": {
              removeFrom(puppets, puppet)
              log.push({ _tag: "End", puppet })
              if (command.outcome === "failure") return yield* Effect.fail("boom")
              if (command.outcome === "defect") return yield* Effect.die("boom")
              return
            }
            case "Suspend": {
              yield* Deferred.await(yield* latch(command.latch))
              break
            }
            case "Call": {
              const exit = yield* Effect.exit(perform(command.op, puppet))
              log.push({ _tag: "Done", callId: command.callId, exit })
              break
            }
          }
        }
      })

    const wqs = new Map<string, Q>()
    const works = new Map<string, W>()
    for (const spec of config.workqueues) {
      const wq = yield* Effect.orDie(Scope.provide(wqScope)(sut.makeWorkqueue(spec)))
      wqs.set(spec.name, wq)
    }
    for (const spec of config.items) works.set(spec.name, yield* sut.makeWork(spec, handlerFor(spec.name)))
    const wqOf = (name: string) => wqs.get(name)!
    const workOf = (name: string) => works.get(name)!

    // one workqueue call on the engine
    const perform = (
      op: WorkqueueModel.Op,
      caller: Puppet | undefined
    ): Effect.Effect<unknown, unknown, WorkqueueSystem.WorkqueueSystem> => {
      switch (op._tag) {
        case "Queue":
          return sut.queue(wqOf(op.wq), workOf(op.item), op.cpu)
        case "Requeue":
          return sut.queue(wqOf(caller?.wq ?? "?"), workOf(op.item), undefined)
        case "QueueDelayed":
          return sut.queueDelayed(wqOf(op.wq), workOf(op.item), op.delay, op.cpu)
        case "ModDelayed":
          return sut.modDelayed(wqOf(op.wq), workOf(op.item), op.delay, op.cpu)
        case "Cancel":
          return sut.cancel(workOf(op.item))
        case "CancelSync":
          return sut.cancelSync(workOf(op.item))
        case "Disable":
          return sut.disable(workOf(op.item))
        case "Enable":
          return sut.enable(workOf(op.item))
        case "FlushWork":
          return sut.flushWork(workOf(op.item))
        case "FlushDelayedWork":
          return sut.flushDelayedWork(workOf(op.item))
        case "FlushWorkqueue":
          return sut.flushWorkqueue(wqOf(op.wq))
        case "Drain":
          return sut.drain(wqOf(op.wq))
        case "Destroy":
          return sut.destroy(wqOf(op.wq))
        case "SetMaxActive":
          return sut.setMaxActive(wqOf(op.wq), op.maxActive)
        case "Freeze":
          return sut.freeze
        case "Thaw":
          return sut.thaw
        case "AdvanceClock":
          return TestClock.adjust(op.ms)
        case "Release":
          return Effect.suspend(() => {
            const d = latches.get(op.latch)
            latches.delete(op.latch)
            return d === undefined ? Effect.void : Effect.asVoid(Deferred.done(d, Exit.void))
          })
        case "Finish":
        case "Suspend":
          return Effect.void
      }
    }

    const maxTurns = options.maxSettleTurns ?? 400
    const quietNeeded = options.quietTurns ?? 2
    const fixedTurns = options.fixedTurns ?? 30
    const settle = Effect.gen(function* () {
      if (sut.idle === undefined) {
        for (let i = 0; i < fixedTurns; i++) yield* Effect.yieldNow
        return
      }
      let quiet = 0
      let last = log.length
      for (let i = 0; i < maxTurns && quiet < quietNeeded; i++) {
        yield* Effect.yieldNow
        const idle = yield* sut.idle
        quiet = idle && log.length === last ? quiet + 1 : 0
        last = log.length
      }
    })

    const toResult = (exit: Exit.Exit<unknown, unknown>): WorkqueueModel.Result | string => {
      if (Exit.isSuccess(exit)) {
        const v = exit.value
        return { _tag: "Returned", value: typeof v === "boolean" ? v : undefined }
      }
      const error = Cause.findErrorOption(exit.cause)
      if (error._tag === "Some") {
        const reason = (error.value as { reason?: unknown } | null)?.reason
        if (typeof reason === "string") return { _tag: "Failed", reason: reason as WorkqueueModel.ErrorReason }
      }
      return `unexpected ${Cause.pretty(exit.cause).split("\n")[0]}`
    }
    const showExit = (exit: Exit.Exit<unknown, unknown>): string => {
      const r = toResult(exit)
      return typeof r === "string" ? r : WorkqueueModel.formatResult(r)
    }
    const sameResult = (a: WorkqueueModel.Result, b: WorkqueueModel.Result): boolean =>
      a._tag === "Returned"
        ? b._tag === "Returned" && a.value === b.value
        : a._tag === "Failed"
          ? b._tag === "Failed" && a.reason === b.reason
          : a._tag === b._tag

    const observe = (event: WorkqueueModel.Event, seen: Array<string>): void => {
      const next = WorkqueueModel.observe(model, event)
      if (WorkqueueModel.isDivergence(next)) {
        trace.push(`     events: ${[...seen, `!! ${WorkqueueModel.formatEvent(event)}`].join(", ")}`)
        throw diverged(
          "Event",
          WorkqueueModel.formatEvent(event),
          next.allowed.map(WorkqueueModel.formatEvent),
          next.message
        )
      }
      model = next
      events++
      seen.push(WorkqueueModel.formatEvent(event))
    }

    const drainLog = (seen: Array<string>): void => {
      while (log.length > 0) {
        const record = log.shift()!
        switch (record._tag) {
          case "Start": {
            const p = record.puppet
            const cpu = kinds.get(p.wq) === "bound" ? p.cpu : null
            observe({ _tag: "Start", item: p.item, wq: p.wq, cpu }, seen)
            const instance = model.instances
              .filter((i) => i.item === p.item && i.wq === p.wq && i.status === "Running")
              .sort((a, b) => b.startSeq - a.startSeq)[0]
            p.instance = instance?.id ?? -1
            break
          }
          case "End":
            observe({ _tag: "End", item: record.puppet.item, wq: record.puppet.wq }, seen)
            break
          case "Done": {
            const call = pendingCalls.get(record.callId)
            if (call === undefined) break // an immediate result, already compared
            pendingCalls.delete(record.callId)
            const r = toResult(record.exit)
            if (typeof r === "string" || r._tag !== "Returned") {
              trace.push(`     events: ${[...seen, `!! return#${call.waiter} ${showExit(record.exit)}`].join(", ")}`)
              throw diverged(
                "Event",
                `${WorkqueueModel.formatOp(call.op)} ended with ${showExit(record.exit)}`,
                WorkqueueModel.allowedEvents(model).map(WorkqueueModel.formatEvent),
                `the blocked call ${WorkqueueModel.formatOp(call.op)} ended with ${showExit(record.exit)}`
              )
            }
            observe({ _tag: "Return", waiter: call.waiter, value: r.value }, seen)
            break
          }
        }
      }
    }

    const callerPuppet = (item: string): Puppet | undefined => {
      const instance = model.instances
        .filter((i) => i.item === item && i.status === "Running" && i.handler._tag === "Busy")
        .sort((a, b) => a.startSeq - b.startSeq)[0]
      return instance === undefined ? undefined : puppets.find((p) => p.instance === instance.id)
    }

    const send = (puppet: Puppet, command: Command): Effect.Effect<boolean> =>
      Effect.gen(function* () {
        for (let i = 0; i < maxTurns && puppet.inbox === undefined; i++) yield* Effect.yieldNow
        const inbox = puppet.inbox
        if (inbox === undefined) return false
        yield* Deferred.succeed(inbox, command)
        // the handler resumes inline or on its next turn; wait until it took the command
        for (let i = 0; i < maxTurns && puppet.inbox === inbox; i++) yield* Effect.yieldNow
        return true
      })

    const runOp = (generated: WorkqueueModel.Op): Effect.Effect<void, Stop, WorkqueueSystem.WorkqueueSystem> =>
      Effect.gen(function* () {
        const op = options.retargetHandlerActions === false ? generated : retarget(model, generated)
        const retargeted = op === generated ? "" : ` (retargeted from ${actorOf(generated)})`
        // which handler acts, for handler actions and `from` calls
        const actor = actorOf(op)
        // "The CPU the caller runs on" inside a handler of an unbound or ordered queue is whatever CPU its worker
        // floats on (`__queue_work()` picks any CPU of the pod for unbound work): the kernel leaves it open, the
        // handler observes it. Tell the model the CPU the
        // handler saw, so the model does not pin a choice the kernel does not make.
        const caller = actor === undefined ? undefined : callerPuppet(actor)
        const modelOp: WorkqueueModel.Op =
          caller !== undefined &&
          kinds.get(caller.wq) !== "bound" &&
          (op._tag === "Queue" || op._tag === "QueueDelayed" || op._tag === "ModDelayed") &&
          op.cpu === undefined
            ? { ...op, cpu: caller.cpu }
            : op
        const applied = WorkqueueModel.apply(model, modelOp)
        const expected = applied.result
        const line = `  ${step}. ${WorkqueueModel.formatOp(op)}${retargeted}`
        if (expected._tag === "Skipped") {
          model = applied.state
          trace.push(`${line} → skipped`)
          return
        }
        let observed: Exit.Exit<unknown, unknown> | "blocked"
        const callId = ++callSeq
        if (actor !== undefined) {
          const puppet = caller
          if (puppet === undefined) {
            trace.push(`${line} → ?`)
            return yield* Effect.fail(
              diverged(
                "Result",
                `no running handler of ${actor} to act`,
                [],
                `the model has ${actor} running, the engine not`
              )
            )
          }
          const command: Command =
            op._tag === "Finish"
              ? { _tag: "Finish", outcome: op.outcome }
              : op._tag === "Suspend"
                ? { _tag: "Suspend", latch: op.latch }
                : { _tag: "Call", op, callId }
          const delivered = yield* send(puppet, command)
          if (!delivered) {
            trace.push(`${line} → ?`)
            return yield* Effect.fail(
              diverged(
                "Result",
                `${actor}'s handler is not waiting for a command`,
                [],
                "harness could not reach the handler"
              )
            )
          }
          if (command._tag === "Call") {
            const index = log.findIndex((r) => r._tag === "Done" && r.callId === callId)
            if (index >= 0) {
              observed = (log[index] as Extract<Record, { _tag: "Done" }>).exit
              log.splice(index, 1)
            } else observed = "blocked"
          } else {
            observed = Exit.void
          }
        } else if (blockingOps.has(op._tag)) {
          let immediate: Exit.Exit<unknown, unknown> | undefined
          let forked = false
          const fiber = yield* Effect.forkDetach(
            Effect.onExit(perform(op, undefined), (exit) =>
              Effect.sync(() => {
                if (forked) log.push({ _tag: "Done", callId, exit })
                else immediate = exit
              })
            ),
            { startImmediately: true }
          )
          forked = true
          outside.push(fiber)
          observed = immediate ?? "blocked"
        } else {
          observed = yield* Effect.exit(perform(op, undefined))
        }

        // compare the immediate result
        if (observed === "blocked") {
          if (expected._tag !== "Blocked") {
            trace.push(`${line} → blocked (model: ${WorkqueueModel.formatResult(expected)})`)
            return yield* Effect.fail(
              diverged(
                "Result",
                "blocked",
                [WorkqueueModel.formatResult(expected)],
                `${WorkqueueModel.formatOp(op)} blocked; the model returns ${WorkqueueModel.formatResult(expected)} at once`
              )
            )
          }
          pendingCalls.set(callId, { waiter: expected.waiter, op })
          model = applied.state
          trace.push(`${line} → ${WorkqueueModel.formatResult(expected)}`)
        } else {
          const got = toResult(observed)
          if (expected._tag === "Blocked") {
            // returned at once where the model blocks: fine only if the model allows that Return right away
            model = applied.state
            trace.push(`${line} → ${showExit(observed)} at once (model: ${WorkqueueModel.formatResult(expected)})`)
            if (typeof got === "string" || got._tag !== "Returned") {
              return yield* Effect.fail(
                diverged("Result", showExit(observed), [WorkqueueModel.formatResult(expected)], "the model blocks")
              )
            }
            const next = WorkqueueModel.observe(model, { _tag: "Return", waiter: expected.waiter, value: got.value })
            if (WorkqueueModel.isDivergence(next)) {
              return yield* Effect.fail(
                diverged(
                  "Result",
                  `${showExit(observed)} at once`,
                  [WorkqueueModel.formatResult(expected)],
                  `${WorkqueueModel.formatOp(op)} returned ${showExit(observed)} at once; the model blocks it (${
                    next.allowed.length === 0
                      ? "nothing may happen yet"
                      : `allowed first: ${next.allowed.map(WorkqueueModel.formatEvent).join(", ")}`
                  })`
                )
              )
            }
            model = next
          } else if (typeof got === "string" || !sameResult(got, expected)) {
            trace.push(`${line} → ${showExit(observed)} (model: ${WorkqueueModel.formatResult(expected)})`)
            return yield* Effect.fail(
              diverged(
                "Result",
                showExit(observed),
                [WorkqueueModel.formatResult(expected)],
                `${WorkqueueModel.formatOp(op)} returned ${showExit(observed)}; the model says ${WorkqueueModel.formatResult(expected)}`
              )
            )
          } else {
            model = applied.state
            trace.push(`${line} → ${WorkqueueModel.formatResult(expected)}`)
          }
        }

        return yield* afterStep
      })

    // after an op (or a synchronous step of ops): settle, feed every observed event, check invariants and liveness
    const afterStep: Effect.Effect<void, Stop, WorkqueueSystem.WorkqueueSystem> = Effect.gen(function* () {
      // settle and feed every observed event
      yield* settle
      const seen: Array<string> = []
      try {
        drainLog(seen)
      } catch (e) {
        if (e instanceof Stop) return yield* Effect.fail(e)
        throw e
      }
      if (seen.length > 0) trace.push(`     events: ${seen.join(", ")}`)
      const violations = WorkqueueModel.invariantViolations(model)
      if (violations.length > 0) {
        return yield* Effect.fail(
          diverged("Invariant", violations.join("; "), [], "the model broke its own invariants")
        )
      }
      const expecting = WorkqueueModel.allowedEvents(model)
      if (expecting.length > 0 && expecting.some((event) => mustHappen(model, event))) {
        return yield* Effect.fail(
          diverged(
            "Liveness",
            "nothing (the engine is quiet)",
            expecting.map(WorkqueueModel.formatEvent),
            `the engine went quiet while the model expects one of [${expecting.map(WorkqueueModel.formatEvent).join(", ")}]`
          )
        )
      }
    })

    // several outside calls in ONE synchronous step through the SUT's `*Unsafe` twins (ops marked `sameStep`):
    // the model applies them one by one, the engine sees them with nothing running in between
    const runStep = (
      ops: ReadonlyArray<WorkqueueModel.Op>
    ): Effect.Effect<void, Stop, WorkqueueSystem.WorkqueueSystem> =>
      Effect.gen(function* () {
        const callUnsafe = sut.callUnsafe!
        const exits = yield* Effect.sync(() =>
          ops.map((op): Exit.Exit<unknown, unknown> => {
            try {
              const wq = "wq" in op ? wqOf(op.wq) : undefined
              return Exit.succeed(callUnsafe(op as StepOp, wq, workOf((op as StepOp).item)))
            } catch (error) {
              return Exit.fail(error)
            }
          })
        )
        for (let i = 0; i < ops.length; i++) {
          if (i > 0) step++
          const op = ops[i]!
          const applied = WorkqueueModel.apply(model, op)
          const expected = applied.result
          const observed = exits[i]!
          const got = toResult(observed)
          const line = `  ${step}. ${WorkqueueModel.formatOp(op)}`
          if (expected._tag === "Skipped") {
            model = applied.state
            trace.push(`${line} → skipped`)
            continue
          }
          if (typeof got === "string" || !sameResult(got, expected)) {
            trace.push(`${line} → ${showExit(observed)} (model: ${WorkqueueModel.formatResult(expected)})`)
            return yield* Effect.fail(
              diverged(
                "Result",
                showExit(observed),
                [WorkqueueModel.formatResult(expected)],
                `${WorkqueueModel.formatOp(op)} returned ${showExit(observed)}; the model says ${WorkqueueModel.formatResult(expected)}`
              )
            )
          }
          model = applied.state
          trace.push(`${line} → ${WorkqueueModel.formatResult(expected)}`)
        }
        return yield* afterStep
      })

    // run every op
    let outcome: CheckResult = { _tag: "Passed", ops: scenario.ops.length, events: 0 }
    for (let i = 0; i < scenario.ops.length; i++) {
      const op = scenario.ops[i]!
      step++
      let j = i + 1
      if (sut.callUnsafe !== undefined && isStepOp(op)) {
        while (j < scenario.ops.length && isStepOp(scenario.ops[j]!) && (scenario.ops[j] as StepOp).sameStep === true)
          j++
      }
      const exit = yield* Effect.exit(j > i + 1 ? runStep(scenario.ops.slice(i, j)) : runOp(op))
      i = j - 1
      if (Exit.isFailure(exit)) {
        const error = Cause.findErrorOption(exit.cause)
        if (error._tag === "Some") outcome = error.value.result
        else return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
        break
      }
    }
    if (outcome._tag === "Passed") outcome = { _tag: "Passed", ops: scenario.ops.length, events }

    // teardown: let every handler finish, thaw, then close the queues and the system
    tearingDown = true
    yield* Effect.exit(sut.thaw)
    for (let round = 0; round < 50; round++) {
      for (const [n, d] of latches) {
        latches.delete(n)
        yield* Deferred.done(d, Exit.void)
      }
      for (const p of [...puppets]) {
        if (p.inbox !== undefined) yield* Deferred.succeed(p.inbox, { _tag: "Finish", outcome: "success" })
      }
      yield* settle
      if (puppets.length === 0 && outside.every((f) => f.pollUnsafe() !== undefined)) break
    }
    // A wait cycle between handlers (e.g. a handler of wq0 flushing wq1 while one of wq1 flushes wq0) blocks every
    // call in it forever, in the kernel (lockdep only reports it) as in the engine (which fails only
    // self-deadlocks, docs/KERNEL-MAPPING.md); destroying the queues or closing the system would wait for those
    // handlers too. Such a system
    // is abandoned instead of closed: its workers are root fibers suspended on the engine's own waiters, unreachable
    // (and collected) once the scenario returns. Passing needs nothing more: both sides are quiet and the model allows
    // no event for the blocked handlers (checked after every op). Wound down as the liveness check judges: where the
    // model leaves open which head got an unbound queue's floating slot, the engine may have picked the one that hangs.
    if (outcome._tag === "Passed" && WorkqueueModel.deadlocked(model, mustHappen).length > 0) return outcome
    const close = yield* Effect.forkDetach(
      Effect.andThen(Scope.close(wqScope, Exit.void), Scope.close(systemScope, Exit.void)),
      { startImmediately: true }
    )
    for (let i = 0; i < maxTurns && close.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
    if (close.pollUnsafe() === undefined && outcome._tag === "Passed") {
      step = scenario.ops.length
      return new Stop({
        _tag: "Diverged",
        kind: "Teardown",
        step,
        ops: scenario.ops,
        observed: "closing the system did not complete",
        allowed: [],
        message: `teardown hung: ${puppets.length} handler(s) still running`,
        trace
      }).result
    }
    return outcome
  })

// Liveness: which allowed events an implementation that went quiet must still produce. All of them, except the start
// of an inactive item of an unbound queue through a "floating" slot when the head of another waiting pwq of that queue
// is blocked by its own running instance: the kernel may have given the slot to that head
// (wq.c:node_activate_pending_pwq() picks pwqs round-robin), which then waits behind the running instance
// (wq.c:assign_work() dispatch collision), so nothing else starts. The model cannot tell which head got the slot.
const mustHappen = (state: WorkqueueModel.State, event: WorkqueueModel.Event): boolean => {
  if (event._tag !== "Start") return true
  const instance = state.instances.find((i) => i.item === event.item && i.wq === event.wq && i.status !== "Running")
  if (instance === undefined || instance.status !== "Inactive") return true
  const waiting = state.instances.filter((i) => i.wq === event.wq && i.status === "Inactive")
  const heads = new Map<number, WorkqueueModel.Instance>()
  for (const i of waiting) if (!heads.has(i.cpu)) heads.set(i.cpu, i)
  const blocked = [...heads.values()].some(
    (head) =>
      head.id !== instance.id &&
      state.instances.some((r) => r.item === head.item && (r.status === "Running" || r.status === "Finishing"))
  )
  return !blocked
}

/** The ops a checker may issue several of in one synchronous step. */
type StepOp = Extract<WorkqueueModel.Op, { readonly _tag: "Queue" | "QueueDelayed" | "ModDelayed" | "Cancel" }>

// An outside queueing or cancel call with a synchronous twin (the delayed calls' twins take no CPU).
const isStepOp = (op: WorkqueueModel.Op): op is StepOp =>
  (op._tag === "Queue" ||
    ((op._tag === "QueueDelayed" || op._tag === "ModDelayed") && op.cpu === undefined) ||
    op._tag === "Cancel") &&
  op.from === undefined

// The item whose running handler performs `op` (handler actions and `from` calls), if any.
const actorOf = (op: WorkqueueModel.Op): string | undefined =>
  op._tag === "Finish" || op._tag === "Suspend" || op._tag === "Requeue"
    ? op.item
    : "from" in op && op.from !== undefined
      ? op.from
      : undefined

// The oldest started handler that can act now (running its code, not suspended or blocked), as the model sees it.
const oldestBusy = (state: WorkqueueModel.State, item?: string): WorkqueueModel.Instance | undefined =>
  state.instances
    .filter((i) => (item === undefined || i.item === item) && i.status === "Running" && i.handler._tag === "Busy")
    .sort((a, b) => a.startSeq - b.startSeq)[0]

// Gives a handler action whose item cannot act to the oldest handler that can (see `retargetHandlerActions`). Calls
// on the actor itself without a workqueue (self-flush, self-cancelSync, …) follow it, so that they stay self-calls and
// no wait between two handlers appears; queueing calls keep their item and workqueue.
const retarget = (state: WorkqueueModel.State, op: WorkqueueModel.Op): WorkqueueModel.Op => {
  const actor = actorOf(op)
  if (actor === undefined || oldestBusy(state, actor) !== undefined) return op
  const to = oldestBusy(state)?.item
  if (to === undefined) return op
  switch (op._tag) {
    case "Finish":
    case "Suspend":
    case "Requeue":
      return { ...op, item: to }
    case "Queue":
    case "QueueDelayed":
    case "ModDelayed":
    case "FlushWorkqueue":
    case "Drain":
    case "Destroy":
    case "SetMaxActive":
      return { ...op, from: to }
    case "Cancel":
    case "CancelSync":
    case "Disable":
    case "Enable":
    case "FlushWork":
    case "FlushDelayedWork":
      return op.item === actor ? { ...op, item: to, from: to } : { ...op, from: to }
    default:
      return op
  }
}

const removeFrom = <A>(array: Array<A>, value: A): void => {
  const i = array.indexOf(value)
  if (i >= 0) array.splice(i, 1)
}

// ---------------------------------------------------------------------------
// Reporting and properties
// ---------------------------------------------------------------------------

/**
 * A readable report: `passed (n ops, m events)`, or the configuration, the op list up to the divergence with each
 * result and the events seen after it, then what was observed and what the model allowed.
 *
 * **Kernel**: —
 *
 * **Example** (Printing)
 *
 * ```ts
 * import { WorkqueueArbitrary, WorkqueueChecker } from "@effect-workqueue/testing"
 * const s: WorkqueueArbitrary.Scenario = {
 *   config: { cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: WorkqueueArbitrary.items },
 *   ops: [],
 *   seed: 0
 * }
 * WorkqueueChecker.formatCheckResult(s, { _tag: "Passed", ops: 0, events: 0 }) // => "passed (0 ops, 0 events)"
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const formatCheckResult = (scenario: WorkqueueArbitrary.Scenario, result: CheckResult): string => {
  if (result._tag === "Passed") return `passed (${result.ops} ops, ${result.events} events)`
  const wqs = scenario.config.workqueues.map((wq) => {
    const flags = [wq.kind, `max_active=${wq.maxActive ?? "dfl"}`]
    if (wq.freezable === true) flags.push("freezable")
    if (wq.highpri === true) flags.push("highpri")
    if (wq.cpuIntensive === true) flags.push("cpu_intensive")
    return `${wq.name}(${flags.join(", ")})`
  })
  return [
    `${result.kind} divergence after op ${result.step}: ${result.message}`,
    `cpus=${scenario.config.cpus} ${wqs.join(" ")}`,
    ...result.trace,
    `observed: ${result.observed}`,
    `allowed:  ${result.allowed.length === 0 ? "(nothing)" : result.allowed.join(", ")}`
  ].join("\n")
}

/**
 * The error a failing {@link property} fails with; its message is the readable report of
 * {@link formatCheckResult}, so `it.effect.prop` prints the shrunk counterexample as a numbered op list.
 *
 * **Kernel**: —
 *
 * **Example** (Catching it)
 *
 * ```ts
 * import { WorkqueueChecker } from "@effect-workqueue/testing"
 * const isDivergence = (u: unknown) => u instanceof WorkqueueChecker.DivergenceError
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class DivergenceError extends Error {
  readonly result: CheckResult
  readonly scenario: WorkqueueArbitrary.Scenario
  constructor(scenario: WorkqueueArbitrary.Scenario, result: CheckResult) {
    super(`\n${formatCheckResult(scenario, result)}`)
    this.name = "DivergenceError"
    this.result = result
    this.scenario = scenario
  }
}

/**
 * A property for `it.effect.prop` (or `Arbitrary.checkEffect`) over arrays of scenarios: each property run checks
 * every scenario of its batch (batching keeps 10 000 sequences fast), succeeds with `true`, or fails with a
 * {@link DivergenceError} whose message is the readable counterexample. `Arbitrary` shrinks the batch and each
 * scenario's op array.
 *
 * **Kernel**: —
 *
 * **Example** (A model check in a test file)
 *
 * ```ts
 * import { it } from "@effect/vitest"
 * import { Arbitrary } from "effect"
 * import { WorkqueueArbitrary, WorkqueueChecker } from "@effect-workqueue/testing"
 * it.effect.prop(
 *   "the engine follows the model",
 *   [Arbitrary.array(WorkqueueArbitrary.scenario({ maxOps: 20 }), { minLength: 1, maxLength: 10 })],
 *   ([batch]) => WorkqueueChecker.property()(batch),
 *   { arbitrary: { runs: 100, seed: 42 } }
 * )
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const property =
  <Q, W>(sut?: SystemUnderTest<Q, W>, options?: CheckOptions) =>
  (
    scenarios: WorkqueueArbitrary.Scenario | ReadonlyArray<WorkqueueArbitrary.Scenario>
  ): Effect.Effect<boolean, DivergenceError> =>
    Effect.gen(function* () {
      const batch = Array.isArray(scenarios) ? scenarios : [scenarios as WorkqueueArbitrary.Scenario]
      for (const scenario of batch) {
        const result = yield* check(scenario, sut, options)
        if (result._tag === "Diverged") return yield* Effect.fail(new DivergenceError(scenario, result))
      }
      return true
    })

/**
 * Shrinks a failing scenario by itself (no Arbitrary needed): repeatedly drops single ops (and then trailing
 * handler-only noise) while the scenario still diverges with the same kind. Handy to minimise a counterexample found
 * elsewhere (e.g. by a random seed) before turning it into a regression test.
 *
 * **Kernel**: —
 *
 * **Example** (Minimising)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { WorkqueueArbitrary, WorkqueueChecker } from "@effect-workqueue/testing"
 * const s: WorkqueueArbitrary.Scenario = {
 *   config: { cpus: 1, workqueues: [{ name: "wq0", kind: "bound" }], items: WorkqueueArbitrary.items },
 *   ops: [{ _tag: "Queue", wq: "wq0", item: "w0" }],
 *   seed: 0
 * }
 * const smaller = await Effect.runPromise(WorkqueueChecker.minimize(s))
 * smaller.ops.length // => 1
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const minimize = <Q, W>(
  scenario: WorkqueueArbitrary.Scenario,
  sut?: SystemUnderTest<Q, W>,
  options?: CheckOptions
): Effect.Effect<WorkqueueArbitrary.Scenario> =>
  Effect.gen(function* () {
    const first = yield* check(scenario, sut, options)
    if (first._tag === "Passed") return scenario
    let best = { ...scenario, ops: scenario.ops.slice(0, first.step) }
    let progress = true
    while (progress) {
      progress = false
      for (let i = best.ops.length - 1; i >= 0; i--) {
        const candidate = { ...best, ops: [...best.ops.slice(0, i), ...best.ops.slice(i + 1)] }
        const r = yield* check(candidate, sut, options)
        if (r._tag === "Diverged" && r.kind === first.kind) {
          best = { ...candidate, ops: candidate.ops.slice(0, r.step) }
          progress = true
        }
      }
    }
    return best
  })
