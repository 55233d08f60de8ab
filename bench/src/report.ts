/**
 * Aggregation and rendering: medians over runs, ratios against each peer, the scaling series, the targets, and the
 * terminal / Markdown tables.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import * as os from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Metrics } from "./measure.ts"
import {
  fmtCount,
  type MetricDef,
  OURS,
  type ScenarioDef,
  type ScenarioId,
  type SystemId,
  scalingSeries,
  scenarios,
  systems,
  type TargetDef,
  targets
} from "./plan.ts"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/** All runs of one (system, scenario, n). */
export interface CaseResult {
  readonly system: SystemId
  readonly scenario: ScenarioId
  readonly n: number
  /** Per-run metrics of the successful runs. */
  readonly samples: Array<Metrics>
  /** Error messages of the failed runs. */
  readonly errors: Array<string>
  /** Runs not attempted (e.g. after a timeout). */
  skipped: number
  /** Median of each metric over the successful runs. */
  median: Metrics
}

export interface ScalingRow {
  readonly system: SystemId
  readonly scenario: ScenarioId
  readonly key: string
  readonly label: string
  /** Size to median value; `undefined` where the case failed. */
  readonly points: Array<{ readonly n: number; readonly value: number | undefined }>
  /** Value at the largest size over value at the smallest, if both exist. */
  readonly ratio: number | undefined
}

export interface TargetResult {
  readonly label: string
  readonly requirement: string
  readonly measured: number | undefined
  readonly display: string
  readonly pass: boolean | undefined
  readonly note?: string
}

