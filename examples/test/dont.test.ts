import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { WorkqueueSystem } from "@effect-workqueue/core"
import { program } from "../src/dont.ts"
import { runExample } from "./utils/run.ts"

describe("dont (seed 001: the Don't list)", () => {
  it.effect("cancel_work_sync in the finaliser: data is never freed under a running or queued item", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(program, { limit: "1 second" })
      assert.deepStrictEqual(lines, [
        "t=    0ms  data 1: cleanup_work start",
        "t=   10ms  data 1: scope closing while its work runs",
        "t=   50ms  data 1: cleanup_work end (data freed? false)",
        "t=   50ms  data 1: cancel_work_sync = false, then kfree",
        "t=   50ms  data 2: scope closing while its work is queued",
        "t=   50ms  data 2: cancel_work_sync = true, then kfree",
        "t=   50ms  use-after-free accesses: 0"
      ])
    })
  )
})
describe("dont (seed 001: DON'T use uninitialised work)", () => {
  it.effect("a work item that was never made (INIT_WORK) does not type-check", () =>
    Effect.sync(() => {
      const notAWorkItem = { name: "my_work" } // what `static struct work_struct work;` without INIT_WORK would be
      // @ts-expect-error: `schedule` takes a `Work`, which only `Work.make` creates
      const attempt = WorkqueueSystem.schedule(notAWorkItem)
      assert.isTrue(Effect.isEffect(attempt)) // never run: the line above is the point
    })
  )
})
