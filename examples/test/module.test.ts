import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/module.ts"
import { runExample } from "./utils/run.ts"

describe("module (seed 003: the article's kernel module)", () => {
  it.effect("immediate work at once, delayed work after 2 s, both freed before exit", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(program, { limit: "5 seconds" })
      assert.deepStrictEqual(lines, [
        "t=    0ms  Workqueue module init",
        "t=    0ms  My work: value = 1, CPU: 0",
        "t= 2000ms  My delayed work: value = 2, CPU: 0",
        "t= 3000ms  Workqueue module exit",
        "t= 3000ms  flush_workqueue + destroy_workqueue done",
        "t= 3000ms  live allocations after exit: 0"
      ])
    })
  )
})