export interface Report {
  readonly mode: "full" | "quick"
  readonly startedAt: string
  readonly wallSeconds: number
  readonly runs: number
  readonly machine: Record<string, string | number>
  readonly versions: Record<string, string>
  readonly sizes: Record<string, ReadonlyArray<number>>
  readonly results: ReadonlyArray<CaseResult>
  readonly scaling: ReadonlyArray<ScalingRow>
  readonly targets: ReadonlyArray<TargetResult>
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Median of every metric present in all samples. */
export const medians = (samples: ReadonlyArray<Metrics>): Metrics => {
  const out: Metrics = {}
  const first = samples[0]
  if (first === undefined) return out
  for (const key of Object.keys(first)) {
    const values = samples.map((s) => s[key]).filter((v): v is number => typeof v === "number" && Number.isFinite(v))
    if (values.length > 0) out[key] = median(values)
  }
  return out
}

/** (max − min) / median of one metric, as a fraction; `undefined` with fewer than two samples. */
export const spread = (samples: ReadonlyArray<Metrics>, key: string): number | undefined => {
  const values = samples.map((s) => s[key]).filter((v): v is number => typeof v === "number" && Number.isFinite(v))
  if (values.length < 2) return undefined
  const m = median(values)
  return m === 0 ? undefined : (Math.max(...values) - Math.min(...values)) / Math.abs(m)
}

/** How many times better `ours` is than `peer` on a metric (>1: ours better), or `undefined`. */
export const advantage = (better: MetricDef["better"], ours: number | undefined, peer: number | undefined) => {
  if (ours === undefined || peer === undefined || better === "none") return undefined
  if (better === "higher") return peer === 0 ? undefined : ours / peer
  return ours === 0 ? undefined : peer / ours
}

// ---------------------------------------------------------------------------
// Derived tables
// ---------------------------------------------------------------------------

const find = (results: ReadonlyArray<CaseResult>, system: SystemId, scenario: ScenarioId, n: number) =>
  results.find((r) => r.system === system && r.scenario === scenario && r.n === n)

const value = (result: CaseResult | undefined, key: string): number | undefined =>
  result !== undefined && result.samples.length > 0 ? result.median[key] : undefined

export const scalingRows = (results: ReadonlyArray<CaseResult>, sizes: ReadonlyArray<number>): Array<ScalingRow> => {
  const rows: Array<ScalingRow> = []
  for (const series of scalingSeries) {
    const scenario = scenarios.find((s) => s.id === series.scenario)
    for (const system of scenario?.systems ?? []) {
      const points = sizes.map((n) => ({ n, value: value(find(results, system, series.scenario, n), series.key) }))
      const first = points[0]?.value
      const last = points[points.length - 1]?.value
      const ratio = first !== undefined && last !== undefined && first !== 0 ? last / first : undefined
      rows.push({ system, scenario: series.scenario, key: series.key, label: series.label, points, ratio })
    }
  }
  return rows
}

export const targetResults = (
  results: ReadonlyArray<CaseResult>,
  scaling: ReadonlyArray<ScalingRow>,
  sizeOf: (scenario: ScenarioId) => number
): Array<TargetResult> => targets.map((target) => evaluate(target, results, scaling, sizeOf))

const evaluate = (
  target: TargetDef,
  results: ReadonlyArray<CaseResult>,
  scaling: ReadonlyArray<ScalingRow>,
  sizeOf: (scenario: ScenarioId) => number
): TargetResult => {
  const n = sizeOf(target.scenario)
  const ours = find(results, OURS, target.scenario, n)
  const missing = (why: string): TargetResult => ({
    label: target.label,
    requirement: requirement(target),
    measured: undefined,
    display: "—",
    pass: undefined,
    note: why
  })
  switch (target.kind) {
    case "ratio": {
      const peer = find(results, target.peer, target.scenario, n)
      const o = value(ours, target.key)
      const p = value(peer, target.key)
      if (o === undefined) return missing(`no result for ${OURS}: ${ours?.errors[0] ?? "not run"}`)
      if (p === undefined) return missing(`no result for ${target.peer}: ${peer?.errors[0] ?? "not run"}`)
      // a lower-is-better metric (ns, bytes) is shown as ours / peer, and passes at or below 1 / min
      const lower = target.better === "lower"
      const ratio = o / p
      return {
        label: target.label,
        requirement: requirement(target),
        measured: ratio,
        display: `${fmtRatio(ratio)} (${fmtMetric(o, 0)} vs ${fmtMetric(p, 0)} ${target.unit ?? "items/s"})`,
        pass: lower ? ratio <= 1 / target.min : ratio >= target.min
      }
    }
    case "best": {
      const o = value(ours, target.key)
      if (o === undefined) return missing(`no result for ${OURS}: ${ours?.errors[0] ?? "not run"}`)
      const ourIds = new Set(systems.filter((s) => s.kind === "ours").map((s) => s.id))
      const others = results
        .filter((r) => !ourIds.has(r.system) && r.scenario === target.scenario && r.n === n)
        .flatMap((r) => {
          const x = value(r, target.key)
          return x === undefined ? [] : [{ system: r.system, x }]
        })
        .sort((a, b) => a.x - b.x)
      const best = others[0]
      if (best === undefined) return missing("no other system has a result")
      return {
        label: target.label,
        requirement: requirement(target),
        measured: o,
        display: `${fmtMetric(o, 2)} ${target.unit} (lowest other: ${best.system} ${fmtMetric(best.x, 2)} ${target.unit})`,
        pass: o <= best.x
      }
    }
    case "value": {
      const o = value(ours, target.key)
      if (o === undefined) return missing(`no result for ${OURS}: ${ours?.errors[0] ?? "not run"}`)
      const digits = (x: number) => (x < 10 ? 3 : 1)
      // the best other system in the same run, for scale: a target below every peer and the floor says so
      const ourIds = new Set(systems.filter((s) => s.kind === "ours").map((s) => s.id))
      const others = results
        .filter((r) => !ourIds.has(r.system) && r.scenario === target.scenario && r.n === n)
        .flatMap((r) => {
          const x = value(r, target.key)
          return x === undefined ? [] : [{ system: r.system, x }]
        })
        .sort((a, b) => a.x - b.x)
      const best = others[0]
      return {
        label: target.label,
        requirement: requirement(target),
        measured: o,
        display: `${fmtMetric(o, digits(o))} ${target.unit}${
          best === undefined ? "" : ` (best other: ${best.system} ${fmtMetric(best.x, digits(best.x))} ${target.unit})`
        }`,
        pass: o <= target.max
      }
    }
    case "scaling": {
      const row = scaling.find((r) => r.system === OURS && r.scenario === target.scenario && r.key === target.key)
      if (row === undefined || row.ratio === undefined) return missing(`${OURS} lacks a size of the series`)
      const first = row.points[0]
      const last = row.points[row.points.length - 1]
      return {
        label: target.label,
        requirement: requirement(target),
        measured: row.ratio,
        display: `${fmtRatio(row.ratio)} (${fmtCount(last?.n ?? 0)}: ${fmtMetric(last?.value ?? Number.NaN, 1)} / ${fmtCount(
          first?.n ?? 0
        )}: ${fmtMetric(first?.value ?? Number.NaN, 1)})`,
        pass: row.ratio <= target.max
      }
    }
    case "overhead": {
      const variant = find(results, target.variant, target.scenario, n)
      const o = value(ours, target.key)
      const v = value(variant, target.key)
      if (o === undefined) return missing(`no result for ${OURS}: ${ours?.errors[0] ?? "not run"}`)
      if (v === undefined) return missing(`no result for ${target.variant}: ${variant?.errors[0] ?? "not run"}`)
      const cost = 1 - v / o
      return {
        label: target.label,
        requirement: requirement(target),
        measured: cost,
        display: `${(cost * 100).toFixed(1)}% (${fmtMetric(v, 0)} vs ${fmtMetric(o, 0)} items/s)`,
        pass: cost <= target.max
      }
    }
  }
}

const requirement = (target: TargetDef): string => {
  switch (target.kind) {
    case "ratio":
      return target.better === "lower" ? `≤ ${1 / target.min}× its ${target.unit ?? ""}` : `≥ ${target.min}×`
    case "best":
      return "lowest of all systems"
    case "value":
      return `≤ ${target.max} ${target.unit}`
    case "scaling":
      return `≤ ${target.max}`
    case "overhead":
      return `≤ ${(target.max * 100).toFixed(0)}%`
  }
}

// ---------------------------------------------------------------------------
// Machine and versions
// ---------------------------------------------------------------------------

const here = dirname(fileURLToPath(import.meta.url))

/** The `version` of an installed package, found by walking up from its resolved entry point. */
export const packageVersion = (name: string): string => {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(name)))
    for (;;) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string }
        if (pkg.name === name && pkg.version !== undefined) return pkg.version
      } catch {
        // no package.json here; keep walking up
      }
      const parent = dirname(dir)
      if (parent === dir) return "unknown"
      dir = parent
    }
  } catch {
    return "not installed"
  }
}

