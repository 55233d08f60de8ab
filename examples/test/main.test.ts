import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { demo } from "../src/main.ts"
import { runExample } from "./utils/run.ts"

describe("main (the README demo)", () => {
  it.effect("prints the event table and the snapshot tables", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(demo, { limit: "2 seconds" })
      assert.deepStrictEqual(lines, [
        "== what happened ==",
        "time       event                            work      workqueue   cpu",
        "---------  -------------------------------  --------  ----------  ---",
        "t=    0ms  queue -> true                    io_0      percpu_wq   -",
        "t=    0ms  queue -> true                    io_1      percpu_wq   -",
        "t=    0ms  queue -> true                    io_2      percpu_wq   -",
        "t=    0ms  queue -> true                    io_3      percpu_wq   -",
        "t=    0ms  queue -> true                    log_0     ordered_wq  -",
        "t=    0ms  queue -> true                    log_1     ordered_wq  -",
        "t=    0ms  queue -> true                    log_2     ordered_wq  -",
        "t=    0ms  queue -> true                    urgent_0  highpri_wq  -",
        "t=    0ms  queue -> true                    urgent_1  highpri_wq  -",
        "t=    0ms  queue_delayed(300ms) -> true     timer     percpu_wq   -",
        "t=    0ms  flush begin                      -         percpu_wq   -",
        "t=    0ms  start                            urgent_0  highpri_wq  0",
        "t=    0ms  start                            urgent_1  highpri_wq  0",
        "t=    0ms  start                            io_0      percpu_wq   0",
        "t=    0ms  start                            log_0     ordered_wq  0",
        "t=    0ms  start                            io_1      percpu_wq   0",
        "t=   20ms  end                              urgent_0  highpri_wq  0",
        "t=   20ms  end                              urgent_1  highpri_wq  0",
        "t=   50ms  end                              log_0     ordered_wq  0",
        "t=   50ms  start                            log_1     ordered_wq  0",
        "t=  100ms  end                              io_0      percpu_wq   0",
        "t=  100ms  start                            io_2      percpu_wq   0",
        "t=  100ms  end                              io_1      percpu_wq   0",
        "t=  100ms  start                            io_3      percpu_wq   0",
        "t=  100ms  end                              log_1     ordered_wq  0",
        "t=  100ms  start                            log_2     ordered_wq  0",
        "t=  150ms  end                              log_2     ordered_wq  0",
        "t=  200ms  end                              io_2      percpu_wq   0",
        "t=  200ms  end                              io_3      percpu_wq   0",
        "t=  200ms  flush end (timer pending: true)  -         percpu_wq   -",
        "t=  200ms  queue -> true                    chain     ordered_wq  -",
        "t=  200ms  drain begin                      -         ordered_wq  -",
        "t=  200ms  chain round 1                    chain     ordered_wq  0",
        "t=  210ms  chain round 2                    chain     ordered_wq  0",
        "t=  220ms  chain round 3                    chain     ordered_wq  0",
        "t=  230ms  drain end                        -         ordered_wq  -",
        "t=  300ms  start+end                        timer     percpu_wq   0",
        "",
        "== WorkqueueSystem.snapshot: workqueues ==",
        "workqueue   type     max_active  active  inactive  started  completed",
        "----------  -------  ----------  ------  --------  -------  ---------",
        "events      percpu         1024       0         0        0          0",
        "percpu_wq   percpu            2       0         0        5          5",
        "ordered_wq  ordered           1       0         0        6          6",
        "highpri_wq  unbound        1024       0         0        2          2",
        "",
        "== WorkqueueSystem.snapshot: pools with workers ==",
        "pool  kind     cpu  nice  workers  kworkers",
        "----  -------  ---  ----  -------  -------------------------------------------------",
        "   0  bound    0       0        2  kworker/0:0-percpu_wq kworker/0:1-percpu_wq",
        "  16  unbound  -       0        2  kworker/u16:0-ordered_wq kworker/u16:1",
        "  17  unbound  -     -20        2  kworker/u17:0-highpri_wq kworker/u17:1-highpri_wq",
        "",
        "== WorkqueueMetrics.stats (wq_monitor.py) ==",
        "workqueue   total  infl  failed  CMW  mayday  rescued",
        "----------  -----  ----  ------  ---  ------  -------",
        "events          0     0       0    0       0        0",
        // io_0 slept, so concurrency management woke a second worker for io_1 (a CM wake-up)
        "percpu_wq       5     0       0    1       0        0",
        "ordered_wq      6     0       0    0       0        0",
        "highpri_wq      2     0       0    0       0        0"
      ])
    })
  )
})
