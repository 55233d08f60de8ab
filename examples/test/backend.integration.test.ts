/**
 * The backend example as a real process: requests, SIGTERM mid-load, every accepted job done (or reported past
 * the deadline) before exit, exit code 130. Real time by nature; bounded, and it waits for stdout lines, never for
 * fixed sleeps.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { createInterface } from "node:readline"

const serverPath = path.join(import.meta.dirname, "..", "src", "backend", "server.ts")

interface Service {
  readonly child: ChildProcess
  readonly port: number
  readonly done: Set<number>
  readonly output: Array<string>
  readonly exited: Promise<number | null>
}

const start = async (env: Record<string, string>): Promise<Service> => {
  const child = spawn(process.execPath, [serverPath, "0"], {
    env: { ...process.env, EFFECT_WORKQUEUE_CPUS: "2", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const done = new Set<number>()
  const output: Array<string> = []
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()))
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(line)
      if (!line.startsWith("{")) return
      const event = JSON.parse(line) as { event: string; port?: number; id?: number }
      if (event.event === "listening") resolve(event.port!)
      if (event.event === "done") done.add(event.id!)
    })
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${output.join("\n")}`)))
  })
  return { child, port, done, output, exited }
}

/** POST a job; the id if accepted (202), `undefined` if refused (503 or connection closed during shutdown). */
const post = async (port: number, ms: number): Promise<number | undefined> => {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/jobs?ms=${ms}`, { method: "POST" })
    const body = (await response.json()) as { id?: number }
    if (response.status === 202) return body.id
    assert.strictEqual(response.status, 503)
    return undefined
  } catch {
    return undefined
  }
}

const waitFor = async (condition: () => boolean, what: string, output: Array<string>, timeoutMs = 10_000) => {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}:\n${output.join("\n")}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe("backend example (integration)", () => {
  it("SIGTERM mid-load: every accepted job runs before exit, exit code 130", { timeout: 30_000 }, async () => {
    const service = await start({ EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS: "10000" })
    const accepted = (await Promise.all(Array.from({ length: 20 }, () => post(service.port, 200)))).filter(
      (id) => id !== undefined
    )
    assert.strictEqual(accepted.length, 20)
    // mid-load: at least one job finished, not all (8 run at a time, 200 ms each)
    await waitFor(() => service.done.size > 0, "a first job to finish", service.output)
    service.child.kill("SIGTERM")
    // requests during shutdown are accepted (and must then run) or refused — never accepted and lost
    const late = (await Promise.all(Array.from({ length: 5 }, () => post(service.port, 10)))).filter(
      (id) => id !== undefined
    )
    const code = await service.exited
    assert.strictEqual(code, 130, service.output.join("\n"))
    for (const id of [...accepted, ...late]) assert.isTrue(service.done.has(id), `job ${id} ran before exit`)
    assert.isTrue(
      service.output.some((line) => line.includes("workqueue shutdown: every workqueue drained")),
      service.output.join("\n")
    )
  })

  it("past a short deadline the report lists the unfinished jobs, which still run", { timeout: 30_000 }, async () => {
    const service = await start({ EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS: "50" })
    const accepted = (await Promise.all(Array.from({ length: 10 }, () => post(service.port, 1000)))).filter(
      (id) => id !== undefined
    )
    assert.strictEqual(accepted.length, 10)
    service.child.kill("SIGTERM")
    const code = await service.exited
    assert.strictEqual(code, 130, service.output.join("\n"))
    const text = service.output.join("\n")
    assert.match(text, /workqueue shutdown: deadline of 50 ms passed with \d+ accepted item\(s\) not finished/)
    assert.match(text, /workqueue jobs: \d+ running, \d+ pending, 0 armed/)
    for (const id of accepted) assert.isTrue(service.done.has(id), `job ${id} ran before exit`)
  })

  it("the debug route is off by default and serves the snapshot when enabled", { timeout: 30_000 }, async () => {
    const off = await start({})
    assert.strictEqual((await fetch(`http://127.0.0.1:${off.port}/debug/workqueues`)).status, 404)
    off.child.kill("SIGTERM")
    assert.strictEqual(await off.exited, 130)
    const on = await start({ EFFECT_WORKQUEUE_DEBUG: "1" })
    const snapshot = (await (await fetch(`http://127.0.0.1:${on.port}/debug/workqueues`)).json()) as {
      cpus: number
      workqueues: Array<{ name: string }>
    }
    assert.strictEqual(snapshot.cpus, 2)
    assert.isTrue(snapshot.workqueues.some((wq) => wq.name === "jobs"))
    on.child.kill("SIGTERM")
    assert.strictEqual(await on.exited, 130)
  })
})
