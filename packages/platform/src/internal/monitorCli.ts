/**
 * The `effect-workqueue-monitor` command: argument parsing, a bounded fetch of the debug route, the schema of
 * what it accepts, and the poll loop. `bin/monitor.ts` only calls `main`; tests call `run` in process (with
 * their own stop signal and output) and the bin as a child process (real SIGINT).
 *
 * What it refuses to trust: the arguments (exit 2 with a message, never a stack), the server (a request
 * timeout, a body size limit, a schema on the JSON; a bad answer is exit 1 with a message), the names in the
 * answer (escaped by the formatters: no terminal escape sequence reaches the terminal).
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import { WorkqueueSystem } from "@effect-workqueue/core"
import {
  escapeName,
  formatDump,
  formatMonitorTable,
  monitorRows,
  type Snapshot,
  type StatName
} from "../NodeMonitor.ts"

// ---------------------------------------------------------------------------
// arguments
// ---------------------------------------------------------------------------

/** @internal */
export interface Args {
  readonly url: string
  readonly intervalMs: number
  readonly timeoutMs: number
  readonly maxBytes: number
  readonly token: string | undefined
  readonly totals: boolean
  readonly dump: boolean
  readonly json: boolean
  readonly filter: RegExp | undefined
}

/** @internal */
export const USAGE = [
  "usage: effect-workqueue-monitor <url | port> [-i SECS] [--timeout SECS] [--max-bytes N] [--token T]",
  "                                [--totals] [--dump] [--json] [REGEX ...]",
  "",
  "  url | port      http://127.0.0.1:8080/debug/workqueues, or just 8080 (127.0.0.1, that path)",
  "  -i SECS         interval in seconds, 0.1..86400 (default 1; 0 prints once and exits)",
  "  --timeout SECS  give up on a request after this long, 0.001..600 (default 5)",
  "  --max-bytes N   refuse an answer larger than N bytes, 1024..1073741824 (default 16777216)",
  "  --token T       sent as 'Authorization: Bearer T' (default: $EFFECT_WORKQUEUE_DEBUG_TOKEN)",
  "  --totals        print cumulative counters (what wq_monitor.py prints) instead of per-interval changes",
  "  --dump          print one wq_dump.py-style dump and exit",
  "  --json          print the monitor rows as JSON lines instead of the table (wq_monitor.py -j)",
  "  REGEX           only the workqueues whose name matches one of them",
  "",
  "Limits: an answer over --max-bytes is refused while it is read (before parsing); --dump refuses a snapshot",
  "whose CPU -> pool table would exceed 4194304 cells (workqueues x (CPUs + 1)).",
  "",
  "Exit codes: 0 on SIGINT/SIGTERM or after a one-shot print, 1 when the route cannot be read or its answer is",
  "not a snapshot (or too large to print), 2 on bad arguments."
].join("\n")

/** A bad argument: exit 2 with `message`. `help`: print the usage and exit 0. @internal */
export type ArgsResult =
  | { readonly _tag: "Args"; readonly args: Args }
  | { readonly _tag: "Help" }
  | { readonly _tag: "Invalid"; readonly message: string }

const seconds = (flag: string, raw: string | undefined, min: number, max: number): number | string => {
  const text = raw ?? ""
  const secs = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isFinite(secs) || secs < min || secs > max) {
    return `${flag} expects a number of seconds in ${min}..${max}, got ${JSON.stringify(raw ?? "")}`
  }
  return Math.round(secs * 1000)
}

