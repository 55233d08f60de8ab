import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as internal from "../../src/internal/threadPool.ts"
import { asDone, encode } from "../../src/internal/threadCodec.ts"
import { fib, gate } from "../fixtures/threadTasks.ts"
import { makeGate } from "../utils/gate.ts"

const submit = (pool: internal.PoolState, task: typeof fib | typeof gate, input: unknown) =>
  Effect.callback<internal.Outcome>((resume) => {
    const encoded = encode(task.input, input)
    if (encoded._tag === "Failure") throw new Error("does not encode")
    internal.submit(pool, task, task.export, encoded.value[0], encoded.value[1], (o) => resume(Effect.succeed(o)))
  })

describe("internal/threadPool", () => {
  it.live("a thread that finishes its run while being terminated is never handed another run", () =>
    Effect.gen(function* () {
      const pool = internal.makePool({
        name: "t",
        threads: 1,
        abortGraceMs: 0,
        resourceLimits: undefined,
        entry: internal.defaultEntry(),
        tracepoint: undefined
      })
      const g = makeGate()
      const first = yield* Effect.forkChild(submit(pool, gate, { cell: g.cell, tag: 1 }))
      yield* g.started(1)
      const [thread] = [...pool.threadSet]
      const run = thread!.run!
      // the abort grace ran out and terminate() was called; in the same step the thread's Done arrives
      internal.threadTerminate(thread!)
      thread!.port.emit("message", { _: "Done", id: run.id, outcome: "Success", value: 1, cpuUs: 0 })
      const outcome = yield* Fiber.join(first) // the run settled with its Done
      assert.strictEqual(outcome._ === "Done" && outcome.outcome, "Success")
      // the next run goes to a new thread, not to the dying one
      const next = yield* submit(pool, fib, 10)
      assert.deepStrictEqual(next._ === "Done" && [next.outcome, next.value], ["Success", 55])
      assert.strictEqual(pool.stats.crashed, 0)
      yield* g.release
      yield* Effect.promise(() => internal.close(pool))
    })
  )
})

describe("internal/threadCodec asDone", () => {
  it("takes a well-formed Done and nothing else, without throwing", () => {
    const ok = { _: "Done", id: 3, outcome: "Success", value: { any: "value" }, cpuUs: 12 } as const
    assert.deepStrictEqual(asDone(ok), ok)
    assert.deepStrictEqual(asDone({ ...ok, leftover: ["Timeout"] }), { ...ok, leftover: ["Timeout"] })
    const revoked = Proxy.revocable({}, {})
    revoked.revoke()
    const bad: ReadonlyArray<unknown> = [
      null,
      undefined,
      42,
      "Done",
      [ok],
      { ...ok, _: "done" },
      { ...ok, id: -1 },
      { ...ok, id: 1.5 },
      { ...ok, id: "3" },
      { ...ok, outcome: "Forged" },
      { ...ok, outcome: "toString" },
      { ...ok, cpuUs: -1e12 },
      { ...ok, cpuUs: Number.NaN },
      { ...ok, cpuUs: Number.POSITIVE_INFINITY },
      { ...ok, leftover: "Timeout" },
      { ...ok, leftover: [1] },
      revoked.proxy,
      new Proxy(ok, {
        get() {
          throw new Error("trap")
        }
      })
    ]
    bad.forEach((u, i) => assert.isUndefined(asDone(u), `bad[${i}]`))
  })
})
