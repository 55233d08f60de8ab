/**
 * A live view of a running service's workqueues: a `wq_monitor.py`-style table printed every interval, and a
 * one-shot `wq_dump.py`-style dump (pools, workqueue → pool mapping, busy workers) on demand or on `SIGUSR2`.
 *
 * Everything is computed from `WorkqueueSystem.snapshot`. The formatting functions (`formatMonitorTable`,
 * `formatDump`) are pure, so they can be tested against a known workload and reused by the
 * `effect-workqueue-monitor` bin, which polls a service's debug JSON route.
 *
 * @since 0.1.0
 */
import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * `WorkqueueSystem.snapshot`'s plain data, as served by a debug route and read by the bin.
 *
 * @category models
 * @since 0.1.0
 */
export type Snapshot = WorkqueueSystem.Snapshot

/**
 * The counters a snapshot keeps per pwq (`WorkqueueSystem.snapshotStatUnits`'s keys: `started`, `completed`,
 * `failed`, `defects`, `cpuTimeMs`, `cpuIntensive`, `cmWakeup`, `mayday`, `rescued`, and any counter added later).
 *
 * @category models
 * @since 0.1.0
 */
export type StatName = keyof WorkqueueSystem.PwqSnapshot["stats"]

/**
 * One row of the monitor: every counter of a workqueue (`StatName`), summed over its pwqs, with the flags the
 * table needs and `inFlight`.
 *
 * **Kernel**: `WqStats` in tools/workqueue/wq_monitor.py; its JSON keys (`-j`) are the field names here (the
 * counters it does not have, `failed` and `defects`, are ours).
 *
 * @category models
 * @since 0.1.0
 */
export interface MonitorRow extends Readonly<Record<StatName, number>> {
  readonly name: string
  readonly unbound: boolean
  readonly memReclaim: boolean
  /** `started - completed` of the newest snapshot (a level, never a delta). */
  readonly inFlight: number
  /** Unbound workers brought back into their affinity scope: always 0 here (no CPU migration in a port). */
  readonly repatriated: number
}

// ---------------------------------------------------------------------------
// formatting (pure)
// ---------------------------------------------------------------------------

/**
 * A workqueue, worker or work name made safe for a terminal: control characters (C0, DEL, C1 — the bytes that
 * start escape sequences), bidirectional overrides and backslashes are written as `\xNN` / `\uNNNN` / `\\`
 * escapes, so a hostile name cannot move the cursor, recolour or rewrite what the monitor prints. Every name
 * the formatters print goes through it.
 *
 * **Example** (An escape sequence in a name)
 *
 * ```ts
 * import { NodeMonitor } from "@effect-workqueue/platform"
 *
 * NodeMonitor.escapeName("jobs\u001b[2J") // => "jobs\\x1b[2J"
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const escapeName = (name: string): string =>
  String(name).replace(UNSAFE, (c) => {
    if (c === "\\") return "\\\\"
    const code = c.charCodeAt(0)
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`
  })

/** What `escapeName` rewrites: C0, DEL, C1, bidi marks and overrides, and the escape character itself. */
// oxlint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\\]/g

const { WQ_MEM_RECLAIM, WQ_UNBOUND } = Workqueue

/** Every counter of a snapshot's pwqs, from the one statistics declaration (never a list of our own). */
const STAT_NAMES = Object.keys(WorkqueueSystem.snapshotStatUnits) as ReadonlyArray<StatName>

const sumStats = (wq: WorkqueueSystem.WorkqueueSnapshot): Record<StatName, number> => {
  const sum = {} as Record<StatName, number>
  for (const key of STAT_NAMES) sum[key] = 0
  for (const pwq of wq.pwqs) for (const key of STAT_NAMES) sum[key] += pwq.stats[key]
  return sum
}

