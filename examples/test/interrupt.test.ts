import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/interrupt.ts"
import { runExample } from "./utils/run.ts"

describe("interrupt (seed 001: schedule_work from an IRQ)", () => {
  it.effect("twelve interrupts coalesce into three runs and no value is lost", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(program, { limit: "1 second" })
      assert.deepStrictEqual(lines, [
        "t=    0ms  burst 0: 4 interrupts",
        "t=    0ms  process_work: 4 value(s) [0, 1, 2, 3]",
        "t=   50ms  burst 1: 4 interrupts",
        "t=   50ms  process_work: 4 value(s) [4, 5, 6, 7]",
        "t=  100ms  burst 2: 4 interrupts",
        "t=  100ms  process_work: 4 value(s) [8, 9, 10, 11]",
        "interrupts: 12, schedule_work true: 3, false (coalesced): 9",
        "processed 12 values in order: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]",
        "lost: 0"
      ])
    })
  )
})
