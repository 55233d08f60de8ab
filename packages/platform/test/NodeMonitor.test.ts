import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { TestWorkqueue } from "@effect-workqueue/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { NodeMonitor } from "../src/index.ts"
import { systemLayer } from "./utils/system.ts"

/** Let every runnable fiber run until the system is idle (workers start on the next scheduler turns). */
const settle = TestWorkqueue.settle()

/** A known workload: 3 items of 10 ms on "jobs" (per-CPU), 2 on "bg" (unbound), 1 on "reclaim" (WQ_MEM_RECLAIM). */
const workload = Effect.gen(function* () {
  const jobs = yield* Workqueue.make("jobs")
  const bg = yield* Workqueue.make("bg", { flags: Workqueue.WQ_UNBOUND })
  const reclaim = yield* Workqueue.make("reclaim", { flags: Workqueue.WQ_MEM_RECLAIM })
  const before = yield* WorkqueueSystem.snapshot
  for (let i = 0; i < 3; i++)
    yield* Workqueue.queue(jobs, yield* Work.make(() => Effect.sleep(10), { name: `job${i}` }))
  for (let i = 0; i < 2; i++) yield* Workqueue.queue(bg, yield* Work.make(() => Effect.sleep(10), { name: `bg${i}` }))
  yield* Workqueue.queue(reclaim, yield* Work.make(() => Effect.sleep(10), { name: "r0" }))
  yield* settle
  const running = yield* WorkqueueSystem.snapshot
  yield* TestClock.adjust(10)
  yield* settle
  const after = yield* WorkqueueSystem.snapshot
  return { before, running, after }
})

const layer = systemLayer({ cpus: 2 })

