/**
 * The shutdown guarantees of the README, per layering, pinned with real processes and real signals: after a
 * SIGTERM the process exits with 130 no later than the deadline (a process that waited for its work instead would
 * run into the hang guard: the jobs here take a minute or never end), the report lists everything accepted and
 * not finished, a second signal exits at once, further signals change nothing. Assertions are on exit codes and
 * on what was printed, never on elapsed time.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as path from "node:path"
import { type Child, killAll, start } from "./utils/child.ts"

const service = path.join(import.meta.dirname, "fixtures", "service.ts")

const run = (env: Record<string, string>): Child => start(service, { env: { EFFECT_WORKQUEUE_CPUS: "2", ...env } })

afterEach(killAll)

const deadlineReport = (child: Child, deadlineMs: number) =>
  child.lines.filter((line) => line.includes(`workqueue shutdown: deadline of ${deadlineMs} ms passed`))

describe("NodeShutdown (integration: real processes, real signals)", () => {
  it.each(["alone", "above", "below"])(
    "layering %s: SIGTERM with minute-long jobs exits 130 at the deadline and reports every unfinished job",
    async (layering) => {
      const child = run({
        LAYERING: layering,
        JOBS: "10",
        JOB_MS: "60000",
        EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS: "300"
      })
      await child.waitForEvent("ready")
      child.process.kill("SIGTERM")
      const { code } = await child.waitForExit()
      assert.strictEqual(code, 130, child.output())
      const reports = deadlineReport(child, 300)
      assert.strictEqual(reports.length, 1, child.output())
      assert.match(reports[0]!, /with 10 accepted item\(s\) not finished in 1 workqueue\(s\)/)
      assert.isFalse(
        child.events.some((e) => e.event === "done"),
        "no job finished: the exit did not wait for them"
      )
      assert.notInclude(child.output(), "every workqueue drained")
    }
  )

  it.each(["alone", "above", "below"])(
    "layering %s: a job that never ends cannot hold the exit past the deadline",
    async (layering) => {
      const child = run({
        LAYERING: layering,
        JOBS: "1",
        JOB_MS: "never",
        EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS: "200"
      })
      await child.waitForEvent("start")
      child.process.kill("SIGTERM")
      const { code } = await child.waitForExit()
      assert.strictEqual(code, 130, child.output())
      assert.match(deadlineReport(child, 200)[0] ?? "", /1 accepted item\(s\) not finished/, child.output())
      assert.include(child.output(), "runs job0 for")
    }
  )

  it.each(["alone", "above"])(
    "layering %s: an armed delayed item is fired within the drain and runs before exit (report says so)",
    async (layering) => {
      const child = run({
        LAYERING: layering,
        JOBS: "0",
        JOB_MS: "50",
        ARMED_MS: "3600000",
        EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS: "20000"
      })
      await child.waitForEvent("ready")
      child.process.kill("SIGTERM")
      const { code } = await child.waitForExit()
      assert.strictEqual(code, 130, child.output())
      assert.isTrue(
        child.events.some((e) => e.event === "done" && e.id === "armed"),
        child.output()
      )
      const drained = child.lines.filter((line) => line.includes("every workqueue drained"))
      assert.strictEqual(drained.length, 1, `one "drained" line: ${child.output()}`)
      assert.include(drained[0], "1 armed delayed item(s) were fired early and ran")
    }
  )

  it("an armed item whose handler outlives the deadline is reported as running, and the exit does not wait", async () => {
    const child = run({
      LAYERING: "alone",
      JOBS: "0",
      JOB_MS: "60000",
      ARMED_MS: "3600000",
      EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS: "300"
    })
    await child.waitForEvent("ready")
    child.process.kill("SIGTERM")
    const { code } = await child.waitForExit()
    assert.strictEqual(code, 130, child.output())
    const report = deadlineReport(child, 300)[0] ?? ""
    assert.include(report, "1 armed delayed item(s) were fired early and ran", child.output())
    assert.include(child.output(), "runs armed for")
  })

  it.each(["alone", "above", "below"])(
    "layering %s: a second signal exits 130 at once, says so (not 'deadline passed'); a third changes nothing",
    async (layering) => {
      const child = run({
        LAYERING: layering,
        JOBS: "3",
        JOB_MS: "never",
        EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS: "600000"
      })
      await child.waitForEvent("ready")
      child.process.kill("SIGTERM")
      await child.waitForEvent("signal")
      child.process.kill("SIGTERM")
      child.process.kill("SIGINT")
      const { code } = await child.waitForExit()
      assert.strictEqual(code, 130, child.output())
      const forced = child.lines.filter((line) => line.includes("workqueue shutdown: second signal after"))
      assert.strictEqual(forced.length, 1, child.output())
      assert.match(forced[0]!, /exiting now with 3 accepted item\(s\) not finished/)
      assert.notInclude(child.output(), "deadline of 600000 ms passed")
      assert.notInclude(child.output(), "while already freezing")
    }
  )

  it.each([
    ["resource-above", "after"],
    ["resource-below", "before"]
  ])(
    "layering %s: after SIGTERM the app's resources are released %s the drained jobs finish (the README table)",
    async (layering, when) => {
      // jobs of 3 s: the app's release after a signal takes milliseconds, so "before" holds on a loaded machine too
      const child = run({
        LAYERING: layering,
        JOBS: "2",
        JOB_MS: "3000",
        EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS: "60000"
      })
      await child.waitForEvent("start")
      child.process.kill("SIGTERM")
      const { code } = await child.waitForExit()
      assert.strictEqual(code, 130, child.output())
      const order = child.events.filter((e) => e.event === "done" || e.event === "appClosed").map((e) => e.event)
      // every accepted job ran in both layerings; only shutdownLayer above the app keeps its resources until then
      assert.deepStrictEqual(order, when === "after" ? ["done", "done", "appClosed"] : ["appClosed", "done", "done"])
    }
  )

  it("outside runMain, a layer closing past its deadline leaves no handle behind: the process ends by itself", async () => {
    const child = run({ LAYERING: "outside", JOBS: "1", JOB_MS: "never", EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS: "200" })
    const { code, signal } = await child.waitForExit()
    assert.strictEqual(signal, null, child.output())
    assert.strictEqual(code, 0, child.output())
    assert.include(child.output(), '{"event":"returned"}')
    assert.match(deadlineReport(child, 200)[0] ?? "", /1 accepted item\(s\) not finished/, child.output())
  })
})

describe("NodeShutdown (integration: a chain that re-queues itself forever, no signal)", () => {
  const selfRequeue = path.join(import.meta.dirname, "fixtures", "selfRequeue.ts")

  it.each(["sleep", "yield", "runMain", "rearm0"])(
    "%s: past the deadline the system is sealed, the chain ends and the process ends by itself with 0",
    async (mode) => {
      const child = start(selfRequeue, { args: [mode] })
      const { code, signal } = await child.waitForExit()
      assert.strictEqual(signal, null, child.output())
      assert.strictEqual(code, 0, child.output())
      assert.isTrue(
        child.events.some((e) => e.event === "returned"),
        child.output()
      )
      assert.strictEqual(deadlineReport(child, 300).length, 1, child.output())
      assert.include(child.output(), "queueing from the system's own work items is refused from now on")
      const exit = child.events.find((e) => e.event === "exit")
      assert.isDefined(exit, child.output())
    }
  )
})
