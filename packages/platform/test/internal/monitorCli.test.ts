/**
 * The monitor command in process: arguments (bad ones are exit 2 with a message), a request that cannot hang,
 * an answer that cannot exhaust memory or abort the process, names that cannot reach the terminal raw. Servers
 * are real, on 127.0.0.1; the stop signal is an AbortController, the bin's SIGINT is tested in
 * bin.integration.test.ts.
 */
import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type Args, MAX_DUMP_CELLS, parseArgs, run } from "../../src/internal/monitorCli.ts"
import { endless, json, serve, silent, type TestServer, trickle } from "../utils/server.ts"
import { systemLayer } from "../utils/system.ts"

const servers: Array<TestServer> = []
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close()
})
const track = async (server: Promise<TestServer>) => {
  const s = await server
  servers.push(s)
  return s
}

const args = (argv: ReadonlyArray<string>): Args => {
  const parsed = parseArgs(argv)
  if (parsed._tag !== "Args") throw new Error(`bad test arguments: ${JSON.stringify(parsed)}`)
  return parsed.args
}

const capture = () => {
  const out: Array<string> = []
  const err: Array<string> = []
  return { out, err, io: { out: (l: string) => void out.push(l), err: (l: string) => void err.push(l) } }
}

/** A real snapshot with a workqueue of the given name and one item run on it. */
const snapshotWith = (name: string) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const wq = yield* Workqueue.make(name)
      yield* Workqueue.queue(wq, yield* Work.make(() => Effect.void, { name: `${name}-item` }))
      yield* Workqueue.flush(wq)
      return yield* WorkqueueSystem.snapshot
    }).pipe(Effect.scoped, Effect.provide(systemLayer({ cpus: 2 })))
  )

