import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/debugging.ts"
import { runExample } from "./utils/run.ts"

describe("debugging (seed 003: debugfs and kworker names)", () => {
  it.effect("the snapshot shows active/inactive items, busy and sleeping kworkers, then the counters", () =>
    Effect.gen(function* () {
      const lines = yield* runExample(program, { limit: "1 second" })
      assert.deepStrictEqual(lines, [
        "== cat /sys/kernel/debug/workqueue (t=50ms, items sleeping) ==",
        "workqueue      type     max_active  active  inactive  started  completed  rescuer",
        "-------------  -------  ----------  ------  --------  -------  ---------  -----------------------",
        "my_private_wq  unbound           1       1         2        1          0  kworker/R-my_private_wq",
        "my_highpri_wq  percpu            2       2         1        2          0  -",
        "",
        "pool  kind     cpu  nice  workers  idle  busy  worklist",
        "----  -------  ---  ----  -------  ----  ----  --------",
        "   3  bound    1     -20        2     0     2         0",
        "  16  unbound  -       0        1     0     1         0",
        "",
        "ps: comm                       state     running",
        "-----------------------------  --------  -------------------------",
        "[kworker/1:0H+my_highpri_wq]   sleeping  highpri_0 (my_highpri_wq)",
        "[kworker/1:1H+my_highpri_wq]   sleeping  highpri_1 (my_highpri_wq)",
        "[kworker/u16:0+my_private_wq]  sleeping  private_0 (my_private_wq)",
        "",
        "== after flush_workqueue on both ==",
        "workqueue      type     max_active  active  inactive  started  completed  rescuer",
        "-------------  -------  ----------  ------  --------  -------  ---------  -----------------------",
        "my_private_wq  unbound           1       0         0        3          3  kworker/R-my_private_wq",
        "my_highpri_wq  percpu            2       0         0        3          3  -",
        "",
        "pool  kind     cpu  nice  workers  idle  busy  worklist",
        "----  -------  ---  ----  -------  ----  ----  --------",
        "   3  bound    1     -20        2     2     0         0",
        "  16  unbound  -       0        1     1     0         0",
        "",
        "ps: comm                       state  running",
        "-----------------------------  -----  -------",
        "[kworker/1:0H-my_highpri_wq]   idle   -",
        "[kworker/1:1H-my_highpri_wq]   idle   -",
        "[kworker/u16:0-my_private_wq]  idle   -",
        "",
        "== cat /sys/kernel/debug/tracing/trace_pipe (events/workqueue enabled) ==",
        // second_fn is queued at once but activated only when first_fn gives back the max_active 1 slot
        "0.300000: workqueue_queue_work: work struct=first_fn function=first_fn workqueue=traced_wq req_cpu=3 cpu=3",
        "0.300000: workqueue_activate_work: work struct first_fn function=first_fn",
        "0.300000: workqueue_queue_work: work struct=second_fn function=second_fn workqueue=traced_wq req_cpu=3 cpu=3",
        "0.300000: workqueue_execute_start: work struct first_fn: function first_fn (kworker/3:0)",
        "0.310000: workqueue_execute_end: work struct first_fn: function first_fn (success)",
        "0.310000: workqueue_activate_work: work struct second_fn function=second_fn",
        "0.310000: workqueue_execute_start: work struct second_fn: function second_fn (kworker/3:0)",
        "0.310000: workqueue_execute_end: work struct second_fn: function second_fn (success)"
      ])
    })
  )
})