/** Parse argv (without node and the script). @internal */
export const parseArgs = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>> = {}
): ArgsResult => {
  let target: string | undefined
  let intervalMs = 1000
  let timeoutMs = 5000
  let maxBytes = 16 * 1024 * 1024
  let token = env.EFFECT_WORKQUEUE_DEBUG_TOKEN === "" ? undefined : env.EFFECT_WORKQUEUE_DEBUG_TOKEN
  let totals = false
  let dump = false
  let json = false
  const patterns: Array<string> = []
  const invalid = (message: string): ArgsResult => ({ _tag: "Invalid", message })
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "-h" || arg === "--help") return { _tag: "Help" }
    if (arg === "-i" || arg === "--interval") {
      const ms = seconds(arg, argv[++i], 0, 86_400)
      if (typeof ms === "string") return invalid(ms)
      if (ms > 0 && ms < 100) return invalid(`${arg} expects 0 (print once) or at least 0.1 seconds, got ${argv[i]}`)
      intervalMs = ms
    } else if (arg === "--timeout") {
      const ms = seconds(arg, argv[++i], 0.001, 600)
      if (typeof ms === "string") return invalid(ms)
      timeoutMs = Math.max(ms, 1)
    } else if (arg === "--max-bytes") {
      const raw = argv[++i] ?? ""
      const n = /^\d{1,10}$/.test(raw) ? Number(raw) : Number.NaN
      if (!(n >= 1024 && n <= 1024 * 1024 * 1024)) {
        return invalid(`--max-bytes expects an integer in 1024..1073741824, got ${JSON.stringify(raw)}`)
      }
      maxBytes = n
    } else if (arg === "--token") {
      const raw = argv[++i]
      if (raw === undefined || raw === "") return invalid("--token expects a value")
      token = raw
    } else if (arg === "--totals") totals = true
    else if (arg === "--dump") dump = true
    else if (arg === "-j" || arg === "--json") json = true
    else if (arg.startsWith("-") && arg !== "-") return invalid(`unknown option ${JSON.stringify(arg)}`)
    else if (target === undefined) target = arg
    else patterns.push(arg)
  }
  if (target === undefined) return invalid("missing <url | port>")
  let url: string
  if (/^\d+$/.test(target)) {
    const port = Number(target)
    if (!(port >= 1 && port <= 65535)) return invalid(`port must be in 1..65535, got ${JSON.stringify(target)}`)
    url = `http://127.0.0.1:${port}/debug/workqueues`
  } else {
    let parsed: URL
    try {
      parsed = new URL(target)
    } catch {
      return invalid(`not a URL or a port: ${JSON.stringify(target)}`)
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      return invalid(`only http: and https: URLs are supported, got ${JSON.stringify(parsed.protocol)}`)
    }
    url = parsed.href
  }
  let filter: RegExp | undefined
  if (patterns.length > 0) {
    try {
      filter = new RegExp(patterns.map((p) => `(?:${p})`).join("|"))
    } catch (error) {
      return invalid(`invalid REGEX: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  return { _tag: "Args", args: { url, intervalMs, timeoutMs, maxBytes, token, totals, dump, json, filter } }
}

// ---------------------------------------------------------------------------
// the answer's schema
// ---------------------------------------------------------------------------

const Count = Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })))
const Millis = Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })))
const Cpu = Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 1023 })))
const Name = Schema.String.pipe(Schema.check(Schema.isMaxLength(1024)))

/** A pwq's counters: every key of `WorkqueueSystem.snapshotStatUnits`, an integer count or finite ms. */
const StatsSchema = Schema.Struct(
  Object.fromEntries(
    Object.entries(WorkqueueSystem.snapshotStatUnits).map(([key, unit]) => [key, unit === "ms" ? Millis : Count])
  ) as Record<StatName, typeof Count | typeof Millis>
)

/** What the debug route must serve: `WorkqueueSystem.Snapshot`, with every count bounded. @internal */
export const SnapshotSchema = Schema.Struct({
  time: Millis,
  cpus: Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 1024 }))),
  freezing: Schema.Boolean,
  timers: Count,
  workqueues: Schema.Array(
    Schema.Struct({
      name: Name,
      flags: Count,
      type: Schema.Literals(["percpu", "unbound", "ordered", "bh"]),
      maxActive: Schema.NullOr(Count), // null: unlimited (Infinity in JSON)
      state: Name,
      rescuer: Schema.optional(Name),
      armed: Count,
      pwqs: Schema.Array(
        Schema.Struct({
          pool: Count,
          cpu: Schema.optional(Cpu),
          active: Count,
          inactive: Count,
          stats: StatsSchema
        })
      )
    })
  ),
  pools: Schema.Array(
    Schema.Struct({
      id: Count,
      kind: Schema.Literals(["bound", "bh", "unbound"]),
      cpu: Schema.optional(Cpu),
      nice: Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: -20, maximum: 19 }))),
      refs: Count,
      idle: Count,
      workers: Schema.Array(
        Schema.Struct({
          name: Name,
          comm: Name,
          state: Schema.Literals(["idle", "busy", "sleeping"]),
          work: Schema.optional(Name),
          workqueue: Schema.optional(Name),
          runningFor: Schema.optional(Millis)
        })
      )
    })
  )
})

const decodeSnapshot = Schema.decodeUnknownExit(SnapshotSchema)

// ---------------------------------------------------------------------------
// fetching
// ---------------------------------------------------------------------------

/** @internal */
export class MonitorError extends Error {}

/**
 * GET the snapshot: aborted by `stop` or after `timeoutMs` (the whole request, body included), refused past
 * `maxBytes`, then checked against `SnapshotSchema`. Resolves `undefined` when `stop` fired.
 *
 * @internal
 */
export const fetchSnapshot = async (
  args: Pick<Args, "url" | "timeoutMs" | "maxBytes" | "token">,
  stop: AbortSignal
): Promise<Snapshot | undefined> => {
  const timeout = new AbortController()
  const timer = setTimeout(() => timeout.abort(), args.timeoutMs)
  const signal = AbortSignal.any([stop, timeout.signal])
  try {
    const headers: Record<string, string> = { accept: "application/json" }
    if (args.token !== undefined) headers.authorization = `Bearer ${args.token}`
    const response = await fetch(args.url, { signal, headers, redirect: "error" })
    if (!response.ok) {
      await response.body?.cancel().catch(() => {})
      throw new MonitorError(`GET ${args.url}: HTTP ${response.status} (is the debug route enabled? a token needed?)`)
    }
    const declared = Number(response.headers.get("content-length") ?? Number.NaN)
    if (declared > args.maxBytes) {
      await response.body?.cancel().catch(() => {})
      throw new MonitorError(
        `GET ${args.url}: the answer (${declared} bytes) is larger than --max-bytes ${args.maxBytes}`
      )
    }
    const chunks: Array<Uint8Array> = []
    let size = 0
    if (response.body !== null) {
      for await (const chunk of response.body) {
        size += chunk.byteLength
        if (size > args.maxBytes) {
          timeout.abort()
          throw new MonitorError(`GET ${args.url}: the answer is larger than --max-bytes ${args.maxBytes}`)
        }
        chunks.push(chunk)
      }
    }
    let json: unknown
    try {
      json = JSON.parse(Buffer.concat(chunks).toString("utf8"))
    } catch {
      throw new MonitorError(`GET ${args.url}: the answer is not JSON`)
    }
    const decoded = decodeSnapshot(json)
    if (decoded._tag === "Failure") {
      throw new MonitorError(
        `GET ${args.url}: the answer is not a workqueue snapshot: ${firstLine(String(decoded.cause))}`
      )
    }
    return decoded.value as unknown as Snapshot
  } catch (error) {
    if (stop.aborted) return undefined
    if (timeout.signal.aborted && !(error instanceof MonitorError)) {
      throw new MonitorError(`GET ${args.url}: no complete answer within ${args.timeoutMs} ms`)
    }
    if (error instanceof MonitorError) throw error
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : ""
    throw new MonitorError(`GET ${args.url}: ${error instanceof Error ? error.message : String(error)}${cause}`)
  } finally {
    clearTimeout(timer)
  }
}

const firstLine = (text: string): string => escapeName(text.split("\n").slice(0, 3).join(" ").slice(0, 300))

// ---------------------------------------------------------------------------
// the loop
// ---------------------------------------------------------------------------

/** Where the command writes. @internal */
export interface Io {
  readonly out: (line: string) => void
  readonly err: (line: string) => void
}

/**
 * The most cells (workqueues × (CPUs + 1)) of the dump's CPU -> pool table the command prints: 4 194 304, about
 * 20 MB of text. Past it `--dump` exits 1 with a message: a 12 MB answer of 150 000 workqueues on 1024 CPUs would
 * be a string of ~900 MB, past V8's limit ("Invalid string length" after seconds of work).
 *
 * @internal
 */
export const MAX_DUMP_CELLS = 4 * 1024 * 1024

/** Sleep `ms`, or less if `stop` fires. */
const pause = (ms: number, stop: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (stop.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      stop.removeEventListener("abort", done)
      resolve()
    }
    stop.addEventListener("abort", done, { once: true })
  })

/** Run with parsed arguments until `stop` fires (0), a one-shot print is done (0), or the route fails (1). @internal */
export const run = async (args: Args, io: Io, stop: AbortSignal): Promise<number> => {
  let prev: Snapshot | undefined
  try {
    while (!stop.aborted) {
      const next = await fetchSnapshot(args, stop)
      if (next === undefined) return 0
      if (args.dump) {
        // the dump's CPU -> pool table has a cell per workqueue and CPU: refuse what would not fit in a string
        const cells = next.workqueues.length * (next.cpus + 1)
        if (cells > MAX_DUMP_CELLS) {
          throw new MonitorError(
            `--dump: the answer has ${next.workqueues.length} workqueues on ${next.cpus} CPUs, ${cells} cells of ` +
              `the CPU -> pool table, more than this command prints (${MAX_DUMP_CELLS}); the table view has no such limit`
          )
        }
        io.out(formatDump(next))
        return 0
      }
      const base = args.totals ? undefined : prev
      if (args.json) {
        for (const row of monitorRows(base, next)) {
          if (args.filter === undefined || args.filter.test(row.name))
            io.out(JSON.stringify({ timestamp: next.time, ...row }))
        }
      } else {
        io.out("")
        io.out(formatMonitorTable(base, next, { filter: args.filter }))
      }
      prev = next
      if (args.intervalMs === 0) return 0
      await pause(args.intervalMs, stop)
    }
    return 0
  } catch (error) {
    io.err(`effect-workqueue-monitor: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}

/** The bin: parse, run until SIGINT/SIGTERM; the exit code. @internal */
export const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const io: Io = { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) }
  const parsed = parseArgs(argv, process.env)
  if (parsed._tag === "Help") {
    io.out(USAGE)
    return 0
  }
  if (parsed._tag === "Invalid") {
    io.err(`effect-workqueue-monitor: ${parsed.message}\n${USAGE}`)
    return 2
  }
  const stop = new AbortController()
  const onSignal = () => stop.abort()
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  try {
    return await run(parsed.args, io, stop.signal)
  } finally {
    process.removeListener("SIGINT", onSignal)
    process.removeListener("SIGTERM", onSignal)
  }
}
