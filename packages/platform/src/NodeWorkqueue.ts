/**
 * The workqueue system for a Node.js process: the core `WorkqueueSystem.layer` with the machine's CPU count,
 * options from code or environment variables (read through Effect `Config`, so any `ConfigProvider` works), and
 * a graceful shutdown bounded by a deadline when SIGTERM/SIGINT arrives or the layer closes.
 *
 * Environment variables (code options win; the environment fills what code leaves unset):
 *
 * | variable | option | value |
 * |---|---|---|
 * | `EFFECT_WORKQUEUE_CPUS` | `cpus` | decimal integer 1..1024 (default `os.availableParallelism()`) |
 * | `EFFECT_WORKQUEUE_MAX_WORKERS_PER_POOL` | `maxWorkersPerPool` | decimal integer ≥ 1 (default unlimited) |
 * | `EFFECT_WORKQUEUE_IDLE_TIMEOUT_MS` | `idleTimeoutMs` | decimal integer ≥ 0 (default 300 000) |
 * | `EFFECT_WORKQUEUE_POWER_EFFICIENT` | `powerEfficient` | boolean (default false) |
 * | `EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS` | `shutdownDeadlineMs` | decimal integer ≥ 0 (default 10 000) |
 * | `EFFECT_WORKQUEUE_MONITOR_INTERVAL_MS` | `monitorIntervalMs` | decimal integer ≥ 0; > 0 prints the monitor table (default 0) |
 *
 * A boolean is one of `true`, `false`, `yes`, `no`, `on`, `off`, `1`, `0`, `y`, `n` (lower case; Effect's
 * `Config.Boolean`, the one boolean parser of the platform and its example). A decimal integer is digits only
 * (`1e3`, `0x10`, `1.0`, `+5` and `10s` are refused). An empty variable counts as unset; anything else that does not
 * parse fails the layer with a `NodeWorkqueueConfigError` that names the variable and the value.
 *
 * @since 0.1.0
 */
import { WorkqueueSystem } from "@effect-workqueue/core"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as Scope from "effect/Scope"
import * as os from "node:os"
import * as ReleasableClock from "./internal/clock.ts"
import * as Shutdown from "./internal/shutdown.ts"
import * as NodeMonitor from "./NodeMonitor.ts"
import * as NodeShutdown from "./NodeShutdown.ts"

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * Options of `NodeWorkqueue.layer`; each of the first six has an environment variable (see the module doc).
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
  /** Deadline of the whole shutdown, ms. `EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS`. */
  readonly shutdownDeadlineMs?: number | undefined
  /** Print the monitor table every this many ms (0 = off). `EFFECT_WORKQUEUE_MONITOR_INTERVAL_MS`. */
  readonly monitorIntervalMs?: number | undefined
  /** Print a dump on `SIGUSR2` (default `true`). */
  readonly dumpOnSignal?: boolean | undefined
  /**
   * Listen for SIGINT/SIGTERM while the layer lives (default `true`): the first signal starts the drain at once
   * and bounds the process's exit by `shutdownDeadlineMs`; a second one exits with 130 at once. Ignored when
   * nothing else listens for the signal (no `runMain`): Node's default action then applies.
   */
  readonly handleSignals?: boolean | undefined
  /** On a second SIGINT/SIGTERM while shutting down, log the report and exit at once with 130 (default `true`). */
  readonly forceExitOnSecondSignal?: boolean | undefined
  /**
   * The environment to read (default: the `ConfigProvider` in context, which is `process.env` unless you
   * provide another).
   */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /**
   * The clock measuring handler CPU time (`WorkqueueSystem.Options.cpuClock`, default `performance.now`); not read
   * from the environment. Tests pass a frozen one (`TestWorkqueue.frozenCpuClock`) so that no schedule depends on
   * machine speed.
   */
  readonly cpuClock?: (() => number) | undefined
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

const MAX = Number.MAX_SAFE_INTEGER

const rangeText = (min: number, max: number): string =>
  max === MAX ? `a decimal integer >= ${min}` : `a decimal integer in ${min}..${max}`

const BOOLEAN_TEXT = "a boolean: true, false, yes, no, on, off, 1, 0, y or n"

