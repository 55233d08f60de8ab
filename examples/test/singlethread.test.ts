import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/singlethread.ts"
import { runExample } from "./utils/run.ts"

describe("singlethread (seeds 001, 004: create_singlethread_workqueue)", () => {
  it.effect("init/exit as a scoped layer; items run one at a time in order, drained before destroy", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(program, { limit: "1 second" })
      assert.deepStrictEqual(lines, [
        'my_init: create_singlethread_workqueue("my_worker")',
        "my_init: ok, max_active=1",
        "queue_my_work(first) = true",
        "queue_my_work(second) = true",
        "queue_my_work(third) = true",
        "module loaded; now rmmod",
        "my_exit: destroy_workqueue(my_wq)",
        "  first: start",
        "  first: end",
        "  second: start",
        "  second: end",
        "  third: start",
        "  third: end",
        "my_exit: done (the workqueue is gone)"
      ])
    })
  )
})