describe("NodeMonitor", () => {
  it.effect("formatMonitorTable prints wq_monitor.py's columns, '-' where the kernel does", () =>
    Effect.gen(function* () {
      const { after, before, running } = yield* workload
      const filter = /^(jobs|bg|reclaim)$/
      assert.strictEqual(
        NodeMonitor.formatMonitorTable(before, running, { filter }),
        [
          "                            total  infl  CPUtime CPUitsv CMW/RPR  mayday rescued",
          "jobs                            3     3      0.0       0       3       -       -",
          "bg                              2     2      0.0       -       0       -       -",
          "reclaim                         1     1      0.0       0       0       0       0"
        ].join("\n")
      )
      // the next interval: nothing new started, everything completed (infl is a level, not a delta)
      assert.strictEqual(
        NodeMonitor.formatMonitorTable(running, after, { filter }),
        [
          "                            total  infl  CPUtime CPUitsv CMW/RPR  mayday rescued",
          "jobs                            0     0      0.0       0       0       -       -",
          "bg                              0     0      0.0       -       0       -       -",
          "reclaim                         0     0      0.0       0       0       0       0"
        ].join("\n")
      )
      // without prev: cumulative totals, as wq_monitor.py prints them
      const totals = NodeMonitor.formatMonitorTable(undefined, after, { filter }).split("\n")
      assert.strictEqual(totals[1], "jobs                            3     0      0.0       0       3       -       -")
    }).pipe(Effect.provide(layer))
  )

  it.effect("monitorRows sums the pwqs of a workqueue and keeps names' last 24 characters in the table", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("a_workqueue_with_a_long_name_x")
      yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.void))
      yield* Workqueue.queueOn(wq, 1, yield* Work.make(() => Effect.void))
      yield* Workqueue.flush(wq)
      const snap = yield* WorkqueueSystem.snapshot
      const row = NodeMonitor.monitorRows(undefined, snap).find((r) => r.name === "a_workqueue_with_a_long_name_x")
      assert.strictEqual(row?.started, 2)
      assert.strictEqual(row?.completed, 2)
      const line = NodeMonitor.formatMonitorTable(undefined, snap, { filter: /long_name/ }).split("\n")[1]
      assert.strictEqual(line?.slice(0, 24), "queue_with_a_long_name_x")
    }).pipe(Effect.provide(layer))
  )

  it.effect("monitorRows carries every counter of the snapshot, failed and defects included", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("faulty")
      yield* Workqueue.queue(wq, yield* Work.make(() => Effect.fail("no")))
      yield* Workqueue.flush(wq)
      yield* Workqueue.queue(wq, yield* Work.make(() => Effect.die("dead")))
      yield* Workqueue.flush(wq)
      const snap = yield* WorkqueueSystem.snapshot
      const row = NodeMonitor.monitorRows(undefined, snap).find((r) => r.name === "faulty")!
      for (const key of Object.keys(WorkqueueSystem.snapshotStatUnits)) assert.property(row, key)
      assert.strictEqual(row.failed, 1)
      assert.strictEqual(row.defects, 1)
      assert.strictEqual(row.completed, 2)
    }).pipe(Effect.provide(layer))
  )

  it.effect("formatDump lists pools, the workqueue -> pool map, rescuers and busy workers (wq_dump.py)", () =>
    Effect.gen(function* () {
      const { running } = yield* workload
      // every handler sleeps on the TestClock once settled: suspension is noticed at the end of the scheduler
      // pump that ran it (docs/DESIGN.md section 3), so each worker shows as sleeping, deterministically
      assert.strictEqual(
        NodeMonitor.formatDump(running),
        [
          "Worker Pools",
          "============",
          "pool[0] ref=7 nice=  0 idle/workers=  0/  4 cpu=  0",
          "pool[1] ref=1 nice=-20 idle/workers=  0/  0 cpu=  0",
          "pool[2] ref=7 nice=  0 idle/workers=  0/  0 cpu=  1",
          "pool[3] ref=1 nice=-20 idle/workers=  0/  0 cpu=  1",
          "pool[4] ref=1 nice=  0 idle/workers=  0/  0 cpu=  0 bh",
          "pool[5] ref=1 nice=-20 idle/workers=  0/  0 cpu=  0 bh",
          "pool[6] ref=1 nice=  0 idle/workers=  0/  0 cpu=  1 bh",
          "pool[7] ref=1 nice=-20 idle/workers=  0/  0 cpu=  1 bh",
          "pool[8] ref=2 nice=  0 idle/workers=  0/  2 cpus=all",
          "",
          "Workqueue CPU -> pool",
          "=====================",
          "[          workqueue           \\ type   CPU 0 1 dfl]",
          "events                           percpu     0 2",
          "events_highpri                   percpu     1 3",
          "events_long                      percpu     0 2",
          "events_unbound                   unbound    8 8 8",
          "events_freezable                 percpu     0 2",
          "events_power_efficient           percpu     0 2",
          "events_freezable_pwr_efficient   percpu     0 2",
          "events_bh                        bh         4 6",
          "events_bh_highpri                bh         5 7",
          "jobs                             percpu     0 2",
          "bg                               unbound    8 8 8",
          "reclaim                          percpu     0 2",
          "",
          "Workqueue -> rescuer",
          "====================",
          "reclaim                          kworker/R-reclaim",
          "",
          "Busy workqueues",
          "===============",
          "workqueue jobs: flags=0x0 state=Open",
          "  pwq 0: cpu=0 active=3 inactive=0",
          "workqueue bg: flags=0x2 state=Open",
          "  pwq 8: cpus=all active=2 inactive=0",
          "workqueue reclaim: flags=0x8 state=Open",
          "  pwq 0: cpu=0 active=1 inactive=0",
          "",
          "Busy workers",
          "============",
          "pool 0: kworker/0:0+jobs sleeping work=job0 for 0 ms",
          "pool 0: kworker/0:1+jobs sleeping work=job1 for 0 ms",
          "pool 0: kworker/0:2+jobs sleeping work=job2 for 0 ms",
          "pool 0: kworker/0:3+reclaim sleeping work=r0 for 0 ms",
          "pool 8: kworker/u8:0+bg sleeping work=bg0 for 0 ms",
          "pool 8: kworker/u8:1+bg sleeping work=bg1 for 0 ms"
        ].join("\n")
      )
    }).pipe(Effect.provide(layer))
  )

  it.effect("formatDump shows a bounded workqueue's pending count against its maxPending (none for unbounded)", () =>
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("bounded", { concurrency: 1, maxPending: 8 })
      for (let i = 0; i < 3; i++) yield* Workqueue.queue(wq, yield* Work.make(() => Effect.sleep(10)))
      yield* settle
      const dump = NodeMonitor.formatDump(yield* WorkqueueSystem.snapshot)
      for (let i = 0; i < 3; i++) {
        // the items finish (one at a time) before any assertion: a failure never leaves the scope waiting
        yield* TestClock.adjust(10)
        yield* settle
      }
      const busy = dump.split("\n").slice(dump.split("\n").indexOf("Busy workqueues"))
      const at = busy.indexOf("workqueue bounded: flags=0x2 state=Open")
      assert.isAtLeast(at, 0, dump)
      assert.deepStrictEqual(busy.slice(at + 1, at + 3), [
        "  pwq 8: cpus=all active=1 inactive=2",
        "  pending: 2 of maxPending 8"
      ])
      assert.notInclude(dump.replace("pending: 2 of maxPending 8", ""), "maxPending", "only bounded workqueues")
    }).pipe(Effect.scoped, Effect.provide(layer))
  )

  it("escapeName writes control characters, bidi overrides and backslashes as escapes; printable text is kept", () => {
    assert.strictEqual(NodeMonitor.escapeName("jobs-1 é ✓"), "jobs-1 é ✓")
    assert.strictEqual(NodeMonitor.escapeName("a\u001b[2Jb"), "a\\x1b[2Jb")
    assert.strictEqual(NodeMonitor.escapeName("\u009b31m\u007f\n"), "\\x9b31m\\x7f\\x0a")
    assert.strictEqual(NodeMonitor.escapeName("x\u202ey"), "x\\u202ey")
    assert.strictEqual(NodeMonitor.escapeName("a\\x1b"), "a\\\\x1b", "an escape in the name cannot pass for ours")
  })

  it.effect("the table and the dump print a hostile workqueue name escaped", () =>
    Effect.gen(function* () {
      yield* Workqueue.make("q\u001b]0;x\u0007")
      const snap = yield* WorkqueueSystem.snapshot
      for (const text of [NodeMonitor.formatMonitorTable(undefined, snap), NodeMonitor.formatDump(snap)]) {
        assert.notInclude(text, "\u001b")
        assert.include(text, "q\\x1b]0;x\\x07")
      }
    }).pipe(Effect.scoped, Effect.provide(layer))
  )
})
