import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { jiqwq, jiqwqdelay } from "../src/jiq.ts"
import { runExample } from "./utils/run.ts"

describe("jiq (seed 004: LDD3 /proc/jiqwq)", () => {
  it.effect("jiqwq: a self-re-queueing item prints delta 0 on one CPU's worker", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(jiqwq, { limit: "1 second" })
      assert.deepStrictEqual(lines, [
        "% cat /proc/jiqwq",
        "    time  delta preempt   pid cpu command",
        "       0     0      0  110  1 kworker/1:0",
        "       0     0      0  110  1 kworker/1:0",
        "       0     0      0  110  1 kworker/1:0",
        "       0     0      0  110  1 kworker/1:0",
        "       0     0      0  110  1 kworker/1:0"
      ])
    })
  )
})

describe("jiq (seed 004: LDD3 /proc/jiqwqdelay)", () => {
  it.effect("jiqwqdelay: re-arming after one jiffy prints delta exactly 1", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(jiqwqdelay, { limit: "1 second" })
      assert.deepStrictEqual(lines, [
        "% cat /proc/jiqwqdelay",
        "    time  delta preempt   pid cpu command",
        "       0     0      0  100  0 kworker/0:0",
        "       1     1      0  100  0 kworker/0:0",
        "       2     1      0  100  0 kworker/0:0",
        "       3     1      0  100  0 kworker/0:0",
        "       4     1      0  100  0 kworker/0:0"
      ])
    })
  )
})
