/**
 * `npm run bench [-- --quick] [--runs N] [--systems a,b] [--scenarios a,b] [--timeout S] [--no-docs]`
 * (`--scenarios threads`: only the thread-executor rows, `threads/run.ts`, which also runs at the end of a full run)
 * `npm run bench -- --from bench/results/latest-full.json`: print and write the docs of a saved run again, without
 * running anything (the targets are recomputed from its results).
 *
 * Runs every (system, scenario, size) several times, each in a fresh child process (`case.ts`, `--expose-gc`),
 * interleaving the runs so slow drift of the machine spreads over all systems. Prints the medians, the ratios of this
 * library against each peer and the targets, writes `bench/results/latest-<mode>.json`, and after a complete full
 * run also `docs/BENCHMARKS.json` and `docs/BENCHMARKS.md`.
 */
import { spawn } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import type { CaseOutput } from "./case.ts"
import { ARM_CHUNK } from "./measure.ts"
import { fmtCount, type ScenarioId, scalingSizes, scenarios, type SystemId } from "./plan.ts"
import {
  type CaseResult,
  machineInfo,
  markdownTable,
  median,
  medians,
  type Report,
  scalingRows,
  scalingTable,
  scenarioTable,
  systemsList,
  targetResults,
  targetTable,
  textTable,
  versions
} from "./report.ts"

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, "../..")
const caseFile = join(here, "case.ts")

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    systems: { type: "string" },
    scenarios: { type: "string" },
    timeout: { type: "string" },
    seed: { type: "string", default: "12345" },
    "no-docs": { type: "boolean", default: false },
    from: { type: "string" }
  }
})

/** A saved report to render again instead of running (`--from`). */
const saved: Report | undefined = values.from === undefined ? undefined : JSON.parse(readFileSync(values.from, "utf8"))
const mode = saved?.mode ?? (values.quick ? "quick" : "full")
const runs = saved?.runs ?? Number(values.runs ?? (values.quick ? 1 : 5))
const timeoutMs = Number(values.timeout ?? (values.quick ? 10 : 120)) * 1000
const onlySystems = values.systems?.split(",")
const onlyScenarios = values.scenarios?.split(",")
const partial = onlySystems !== undefined || onlyScenarios !== undefined
const writeDocs = mode === "full" && !partial && !values["no-docs"]
const scaleSizes: ReadonlyArray<number> =
  saved?.sizes["scaling"] ?? (mode === "quick" ? scalingSizes.quick : scalingSizes.full)
const warmup = mode === "quick" ? 2_000 : 10_000

// ---------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------

interface Case {
  readonly system: SystemId
  readonly scenario: ScenarioId
  readonly n: number
}

const baseSize = (scenario: ScenarioId): number => {
  const def = scenarios.find((s) => s.id === scenario)
  return def === undefined ? 0 : values.quick ? def.size.quick : def.size.full
}

const plan: Array<Case> = []
for (const scenario of scenarios) {
  if (onlyScenarios !== undefined && !onlyScenarios.includes(scenario.id)) continue
  const scaled = scenario.id === "suspend" || scenario.id === "pending"
  const sizes = [...new Set([...(scaled ? scaleSizes : []), baseSize(scenario.id)])].sort((a, b) => a - b)
  for (const n of sizes) {
    for (const system of scenario.systems) {
      if (onlySystems === undefined || onlySystems.includes(system)) plan.push({ system, scenario: scenario.id, n })
    }
  }
}

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

