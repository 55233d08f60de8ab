import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/declareWork.ts"
import { runExample } from "./utils/run.ts"

describe("declareWork (seeds 001, 002: DECLARE_WORK)", () => {
  it.effect("one static item from a layer; queueing it while pending returns false (schedule_work)", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(program, { limit: "1 second" })
      assert.deepStrictEqual(lines, [
        "t=    0ms  schedule_work(&my_work) = true",
        "t=    0ms  schedule_work(&my_work) = false (already pending)",
        "  my_handler: run #1 on cpu 0",
        "t=    0ms  flush_work(&my_work) done",
        "t=    0ms  same item from the layer: true",
        "t=    0ms  schedule_work(&my_work) = true",
        "  my_handler: run #2 on cpu 0",
        "t=    0ms  handler ran 2 times"
      ])
    })
  )
})
