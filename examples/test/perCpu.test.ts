import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/perCpu.ts"
import { runExample } from "./utils/run.ts"

describe("perCpu (seed 001: schedule_work_on / queue_work_on)", () => {
  it.effect("every item runs on the CPU it was queued on, on that CPU's kworker", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(program, { limit: "1 second" })
      assert.deepStrictEqual(lines, [
        "call                   worker       asked cpu  ran on cpu",
        "---------------------  -----------  ---------  ----------",
        "schedule_work_on       kworker/0:0          0           0",
        "schedule_work_on       kworker/1:0          1           1",
        "schedule_work_on       kworker/2:0          2           2",
        "schedule_work_on       kworker/3:0          3           3",
        "queue_work_on          kworker/3:0          3           3",
        "queue_work_on          kworker/2:0          2           2",
        "queue_work_on          kworker/1:0          1           1",
        "queue_work_on          kworker/0:0          0           0",
        "queue_work (on cpu 2)  kworker/2:0          2           2",
        "all on the asked CPU: true"
      ])
    })
  )
})