/**
 * A `Config` of a decimal integer in `min..max` (default `0..Number.MAX_SAFE_INTEGER`): digits only, so `1e3`,
 * `0x10`, `1.0`, `-0`, `+5` and `10s` are refused with a `ConfigError` that says what was expected.
 *
 * **When to use**: ports, counts and milliseconds read from the environment, where `Config.Int` (which reads
 * `1e3` as 1000) is too lenient.
 *
 * **Example** (A port)
 *
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { NodeWorkqueue } from "@effect-workqueue/platform"
 *
 * const port = NodeWorkqueue.configInteger("PORT", { min: 0, max: 65535 })
 * Effect.runSync(port.parse(ConfigProvider.fromEnv({ env: { PORT: "8080" } }))) // => 8080
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const configInteger = (
  name: string,
  range?: { readonly min?: number | undefined; readonly max?: number | undefined }
): Config.Config<number> => {
  const min = range?.min ?? 0
  const max = range?.max ?? MAX
  const expected = rangeText(min, max)
  return Config.schema(
    Schema.String.pipe(
      Schema.check(Schema.isPattern(/^\d{1,16}$/, { expected })),
      Schema.decodeTo(
        Schema.Number.pipe(Schema.check(Schema.isBetween({ minimum: min, maximum: max }, { expected }))),
        SchemaTransformation.numberFromString
      )
    ),
    name
  )
}

/**
 * A `Config` of a boolean: `true`, `false`, `yes`, `no`, `on`, `off`, `1`, `0`, `y`, `n` (lower case) — Effect's
 * `Config.Boolean`, the one boolean parser of every platform option and of the backend example's
 * `EFFECT_WORKQUEUE_DEBUG`.
 *
 * **Example** (A flag)
 *
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { NodeWorkqueue } from "@effect-workqueue/platform"
 *
 * const debug = NodeWorkqueue.configBoolean("EFFECT_WORKQUEUE_DEBUG")
 * Effect.runSync(debug.parse(ConfigProvider.fromEnv({ env: { EFFECT_WORKQUEUE_DEBUG: "yes" } }))) // => true
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const configBoolean = (name: string): Config.Config<boolean> => Config.Boolean(name)

/**
 * Read one optional value through `config`; a value that does not parse becomes a `NodeWorkqueueConfigError`
 * naming the variable, the value and what was expected.
 *
 * **Example** (An unset variable)
 *
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { NodeWorkqueue } from "@effect-workqueue/platform"
 *
 * const read = NodeWorkqueue.readConfig("PORT", NodeWorkqueue.configInteger("PORT"), "a port")
 * const provider = ConfigProvider.fromEnv({ env: {} })
 * Effect.runSync(Effect.provideService(read, ConfigProvider.ConfigProvider, provider)) // => undefined
 * ```
 *
 * @category configuration
 * @since 0.1.0
 */
export const readConfig = <A>(
  variable: string,
  config: Config.Config<A>,
  expected: string
): Effect.Effect<A | undefined, NodeWorkqueueConfigError> =>
  Effect.gen(function* () {
    const provider = yield* ConfigProvider.ConfigProvider
    const parsed = yield* Effect.result(Config.option(config).parse(provider))
    if (parsed._tag === "Success") return Option.getOrUndefined(parsed.success)
    const raw = yield* Effect.result(Config.option(Config.String(variable)).parse(provider))
    const value = raw._tag === "Success" ? Option.getOrElse(raw.success, () => "") : ""
    return yield* new NodeWorkqueueConfigError({
      variable,
      value,
      message: `${variable}=${JSON.stringify(value)} is not valid: expected ${expected}`
    })
  })

const integerOption = (variable: string, code: number | undefined, min: number, max: number) =>
  code !== undefined
    ? Number.isSafeInteger(code) && code >= min && code <= max
      ? Effect.succeed(code)
      : Effect.fail(
          new NodeWorkqueueConfigError({
            variable: `options.${variable}`,
            value: String(code),
            message: `options.${variable}=${String(code)} is not valid: expected an integer ${max === MAX ? `>= ${min}` : `in ${min}..${max}`}`
          })
        )
    : readConfig(
        ENV[variable as keyof typeof ENV],
        configInteger(ENV[variable as keyof typeof ENV], { min, max }),
        rangeText(min, max)
      )

