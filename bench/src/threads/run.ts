/**
 * The thread-executor bench: `node bench/src/threads/run.ts [--quick] [--runs N] [--threads N]` (also run at the
 * end of `npm run bench`). Each (system, run) is a fresh child process (`case.ts`), runs interleaved; prints the
 * medians side by side with piscina and bare `worker_threads`, checks the targets, and writes
 * `bench/results/threads-<mode>.json`.
 *
 * Targets: trivial round trips/s ≥ piscina's; the CPU batch ≤ 1.2 × single-thread time / N + spawn; main-thread
 * event-loop lag p99 during the batch < 10 ms.
 */
import { spawn } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, "../../..")
const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    threads: { type: "string" }
  }
})
const mode = values.quick ? "quick" : "full"
const runs = Number(values.runs ?? (values.quick ? 1 : 5))
const threads = Number(values.threads ?? os.availableParallelism())
const systems = ["single", "ours", "ours-wq", "piscina", "bare"] as const
type Metrics = Record<string, number>

const runCase = (system: string): Promise<Metrics | string> =>
  new Promise((done) => {
    const args = [join(here, "case.ts"), "--system", system, "--threads", String(threads)]
    if (values.quick) args.push("--quick")
    const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c))
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c))
    const kill = setTimeout(() => child.kill("SIGKILL"), 180_000)
    child.on("close", (code) => {
      clearTimeout(kill)
      try {
        const out = JSON.parse(stdout.trim().split("\n").pop() ?? "")
        done(out.ok ? out.metrics : `error: ${out.error}`)
      } catch {
        done(`exit ${code}: ${stderr.trim().split("\n").pop() ?? ""}`)
      }
    })
  })

const samples = new Map<string, Array<Metrics>>(systems.map((s) => [s, []]))
const errors = new Map<string, Array<string>>(systems.map((s) => [s, []]))
process.stderr.write(`thread bench (${mode}): ${systems.length} systems × ${runs} run(s), ${threads} threads\n`)
for (let r = 1; r <= runs; r++) {
  for (const system of systems) {
    const out = await runCase(system)
    if (typeof out === "string") errors.get(system)!.push(out)
    else samples.get(system)!.push(out)
    process.stderr.write(`  run ${r} ${system}: ${typeof out === "string" ? out : "ok"}\n`)
  }
}

const median = (xs: Array<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0
    ? Number.NaN
    : s.length % 2 === 1
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const med = (system: string, metric: string): number =>
  median(
    samples
      .get(system)!
      .map((m) => m[metric]!)
      .filter((x) => x !== undefined)
  )
const fmt = (x: number, digits = 0): string =>
  Number.isNaN(x) ? "—" : x.toLocaleString("en-US", { maximumFractionDigits: digits })

const header = [
  "system",
  "spawn ms",
  "round trips/s (1 in flight)",
  "tasks/s (all at once)",
  "batch ms",
  "lag p99 ms",
  "lag max ms"
]
const names: Record<string, string> = {
  single: "main thread, no threads",
  ours: "effect-workqueue ThreadPool.run",
  "ours-wq": "effect-workqueue ThreadWork on a workqueue",
  piscina: "piscina 5.3.2",
  bare: "bare worker_threads (floor)"
}
const rows = systems.map((s) => [
  names[s]!,
  fmt(med(s, "spawnMs")),
  fmt(med(s, "rtSeqPerSec")),
  fmt(med(s, "rtParPerSec")),
  fmt(med(s, "batchMs"), 1),
  fmt(med(s, "lagP99Ms"), 1),
  fmt(med(s, "lagMaxMs"), 1)
])
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
const line = (cells: Array<string>) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
const batch = values.quick ? "16 × fib(25)" : "64 × fib(27)"
process.stdout.write(`\nThread executor: ${threads} threads, batch ${batch}, medians of ${runs} run(s)\n`)
process.stdout.write(`${line(header)}\n${rows.map(line).join("\n")}\n`)

const single = med("single", "batchMs")
const targets = [
  {
    target: "round trips/s (1 in flight) ≥ piscina",
    ours: med("ours", "rtSeqPerSec"),
    bound: med("piscina", "rtSeqPerSec"),
    ok: med("ours", "rtSeqPerSec") >= med("piscina", "rtSeqPerSec")
  },
  {
    target: "tasks/s (all at once) ≥ piscina",
    ours: med("ours", "rtParPerSec"),
    bound: med("piscina", "rtParPerSec"),
    ok: med("ours", "rtParPerSec") >= med("piscina", "rtParPerSec")
  },
  {
    target: `batch ≤ 1.2 × single / ${threads} + spawn (ms)`,
    ours: med("ours-wq", "batchMs"),
    bound: (1.2 * single) / threads + med("ours-wq", "spawnMs"),
    ok: med("ours-wq", "batchMs") <= (1.2 * single) / threads + med("ours-wq", "spawnMs")
  },
  {
    target: "batch ≤ 1.2 × single / N, spawn excluded (ms)",
    ours: med("ours-wq", "batchMs"),
    bound: (1.2 * single) / threads,
    ok: med("ours-wq", "batchMs") <= (1.2 * single) / threads
  },
  {
    target: "lag p99 during the batch < 10 ms",
    ours: med("ours-wq", "lagP99Ms"),
    bound: 10,
    ok: med("ours-wq", "lagP99Ms") < 10
  }
]
process.stdout.write("\nTargets\n")
for (const t of targets) {
  process.stdout.write(`  ${t.ok ? "PASS" : "MISS"}  ${t.target}: ours ${fmt(t.ours, 1)} vs ${fmt(t.bound, 1)}\n`)
}
for (const [system, errs] of errors) if (errs.length > 0) process.stdout.write(`  ${system}: ${errs[0]}\n`)

const dir = join(root, "bench", "results")
mkdirSync(dir, { recursive: true })
const file = join(dir, `threads-${mode}.json`)
writeFileSync(
  file,
  `${JSON.stringify({ mode, runs, threads, startedAt: new Date().toISOString(), loadavg: os.loadavg(), samples: Object.fromEntries(samples), errors: Object.fromEntries(errors), targets }, null, 2)}\n`
)
process.stdout.write(`\nwrote ${relative(root, file)}\n`)
