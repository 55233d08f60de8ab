/**
 * Tests never depend on machine speed. The machine's speed reaches a workqueue schedule only through the system's
 * CPU clock (a slice of real time over `cpuIntensiveThresh` flags an item CPU-intensive, which takes it out of
 * concurrency management, and a slice over `cpuIntensiveSliceMs` ends a scheduler pump), so every system a test
 * builds gets a frozen or injected one: `TestWorkqueue.layer` and `WorkqueueChecker.engine` freeze it by default,
 * and a test that calls `WorkqueueSystem.layer` itself passes `cpuClock` (the packages' test helpers do). A test
 * that once hung under load was a schedule that changed on a slow slice.
 */
import { Work, Workqueue, WorkqueueMetrics } from "@effect-workqueue/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { TestWorkqueue } from "../src/index.ts"

const root = path.join(import.meta.dirname, "..", "..", "..")

/** Every `.ts` file under `dir`, generated doc examples excluded (they run the JSDoc examples as written). */
const files = (dir: string): Array<string> =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) =>
          e.isDirectory()
            ? e.name === ".doc-examples" || e.name === "node_modules"
              ? []
              : files(path.join(dir, e.name))
            : e.name.endsWith(".ts")
              ? [path.join(dir, e.name)]
              : []
        )
    : []

/** The calls that build a system, spelt so that this file does not contain them. */
const needles = ["WorkqueueSystem", "NodeWorkqueue"].map((module) => [module, "layer("].join("."))

/** The text of each system-building call in `text`, up to its balancing parenthesis (comments are not code). */
const layerCalls = (text: string): Array<string> => {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1")
  const calls: Array<string> = []
  for (const needle of needles)
    for (let at = code.indexOf(needle); at >= 0; at = code.indexOf(needle, at + 1)) {
      let depth = 0
      let end = at + needle.length - 1
      for (; end < code.length; end++) {
        if (code[end] === "(") depth++
        else if (code[end] === ")" && --depth === 0) break
      }
      calls.push(code.slice(at, end + 1))
    }
  return calls
}

describe("no test depends on machine speed", () => {
  it("every system a test, an example's test or the torture harness builds (WorkqueueSystem.layer, NodeWorkqueue.layer) is given a cpuClock", () => {
    const dirs = [
      ...fs.readdirSync(path.join(root, "packages")).map((p) => path.join(root, "packages", p, "test")),
      path.join(root, "packages", "testing", "torture"),
      path.join(root, "packages", "testing", "src"),
      path.join(root, "examples", "test")
    ]
    const scanned: Array<string> = []
    const offenders: Array<string> = []
    for (const file of dirs.flatMap(files)) {
      for (const call of layerCalls(fs.readFileSync(file, "utf8"))) {
        scanned.push(call)
        if (!call.includes("cpuClock")) offenders.push(`${path.relative(root, file)}: ${call.replace(/\s+/g, " ")}`)
      }
    }
    assert.isAbove(scanned.length, 3, "the scan finds the helpers' calls")
    assert.deepStrictEqual(offenders, [])
  })

  it.effect("TestWorkqueue.layer freezes the CPU clock unless one is given: a long synchronous handler is no hog", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("spin")
      const until = performance.now() + 30
      yield* Workqueue.queue(
        wq,
        yield* Work.make(() =>
          Effect.sync(() => {
            while (performance.now() < until) {
              // spin past cpuIntensiveThresh (10 ms) of real time
            }
          })
        )
      )
      yield* Workqueue.flush(wq)
      const stats = (yield* WorkqueueMetrics.stats).find((s) => s.name === "spin")!
      assert.strictEqual(stats.cpuIntensive, 0)
      assert.strictEqual(stats.cpuTime, 0)
    }).pipe(Effect.provide(TestWorkqueue.layer({ cpus: 1 })))
  )
})
