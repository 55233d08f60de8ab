/**
 * One measurement in a fresh process: `node --expose-gc bench/src/case.ts --system S --scenario C --n N`.
 *
 * Runs one warm-up pass (min(N, --warmup) jobs), collects garbage, runs the measured pass and prints exactly one
 * JSON line on stdout: `{ "ok": true, "metrics": {…} }` or `{ "ok": false, "error": "…" }`. The process exits as
 * soon as the line is written, so leftover timers or fibers cannot stretch it.
 */
import { parseArgs } from "node:util"
import { gc, type Metrics } from "./measure.ts"
import { systemById } from "./plan.ts"
import type { ScenarioId } from "./systems/types.ts"

export type CaseOutput =
  | { readonly ok: true; readonly metrics: Metrics }
  | { readonly ok: false; readonly error: string }

const { values } = parseArgs({
  options: {
    system: { type: "string" },
    scenario: { type: "string" },
    n: { type: "string" },
    seed: { type: "string", default: "12345" },
    warmup: { type: "string", default: "10000" },
    timeout: { type: "string", default: "300000" }
  }
})

const emit = (output: CaseOutput): Promise<never> =>
  new Promise<never>(() => {
    process.stdout.write(`${JSON.stringify(output)}\n`, () => process.exit(output.ok ? 0 : 1))
  })

const message = (error: unknown): string => {
  if (error instanceof Error) return error.message.split("\n")[0] ?? String(error)
  if (typeof error === "object" && error !== null && "message" in error) return String(error.message)
  return String(error)
}

const main = async (): Promise<CaseOutput> => {
  const system = systemById(values.system ?? "")
  if (system === undefined) return { ok: false, error: `unknown system ${values.system}` }
  const scenario = (values.scenario ?? "") as ScenarioId
  const n = Number(values.n)
  const seed = Number(values.seed)
  const warmup = Math.min(n, Number(values.warmup))
  if (!Number.isInteger(n) || n <= 0) return { ok: false, error: `bad --n ${values.n}` }
  const impl = await system.load()
  const runner = impl[scenario]
  if (runner === undefined) return { ok: false, error: `${system.id} does not run scenario ${scenario}` }
  if (warmup > 0) await runner(warmup, seed + 1)
  gc()
  const metrics = await runner(n, seed)
  return { ok: true, metrics: { ...metrics, peakRssMB: process.resourceUsage().maxRSS / 1024 } }
}

// a referenced timer: keeps the process alive while a system waits on nothing Node can see, and bounds the case
const limit = setTimeout(
  () => void emit({ ok: false, error: `timed out after ${Number(values.timeout) / 1000} s` }),
  Number(values.timeout)
)

process.on("unhandledRejection", (error) => void emit({ ok: false, error: `unhandled rejection: ${message(error)}` }))

const output = await main().catch((error: unknown): CaseOutput => ({ ok: false, error: message(error) }))
clearTimeout(limit)
await emit(output)
