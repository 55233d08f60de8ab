import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/delayedWork.ts"
import { runExample } from "./utils/run.ts"

describe("delayedWork (seeds 001, 002: schedule_delayed_work)", () => {
  it.effect("a 2 s item cancelled after 1 s never runs; cancel_delayed_work_sync returns true then false", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(program, { limit: "10 seconds" })
      assert.deepStrictEqual(lines, [
        "t=    0ms  schedule_delayed_work(2 s) = true",
        "t=    0ms  schedule_delayed_work(2 s) again = false",
        "t= 1000ms  delayed_work_pending = true",
        "t= 1000ms  cancel_delayed_work_sync = true (the timer was armed)",
        "t= 1000ms  delayed_work_pending = false",
        "t= 1000ms  cancel_delayed_work_sync = false (nothing left to cancel)",
        "t= 3000ms  2 s later: the handler never ran",
        "t= 3000ms  schedule_delayed_work(2 s) = true",
        "t= 5000ms  Delayed work executing",
        "t= 5500ms  cancel_delayed_work_sync after it ran = false"
      ])
    })
  )
})