describe("monitorCli", () => {
  describe("parseArgs", () => {
    it.each([
      [["8080", "-i", "1e10"], "-i expects a number of seconds in 0..86400"],
      [["8080", "-i", "-1"], "-i expects a number of seconds in 0..86400"],
      [["8080", "-i", "abc"], "-i expects a number of seconds in 0..86400"],
      [["8080", "-i"], "-i expects a number of seconds in 0..86400"],
      [["8080", "-i", "0.001"], "-i expects 0 (print once) or at least 0.1 seconds"],
      [["8080", "--timeout", "0"], "--timeout expects a number of seconds in 0.001..600"],
      [["8080", "--max-bytes", "10"], "--max-bytes expects an integer in 1024..1073741824"],
      [["8080", "("], "invalid REGEX"],
      [["8080", "[z-a]"], "invalid REGEX"],
      [["70000"], "port must be in 1..65535"],
      [["0"], "port must be in 1..65535"],
      [["file:///etc/passwd"], "only http: and https: URLs are supported"],
      [["not a url"], "not a URL or a port"],
      [["8080", "--frobnicate"], "unknown option"],
      [[], "missing <url | port>"]
    ])("%j is refused: %s", (argv, message) => {
      const parsed = parseArgs(argv)
      assert.strictEqual(parsed._tag, "Invalid")
      if (parsed._tag === "Invalid") assert.include(parsed.message, message)
    })

    it("defaults, a port shorthand, and the token from the environment", () => {
      const parsed = parseArgs(["8080", "jobs", "events"], { EFFECT_WORKQUEUE_DEBUG_TOKEN: "s3cret" })
      assert.strictEqual(parsed._tag, "Args")
      if (parsed._tag !== "Args") return
      assert.strictEqual(parsed.args.url, "http://127.0.0.1:8080/debug/workqueues")
      assert.strictEqual(parsed.args.intervalMs, 1000)
      assert.strictEqual(parsed.args.timeoutMs, 5000)
      assert.strictEqual(parsed.args.maxBytes, 16 * 1024 * 1024)
      assert.strictEqual(parsed.args.token, "s3cret")
      assert.isTrue(parsed.args.filter?.test("jobs"))
      assert.isFalse(parsed.args.filter?.test("bg"))
      assert.strictEqual(parseArgs(["--help"])._tag, "Help")
    })
  })

  describe("run", () => {
    it("a server that never answers: the request times out (exit 1), it does not hang", async () => {
      const server = await track(silent())
      const c = capture()
      const code = await run(args([server.url, "--timeout", "0.2"]), c.io, new AbortController().signal)
      assert.strictEqual(code, 1)
      assert.match(c.err[0] ?? "", /no complete answer within 200 ms/)
    })

    it("a server that trickles: the timeout covers the body too", async () => {
      const server = await track(trickle())
      const c = capture()
      const code = await run(args([server.url, "--timeout", "0.2"]), c.io, new AbortController().signal)
      assert.strictEqual(code, 1)
      assert.match(c.err[0] ?? "", /no complete answer within 200 ms/)
    })

    it("stop mid-request ends at once with 0, whatever the timeout", async () => {
      const server = await track(silent())
      const stop = new AbortController()
      const c = capture()
      const result = run(args([server.url, "--timeout", "600"]), c.io, stop.signal)
      await server.requested()
      stop.abort()
      assert.strictEqual(await result, 0)
      assert.deepStrictEqual(c.err, [])
    })

    it("stop mid-interval ends at once with 0, whatever the interval", async () => {
      const snapshot = await snapshotWith("jobs")
      const server = await track(json(() => snapshot))
      const stop = new AbortController()
      const c = capture()
      const result = run(args([server.url, "-i", "86400"]), c.io, stop.signal)
      await server.requested()
      // the first table is printed synchronously after the answer; wait for it through the output itself
      while (c.out.length === 0) await new Promise((resolve) => setImmediate(resolve))
      stop.abort()
      assert.strictEqual(await result, 0)
      assert.strictEqual(server.requests.length, 1)
    })

    it("an endless answer is cut at --max-bytes (exit 1), never buffered whole", async () => {
      const server = await track(endless())
      const c = capture()
      const code = await run(args([server.url, "--max-bytes", "65536"]), c.io, new AbortController().signal)
      assert.strictEqual(code, 1)
      assert.match(c.err[0] ?? "", /larger than --max-bytes 65536/)
    })

    it("a declared Content-Length over the limit is refused before reading", async () => {
      const server = await track(
        serve((_req, res) => {
          res.writeHead(200, { "content-type": "application/json", "content-length": String(1 << 30) })
          res.write("{")
        })
      )
      const c = capture()
      const code = await run(args([server.url, "--max-bytes", "65536"]), c.io, new AbortController().signal)
      assert.strictEqual(code, 1)
      assert.match(c.err[0] ?? "", /\(1073741824 bytes\) is larger than --max-bytes 65536/)
    })

    it.each([
      ["cpus 1e9 (would abort --dump)", (s: Record<string, unknown>) => ({ ...s, cpus: 1e9 })],
      ["cpus as a string", (s: Record<string, unknown>) => ({ ...s, cpus: "2" })],
      ["workqueues not an array", (s: Record<string, unknown>) => ({ ...s, workqueues: {} })],
      ["not an object", () => 42]
    ])("an answer that is not a snapshot (%s) is exit 1 with a message, nothing printed", async (_, mutate) => {
      const snapshot = (await snapshotWith("jobs")) as unknown as Record<string, unknown>
      const server = await track(json(() => mutate(snapshot)))
      const c = capture()
      const code = await run(args([server.url, "--dump"]), c.io, new AbortController().signal)
      assert.strictEqual(code, 1)
      assert.match(c.err[0] ?? "", /the answer is not a workqueue snapshot/)
      assert.deepStrictEqual(c.out, [])
    })

    it("names with terminal escape sequences are printed escaped in the table, the dump and JSON", async () => {
      const evil = "evil\u001b]0;pwned\u0007\u001b[2J\u009b31m"
      const snapshot = await snapshotWith(evil)
      const server = await track(json(() => snapshot))
      for (const mode of [["-i", "0"], ["--dump"], ["-i", "0", "--json"]]) {
        const c = capture()
        const code = await run(args([server.url, ...mode]), c.io, new AbortController().signal)
        assert.strictEqual(code, 0)
        const text = c.out.join("\n")
        // oxlint-disable-next-line no-control-regex -- looking for control characters is the point
        assert.notMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, `${mode.join(" ")}: no control character`)
        const shown = mode.includes("--json") ? c.out.map((l) => (JSON.parse(l) as { name: string }).name).join() : text
        assert.include(shown, "\\x1b[2J\\x9b31m", mode.join(" "))
      }
    })

    it("--json rows keep every counter of the snapshot (the schema drops none)", async () => {
      const snapshot = await snapshotWith("jobs")
      const server = await track(json(() => snapshot))
      const c = capture()
      assert.strictEqual(
        await run(args([server.url, "-i", "0", "--json", "^jobs$"]), c.io, new AbortController().signal),
        0
      )
      const row = JSON.parse(c.out[0]!) as Record<string, unknown>
      for (const key of Object.keys(WorkqueueSystem.snapshotStatUnits)) assert.isNumber(row[key], key)
      assert.strictEqual(row.completed, 1)
    })

    it("--dump of 200 000 pools prints them all (no Math.max spread: it overflowed the call stack)", async () => {
      const pools = Array.from({ length: 200_000 }, (_, id) => ({
        id,
        kind: "bh",
        nice: 0,
        refs: 0,
        idle: 0,
        workers: []
      }))
      const server = await track(json(() => ({ time: 1, cpus: 1, freezing: false, timers: 0, workqueues: [], pools })))
      const c = capture()
      assert.strictEqual(await run(args([server.url, "--dump"]), c.io, new AbortController().signal), 0, c.err.join())
      const text = c.out.join("\n")
      assert.include(text, "pool[199999] ref=0")
      assert.include(text, "pool[000000] ref=0")
    })

    it("--dump refuses a snapshot whose CPU -> pool table is past its cell limit, with a message (exit 1)", async () => {
      const n = Math.floor(MAX_DUMP_CELLS / 1025) + 1 // 1024 CPUs: one workqueue more than fits
      const workqueues = Array.from({ length: n }, (_, i) => ({
        name: `w${i}`,
        flags: 0,
        type: "percpu",
        maxActive: 1,
        state: "",
        armed: 0,
        queued: 0,
        pending: 0,
        pwqs: []
      }))
      const server = await track(
        json(() => ({ time: 1, cpus: 1024, freezing: false, timers: 0, workqueues, pools: [] }))
      )
      const c = capture()
      assert.strictEqual(await run(args([server.url, "--dump"]), c.io, new AbortController().signal), 1)
      assert.match(c.err[0] ?? "", /--dump: the answer has \d+ workqueues on 1024 CPUs/)
      assert.deepStrictEqual(c.out, [])
      // the table view of the same answer is printed
      const t = capture()
      assert.strictEqual(await run(args([server.url, "-i", "0"]), t.io, new AbortController().signal), 0, t.err.join())
    })

    it("the token is sent as a bearer token", async () => {
      const snapshot = await snapshotWith("jobs")
      const server = await track(json(() => snapshot))
      const c = capture()
      assert.strictEqual(
        await run(args([server.url, "-i", "0", "--token", "t0k"]), c.io, new AbortController().signal),
        0
      )
      assert.strictEqual(server.requests[0]?.headers.authorization, "Bearer t0k")
    })
  })
})
