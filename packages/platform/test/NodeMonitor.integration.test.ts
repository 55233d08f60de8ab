/**
 * `NodeMonitor.layer` on a real process with real SIGUSR2s: one dump per signal, also when
 * `NodeWorkqueue.layer` (which has its own) sits below it.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as path from "node:path"
import { killAll, start } from "./utils/child.ts"

const service = path.join(import.meta.dirname, "fixtures", "service.ts")

afterEach(killAll)

describe("NodeMonitor (integration: real process, real SIGUSR2)", () => {
  it("NodeMonitor.layer above NodeWorkqueue.layer: one dump per SIGUSR2", async () => {
    const child = start(service, { env: { LAYERING: "monitor", EFFECT_WORKQUEUE_CPUS: "1" } })
    await child.waitForEvent("ready")
    const dumps = () => child.lines.filter((line) => line.includes("Worker Pools")).length
    for (let i = 1; i <= 2; i++) {
      child.process.kill("SIGUSR2")
      // the i-th dump's last section marks its end
      await child.waitForLine(
        () => child.lines.filter((line) => line.startsWith("Busy workers")).length >= i,
        `dump ${i}`
      )
    }
    child.process.kill("SIGTERM")
    const { code } = await child.waitForExit()
    assert.strictEqual(code, 130, child.output())
    assert.strictEqual(dumps(), 2, child.output())
  })
})
