import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/cancelling.ts"
import { runExample } from "./utils/run.ts"

describe("cancelling (seeds 001, 002: cancel_* and flush_*)", () => {
  it.effect("prints the kernel's return values for every cancel and flush", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(program, { limit: "2 seconds" })
      assert.deepStrictEqual(lines, [
        "t=    0ms  cancel_work_sync(queued, not started) = true",
        "t=  100ms  cancel_work_sync(running) = false; ran: [running:start, running:end]",
        "t=  110ms  cancel_work(running) = false; still running: true",
        "t=  110ms  cancel_work(queued again while running) = true",
        "t=  200ms  flush_work(nowait) done; ran: [running:start, running:end, nowait:start, nowait:end]",
        "t=  200ms  cancel_delayed_work(armed) = true",
        "t=  200ms  cancel_delayed_work(idle) = false",
        "t=  200ms  cancel_delayed_work_sync(armed) = true",
        "t=  200ms  cancel_delayed_work_sync(idle) = false",
        "t=  260ms  flush_workqueue(cancel_demo): 3 of 3 items done",
        "WARNING: Flushing system-wide workqueues will be prohibited in near future (flush_scheduled_work)",
        "t=  290ms  flush_scheduled_work: 2 of 2 items done",
        "t=  290ms  never ran: queued=true, delayed=true"
      ])
    })
  )
})
