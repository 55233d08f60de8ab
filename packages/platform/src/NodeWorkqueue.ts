/**
 * The workqueue system for a Node.js process: the core `WorkqueueSystem.layer` with the machine's CPU count,
 * options from code or environment variables, and a graceful shutdown when `NodeRuntime.runMain` interrupts the
 * main fiber (SIGTERM / SIGINT).
 *
 * Environment variables (code options win; the environment fills what code leaves unset):
 *
 * | variable | option | value |
 * |---|---|---|
 * | `EFFECT_WORKQUEUE_CPUS` | `cpus` | integer 1..1024 (default `os.availableParallelism()`) |
 * | `EFFECT_WORKQUEUE_MAX_WORKERS_PER_POOL` | `maxWorkersPerPool` | integer ≥ 1 (default unlimited) |
 * | `EFFECT_WORKQUEUE_IDLE_TIMEOUT_MS` | `idleTimeoutMs` | integer ≥ 0 (default 300 000) |
 * | `EFFECT_WORKQUEUE_POWER_EFFICIENT` | `powerEfficient` | `true`/`false`/`1`/`0` (default false) |
 * | `EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS` | `shutdownDeadlineMs` | integer ≥ 0 (default 10 000) |
 * | `EFFECT_WORKQUEUE_MONITOR_INTERVAL_MS` | `monitorIntervalMs` | integer ≥ 0; > 0 prints the monitor table (default 0) |
 *
 * An empty variable counts as unset; anything else that does not parse fails the layer with a
 * `NodeWorkqueueConfigError` that names the variable and the value.
 *
 * @since 0.1.0
 */
import { WorkqueueSystem } from "@effect-workqueue/core"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as os from "node:os"
import * as NodeMonitor from "./NodeMonitor.ts"
import * as NodeShutdown from "./NodeShutdown.ts"

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * Options of `NodeWorkqueue.layer`; each has an environment variable (see the module doc).
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Virtual CPUs (default `os.availableParallelism()`). `EFFECT_WORKQUEUE_CPUS`. */
  readonly cpus?: number | undefined
  /** Workers a pool may create. `EFFECT_WORKQUEUE_MAX_WORKERS_PER_POOL`. */
  readonly maxWorkersPerPool?: number | undefined
  /** Idle worker culling timeout in ms. `EFFECT_WORKQUEUE_IDLE_TIMEOUT_MS`. */
  readonly idleTimeoutMs?: number | undefined
  /** `WQ_POWER_EFFICIENT` queues become unbound. `EFFECT_WORKQUEUE_POWER_EFFICIENT`. */
  readonly powerEfficient?: boolean | undefined
  /** Deadline of the drain on shutdown, ms. `EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS`. */
  readonly shutdownDeadlineMs?: number | undefined
  /** Print the monitor table every this many ms (0 = off). `EFFECT_WORKQUEUE_MONITOR_INTERVAL_MS`. */
  readonly monitorIntervalMs?: number | undefined
  /** Print a dump on `SIGUSR2` (default `true`). */
  readonly dumpOnSignal?: boolean | undefined
  /** On a second SIGINT/SIGTERM while draining, log the report and exit at once with 130 (default `true`). */
  readonly forceExitOnSecondSignal?: boolean | undefined
  /** The environment to read (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

/**
 * Every option resolved: code, then environment, then defaults.
 *
 * @category models
 * @since 0.1.0
 */
export interface ResolvedOptions {
  readonly cpus: number
  readonly maxWorkersPerPool: number | undefined
  readonly idleTimeoutMs: number | undefined
  readonly powerEfficient: boolean
  readonly shutdownDeadlineMs: number
  readonly monitorIntervalMs: number
}

/**
 * A configuration value that does not parse; names the environment variable (or option) and the value.
 *
 * @category errors
 * @since 0.1.0
 */
export class NodeWorkqueueConfigError extends Data.TaggedError("NodeWorkqueueConfigError")<{
  readonly variable: string
  readonly value: string
  readonly message: string
}> {}

/**
 * The environment variable names.
 *
 * @category configuration
 * @since 0.1.0
 */
