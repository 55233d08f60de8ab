import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/deferredIo.ts"
import { runExample } from "./utils/run.ts"

describe("deferredIo (seed 001: deferred I/O)", () => {
  it.effect("max_active 4: at most four requests run at once; every request completes and is freed", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(program, { limit: "1 second" })
      assert.deepStrictEqual(lines, [
        'io_init: alloc_workqueue("io_worker", WQ_MEM_RECLAIM, 4)',
        "submitted 10 requests; allocated=10",
        "time       event                                  running",
        "---------  -------------------------------------  -------",
        "t=    0ms  start req 0 (offset=0, size=4096)            1",
        "t=    0ms  start req 1 (offset=4096, size=4096)         2",
        "t=    0ms  start req 2 (offset=8192, size=4096)         3",
        "t=    0ms  start req 3 (offset=12288, size=4096)        4",
        "t=   50ms  end   req 0                                  3",
        "t=   50ms  start req 4 (offset=16384, size=4096)        4",
        "t=   50ms  end   req 1                                  3",
        "t=   50ms  start req 5 (offset=20480, size=4096)        4",
        "t=   50ms  end   req 2                                  3",
        "t=   50ms  start req 6 (offset=24576, size=4096)        4",
        "t=   50ms  end   req 3                                  3",
        "t=   50ms  start req 7 (offset=28672, size=4096)        4",
        "t=  100ms  end   req 4                                  3",
        "t=  100ms  start req 8 (offset=32768, size=4096)        4",
        "t=  100ms  end   req 5                                  3",
        "t=  100ms  start req 9 (offset=36864, size=4096)        4",
        "t=  100ms  end   req 6                                  3",
        "t=  100ms  end   req 7                                  2",
        "t=  150ms  end   req 8                                  1",
        "t=  150ms  end   req 9                                  0",
        "completions (10): req 0 -> 0, req 1 -> 0, req 2 -> 0, req 3 -> 0, req 4 -> 0, req 5 -> 0, req 6 -> 0, req 7 -> 0, req 8 -> 0, req 9 -> 0",
        "max concurrently running: 4 (max_active 4)",
        "allocated after flush: 0 (every request freed by its handler)",
        "io_exit: destroy_workqueue(io_wq)"
      ])
    })
  )
})
