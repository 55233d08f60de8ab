import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/systemWorkqueue.ts"
import { runExample } from "./utils/run.ts"

describe("systemWorkqueue (seed 001: INIT_WORK + schedule_work)", () => {
  it.effect(
    "each item runs with its own data; a sleeping handler lets the next item start (schedule_work, flush_work)",
    () =>
      Effect.gen(function* () {
        const lines = yield* runExample(program, { limit: "1 second" })
        assert.deepStrictEqual(lines, [
          "t=    0ms  schedule_work(value=42) = true",
          "t=    0ms  schedule_work(same item, still pending) = false",
          "t=    0ms  schedule_work(value=7) = true",
          "t=    0ms  Work executing: value=42 (cpu 0)",
          "t=    0ms  Work executing: value=7 (cpu 0)",
          "t=  100ms  Work done: value=42, buffer=[processed 42]",
          "t=  100ms  flush_work(value=42) = true",
          "t=  100ms  Work done: value=7, buffer=[processed 7]",
          "t=  100ms  both items done; pending = false"
        ])
      })
  )
})
