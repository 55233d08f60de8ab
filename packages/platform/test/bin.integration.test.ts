/**
 * The `effect-workqueue-monitor` bin as a real process with real signals (run from source; the installed,
 * compiled bin is checked by the package's consumer check). SIGINT ends it at once with 0 in every wait — a bin
 * that waited for its request or its interval would run into the hang guard (the server never answers, the
 * interval is an hour). Argument errors are exit 2 with a message, never an uncaught exception.
 */
import { WorkqueueSystem } from "@effect-workqueue/core"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { killAll, start } from "./utils/child.ts"
import { json, silent, type TestServer } from "./utils/server.ts"
import { systemLayer } from "./utils/system.ts"

const bin = path.join(import.meta.dirname, "..", "bin", "monitor.ts")

const servers: Array<TestServer> = []
afterEach(async () => {
  killAll()
  for (const s of servers.splice(0)) await s.close()
})

describe("effect-workqueue-monitor (integration: real process, real SIGINT)", () => {
  it("SIGINT while the request hangs: exit 0 at once (the request timeout is 10 minutes here)", async () => {
    const server = await silent()
    servers.push(server)
    const child = start(bin, { args: [server.url, "--timeout", "600"] })
    await server.requested()
    child.process.kill("SIGINT")
    const { code, signal } = await child.waitForExit()
    assert.strictEqual(signal, null, child.output())
    assert.strictEqual(code, 0, child.output())
  })

  it("SIGINT while waiting for the next interval: exit 0 at once (the interval is an hour here)", async () => {
    const snapshot = await Effect.runPromise(Effect.provide(WorkqueueSystem.snapshot, systemLayer({ cpus: 1 })))
    const server = await json(() => snapshot)
    servers.push(server)
    const child = start(bin, { args: [server.url, "-i", "3600"] })
    await child.waitForLine((line) => line.startsWith("events "), "the first table")
    child.process.kill("SIGINT")
    const { code } = await child.waitForExit()
    assert.strictEqual(code, 0, child.output())
    assert.strictEqual(server.requests.length, 1)
  })

  it.each([
    [["8080", "("], "invalid REGEX"],
    [["8080", "-i", "1e10"], "-i expects a number of seconds in 0..86400"],
    [["--nope"], "unknown option"]
  ])("bad arguments %j: exit 2 with %s, no stack trace", async (args, message) => {
    const child = start(bin, { args })
    const { code } = await child.waitForExit()
    assert.strictEqual(code, 2, child.output())
    assert.include(child.output(), message)
    assert.notInclude(child.output(), "    at ")
  })

  it("--help prints the usage and exits 0", async () => {
    const child = start(bin, { args: ["--help"] })
    const { code } = await child.waitForExit()
    assert.strictEqual(code, 0)
    assert.include(child.output(), "usage: effect-workqueue-monitor")
  })
})