/**
 * The monitor rows of `next`: cumulative counters when `prev` is `undefined` (what `wq_monitor.py` prints),
 * otherwise the change of every counter since `prev` (a workqueue absent from `prev` counts from zero).
 * `inFlight` is always the level of `next`.
 *
 * **Kernel**: `WqStats.__init__` / `dict()`, tools/workqueue/wq_monitor.py.
 *
 * **Example** (Rows of a fresh system)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 * import { NodeMonitor } from "@effect-workqueue/platform"
 *
 * const program = Effect.map(WorkqueueSystem.snapshot, (s) => NodeMonitor.monitorRows(undefined, s)[0]?.name)
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer()))) // => "events"
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const monitorRows = (prev: Snapshot | undefined, next: Snapshot): Array<MonitorRow> => {
  const before = new Map<string, ReturnType<typeof sumStats>>()
  if (prev !== undefined) for (const wq of prev.workqueues) before.set(wq.name, sumStats(wq))
  return next.workqueues.map((wq) => {
    const now = sumStats(wq)
    const base = before.get(wq.name)
    const counters = {} as Record<StatName, number>
    for (const key of STAT_NAMES) counters[key] = base === undefined ? now[key] : Math.max(now[key] - base[key], 0)
    return {
      name: escapeName(wq.name),
      unbound: (wq.flags & WQ_UNBOUND) !== 0,
      memReclaim: (wq.flags & WQ_MEM_RECLAIM) !== 0,
      ...counters,
      inFlight: Math.max(now.started - now.completed, 0),
      repatriated: 0
    }
  })
}

/** `table_header_str()` of wq_monitor.py. */
const HEADER = `${"".padStart(24)} ${"total".padStart(8)} ${"infl".padStart(5)} ${"CPUtime".padStart(8)} ${"CPUitsv".padStart(7)} ${"CMW/RPR".padStart(7)} ${"mayday".padStart(7)} ${"rescued".padStart(7)}`

/** `table_row_str()` of wq_monitor.py (without its trailing blank). */
const formatRow = (row: MonitorRow): string => {
  const cpuIntensive = row.unbound ? "-" : String(row.cpuIntensive)
  const cmwRpr = row.unbound ? String(row.repatriated) : String(row.cmWakeup)
  const mayday = row.memReclaim ? String(row.mayday) : "-"
  const rescued = row.memReclaim ? String(row.rescued) : "-"
  return [
    row.name.slice(-24).padEnd(24),
    String(row.started).padStart(8),
    String(row.inFlight).padStart(5),
    (row.cpuTimeMs / 1000).toFixed(1).padStart(8),
    cpuIntensive.padStart(7),
    cmwRpr.padStart(7),
    mayday.padStart(7),
    rescued.padStart(7)
  ].join(" ")
}

