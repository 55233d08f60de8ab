#!/usr/bin/env node
/**
 * effect-workqueue-monitor: `wq_monitor.py` for a running service.
 *
 * It polls the service's debug JSON route (`GET /debug/workqueues`, which serves `WorkqueueSystem.snapshot`)
 * and prints the monitor table every interval, or one `wq_dump.py`-style dump with `--dump`. It attaches to
 * nothing else: the service must expose the route (see the backend example, `EFFECT_WORKQUEUE_DEBUG=1`).
 *
 *   effect-workqueue-monitor <url | port> [-i SECS] [--totals] [--dump] [--json] [REGEX ...]
 *
 *   url | port   http://127.0.0.1:8080/debug/workqueues, or just 8080 (127.0.0.1, that path)
 *   -i SECS      interval in seconds (default 1; 0 prints once and exits), as wq_monitor.py -i
 *   --totals     print cumulative counters (what wq_monitor.py prints) instead of per-interval changes
 *   --dump       print one wq_dump-style dump and exit
 *   --json       print the monitor rows as JSON lines instead of the table (wq_monitor.py -j)
 *   REGEX        only the workqueues whose name matches one of them
 *
 * Exit codes: 0 on SIGINT/SIGTERM or after a one-shot print, 1 when the route cannot be read, 2 on bad arguments.
 */
import { formatDump, formatMonitorTable, monitorRows, type Snapshot } from "../src/NodeMonitor.ts"

interface Args {
  readonly url: string
  readonly intervalMs: number
  readonly totals: boolean
  readonly dump: boolean
  readonly json: boolean
  readonly filter: RegExp | undefined
}

const usage =
  "usage: effect-workqueue-monitor <url | port> [-i SECS] [--totals] [--dump] [--json] [REGEX ...]\n" +
  "  polls GET <url> (default path /debug/workqueues on 127.0.0.1) and prints a wq_monitor.py-style table"

const parseArgs = (argv: ReadonlyArray<string>): Args | string => {
  let target: string | undefined
  let intervalMs = 1000
  let totals = false
  let dump = false
  let json = false
  const patterns: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "-h" || arg === "--help") return usage
    if (arg === "-i" || arg === "--interval") {
      const secs = Number(argv[++i])
      if (!Number.isFinite(secs) || secs < 0) return `-i expects a number of seconds >= 0, got ${argv[i]}`
      intervalMs = secs * 1000
    } else if (arg === "--totals") totals = true
    else if (arg === "--dump") dump = true
    else if (arg === "-j" || arg === "--json") json = true
    else if (target === undefined) target = arg
    else patterns.push(arg)
  }
  if (target === undefined) return usage
  const url = /^\d+$/.test(target) ? `http://127.0.0.1:${target}/debug/workqueues` : target
  return {
    url,
    intervalMs,
    totals,
    dump,
    json,
    filter: patterns.length > 0 ? new RegExp(patterns.join("|")) : undefined
  }
}

const fetchSnapshot = async (url: string): Promise<Snapshot> => {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status} (is the debug route enabled?)`)
  return (await response.json()) as Snapshot
}

const main = async (): Promise<number> => {
  const argv = process.argv.slice(2)
  if (argv.includes("-h") || argv.includes("--help")) {
    console.log(usage) // asked for: stdout and exit 0; usage after bad arguments goes to stderr with exit 2
    return 0
  }
  const args = parseArgs(argv)
  if (typeof args === "string") {
    console.error(args)
    return 2
  }
  let stop = false
  let wake: (() => void) | undefined
  const onSignal = () => {
    stop = true
    wake?.()
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  let prev: Snapshot | undefined
  try {
    while (!stop) {
      const next = await fetchSnapshot(args.url)
      if (args.dump) {
        console.log(formatDump(next))
        return 0
      }
      const base = args.totals ? undefined : prev
      if (args.json) {
        for (const row of monitorRows(base, next)) {
          if (args.filter === undefined || args.filter.test(row.name))
            console.log(JSON.stringify({ timestamp: next.time, ...row }))
        }
      } else {
        console.log("")
        console.log(formatMonitorTable(base, next, { filter: args.filter }))
      }
      prev = next
      if (args.intervalMs === 0) return 0
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, args.intervalMs)
      })
    }
    return 0
  } catch (error) {
    console.error(`effect-workqueue-monitor: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}

process.exitCode = await main()