const runCase = (c: Case): Promise<CaseOutput & { readonly ms: number }> =>
  new Promise((done) => {
    const started = performance.now()
    const args = [
      ...process.execArgv, // the source condition that `npm run bench` starts this process with
      "--expose-gc",
      caseFile,
      ...["--system", c.system, "--scenario", c.scenario, "--n", String(c.n)],
      ...["--seed", values.seed, "--warmup", String(warmup), "--timeout", String(timeoutMs)]
    ]
    const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    // the child enforces its own limit; this one catches a child that cannot (a blocked event loop)
    const kill = setTimeout(() => child.kill("SIGKILL"), timeoutMs + 5_000)
    child.on("close", (code, signal) => {
      clearTimeout(kill)
      const ms = performance.now() - started
      const line = stdout.trim().split("\n").pop() ?? ""
      try {
        done({ ...(JSON.parse(line) as CaseOutput), ms })
      } catch {
        const why = signal === "SIGKILL" ? `killed after ${timeoutMs / 1000} s` : `exit ${code ?? signal}`
        const last =
          stderr
            .trim()
            .split("\n")
            .filter((l) => l.trim() !== "")
            .pop() ?? ""
        done({ ok: false, error: `${why}${last === "" ? "" : `: ${last.trim()}`}`, ms })
      }
    })
  })

const isTimeout = (error: string): boolean => error.startsWith("timed out") || error.startsWith("killed after")

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

const key = (c: Case): string => `${c.system}|${c.scenario}|${c.n}`
const results = new Map<string, CaseResult>()
for (const c of plan) {
  results.set(key(c), { ...c, samples: [], errors: [], skipped: 0, median: {} })
}

/** Wall time (ms) of each finished child, per case: the basis for skipping hopeless sizes. */
const wallMs = new Map<string, Array<number>>()

/**
 * Why a case is not worth running, if it is not: it timed out before, a smaller size of the same series timed out,
 * or it has never run and the next smaller size took over a quarter of the limit and, scaled linearly, exceeds it.
 */
const hopeless = (c: Case): string | undefined => {
  const series = [...results.values()]
    .filter((r) => r.system === c.system && r.scenario === c.scenario && r.n <= c.n)
    .sort((a, b) => b.n - a.n)
  for (const r of series) {
    const timedOut = r.errors.find(isTimeout)
    if (timedOut !== undefined) return r.n === c.n ? timedOut : `skipped: n=${fmtCount(r.n)} ${timedOut}`
  }
  const self = series.find((r) => r.n === c.n)
  const below = series.find((r) => r.n < c.n && (wallMs.get(key(r))?.length ?? 0) > 0)
  if (self === undefined || self.samples.length > 0 || below === undefined) return undefined
  // only from a size that is itself slow: a fast one's wall time is mostly process start-up, which does not scale
  const took = median(wallMs.get(key(below)) ?? [])
  const predicted = (took * c.n) / below.n
  if (took < timeoutMs / 4 || predicted <= timeoutMs) return undefined
  return `skipped: n=${fmtCount(below.n)} took ${(took / 1000).toFixed(1)} s, so n=${fmtCount(
    c.n
  )} needs over ${(predicted / 1000).toFixed(0)} s (limit ${timeoutMs / 1000} s)`
}

const startedAt = new Date()
const t0 = performance.now()
const total = plan.length * runs
let index = 0
if (saved === undefined) {
  process.stderr.write(
    `effect-workqueue bench (${mode}): ${plan.length} cases × ${runs} run(s), each in a fresh ${process.version} process\n`
  )
}
for (let run = 1; saved === undefined && run <= runs; run++) {
  for (const c of plan) {
    index++
    const result = results.get(key(c))!
    const label = `[${index}/${total}] run ${run} ${c.scenario} n=${fmtCount(c.n)} ${c.system}`
    const skip = hopeless(c)
    if (skip !== undefined) {
      result.skipped++
      if (result.samples.length === 0 && result.errors.length === 0) result.errors.push(skip)
      process.stderr.write(`${label}: skipped (${skip})\n`)
      continue
    }
    const output = await runCase(c)
    wallMs.set(key(c), [...(wallMs.get(key(c)) ?? []), output.ms])
    if (output.ok) result.samples.push(output.metrics)
    else result.errors.push(output.error)
    process.stderr.write(
      `${label}: ${output.ok ? "ok" : `error: ${output.error}`} (${(output.ms / 1000).toFixed(1)} s)\n`
    )
  }
}
for (const r of results.values()) r.median = medians(r.samples)