/**
 * The `wq_monitor.py` table of `next`: one header line, then one row per workqueue (name = its last 24
 * characters, escaped by `escapeName`). With `prev`, every counter is the change since `prev` (one monitor interval); without it, the
 * cumulative totals, exactly as `wq_monitor.py` prints them. `infl` is always `started - completed` now.
 *
 * **Details**: `CPUtime` is in seconds with one decimal (ms of JS-thread time sampled by the engine's scheduler).
 * `CPUitsv` is `-` for unbound workqueues; `CMW/RPR` is the concurrency-management wake-ups of a per-CPU
 * workqueue, or the repatriations of an unbound one (always 0 here); `mayday` and `rescued` are `-` unless
 * `WQ_MEM_RECLAIM`. `filter`, like the script's REGEX arguments, keeps the workqueues whose name matches.
 *
 * **Kernel**: `tools/workqueue/wq_monitor.py` (`table_header_str()`, `table_row_str()`).
 *
 * **Example** (Print the table once)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 * import { NodeMonitor } from "@effect-workqueue/platform"
 *
 * const program = Effect.map(WorkqueueSystem.snapshot, (s) => NodeMonitor.formatMonitorTable(undefined, s))
 * const table = await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer())))
 * table.split("\n")[1] // => "events                          0     0      0.0       0       0       -       -"
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const formatMonitorTable = (
  prev: Snapshot | undefined,
  next: Snapshot,
  options?: { readonly filter?: RegExp | undefined }
): string => {
  const filter = options?.filter
  const rows = monitorRows(prev, next).filter((row) => filter === undefined || filter.test(row.name))
  return [HEADER, ...rows.map(formatRow)].join("\n")
}

const poolWorkerName = (pool: WorkqueueSystem.PoolSnapshot): string =>
  pool.kind === "unbound" ? "cpus=all" : `cpu=${String(pool.cpu ?? -1).padStart(3)}${pool.kind === "bh" ? " bh" : ""}`

/**
 * A `wq_dump.py`-style dump of `snapshot`: the worker pools (`ref`, `nice`, `idle/workers`, CPU), the
 * workqueue → pool mapping per CPU (`dfl` for unbound), the rescuers, then — as `show_all_workqueues()` does for
 * busy state — the workqueues with work in flight (active / inactive / armed, and for a bounded workqueue its pending
 * count against `maxPending`) and every busy worker with what it runs and for how long.
 *
 * **Kernel**: `tools/workqueue/wq_dump.py` ("Worker Pools", "Workqueue CPU -> pool", "Workqueue -> rescuer")
 * and `show_all_workqueues()`, kernel/workqueue.c. The affinity-scope and NUMA sections have no analogue here.
 *
 * **Example** (Dump a fresh system)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 * import { NodeMonitor } from "@effect-workqueue/platform"
 *
 * const program = Effect.map(WorkqueueSystem.snapshot, NodeMonitor.formatDump)
 * const dump = await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer({ cpus: 1 }))))
 * dump.split("\n")[0] // => "Worker Pools"
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const formatDump = (snapshot: Snapshot): string => {
  const out: Array<string> = []
  // widths by a loop, not `Math.max(...spread)`: a spread of 200 000 pools overflows the call stack
  let idLen = 1
  let refLen = 1
  for (const p of snapshot.pools) {
    idLen = Math.max(idLen, String(p.id).length)
    refLen = Math.max(refLen, String(p.refs).length)
  }

  out.push("Worker Pools", "============")
  for (const pool of snapshot.pools) {
    out.push(
      `pool[${String(pool.id).padStart(idLen, "0")}] ref=${String(pool.refs).padStart(refLen)} ` +
        `nice=${String(pool.nice).padStart(3)} idle/workers=${String(pool.idle).padStart(3)}/${String(pool.workers.length).padStart(3)} ` +
        poolWorkerName(pool)
    )
  }

  out.push("", "Workqueue CPU -> pool", "=====================")
  const cpus = Array.from({ length: snapshot.cpus }, (_, cpu) => cpu)
  const nameLen = 32
  out.push(
    `[${"workqueue".padStart(Math.floor((nameLen - 2 + 9) / 2)).padEnd(nameLen - 2)}\\ ${"type   CPU".padEnd(10)}` +
      cpus.map((cpu) => ` ${String(cpu).padStart(idLen)}`).join("") +
      " dfl]"
  )
  for (const wq of snapshot.workqueues) {
    const unbound = wq.type === "unbound" || wq.type === "ordered"
    const poolOf = (cpu: number) => (unbound ? wq.pwqs[0]?.pool : wq.pwqs.find((p) => p.cpu === cpu)?.pool)
    out.push(
      `${escapeName(wq.name).padEnd(nameLen)} ${escapeName(wq.type).padEnd(10)}` +
        cpus.map((cpu) => ` ${String(poolOf(cpu) ?? "-").padStart(Math.max(String(cpu).length, idLen))}`).join("") +
        (unbound ? ` ${String(wq.pwqs[0]?.pool ?? "-").padStart(idLen)}` : "")
    )
  }

  const rescued = snapshot.workqueues.filter((wq) => wq.rescuer !== undefined)
  if (rescued.length > 0) {
    out.push("", "Workqueue -> rescuer", "====================")
    for (const wq of rescued) out.push(`${escapeName(wq.name).padEnd(nameLen)} ${escapeName(String(wq.rescuer))}`)
  }

  out.push("", "Busy workqueues", "===============")
  const busyWqs = snapshot.workqueues.filter(
    (wq) => wq.armed > 0 || wq.pwqs.some((pwq) => pwq.active > 0 || pwq.inactive > 0)
  )
  if (busyWqs.length === 0) out.push("(none)")
  for (const wq of busyWqs) {
    out.push(`workqueue ${escapeName(wq.name)}: flags=0x${wq.flags.toString(16)} state=${escapeName(wq.state)}`)
    for (const pwq of wq.pwqs) {
      if (pwq.active === 0 && pwq.inactive === 0) continue
      out.push(
        `  pwq ${pwq.pool}: ${pwq.cpu === undefined ? "cpus=all" : `cpu=${pwq.cpu}`} active=${pwq.active} inactive=${pwq.inactive}`
      )
    }
    if (wq.armed > 0) out.push(`  armed timers: ${wq.armed}`)
    if (wq.maxPending !== undefined) out.push(`  pending: ${wq.pending} of maxPending ${wq.maxPending}`)
  }

  out.push("", "Busy workers", "============")
  const busy = snapshot.pools.flatMap((pool) =>
    pool.workers.filter((w) => w.state !== "idle").map((w) => ({ pool: pool.id, worker: w }))
  )
  if (busy.length === 0) out.push("(none)")
  for (const { pool, worker } of busy) {
    out.push(
      `pool ${pool}: ${escapeName(worker.comm)} ${escapeName(worker.state)} work=${escapeName(worker.work ?? "?")} ` +
        `for ${Math.round(worker.runningFor ?? 0)} ms`
    )
  }
  return out.join("\n")
}

// ---------------------------------------------------------------------------
// in-process monitor
// ---------------------------------------------------------------------------

/**
 * Options of `NodeMonitor.layer`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Print the table every `intervalMs` (Clock time); 0 or absent: no periodic table (only the dump). */
  readonly intervalMs?: number | undefined
  /** Print cumulative totals as `wq_monitor.py` does instead of per-interval changes (default `false`). */
  readonly totals?: boolean | undefined
  /** Keep only the workqueues whose name matches (the script's REGEX arguments). */
  readonly filter?: RegExp | undefined
  /** Print a `formatDump` on `SIGUSR2` (default `true`). */
  readonly dumpOnSignal?: boolean | undefined
  /** Where the text goes (default: `Effect.log`). */
  readonly output?: ((text: string) => Effect.Effect<void>) | undefined
}