/**
 * Resolve the options: each from code if given, else from its environment variable (through `Config` and the
 * `ConfigProvider` in context, or `options.env`), else its default.
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
export const resolveOptions = (options: Options = {}): Effect.Effect<ResolvedOptions, NodeWorkqueueConfigError> => {
  const resolve = Effect.gen(function* () {
    const cpus = yield* integerOption("cpus", options.cpus, 1, 1024)
    const maxWorkersPerPool = yield* integerOption("maxWorkersPerPool", options.maxWorkersPerPool, 1, MAX)
    const idleTimeoutMs = yield* integerOption("idleTimeoutMs", options.idleTimeoutMs, 0, MAX)
    const powerEfficient =
      options.powerEfficient ?? (yield* readConfig(ENV.powerEfficient, configBoolean(ENV.powerEfficient), BOOLEAN_TEXT))
    const shutdownDeadlineMs = yield* integerOption("shutdownDeadlineMs", options.shutdownDeadlineMs, 0, MAX)
    const monitorIntervalMs = yield* integerOption("monitorIntervalMs", options.monitorIntervalMs, 0, MAX)
    return {
      cpus: cpus ?? machineCpus(),
      maxWorkersPerPool,
      idleTimeoutMs,
      powerEfficient: powerEfficient ?? false,
      shutdownDeadlineMs: shutdownDeadlineMs ?? NodeShutdown.DEFAULT_DEADLINE_MS,
      monitorIntervalMs: monitorIntervalMs ?? 0
    }
  })
  return options.env === undefined
    ? resolve
    : Effect.provideService(
        resolve,
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnv({ env: definedOnly(options.env) })
      )
}

const definedOnly = (env: Readonly<Record<string, string | undefined>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value
  return out
}

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
 * shutdown bounded by `shutdownDeadlineMs`.
 *
 * **Details**: the shutdown begins at the first of: a SIGINT/SIGTERM (the drain starts at once, while
 * `runMain` interrupts the main fiber), another shutdown layer's finaliser, or this layer's own close. It runs
 * `NodeShutdown.drainAll` (fire armed items, freeze freezable queues, reject outside queueing, drain everything)
 * and logs one report; then this layer closes the core system. The deadline counts from the shutdown's start and
 * bounds all of it:
 *
 * - past the deadline, the report of what is still running, pending or armed is logged, the system is sealed
 *   (`WorkqueueSystem.sealShutdown`: no more queueing, not even from its own work items, so a chain that re-queues
 *   itself forever ends after its current run) and the core system is closed in the background (its close waits
 *   for the items still running); its own timers no longer keep the process alive, so outside `runMain` the
 *   process ends when your program does, unless a handler never returns and holds a timer or I/O of its own;
 * - after a signal, the process exits with 130 no later than the deadline, whichever layer is still waiting
 *   then (a workqueue your own layer owns and destroys, a slow HTTP client, ...): the report says what was
 *   left;
 * - a second signal logs the report and exits with 130 at once (`forceExitOnSecondSignal`); a third does
 *   nothing more.
 *
 * **Gotchas**: the layers built on this one close before it: their resources are released (and a workqueue they
 * made with `Workqueue.make` destroyed, draining with no deadline) while this layer's drain has not finished, or,
 * after a signal, while it runs — a work item still running may find an app resource already closed. Put
 * `shutdownLayer()` above your layers: its finaliser runs first and waits for the drain, within the deadline. A malformed `EFFECT_WORKQUEUE_*` variable fails the layer with
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
      const deadlineMs = resolved.shutdownDeadlineMs
      const inner = yield* Scope.make()
      const clock = ReleasableClock.make(yield* Clock.Clock)
      const context = yield* Layer.buildWithScope(
        Layer.provide(
          WorkqueueSystem.layer({ ...toSystemOptions(resolved), cpuClock: options.cpuClock }),
          Layer.succeed(Clock.Clock, clock.clock)
        ),
        inner
      )
      // the listeners first, so that they are removed last: a second signal during this layer's own close counts
      if (options.handleSignals !== false) {
        yield* Effect.provideContext(onSignals(deadlineMs, options.forceExitOnSecondSignal !== false), context)
      }
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          const run = yield* Shutdown.begin(deadlineMs)
          const report = yield* Deferred.await(run.outcome)
          const closing = yield* Effect.forkDetach(Scope.close(inner, Exit.void), { startImmediately: true })
          const closed = report.drained
            ? yield* Effect.timeoutOption(Fiber.await(closing), yield* Shutdown.remainingMs(run))
            : Option.none()
          if (Option.isNone(closed)) {
            yield* Shutdown.logDeadlineOnce(run)
            clock.release()
          }
          run.completed = true
          if (run.guard !== undefined) yield* Fiber.interrupt(run.guard)
        }).pipe(Effect.provideContext(context))
      )
      const monitor = NodeMonitor.layer({
        intervalMs: resolved.monitorIntervalMs,
        dumpOnSignal: options.dumpOnSignal !== false
      })
      yield* Layer.buildWithScope(Layer.provide(monitor, Layer.succeedContext(context)), yield* Effect.scope)
      return context
    })
  )

/** Process exit; a module-level indirection so nothing else in this file calls `process.exit`. */
const exitNow = (code: number): void => {
  process.exit(code)
}