export const ENV = {
  cpus: "EFFECT_WORKQUEUE_CPUS",
  maxWorkersPerPool: "EFFECT_WORKQUEUE_MAX_WORKERS_PER_POOL",
  idleTimeoutMs: "EFFECT_WORKQUEUE_IDLE_TIMEOUT_MS",
  powerEfficient: "EFFECT_WORKQUEUE_POWER_EFFICIENT",
  shutdownDeadlineMs: "EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS",
  monitorIntervalMs: "EFFECT_WORKQUEUE_MONITOR_INTERVAL_MS"
} as const

// ---------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------

/**
 * The machine's CPU count as the kernel would see possible CPUs: `os.availableParallelism()` clamped to the
 * core's 1..1024.
 *
 * **Example** (At least one)
 *
 * ```ts
 * import { NodeWorkqueue } from "@effect-workqueue/platform"
 *
 * NodeWorkqueue.machineCpus() >= 1 // => true
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const machineCpus = (): number => clampCpus(os.availableParallelism())

/**
 * Map a reported CPU count to the core's valid range 1..1024 (a count that is not a positive number is 1).
 *
 * **Example** (Clamping)
 *
 * ```ts
 * import { NodeWorkqueue } from "@effect-workqueue/platform"
 *
 * [NodeWorkqueue.clampCpus(0), NodeWorkqueue.clampCpus(8), NodeWorkqueue.clampCpus(4096)] // => [1, 8, 1024]
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const clampCpus = (n: number): number => (Number.isFinite(n) && n >= 1 ? Math.min(Math.floor(n), 1024) : 1)

type Parsed<A> = A | NodeWorkqueueConfigError

const integer = (variable: string, raw: string, min: number, max: number): Parsed<number> => {
  const text = raw.trim()
  const n = /^[+]?\d+$/.test(text) ? Number(text) : Number.NaN
  if (Number.isSafeInteger(n) && n >= min && n <= max) return n
  const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in ${min}..${max}`
  return new NodeWorkqueueConfigError({
    variable,
    value: raw,
    message: `${variable}=${JSON.stringify(raw)} is not valid: expected ${range}`
  })
}

const boolean = (variable: string, raw: string): Parsed<boolean> => {
  const text = raw.trim().toLowerCase()
  if (text === "true" || text === "1" || text === "yes") return true
  if (text === "false" || text === "0" || text === "no") return false
  return new NodeWorkqueueConfigError({
    variable,
    value: raw,
    message: `${variable}=${JSON.stringify(raw)} is not valid: expected true, false, 1 or 0`
  })
}

const checkOption = (name: string, value: number | undefined, min: number, max: number): Parsed<number | undefined> =>
  value === undefined ? undefined : integer(`options.${name}`, String(value), min, max)

/**
 * Resolve the options: each from code if given, else from its environment variable, else its default. Pure, so
 * it can be tested with any `env`.
 *
 * **Gotchas**: an empty variable is treated as unset; a malformed one is an error (never silently ignored).
 *
 * **Example** (From the environment)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { NodeWorkqueue } from "@effect-workqueue/platform"
 *
 * const resolved = NodeWorkqueue.resolveOptions({ env: { EFFECT_WORKQUEUE_CPUS: "2" } })
 * Effect.runSync(Effect.map(resolved, (o) => o.cpus)) // => 2
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const resolveOptions = (options: Options = {}): Effect.Effect<ResolvedOptions, NodeWorkqueueConfigError> =>
  Effect.suspend(() => {
    const env = options.env ?? process.env
    const fromEnv = <A>(
      variable: string,
      parse: (variable: string, raw: string) => Parsed<A>
    ): Parsed<A | undefined> => {
      const raw = env[variable]
      return raw === undefined || raw.trim() === "" ? undefined : parse(variable, raw)
    }
    const MAX = Number.MAX_SAFE_INTEGER
    const steps = {
      cpus: checkOption("cpus", options.cpus, 1, 1024) ?? fromEnv(ENV.cpus, (v, r) => integer(v, r, 1, 1024)),
      maxWorkersPerPool:
        checkOption("maxWorkersPerPool", options.maxWorkersPerPool, 1, MAX) ??
        fromEnv(ENV.maxWorkersPerPool, (v, r) => integer(v, r, 1, MAX)),
      idleTimeoutMs:
        checkOption("idleTimeoutMs", options.idleTimeoutMs, 0, MAX) ??
        fromEnv(ENV.idleTimeoutMs, (v, r) => integer(v, r, 0, MAX)),
      powerEfficient: options.powerEfficient ?? fromEnv(ENV.powerEfficient, boolean),
      shutdownDeadlineMs:
        checkOption("shutdownDeadlineMs", options.shutdownDeadlineMs, 0, MAX) ??
        fromEnv(ENV.shutdownDeadlineMs, (v, r) => integer(v, r, 0, MAX)),
      monitorIntervalMs:
        checkOption("monitorIntervalMs", options.monitorIntervalMs, 0, MAX) ??
        fromEnv(ENV.monitorIntervalMs, (v, r) => integer(v, r, 0, MAX))
    }
    for (const value of Object.values(steps)) {
      if (value instanceof NodeWorkqueueConfigError) return Effect.fail(value)
    }
    const ok = steps as { [K in keyof typeof steps]: Exclude<(typeof steps)[K], NodeWorkqueueConfigError> }
    return Effect.succeed({
      cpus: ok.cpus ?? machineCpus(),
      maxWorkersPerPool: ok.maxWorkersPerPool,
      idleTimeoutMs: ok.idleTimeoutMs,
      powerEfficient: ok.powerEfficient ?? false,
      shutdownDeadlineMs: ok.shutdownDeadlineMs ?? NodeShutdown.DEFAULT_DEADLINE_MS,
      monitorIntervalMs: ok.monitorIntervalMs ?? 0
    })
  })

/**
 * The core `WorkqueueSystem.Options` of resolved options.
 *
 * **Example** (CPU count mapping)
 *
 * ```ts
 * import { NodeWorkqueue } from "@effect-workqueue/platform"
 *
 * NodeWorkqueue.toSystemOptions({
 *   cpus: 8, maxWorkersPerPool: undefined, idleTimeoutMs: undefined, powerEfficient: false,
 *   shutdownDeadlineMs: 10000, monitorIntervalMs: 0
 * }).cpus // => 8
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const toSystemOptions = (resolved: ResolvedOptions): WorkqueueSystem.Options => ({
  cpus: resolved.cpus,
  maxWorkersPerPool: resolved.maxWorkersPerPool,
  idleTimeout: resolved.idleTimeoutMs,
  powerEfficient: resolved.powerEfficient
})

// ---------------------------------------------------------------------------
// layers
// ---------------------------------------------------------------------------

/**
 * The workqueue system of a Node.js process: `WorkqueueSystem.layer` with `cpus = os.availableParallelism()`
 * (unless overridden), options from code or `EFFECT_WORKQUEUE_*` variables, an optional monitor, and a graceful
 * shutdown when the layer closes.
 *
 * **Details**: on close — which under `NodeRuntime.runMain` happens when SIGTERM/SIGINT interrupts the main
 * fiber — it runs `NodeShutdown.drainAll` with `shutdownDeadlineMs` (freeze freezable queues, reject outside
 * queueing, drain everything), then closes the core system. If the deadline passed, the report of what is still
 * running or pending is logged and the core system is closed in the background (its close waits for running
 * items), so the process exits with runMain's code (130 after a signal) instead of hanging. A second signal while
 * draining logs the report and exits with 130 at once (`forceExitOnSecondSignal`).
 *
 * **Gotchas**: workqueues that your own layers create with `Workqueue.make` are destroyed when *their* scope
 * closes, before this layer's; a destroy drains with no deadline. Put `NodeShutdown.layer` above them to drain
 * those within the deadline too. A malformed `EFFECT_WORKQUEUE_*` variable fails the layer with
 * `NodeWorkqueueConfigError` naming it (runMain logs it and exits with 1).
 *
 * **Kernel**: `workqueue_init_early()` with the possible CPUs; the drain on power-off.
 *
 * **Example** (A service under runMain)
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Work, WorkqueueSystem } from "@effect-workqueue/core"
 * import { NodeWorkqueue } from "@effect-workqueue/platform"
 *
 * const program = Effect.gen(function*() {
 *   yield* WorkqueueSystem.schedule(yield* Work.make(() => Effect.log("work executing")))
 * })
 * const main = program.pipe(Effect.provide(NodeWorkqueue.layer({ cpus: 2, shutdownDeadlineMs: 5000 })))
 * if (process.env.RUN_EXAMPLE) NodeRuntime.runMain(main) // => exits 0 once the work ran
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<WorkqueueSystem.WorkqueueSystem, NodeWorkqueueConfigError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const resolved = yield* resolveOptions(options)
      const inner = yield* Scope.make()
      const context = yield* Layer.buildWithScope(WorkqueueSystem.layer(toSystemOptions(resolved)), inner)
      yield* Effect.addFinalizer(() =>
        shutdown(resolved, options.forceExitOnSecondSignal !== false).pipe(
          Effect.flatMap((report) =>
            report.drained
              ? Scope.close(inner, Exit.void)
              : Effect.asVoid(Effect.forkDetach(Scope.close(inner, Exit.void)))
          ),
          Effect.provideContext(context)
        )
      )
      const monitor = NodeMonitor.layer({
        intervalMs: resolved.monitorIntervalMs,
        dumpOnSignal: options.dumpOnSignal !== false
      })
      yield* Layer.buildWithScope(Layer.provide(monitor, Layer.succeedContext(context)), yield* Effect.scope)
      return context
    })
  )

/** The drain on close; while it runs, a second SIGINT/SIGTERM logs the report and exits with 130. */
const shutdown = (resolved: ResolvedOptions, forceExit: boolean) =>
  Effect.gen(function* () {
    if (!forceExit) return yield* NodeShutdown.drainAll({ deadlineMs: resolved.shutdownDeadlineMs })
    const context = yield* Effect.context<WorkqueueSystem.WorkqueueSystem>()
    const onSignal = () => {
      Effect.runForkWith(context)(
        Effect.gen(function* () {
          const snapshot = yield* WorkqueueSystem.snapshot
          const report = NodeShutdown.reportOf(snapshot, {
            drained: false,
            deadlineMs: resolved.shutdownDeadlineMs,
            elapsedMs: 0
          })
          yield* Effect.logWarning(`second signal while draining; exiting now\n${NodeShutdown.formatReport(report)}`)
          yield* Effect.sync(() => process.exit(130))
        })
      )
    }
    return yield* Effect.acquireUseRelease(
      Effect.sync(() => {
        process.once("SIGINT", onSignal)
        process.once("SIGTERM", onSignal)
      }),
      () => NodeShutdown.drainAll({ deadlineMs: resolved.shutdownDeadlineMs }),
      () =>
        Effect.sync(() => {
          process.removeListener("SIGINT", onSignal)
          process.removeListener("SIGTERM", onSignal)
        })
    )
  })