export const machineInfo = (): Record<string, string | number> => {
  const cpus = os.cpus()
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cpuCount: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`
  }
}

export const versions = (): Record<string, string> => ({
  node: process.version,
  v8: process.versions.v8,
  effect: packageVersion("effect"),
  "@effect-workqueue/core": packageVersion("@effect-workqueue/core"),
  "p-queue": packageVersion("p-queue"),
  fastq: packageVersion("fastq"),
  commit: gitCommit()
})

const gitCommit = (): string => {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: here, encoding: "utf8" }).trim()
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: here, encoding: "utf8" }).trim() !== ""
    return dirty ? `${head} (with uncommitted changes)` : head
  } catch {
    return "unknown"
  }
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

export const fmtMetric = (v: number, digits: number): string => {
  if (!Number.isFinite(v)) return "—"
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

export const fmtRatio = (r: number | undefined): string => {
  if (r === undefined || !Number.isFinite(r)) return "—"
  return `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`
}

const mark = (pass: boolean | undefined, markdown: boolean): string => {
  if (pass === undefined) return markdown ? "⚠️ n/a" : "n/a"
  if (markdown) return pass ? "✅ pass" : "❌ miss"
  return pass ? "PASS" : "MISS"
}

/** One scenario's table: a row per system, its metrics, the run-to-run spread and "ours vs this peer". */
export const scenarioTable = (
  scenario: ScenarioDef,
  n: number,
  results: ReadonlyArray<CaseResult>
): { readonly header: Array<string>; readonly rows: Array<Array<string>> } => {
  const primary = scenario.metrics.find((m) => m.key === scenario.primary)
  const ours = find(results, OURS, scenario.id, n)
  const header = ["system", ...scenario.metrics.map((m) => m.label), "spread", `ours vs it (${primary?.label ?? ""})`]
  const rows: Array<Array<string>> = []
  for (const system of scenario.systems) {
    const result = find(results, system, scenario.id, n)
    if (result === undefined) continue
    if (result.samples.length === 0) {
      rows.push([system, `error: ${result.errors[0] ?? "no result"}`])
      continue
    }
    const cells = scenario.metrics.map((m) => {
      const v = result.median[m.key]
      return v === undefined ? "—" : fmtMetric(v / (m.scale ?? 1), m.digits)
    })
    const s = spread(result.samples, scenario.primary)
    const ratio =
      system === OURS || primary === undefined
        ? ""
        : fmtRatio(advantage(primary.better, value(ours, primary.key), value(result, primary.key)))
    const failures = result.errors.length > 0 ? ` (${result.errors.length} failed: ${result.errors[0]})` : ""
    rows.push([system + failures, ...cells, s === undefined ? "—" : `±${(s * 50).toFixed(0)}%`, ratio])
  }
  return { header, rows }
}

export const scalingTable = (
  rows: ReadonlyArray<ScalingRow>,
  sizes: ReadonlyArray<number>
): { readonly header: Array<string>; readonly rows: Array<Array<string>> } => ({
  header: ["series", "system", ...sizes.map((n) => `n=${fmtCount(n)}`), "largest/smallest"],
  rows: rows.map((r) => [
    r.label,
    r.system,
    ...r.points.map((p) => (p.value === undefined ? "error" : fmtMetric(p.value, 1))),
    fmtRatio(r.ratio)
  ])
})

export const targetTable = (
  results: ReadonlyArray<TargetResult>,
  markdown: boolean
): { readonly header: Array<string>; readonly rows: Array<Array<string>> } => ({
  header: ["target", "required", "measured", "mark"],
  rows: results.map((t) => [
    t.label,
    t.requirement,
    t.note === undefined ? t.display : `${t.display} (${t.note})`,
    mark(t.pass, markdown)
  ])
})

/** A plain-text table with aligned columns; a row with fewer cells spills its last cell across the rest. */
export const textTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const full = rows.filter((r) => r.length === header.length)
  const widths = header.map((h, i) => Math.max(h.length, ...full.map((r) => r[i]?.length ?? 0)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.length === header.length
      ? cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
      : cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c)).join("  ")
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n")
}

/** A Markdown table; a short row is padded with empty cells. */
export const markdownTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const esc = (c: string) => c.replaceAll("|", "\\|")
  const pad = (r: ReadonlyArray<string>) => [...r, ...Array<string>(Math.max(0, header.length - r.length)).fill("")]
  return [
    `| ${header.map(esc).join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    ...rows.map((r) => `| ${pad(r).map(esc).join(" | ")} |`)
  ].join("\n")
}

export const systemsList = (): string => systems.map((s) => `- **${s.id}** (${s.kind}): ${s.how}`).join("\n")