/**
 * SIGINT/SIGTERM while the layer lives: the first starts (or joins) the shutdown and arms the exit at its
 * deadline; the second logs the report and exits with 130; later ones do nothing. When nothing but platform layers
 * listens for the signal (no `runMain`, no listener of the app's), Node's default action is restored and the
 * signal re-raised.
 */
const onSignals = (deadlineMs: number, forceExit: boolean) =>
  Effect.gen(function* () {
    const context = yield* Effect.context<WorkqueueSystem.WorkqueueSystem>()
    let signals = 0 // the listener only, one synchronous step per signal
    const run = Effect.runForkWith(context)
    const listener = (signal: NodeJS.Signals) => {
      if (process.listeners(signal).every((l) => platformListeners.has(l))) {
        process.removeListener("SIGINT", listener)
        process.removeListener("SIGTERM", listener)
        process.kill(process.pid, signal)
        return
      }
      signals++
      if (signals === 1) {
        run(
          Effect.gen(function* () {
            const shutdown = yield* Shutdown.begin(deadlineMs)
            if (shutdown.signalled) return
            shutdown.signalled = true
            shutdown.guard = yield* Effect.forkDetach(exitAtDeadline(shutdown), { startImmediately: true })
          })
        )
      } else if (signals === 2 && forceExit) {
        run(
          Effect.gen(function* () {
            const shutdown = yield* Shutdown.begin(deadlineMs)
            if (shutdown.exiting) return
            shutdown.exiting = true
            yield* Shutdown.logReport(yield* Shutdown.reportNow(shutdown, "signal"))
            exitNow(130)
          })
        )
      }
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        platformListeners.add(listener)
        process.on("SIGINT", listener)
        process.on("SIGTERM", listener)
      }),
      () =>
        Effect.sync(() => {
          platformListeners.delete(listener)
          process.removeListener("SIGINT", listener)
          process.removeListener("SIGTERM", listener)
        })
    )
  })

/** The signal listeners of every live `NodeWorkqueue.layer`: none of them counts as "someone handles it". */
const platformListeners = new Set<(...args: Array<any>) => void>()

/** After a signal: at the deadline, if the shutdown is not complete, log what is left (once) and exit with 130. */
const exitAtDeadline = (run: Shutdown.Run) =>
  Effect.gen(function* () {
    yield* Effect.sleep(yield* Shutdown.remainingMs(run))
    // the drain's referee wakes at the same instant: its report comes first
    yield* Deferred.await(run.outcome)
    if (run.completed || run.exiting) return
    yield* Shutdown.logDeadlineOnce(run)
    run.exiting = true
    exitNow(130)
  })

/**
 * `NodeShutdown.layer` with its deadline resolved as `layer` resolves it: `shutdownDeadlineMs` from code, else
 * `EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS`, else 10 s.
 *
 * **When to use**: above the layers that create their own workqueues, so they are drained within the deadline
 * before their scopes close (see `NodeShutdown.layer`). It joins the shutdown a signal already started: one
 * drain, one report, one deadline counted from the first of them.
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
): Layer.Layer<never, NodeWorkqueueConfigError, WorkqueueSystem.WorkqueueSystem> => {
  const deadline = integerOption("shutdownDeadlineMs", options.shutdownDeadlineMs, 0, MAX)
  const resolved =
    options.env === undefined
      ? deadline
      : Effect.provideService(
          deadline,
          ConfigProvider.ConfigProvider,
          ConfigProvider.fromEnv({ env: definedOnly(options.env) })
        )
  return Layer.unwrap(
    Effect.map(resolved, (deadlineMs) =>
      NodeShutdown.layer({ deadlineMs: deadlineMs ?? NodeShutdown.DEFAULT_DEADLINE_MS })
    )
  )
}