const defaultOutput = (text: string): Effect.Effect<void> => Effect.log(text)

/**
 * Log (or hand to `output`) a `formatDump` of the current state: the on-demand `wq_dump.py`.
 *
 * **Kernel**: `tools/workqueue/wq_dump.py`; `show_all_workqueues()` (sysrq-t).
 *
 * **Example** (Dump once)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 * import { NodeMonitor } from "@effect-workqueue/platform"
 *
 * const lines: Array<string> = []
 * const program = NodeMonitor.dump((text) => Effect.sync(() => { lines.push(text) }))
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer())))
 * lines[0]?.startsWith("Worker Pools") // => true
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const dump = (
  output: (text: string) => Effect.Effect<void> = defaultOutput
): Effect.Effect<void, never, WorkqueueSystem.WorkqueueSystem> =>
  Effect.flatMap(WorkqueueSystem.snapshot, (snapshot) => output(formatDump(snapshot)))

/**
 * Run the monitor loop: every `intervalMs` of Clock time, take a snapshot and output the table (changes since
 * the previous snapshot unless `totals`). Never returns; interrupt it to stop.
 *
 * **Kernel**: the `while not exit_req` loop of tools/workqueue/wq_monitor.py (`-i SECS`).
 *
 * **Example** (Three tables, then stop)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
 * import { NodeMonitor } from "@effect-workqueue/platform"
 *
 * const tables: Array<string> = []
 * const program = NodeMonitor.run({ intervalMs: 10, output: (t) => Effect.sync(() => { tables.push(t) }) }).pipe(
 *   Effect.timeoutOption(25)
 * )
 * await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer())))
 * tables.length // => 3
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const run = (options: Options & { readonly intervalMs: number }) =>
  Effect.gen(function* () {
    const output = options.output ?? defaultOutput
    let prev: Snapshot | undefined
    const tick = Effect.gen(function* () {
      const next = yield* WorkqueueSystem.snapshot
      yield* output(formatMonitorTable(options.totals === true ? undefined : prev, next, { filter: options.filter }))
      prev = next
    })
    return yield* Effect.repeat(tick, Schedule.spaced(options.intervalMs))
  }).pipe(Effect.andThen(Effect.never)) as Effect.Effect<never, never, WorkqueueSystem.WorkqueueSystem>

/**
 * The in-process monitor as a layer: prints the table every `intervalMs` (if > 0) and a dump on `SIGUSR2`
 * (unless `dumpOnSignal: false`), for as long as the layer is alive.
 *
 * **When to use**: on a running service, to see which workqueues are busy, how many items are in flight and how
 * much CPU they use; enable it from the environment with `EFFECT_WORKQUEUE_MONITOR_INTERVAL_MS` through
 * `NodeWorkqueue.layer`.
 *
 * **Gotchas**: the `SIGUSR2` listener replaces Node's default action for that signal (terminate) while the layer
 * lives. Node's `--inspect` uses `SIGUSR1`, not `SIGUSR2`. One `SIGUSR2` gives one dump per system: a second
 * monitor layer on the same system (for instance this one above `NodeWorkqueue.layer`, which has its own) shares
 * the first one's listener and its `output`.
 *
 * **Kernel**: `wq_monitor.py -i SECS` and `wq_dump.py`.
 *
 * **Example** (Monitor a service)
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { NodeMonitor, NodeWorkqueue } from "@effect-workqueue/platform"
 *
 * const Live = NodeMonitor.layer({ intervalMs: 1000 }).pipe(Layer.provideMerge(NodeWorkqueue.layer()))
 * const program = Effect.void.pipe(Effect.provide(Live))
 * await Effect.runPromise(program) // => undefined
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<never, never, WorkqueueSystem.WorkqueueSystem> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const intervalMs = options.intervalMs ?? 0
      if (intervalMs > 0) yield* Effect.forkScoped(run({ ...options, intervalMs }))
      if (options.dumpOnSignal !== false) {
        const context = yield* Effect.context<WorkqueueSystem.WorkqueueSystem>()
        const service = yield* WorkqueueSystem.WorkqueueSystem
        const onSignal = () => {
          Effect.runForkWith(context)(dump(options.output))
        }
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            // one dump per signal and system: a second layer on the same system (NodeWorkqueue.layer's own
            // plus yours) shares the first one's listener
            const entry = dumpListeners.get(service)
            if (entry !== undefined) {
              entry.refs++
              return
            }
            dumpListeners.set(service, { refs: 1, listener: onSignal })
            process.on("SIGUSR2", onSignal)
          }),
          () =>
            Effect.sync(() => {
              const entry = dumpListeners.get(service)
              if (entry === undefined || --entry.refs > 0) return
              dumpListeners.delete(service)
              process.removeListener("SIGUSR2", entry.listener)
            })
        )
      }
    })
  )

/** The SIGUSR2 listener of each system; `refs` counts the layers sharing it (one synchronous step each). */
const dumpListeners = new WeakMap<object, { refs: number; readonly listener: () => void }>()