/**
 * `NodeShutdown.layer` with its deadline resolved as `layer` resolves it: `shutdownDeadlineMs` from code, else
 * `EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS`, else 10 s.
 *
 * **When to use**: above the layers that create their own workqueues, so they are drained within the deadline
 * before their scopes close (see `NodeShutdown.layer`).
 *
 * **Kernel**: `drain_workqueue()` before `destroy_workqueue()` on the shutdown path.
 *
 * **Example** (Service layers)
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Workqueue } from "@effect-workqueue/core"
 * import { NodeWorkqueue } from "@effect-workqueue/platform"
 *
 * const App = Layer.effectDiscard(Effect.asVoid(Workqueue.make("jobs")))
 * const Live = NodeWorkqueue.shutdownLayer().pipe(Layer.provideMerge(App), Layer.provideMerge(NodeWorkqueue.layer()))
 * await Effect.runPromise(Effect.void.pipe(Effect.provide(Live))) // => undefined
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const shutdownLayer = (
  options: Pick<Options, "shutdownDeadlineMs" | "env"> = {}
): Layer.Layer<never, NodeWorkqueueConfigError, WorkqueueSystem.WorkqueueSystem> =>
  Layer.unwrap(
    Effect.map(resolveOptions({ ...options, cpus: 1 }), (resolved) =>
      NodeShutdown.layer({ deadlineMs: resolved.shutdownDeadlineMs })
    )
  )
