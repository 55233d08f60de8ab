import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/recurring.ts"
import { runExample } from "./utils/run.ts"

describe("recurring (seed 001: self-re-arming delayed work)", () => {
  it.effect("ticks every second until cancel_delayed_work_sync, then never again", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(program, { limit: "10 seconds" })
      assert.deepStrictEqual(lines, [
        "t=    0ms  start_periodic: schedule_delayed_work(HZ) = true",
        "t= 1000ms  Periodic work executing (tick 1)",
        "t= 2000ms  Periodic work executing (tick 2)",
        "t= 3000ms  Periodic work executing (tick 3)",
        "t= 3500ms  stop_periodic: cancel_delayed_work_sync = true",
        "t= 5500ms  2 s after stop: 0 more ticks, pending = false"
      ])
    })
  )
})
