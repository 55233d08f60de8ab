/**
 * `npm run torture`: the long torture run (see harness.ts). Environment:
 * - `TORTURE_SEED` (default: random, printed), `TORTURE_MS` (default 60 000: rounds run until this much real time
 *   has passed), `TORTURE_CLOCK` (`test`, `live` or `both`, default `both`), `TORTURE_STEPS` (steps per round,
 *   default 400), `TORTURE_PINGPONG` (cycles per ping-pong burst, default 5 000), `TORTURE_OPS` (operations a fiber
 *   runs before the runtime makes it yield, default Effect's: a small number puts a yield almost anywhere).
 * Run with `--expose-gc` (the npm script does) to check that the heap returns to its baseline.
 * Exits 1 at the first violation, printing the seed to replay it.
 */
import * as Effect from "effect/Effect"
import * as Torture from "./harness.ts"

const env = (name: string): string | undefined => {
  const v = process.env[name]
  return v === undefined || v === "" ? undefined : v
}
const seed0 = Number(env("TORTURE_SEED") ?? Math.floor(Math.random() * 2 ** 31))
const durationMs = Number(env("TORTURE_MS") ?? 60_000)
const clocks: ReadonlyArray<"test" | "live"> =
  env("TORTURE_CLOCK") === "test" ? ["test"] : env("TORTURE_CLOCK") === "live" ? ["live"] : ["test", "live"]
const steps = Number(env("TORTURE_STEPS") ?? 400)
const pingPong = Number(env("TORTURE_PINGPONG") ?? 5_000)
const opsBeforeYield = env("TORTURE_OPS") === undefined ? undefined : Number(env("TORTURE_OPS"))
const gc = (globalThis as { gc?: () => void }).gc

const heapMb = (): number => {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed / 2 ** 20
}

const main = async () => {
  process.stdout.write(`torture: seed ${seed0}, ${durationMs} ms, clocks ${clocks.join("+")}, ${steps} steps/round\n`)
  // warm-up round, then the heap baseline
  await Effect.runPromise(Torture.run({ seed: seed0, rounds: 1, steps: 50, clock: "test", pingPong: 100 }))
  const baseline = heapMb()
  const started = Date.now()
  let seed = seed0
  let failed = false
  while (Date.now() - started < durationMs && !failed) {
    for (const clock of clocks) {
      current = `TORTURE_SEED=${seed} TORTURE_CLOCK=${clock}${opsBeforeYield === undefined ? "" : ` TORTURE_OPS=${opsBeforeYield}`}`
      const report = await Effect.runPromise(Torture.run({ seed, rounds: 1, steps, clock, pingPong, opsBeforeYield }))
      process.stdout.write(`${Torture.formatReport(report)}\n`)
      if (report.violations.length > 0) {
        failed = true
        const ops = opsBeforeYield === undefined ? "" : ` TORTURE_OPS=${opsBeforeYield}`
        process.stdout.write(`replay: TORTURE_SEED=${seed} TORTURE_CLOCK=${clock}${ops} npm run torture\n`)
        break
      }
    }
    seed++
  }
  const after = heapMb()
  const growth = after - baseline
  process.stdout.write(
    gc === undefined
      ? "heap: not checked (run with --expose-gc)\n"
      : `heap: baseline ${baseline.toFixed(1)} MB, after ${after.toFixed(1)} MB (growth ${growth.toFixed(1)} MB)\n`
  )
  if (gc !== undefined && growth > 16) {
    process.stdout.write(`VIOLATION heap did not return to its baseline: +${growth.toFixed(1)} MB\n`)
    failed = true
  }
  process.exit(failed ? 1 : 0)
}

// a round waiting on something nothing will ever complete (a lost wake-up) empties the event loop: Node would exit
// 0 with `main` still pending, and the run would look clean
let current = ""
process.on("beforeExit", () => {
  process.stdout.write(
    `VIOLATION the event loop emptied inside a round: a wait nothing will complete\nreplay: ${current} npm run torture\n`
  )
  process.exit(1)
})

void main()