const all = saved?.results ?? [...results.values()]
const scaling = scalingRows(all, scaleSizes)
const report: Report = {
  mode,
  startedAt: saved?.startedAt ?? startedAt.toISOString(),
  wallSeconds: saved?.wallSeconds ?? Math.round((performance.now() - t0) / 100) / 10,
  runs,
  machine: saved?.machine ?? machineInfo(),
  versions: saved?.versions ?? versions(),
  sizes: saved?.sizes ?? {
    ...Object.fromEntries(scenarios.map((s) => [s.id, [baseSize(s.id)]])),
    scaling: scaleSizes
  },
  results: all,
  scaling,
  targets: targetResults(all, scaling, baseSize)
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

const sections = (markdown: boolean): Array<{ readonly title: string; readonly table: string }> => {
  const render = (t: { readonly header: Array<string>; readonly rows: Array<Array<string>> }) =>
    markdown ? markdownTable(t.header, t.rows) : textTable(t.header, t.rows)
  const out: Array<{ readonly title: string; readonly table: string }> = []
  out.push({ title: "Targets (this library)", table: render(targetTable(report.targets, markdown)) })
  for (const scenario of scenarios) {
    const n = baseSize(scenario.id)
    if (scenario.number === 6 && scaling.some((r) => r.points.some((p) => p.value !== undefined))) {
      out.push({
        title: `Scenario 5: scaling, cost per job at ${scaleSizes.map(fmtCount).join(" / ")} jobs`,
        table: render(scalingTable(scaling, scaleSizes))
      })
    }
    if (!all.some((r) => r.scenario === scenario.id && r.n === n)) continue
    out.push({
      title: `Scenario ${scenario.number}: ${scenario.title(n)}`,
      table: render(scenarioTable(scenario, n, all))
    })
  }
  return out
}

const v = report.versions
const m = report.machine
const summary = [
  `machine: ${m["cpuModel"]} × ${m["cpuCount"]}, ${m["memoryGiB"]} GiB, ${m["os"]}`,
  `versions: node ${v["node"]}, effect ${v["effect"]}, @effect-workqueue/core ${v["@effect-workqueue/core"]}, p-queue ${
    v["p-queue"]
  }, fastq ${v["fastq"]}, commit ${v["commit"]}`,
  `${mode} run: ${runs} run(s) per case, medians; wall time ${report.wallSeconds} s`
]
process.stdout.write(`\n${summary.join("\n")}\n`)
for (const s of sections(false)) process.stdout.write(`\n${s.title}\n${s.table}\n`)
process.stdout.write(
  "\n'ours vs it': how many times better this library is than that row on the scenario's main metric (>1: ours better).\n"
)

const resultsDir = join(here, "..", "results")
mkdirSync(resultsDir, { recursive: true })
const json = `${JSON.stringify(report, null, 2)}\n`
const latest = join(resultsDir, `latest-${mode}.json`)
writeFileSync(latest, json)
const written = [latest]
if (writeDocs) {
  const docs = join(root, "docs")
  mkdirSync(docs, { recursive: true })
  writeFileSync(join(docs, "BENCHMARKS.json"), json)
  writeFileSync(join(docs, "BENCHMARKS.md"), markdown())
  written.push(join(docs, "BENCHMARKS.json"), join(docs, "BENCHMARKS.md"))
}
process.stdout.write(`\nwrote ${written.map((p) => relative(root, p)).join(", ")}\n`)

/**
 * Where the time per job goes, from a profile (not regenerated by the bench: re-measure with
 * \`packages/core/bench/perJob.ts\` under \`node --cpu-prof\` when the per-job path changes).
 */
function whereTheTimeGoes(): string {
  return `## Where the time per job goes (profile)

Profiled with \`node --conditions=@effect-workqueue/source --expose-gc --cpu-prof packages/core/bench/perJob.ts 1000000 5 freshSync\`
(the headline loop of scenario 1: 1M synchronous jobs, a fresh item per job,
\`yield* Workqueue.queue(wq, yield* Work.make(h))\`, unbound, \`maxActive: 1\`; without the condition the probe loads
the last \`dist\` build, not the sources). In that probe, on this shared 2-core machine (medians of 5, 2026-12-05,
after the third pass below), a job costs about 290 ns,
\`Effect.forEach\` about 58 ns, the same items pre-made and queued with \`queueUnsafe\` about 225 ns, making an item
alone about 36 ns; the suspending probe \`freshSuspend\` about 1,200 ns against \`forEachSuspend\` about 850 ns. Module
loading and idle left out:

| where | share | ≈ ns per job |
|---|---:|---:|
| engine bookkeeping: \`queue_work_on()\` / \`__queue_work()\`, \`process_one_work()\` start and end, activation of the next inactive item, statistics and flush colours, the run token per item (\`makeRunner\`) | 33% | 85 |
| Effect runtime: the worker's run loop, the handler's primitive, continuations, the submitting fiber's generator steps | 22% | 60 |
| garbage collection: per job an item (96 B), the handler closure (about 96 B) and the submission's step objects; with the pump's item budget at 2048 the workers keep pace and few survive a scavenge (it was 40% with a 64-item budget) | 13% | 35 |
| the submitting generator and the handler closures (user code) | 13% | 35 |
| \`Work\` / \`Workqueue\` wrappers, argument checks and the in-step submission (\`internal/yieldable.ts\`) | 10% | 25 |
| the CPU clock read at each item's end (per-item CPU time, hog detection): \`performance.now()\` costs about 36–39 ns in Node 24 (a brand check and a binding call; \`Date.now()\`, \`process.hrtime()\` are no cheaper) | 9% | 25 |

\`freshSuspend\` (200k jobs, 16 at a time): garbage collection 32% (the submitting loop finishes before most jobs
start, so 200k items and closures are live at once), engine 27%, Effect runtime 27%, the rest under 6% each.

Second pass (issue 18, each change measured by an interleaved A/B in one process, baseline and change alternating,
CPU time per job, medians of 5–7): the caller's CPU is read once per \`queue\` (the check read it and
\`__queue_work()\` read it again); on an unbound pool a finishing worker takes the item its slot activates instead of
kicking the pool, as the kernel's \`pwq_activate_first_inactive()\` wakes no one — before, each such activation on an unbound
pool woke an idle worker that found the worklist empty (200k suspending jobs: 2,498 wake-ups → 316;
\`freshSuspend\` 1,605 → 1,542 ns CPU, −4%; the synchronous loop and scenario 4's enqueue unchanged within noise:
871 → 870 ns, 438 → 440 ns). \`Job.submit\`: the result's \`Deferred\` is made by the first wait, and there is no
options object, body closure or context effect per submission (1M jobs: heap growth while submitting 857 → 643
B/job, CPU 4.7 → 3.8 µs per job).

Third pass (issue 18; A/B in one process, the baseline's sources loaded next to the change's, runs alternating,
CPU time per job; "sync" = 1M fresh items through the Effect API at \`maxActive: 1\`, "suspend" = 200k at 16,
"pending" = 1M queued behind a blocker):

- **The workqueue handle had slow properties.** \`Workqueue.make\` copied the state's 26 fields into
  \`Object.create(proto)\` with \`Object.assign\`, which leaves the object in V8's dictionary mode
  (\`%HasFastProperties\` false): every read of a workqueue field — several per \`queue\`, per item start and end —
  was a hash lookup. The state literal now gets the prototype (\`Object.setPrototypeOf\`) and keeps one hidden
  class. Sync 416 → 340 ns (−18%), suspend 1,587 → 1,427 ns (−10%), pending enqueue 518 → 474 ns.
- **Mark checks with their own \`in\` test.** \`Engine.hasMark\` served workqueues, four kinds of item and jobs at one
  site, so its \`in\` went megamorphic (a generic lookup, twice per \`queue\`); \`isWorkqueue\` and the item check now
  have their own. Sync 336 → 308 and 335 → 319 ns (two runs), pending enqueue 467 → 452 ns.
- **A smaller item.** The explicit name and the disable count moved to one side object made on first use
  (\`WorkExtra\`), and the item no longer points at the list it is on: the worklists, inactive lists and workers'
  scheduled lists are \`WorkList\`s without back pointers (an item's list follows from \`WORK_INACTIVE\`, a rare
  scheduled one is found in \`System.scheduledOn\`, else its pool's worklist; delayed items keep theirs for the
  timer buckets). 11 → 9 fields, 112 → 96 B: scenario 4 heap 208.1 → 192.0 B per pending job; CPU unchanged
  within noise.
- **\`Work.makeWith(handler, data)\`**, new: the item holds a datum and hands it to a shared handler (the kernel's
  \`container_of()\`), no closure per job; its own bench row, **workqueue-data**, in scenarios 1, 2 and 4 (the
  headline keeps \`Work.make(() => job(i))\`). Single runs of \`bench/src/case.ts\`, 1M pending: 104.3 B/job and
  217–337 ns enqueue, against the headline's 192.3 B and 480–625 ns and Effect \`Queue\`'s 138.4 B and 215–306 ns;
  200k suspending: 1,496 against 2,281 ns/job.
- **Job items without a closure**: a job's item holds its state as the datum of one shared handler, as
  \`Work.makeWith\` does. 200k \`Job.submit\` in one \`runSync\`: heap growth while submitting 175.0 → 157.2 MB
  (−88 B per job); CPU 2,113 → 2,071 ns per job (noise).
- **Arming read the live Clock once per 10 ms — reverted.** Every arm reads the Clock below the millisecond
  (\`System.fineNow\`), and Effect's live Clock builds several \`BigInt\`s per reading (about 130 ns against 35 for
  \`performance.now()\`). Extrapolating one reading with \`performance.now()\` for 10 ms saved that (500k
  \`DelayedWork.make\` + \`queueDelayed\`: 1,170 → 1,033 ns CPU per item), but a hostile review showed it fires early:
  Effect's live Clock is \`Date.now()\` and re-anchors its nanoseconds when the wall clock steps, and an item armed
  right after a +2 s step was armed in the old frame and started 17 ms after its 500 ms arm. Every arm reads the
  Clock again (a test pins it); the full run at 6876b02 had the extrapolation, the one above has the plain-number
  reading below instead.
- **Reading the live Clock in plain numbers**, kept: for Effect's live Clock the fine reading is \`performance.now()\`
  plus an origin from \`Date.now()\`, checked against \`Date.now()\` on every reading and re-anchored when they
  disagree by a millisecond (a wall-clock step), so it stays correct where the extrapolation was not; no \`BigInt\`s.
  About 95 ns against 180 per reading; single runs of \`bench/src/case.ts\` alternating with the tree before it:
  scenario 3 arm 936–1,022 → 804–840 ns/item, scenario 7 (1M timers) 3.1–3.3 → 2.95–3.04 µs/item; lateness
  unchanged within noise.
- **Workers of suspending items keep pace with their submitter**, kept: a pump counted every task against its
  budget of 64, so 16 workers whose items suspend once (a task each) ran 64 items per pump while a fiber
  submitting in a loop queued ~1000 per turn; 200k jobs all ended up pending (~68 MB of heap left at the end, each
  pending item copied by the scavenger: the garbage-collection share of the profile). Now a task that ends an item
  counts against the item budget (2048) instead, and a budget of sixteen fibers' operations (every fiber on the
  scheduler, counted in its \`shouldYield\`) bounds pumps of long slices. Scenario 2, single runs of \`bench/src/case.ts\` alternating with the tree before it: 264k–289k → 675k–742k
  items/s, heap left 65–70 → 8–9 MB (same run: \`Effect.forEach\` 691k, fastq promise 200k). Scenarios 1, 3 and 6
  unchanged within noise; a \`queue\` + \`flush\` loop gives the event loop a turn every 64 cycles (was 32).
- All of it against the tree before this pass: sync 422 → 314 ns CPU (−26%), suspend 1,572 → 1,413 ns (−10%),
  pending enqueue 482 → 445 ns and 208.1 → 192.0 B/job.
- The headline cases at full size (\`bench/src/case.ts\`, one process per case, the tree before this pass and this
  one alternating, medians of 3, machine shared): scenario 1 2.34M → 3.61M items/s (p-queue 305k: 11.8×, was
  7.7×; \`Effect.forEach\` 17.9M: 0.20×); scenario 2 450k → 598k items/s (fastq promise 586k: 1.02×;
  \`Effect.forEach\` 1.07M: 0.56×); scenario 4 enqueue 637 → 459 ns (Effect \`Queue\` 252 ns: 1.8×), 208.3 → 192.3
  B per job; scenario 3's p99 swung between 16 and 35 ms from run to run for every system under the load of the
  moment (ours, fastq and the raw loop alike), too noisy to compare.
- Tried and dropped: the in-step \`Work.make\` returning its step object as its own iterator result (no \`Done\` per
  call: −24 B of garbage per job) — within noise (322 → 318 ns), and it would keep the last item alive in a reused
  effect value; the timer epoch moved onto the monotonic millisecond grid (to stop the early wakes below) — no
  change, since Node's timer wakes fall anywhere in the monotonic millisecond (fraction of the millisecond at wake,
  p10/p50/p90: 0.10/0.51/0.88: libuv's loop time is its coarse clock).

Memory, scenario 4: about 192 B per pending job = the item (96 B, 9 fields) + the handler closure with its
captured index (about 96 B, what \`() => job(i)\` costs in V8; Effect \`Queue\`'s row pays the same closure plus
a small \`Effect.sync\`); with \`Work.makeWith\` 104 B (the item and its datum). The headline's enqueue through the
Effect API is mostly garbage collection (58.6% of one profiled pass, the release included: a million items and a million
closures survive, and each survivor is copied by the scavenger before it is promoted), which is why it stays near
twice Effect \`Queue\`'s enqueue time while \`Work.makeWith\`, one survivor per job, matches it.

Delayed work (scenario 3), where the lateness comes from: one delayed item at a time on an idle loop, our lateness
is p50 1.24 ms against 0.10 ms for a bare \`setTimeout\`. Two structural parts: an expiry is the fine arming time
plus the delay rounded up to a whole millisecond (never early: +0.5 ms on average), and half of the timer
fiber's wakes come early (Node fires a \`setTimeout\` on its loop's millisecond clock, which trails real time), find
nothing due and sleep one more whole millisecond. A peer's \`setTimeout\` callback counts as on time when it fires
up to a millisecond early relative to \`performance.now()\`, which the lateness column takes as negative. Under the
scenario's burst (about 2,000 jobs due per millisecond while 1,000-item arming chunks hold the loop) the p99 is set
by how fast due jobs run, which the passes above speed up; closing the last millisecond would need sub-millisecond
host timers (spinning the loop before each expiry), which a library should not do.

Removed by issue 18: a \`WeakMap\` entry per item for its name (\`Work.make\` from about 715 to 86 ns at 1M items),
the \`map(context)\` chain in \`make\`, a success exit per \`queue\`, an options object per run, one run-loop turn per
item (the next item starts in the finished item's continuation); then **in-step submission**: \`yield*\` of
\`Work.make\`, \`DelayedWork.make\`, \`Workqueue.queue\` and \`queueDelayed\` runs the step inside the caller's
generator step (\`internal/yieldable.ts\`: no run-loop turn, continuation or \`SingleShotGen\` per call; each step
still counts as an operation, so the fiber yields where it would have, and a tracer that wraps every operation
gets the ordinary path), which takes the place of a batch submission API for the per-job loop; **one continuation
frame per worker**, reused for every item, instead of a \`matchCauseEffect\` per item; items sized by their
constructor (a shared init helper had left 5 slack slots); **one CPU-clock read per scheduler task** (a slice
starts where the previous one in the same pump ended); the dictionary-mode workqueue, the megamorphic mark check
and 16 B per item (third pass).

Next levers, largest first:

1. **Per-item CPU time** (about 25 ns, 9% of the synchronous path; no cheaper clock exists in Node): sample it per
   slice, as the kernel's \`wq_worker_tick()\` does. The cost is semantic — a synchronous item that ends inside a
   slice would no longer be timed on its own, so hog detection would be exact only for items that outlast a
   slice — and needs a decision, not just code.
2. **Survivors in scenarios 2 and 4**: the headline's own closure (96 B) is half of what survives per job, and the
   scavenger copies each survivor; \`Work.makeWith\` removes it for users who can pass a datum. For the headline
   itself, what is left is per-job garbage of the submission (the two step objects and the \`Done\` of
   \`Work.make\`, about 170 B) — measured above as within noise for the synchronous path.
3. **Arming** (scenario 7, about 1 µs per item, 60% of it garbage collection of a million live armed items): an
   armed \`DelayedWork\` is 14 fields (136 B) plus its closure; the timer's bucket lookup (\`Map\` of whole
   milliseconds) and the tail write touch a random bucket per arm when delays are spread.
4. **\`Job.submit\`**: each attempt still forks a child fiber (what makes it interruptible by a timeout or a
   cancel) and the submission takes the ordinary run-loop path (no in-step \`yield*\` yet); running an attempt
   inline and forking only when a timeout or a cancel needs to interrupt it is the next cut. Effect cannot
   interrupt part of a fiber, so a \`Job.cancel\` arriving while an attempt runs inline needs its own mechanism.
5. **Engine bookkeeping per item** (about 85 ns): the activation at \`maxActive: 1\` still goes through the pool's
   worklist (push, then the finishing worker's shift and \`find_worker_executing_work()\` check) where a direct
   handoff would do when the worklist is empty; the statistics and flush-colour updates at each end are a few
   nanoseconds each.`
}

// the thread executor against piscina (bench/src/threads/run.ts), in its own processes; skipped when this run was
// limited to some systems or scenarios, unless "threads" is one of them
if (!partial || onlyScenarios?.includes("threads")) {
  const args = [join(here, "threads", "run.ts"), ...(values.quick ? ["--quick"] : [])]
  await new Promise((done) => spawn(process.execPath, args, { cwd: root, stdio: "inherit" }).on("close", done))
}

function markdown(): string {
  const sizeLine = scenarios.map((s) => `${s.number}: ${fmtCount(baseSize(s.id))}`).join(", ")
  return `# Benchmarks

The latest full run of \`npm run bench\`, written by \`bench/src/run.ts\` (do not edit by hand; machine-readable
copy in \`docs/BENCHMARKS.json\`). Run \`npm run bench -- --quick\` for a reduced check (about a minute); it prints
the same tables and writes only \`bench/results/latest-quick.json\`.

- **Date:** ${report.startedAt} (wall time ${report.wallSeconds} s)
- **Machine:** ${m["cpuModel"]} × ${m["cpuCount"]} (available parallelism ${m["availableParallelism"]}), ${
    m["memoryGiB"]
  } GiB RAM, ${m["os"]}
- **Versions:** Node ${v["node"]} (V8 ${v["v8"]}), effect ${v["effect"]}, @effect-workqueue/core ${
    v["@effect-workqueue/core"]
  }, p-queue ${v["p-queue"]}, fastq ${v["fastq"]}; repository commit ${v["commit"]}

## Method

- Every (system, scenario, size) is measured ${runs} times, each time in a fresh child process
  (\`node --expose-gc bench/src/case.ts …\`), with the runs of all cases interleaved. Tables show the median of each
  metric; **±** is half the range (max − min) of the main metric over the runs, relative to its median.
- Each child first runs one warm-up pass of the same scenario with min(n, ${fmtCount(warmup)}) jobs, collects
  garbage, then runs the measured pass and prints one JSON line. A case gets ${timeoutMs / 1000} s; a case that
  times out is not retried, larger sizes of the same series are skipped, and so is a size whose next smaller size
  took over a quarter of the limit and, scaled linearly, would exceed it.
- The job body is the same everywhere (\`bench/src/job.ts\`): add the index to a sink, count the completion, resolve
  when the last one finishes; every pass checks that each job ran exactly once. Jobs that suspend await a resolved
  promise (Effect: one \`Effect.yieldNow\`).
- Times come from \`performance.now()\`. Heap: \`process.memoryUsage().heapUsed\` after two \`gc()\` calls, before
  and after; "heap Δ" in scenario 1 is heapUsed at the last completion (no gc) minus heapUsed just before submitting.
  Peak RSS is \`process.resourceUsage().maxRSS\` of the whole child (warm-up and module loading included).
- Sizes: scenario ${sizeLine}; scenario 5 runs scenarios 2 and 4 at ${scaleSizes.map(fmtCount).join(", ")}.
- This library has two rows. **workqueue**, the headline, measures what a user submitting one-shot jobs pays: each
  job's work item is made inside the timed region and queued through the Effect API,
  \`yield* Workqueue.queue(wq, yield* Work.make(handler))\` in one \`Effect.gen\` loop (scenario 3: per chunk,
  scenario 4: the whole loop is the "enqueue" time). **workqueue-unsafe** makes the items before the clock starts
  (their cost is its "create ns/item" column) and queues with the synchronous \`*Unsafe\` twins. **workqueue-data**
  (scenarios 1, 2, 4) is the headline loop with \`Work.makeWith(handler, i)\`: one shared handler, the index as the
  item's datum, no closure per job. Every "ours vs it" ratio and every target is computed on the headline row. Scenario 3: delays are integers in [0, 100] ms from a seeded mulberry32 PRNG; jobs are armed in chunks of
  ${fmtCount(ARM_CHUNK)} with a yield to the event loop between chunks (arming all 200k in one loop blocks the loop
  for about as long as the longest delay); lateness is a job's start time minus (its arm time + its delay). Peers arm
  with \`setTimeout\` and then add the job to their queue. Scenario 4: nothing starts because the queue is paused
  (fastq, p-queue, raw), its only slot is held by a blocker (this library: a blocker work item on a \`maxActive: 1\`
  workqueue; Effect semaphore: its one permit taken) or no worker exists yet (Effect queue); a pass fails if any job
  ran before release. Heap per job counts everything allocated per job, this library's work item included.
  Scenario 6: this library queues the high-priority item on a second, \`WQ_HIGHPRI\` workqueue; p-queue uses
  \`{ priority: 1 }\`, fastq (promise) \`unshift\`. Scenario 7: delays are seeded integers in [60 s, 120 s]; peers use
  \`setTimeout\`/\`clearTimeout\` (raw-loop) and a sleeping fiber interrupted to cancel (effect-semaphore).
- effect-semaphore, scenarios 2 and 4: in effect ${v["effect"]}, \`Semaphore\` keeps its waiters in a \`Set\`;
  every release snapshots all of them (\`Array.from(this.waiters)\`) and every blocked \`take\` scans them
  (\`firstAvailableWaiter\`), so n fibers queued on one semaphore cost O(n²), and its rows time out at 100k jobs
  and more.
- fastq (callback), scenario 4: its worker calls back on a microtask, because with a synchronous callback
  \`resume()\` recurses once per queued task and overflows the stack near 10k tasks; the measurement ends before
  \`resume()\`.

## Systems

${systemsList()}

${whereTheTimeGoes()}

${sections(true)
  .map((s) => `## ${s.title}\n\n${s.table}\n`)
  .join("\n")}
"ours vs it" is how many times better this library is than that row on the scenario's main metric (> 1: ours is
better). "error: …" rows failed in every run; the message is the first failure's.
`
}
