import { assert, describe, it } from "@effect/vitest"
import { WorkqueueArbitrary, WorkqueueModel } from "@effect-workqueue/testing"
import { Session } from "./utils/session.ts"

const items: ReadonlyArray<WorkqueueModel.ItemSpec> = [
  { name: "w0", delayed: false },
  { name: "w1", delayed: false },
  { name: "w2", delayed: false },
  { name: "dw0", delayed: true },
  { name: "dw1", delayed: true }
]

const make = (workqueues: ReadonlyArray<WorkqueueModel.WorkqueueSpec>, cpus = 2) =>
  new Session({ cpus, workqueues, items })

const bound = (maxActive?: number): WorkqueueModel.WorkqueueSpec => ({ name: "wq0", kind: "bound", maxActive })

const failed = (reason: WorkqueueModel.ErrorReason): WorkqueueModel.Result => ({ _tag: "Failed", reason })

describe("WorkqueueModel", () => {
  describe("queueing and PENDING", () => {
    it("queue on a pending item returns false and changes nothing: no move, no reorder (queue_work_on)", () => {
      const s = make([bound(1), { name: "wq1", kind: "bound" }])
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 0 }))
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq0", item: "w1", cpu: 0 }))
      const before = s.state
      assert.isFalse(s.call({ _tag: "Queue", wq: "wq0", item: "w1", cpu: 1 }))
      assert.isFalse(s.call({ _tag: "Queue", wq: "wq1", item: "w1" }))
      assert.isFalse(s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 1 }))
      assert.deepStrictEqual(s.state.instances, before.instances)
      assert.deepStrictEqual(s.startable("w0"), [0])
      assert.deepStrictEqual(s.startable("w1"), [])
    })

    it("PENDING is cleared just before the handler runs: one extra instance while running (process_one_work)", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      assert.isTrue(s.pending("w0"))
      s.start("w0")
      assert.isFalse(s.pending("w0"))
      assert.strictEqual(s.phase("w0"), "running")
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq0", item: "w0" }))
      assert.isFalse(s.call({ _tag: "Queue", wq: "wq0", item: "w0" }))
      assert.strictEqual(s.phase("w0"), "running+queued")
    })

    it("a handler's self-requeue returns true and runs after the current instance (queue_work)", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.start("w0")
      assert.isTrue(s.call({ _tag: "Requeue", item: "w0" }))
      assert.deepStrictEqual(s.startable("w0"), [])
      s.finish("w0")
      assert.deepStrictEqual(s.startable("w0"), [0])
    })

    it("queued on another CPU while running runs afterwards on the CPU where it runs (__queue_work)", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 0 })
      assert.strictEqual(s.start("w0"), 0)
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 1 }))
      assert.deepStrictEqual(s.startable("w0"), [], "never overlapping")
      s.call({ _tag: "Finish", item: "w0", outcome: "success" })
      assert.deepStrictEqual(s.startable("w0"), [], "not before the worker's bookkeeping ends")
      s.observe({ _tag: "End", item: "w0", wq: "wq0" })
      assert.deepStrictEqual(s.startable("w0"), [0], "redirected to CPU 0")
    })

    it("another workqueue on another pool may overlap; the same per-CPU pool serialises (find_worker_executing_work)", () => {
      const s = make([bound(), { name: "wq1", kind: "unbound" }, { name: "wq2", kind: "bound" }])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 0 })
      s.start("w0")
      s.call({ _tag: "Queue", wq: "wq1", item: "w0" })
      assert.deepStrictEqual(s.startable("w0", "wq1"), [null], "unbound pool: may overlap")
      s.start("w0", "wq1")
      s.call({ _tag: "Queue", wq: "wq2", item: "w0", cpu: 0 })
      assert.deepStrictEqual(s.startable("w0", "wq2"), [], "same cpu0 pool: dispatch collision")
    })

    it("queueOn a CPU outside 0..cpus-1 fails with InvalidCpu and changes nothing (queue_work_on)", () => {
      const s = make([bound()])
      assert.deepStrictEqual(s.do({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 2 }), failed("InvalidCpu"))
      assert.strictEqual(s.phase("w0"), "idle")
    })

    it("a failing or dying handler gives its slot back like a finishing one (process_one_work)", () => {
      const s = make([bound(1)])
      for (const item of ["w0", "w1", "w2"]) s.call({ _tag: "Queue", wq: "wq0", item })
      s.start("w0")
      s.finish("w0", "failure")
      s.start("w1")
      s.finish("w1", "defect")
      s.start("w2")
      s.finish("w2")
      assert.deepStrictEqual(s.allowed(), [])
      assert.deepStrictEqual(WorkqueueModel.invariantViolations(s.state), [])
    })

    it("a suspended handler cannot act until its latch is released", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.start("w0")
      s.call({ _tag: "Suspend", item: "w0", latch: 0 })
      assert.strictEqual(s.do({ _tag: "Finish", item: "w0", outcome: "success" })._tag, "Skipped")
      s.call({ _tag: "Release", latch: 0 })
      s.finish("w0")
      assert.strictEqual(s.phase("w0"), "idle")
    })
  })

  describe("max_active and ordered workqueues", () => {
    it("activates inactive items in FIFO order per pwq (pwq_dec_nr_active)", () => {
      const s = make([bound(1)])
      for (const item of ["w0", "w1", "w2"]) s.call({ _tag: "Queue", wq: "wq0", item, cpu: 0 })
      assert.strictEqual(s.phase("w1"), "queued-inactive")
      assert.deepStrictEqual(s.allowed().map(WorkqueueModel.formatEvent), ["start(w0 on wq0/cpu0)"])
      s.start("w0")
      s.finish("w0")
      assert.deepStrictEqual(s.allowed().map(WorkqueueModel.formatEvent), ["start(w1 on wq0/cpu0)"])
    })

    it("max_active is per CPU on a bound workqueue (alloc_workqueue)", () => {
      const s = make([bound(1)])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 0 })
      s.call({ _tag: "Queue", wq: "wq0", item: "w1", cpu: 1 })
      assert.deepStrictEqual(s.allowed().length, 2)
      assert.strictEqual(WorkqueueModel.nrActive(s.state, "wq0", 0), 1)
    })

    it("unbound max_active is for the whole queue and a freed slot may go to any waiting pwq (node_activate_pending_pwq)", () => {
      const s = make([{ name: "wq0", kind: "unbound", maxActive: 1 }])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 0 })
      s.call({ _tag: "Queue", wq: "wq0", item: "w1", cpu: 0 })
      s.call({ _tag: "Queue", wq: "wq0", item: "w2", cpu: 1 })
      s.start("w0")
      assert.deepStrictEqual(s.allowed(), [])
      s.finish("w0")
      assert.deepStrictEqual(s.startable("w1"), [null])
      assert.deepStrictEqual(s.startable("w2"), [null])
      s.start("w2")
      assert.deepStrictEqual(s.allowed(), [], "the one slot is taken")
      s.finish("w2")
      s.start("w1")
    })

    it("an ordered workqueue runs one item at a time in queueing order across CPUs (alloc_ordered_workqueue)", () => {
      const s = make([{ name: "wq0", kind: "ordered" }])
      s.call({ _tag: "Queue", wq: "wq0", item: "w2", cpu: 1 })
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 0 })
      s.call({ _tag: "Queue", wq: "wq0", item: "w1", cpu: 1 })
      const order: Array<string> = []
      for (;;) {
        const next = s.allowed()
        if (next.length === 0) break
        assert.strictEqual(next.length, 1)
        const event = next[0]!
        if (event._tag !== "Start") break
        order.push(event.item)
        s.observe(event)
        s.finish(event.item)
      }
      assert.deepStrictEqual(order, ["w2", "w0", "w1"])
    })

    it("raising max_active activates at once; lowering never stops running items; 0 becomes 1 (workqueue_set_max_active)", () => {
      const s = make([bound(1), { name: "wq1", kind: "ordered" }])
      for (const item of ["w0", "w1", "w2"]) s.call({ _tag: "Queue", wq: "wq0", item })
      s.call({ _tag: "SetMaxActive", wq: "wq0", maxActive: 3 })
      assert.strictEqual(s.allowed().length, 3)
      for (const item of ["w0", "w1", "w2"]) s.start(item)
      s.call({ _tag: "SetMaxActive", wq: "wq0", maxActive: 0 })
      assert.strictEqual(s.state.workqueues["wq0"]?.maxActive, 1)
      assert.strictEqual(WorkqueueModel.nrActive(s.state, "wq0", 0), 3)
      s.call({ _tag: "SetMaxActive", wq: "wq1", maxActive: 5 })
      assert.strictEqual(s.state.workqueues["wq1"]?.maxActive, 1, "ordered: WARN, no change")
    })
  })

  describe("cancel, disable, enable", () => {
    it("cancel_work returns true iff pending and does not wait for a running instance (cancel_work)", () => {
      const s = make([bound()])
      assert.isFalse(s.call({ _tag: "Cancel", item: "w0" }))
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      assert.isTrue(s.call({ _tag: "Cancel", item: "w0" }))
      assert.strictEqual(s.phase("w0"), "idle")
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.start("w0")
      assert.isFalse(s.call({ _tag: "Cancel", item: "w0" }))
      assert.strictEqual(s.phase("w0"), "running")
      assert.isTrue(s.call({ _tag: "Requeue", item: "w0" }), "the running instance may re-queue it")
    })

    it("cancel_work_sync waits for the running instance and blocks the handler's self-requeue (cancel_work_sync)", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.start("w0")
      const waiter = s.block({ _tag: "CancelSync", item: "w0" })
      assert.isFalse(s.call({ _tag: "Requeue", item: "w0" }))
      assert.isFalse(s.call({ _tag: "Queue", wq: "wq0", item: "w0" }))
      assert.isFalse(s.ready(waiter))
      s.finish("w0")
      assert.isFalse(s.call({ _tag: "Queue", wq: "wq0", item: "w0" }), "still blocked until the call returns")
      assert.isFalse(s.ret(waiter), "it was not pending")
      assert.strictEqual(s.phase("w0"), "idle")
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq0", item: "w0" }), "queueable again after return")
    })

    it("cancel_work_sync returns true when the handler had already re-queued, and that instance never runs (cancel_work_sync)", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.start("w0")
      s.call({ _tag: "Requeue", item: "w0" })
      const waiter = s.block({ _tag: "CancelSync", item: "w0" })
      s.finish("w0")
      assert.deepStrictEqual(s.startable("w0"), [])
      assert.isTrue(s.ret(waiter))
    })

    it("cancel_delayed_work_sync on an armed item removes the timer and returns true at once (cancel_delayed_work_sync)", () => {
      const s = make([bound()])
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10 })
      assert.isTrue(s.call({ _tag: "CancelSync", item: "dw0" }))
      s.call({ _tag: "AdvanceClock", ms: 20 })
      assert.strictEqual(s.phase("dw0"), "idle")
    })

    it("disable counts; enable returns true iff the count reaches 0; queueing a disabled item returns false (disable_work)", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      assert.isTrue(s.call({ _tag: "Disable", item: "w0" }), "it was pending")
      assert.isFalse(s.call({ _tag: "Disable", item: "w0" }))
      assert.deepStrictEqual(WorkqueueModel.itemPhase(s.state, "w0"), { phase: "disabled", disableCount: 2 })
      assert.isFalse(s.call({ _tag: "Queue", wq: "wq0", item: "w0" }))
      s.call({ _tag: "Disable", item: "dw0" })
      assert.isFalse(s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 0 }))
      assert.isFalse(s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10 }))
      assert.isFalse(s.call({ _tag: "Enable", item: "w0" }))
      assert.isFalse(s.call({ _tag: "Queue", wq: "wq0", item: "w0" }))
      assert.isTrue(s.call({ _tag: "Enable", item: "w0" }))
      assert.isTrue(s.call({ _tag: "Enable", item: "w0" }), "underflow: WARN, stays 0, true (enable_work)")
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq0", item: "w0" }))
    })

    it("mod_delayed_work on a disabled item does nothing and returns false (mod_delayed_work_on)", () => {
      const s = make([bound()])
      s.call({ _tag: "Disable", item: "dw0" })
      assert.isFalse(s.call({ _tag: "ModDelayed", wq: "wq0", item: "dw0", delay: 0 }))
      assert.isFalse(s.pending("dw0"))
    })
  })

  describe("delayed work", () => {
    it("timers fire exactly at arm time + delay, same-expiry timers in arming order (delayed_work_timer_fn)", () => {
      const s = make([{ name: "wq0", kind: "ordered" }])
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw1", delay: 10 })
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10 })
      s.call({ _tag: "AdvanceClock", ms: 9 })
      assert.strictEqual(s.phase("dw0"), "armed")
      s.call({ _tag: "AdvanceClock", ms: 1 })
      assert.strictEqual(s.phase("dw1"), "queued-active")
      assert.strictEqual(s.phase("dw0"), "queued-inactive", "armed second, queued second")
    })

    it("queue_delayed_work on a pending item returns false and keeps the expiry (queue_delayed_work_on)", () => {
      const s = make([bound()])
      assert.isTrue(s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 20 }))
      assert.isFalse(s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 5 }))
      s.call({ _tag: "AdvanceClock", ms: 10 })
      assert.strictEqual(s.phase("dw0"), "armed")
      s.call({ _tag: "AdvanceClock", ms: 10 })
      assert.strictEqual(s.phase("dw0"), "queued-active")
    })

    it("delay 0 queues at once, without a timer (__queue_delayed_work)", () => {
      const s = make([bound()])
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 0 })
      assert.strictEqual(s.phase("dw0"), "queued-active")
      assert.strictEqual(s.state.items["dw0"]?.timer, null)
    })

    it("mod_delayed_work returns whether it was pending and re-arms at now + delay (mod_delayed_work_on)", () => {
      const s = make([bound()])
      assert.isFalse(s.call({ _tag: "ModDelayed", wq: "wq0", item: "dw0", delay: 10 }))
      s.call({ _tag: "AdvanceClock", ms: 5 })
      assert.isTrue(s.call({ _tag: "ModDelayed", wq: "wq0", item: "dw0", delay: 10 }))
      assert.strictEqual(s.state.items["dw0"]?.timer?.expiry, 15)
      s.call({ _tag: "AdvanceClock", ms: 9 })
      assert.strictEqual(s.phase("dw0"), "armed")
      assert.isTrue(s.call({ _tag: "ModDelayed", wq: "wq0", item: "dw0", delay: 1 }), "can shorten")
      s.call({ _tag: "AdvanceClock", ms: 1 })
      assert.strictEqual(s.phase("dw0"), "queued-active")
    })

    it("mod_delayed_work pulls a queued item back and postpones it; delay 0 runs it now (mod_delayed_work_on)", () => {
      const s = make([bound(1)])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 0 })
      assert.strictEqual(s.phase("dw0"), "queued-inactive")
      assert.isTrue(s.call({ _tag: "ModDelayed", wq: "wq0", item: "dw0", delay: 30 }))
      assert.strictEqual(s.phase("dw0"), "armed")
      assert.isTrue(s.call({ _tag: "ModDelayed", wq: "wq0", item: "dw0", delay: 0 }))
      assert.strictEqual(s.phase("dw0"), "queued-inactive")
      s.call({ _tag: "AdvanceClock", ms: 40 })
      s.start("w0")
      s.finish("w0")
      s.start("dw0")
      s.finish("dw0")
      assert.deepStrictEqual(s.allowed(), [], "the postponed expiry never produces a second run")
    })

    it("mod_delayed_work on a running, not pending item returns false and arms a new instance (mod_delayed_work_on)", () => {
      const s = make([bound()])
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 0 })
      s.start("dw0")
      assert.isFalse(s.call({ _tag: "ModDelayed", wq: "wq0", item: "dw0", delay: 5, cpu: 1 }))
      s.call({ _tag: "AdvanceClock", ms: 5 })
      assert.strictEqual(s.phase("dw0"), "running+queued")
      assert.deepStrictEqual(s.startable("dw0"), [], "no overlap")
      s.finish("dw0")
      assert.deepStrictEqual(s.startable("dw0"), [0], "fired while running on cpu0: queued where it runs, not on cpu1")
    })
    it("mod_delayed_work moves a pending item to another workqueue and CPU (mod_delayed_work_on)", () => {
      const s = make([bound(), { name: "wq1", kind: "bound" }])
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 0, cpu: 0 })
      assert.isTrue(s.call({ _tag: "ModDelayed", wq: "wq1", item: "dw0", delay: 0, cpu: 1 }))
      assert.deepStrictEqual(s.allowed().map(WorkqueueModel.formatEvent), ["start(dw0 on wq1/cpu1)"])
    })

    it("arming a timer from outside a draining queue fails with Draining and changes nothing (drain_workqueue; docs/KERNEL-MAPPING.md)", () => {
      const s = make([bound(), { name: "wq1", kind: "bound" }])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw1", delay: 5 })
      s.call({ _tag: "Queue", wq: "wq1", item: "w1" })
      s.start("w1")
      s.block({ _tag: "Drain", wq: "wq0" })
      const before = s.state
      assert.deepStrictEqual(s.do({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10 }), failed("Draining"))
      assert.deepStrictEqual(s.do({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 0 }), failed("Draining"))
      assert.deepStrictEqual(s.do({ _tag: "ModDelayed", wq: "wq0", item: "dw0", delay: 10 }), failed("Draining"))
      assert.deepStrictEqual(
        s.do({ _tag: "ModDelayed", wq: "wq0", item: "dw1", delay: 20 }),
        failed("Draining"),
        "checked before the grab: the armed timer is kept"
      )
      assert.deepStrictEqual(
        s.do({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10, from: "w1" }),
        failed("Draining"),
        "a handler of another workqueue is not chained"
      )
      assert.deepStrictEqual(s.state.items, before.items, "a refusal changes nothing")
      assert.strictEqual(s.phase("dw1"), "armed")
    })

    it("a draining queue's own handlers may arm timers; one firing during the drain is waited for, an armed one is not (drain_workqueue; docs/KERNEL-MAPPING.md)", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw1", delay: 5 })
      const waiter = s.block({ _tag: "Drain", wq: "wq0" })
      s.start("w0")
      assert.isTrue(s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10, from: "w0" }), "chained")
      assert.isTrue(s.call({ _tag: "ModDelayed", wq: "wq0", item: "dw1", delay: 20, from: "w0" }), "chained re-arm")
      s.call({ _tag: "AdvanceClock", ms: 10 })
      assert.strictEqual(s.phase("dw0"), "queued-active", "a timer firing during the drain is accepted")
      assert.strictEqual(s.phase("dw1"), "armed", "re-armed at now + 20, not at its old expiry")
      s.finish("w0")
      assert.isFalse(s.ready(waiter), "the drain waits for dw0")
      s.start("dw0")
      s.finish("dw0")
      assert.isTrue(s.ready(waiter), "but not for the armed dw1")
      s.ret(waiter)
      s.call({ _tag: "AdvanceClock", ms: 10 })
      assert.strictEqual(s.phase("dw1"), "queued-active", "fires after the drain, on the open queue")
    })

    it("while destroying, even the queue's own handlers may not arm a timer; delay 0 is chained queueing (destroy_workqueue)", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw1", delay: 50 })
      const waiter = s.block({ _tag: "Destroy", wq: "wq0" })
      assert.strictEqual(s.phase("dw1"), "queued-active", "destroy fired the armed timer")
      s.start("w0")
      const before = s.state
      assert.deepStrictEqual(
        s.do({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10, from: "w0" }),
        failed("Draining")
      )
      assert.deepStrictEqual(
        s.do({ _tag: "ModDelayed", wq: "wq0", item: "dw1", delay: 10, from: "w0" }),
        failed("Draining"),
        "checked before the grab: dw1 stays queued"
      )
      assert.deepStrictEqual(s.state, before, "a refusal changes nothing")
      assert.isTrue(s.call({ _tag: "ModDelayed", wq: "wq0", item: "dw1", delay: 0, from: "w0" }), "delay 0: re-queued")
      assert.isTrue(s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 0, from: "w0" }), "delay 0: queued")
      assert.deepStrictEqual(
        s.do({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10 }),
        {
          _tag: "Returned",
          value: false
        },
        "already pending: the PENDING test comes first"
      )
      s.finish("w0")
      s.start("dw1")
      s.finish("dw1")
      s.start("dw0")
      s.finish("dw0")
      s.ret(waiter)
      assert.deepStrictEqual(s.do({ _tag: "ModDelayed", wq: "wq0", item: "dw0", delay: 10 }), failed("Destroyed"))
    })
  })

  describe("flushing", () => {
    it("flush_work returns false at once for an idle or an armed-only item (flush_work)", () => {
      const s = make([bound()])
      assert.isFalse(s.call({ _tag: "FlushWork", item: "w0" }))
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10 })
      assert.isFalse(s.call({ _tag: "FlushWork", item: "dw0" }))
      assert.strictEqual(s.phase("dw0"), "armed")
    })

    it("flush_work waits for the current instance, not for a re-queue made during the flush (flush_work)", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      const waiter = s.block({ _tag: "FlushWork", item: "w0" })
      s.start("w0")
      s.call({ _tag: "Requeue", item: "w0" })
      s.finish("w0")
      assert.isTrue(s.ready(waiter))
      assert.isTrue(s.ret(waiter))
      assert.strictEqual(s.phase("w0"), "queued-active")
    })

    it("flush_work on a running item waits for the running instance (flush_work)", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.start("w0")
      const waiter = s.block({ _tag: "FlushWork", item: "w0" })
      assert.isFalse(s.ready(waiter))
      s.call({ _tag: "Finish", item: "w0", outcome: "success" })
      assert.isFalse(s.ready(waiter), "waits for the worker's bookkeeping")
      s.observe({ _tag: "End", item: "w0", wq: "wq0" })
      assert.isTrue(s.ret(waiter))
    })

    it("flush_delayed_work fires the timer now and waits; the old expiry never runs it twice (flush_delayed_work)", () => {
      const s = make([bound()])
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 50 })
      const waiter = s.block({ _tag: "FlushDelayedWork", item: "dw0" })
      assert.strictEqual(s.phase("dw0"), "queued-active")
      s.start("dw0")
      s.finish("dw0")
      assert.isTrue(s.ret(waiter))
      s.call({ _tag: "AdvanceClock", ms: 60 })
      assert.strictEqual(s.phase("dw0"), "idle")
      assert.isFalse(s.call({ _tag: "FlushDelayedWork", item: "dw0" }))
    })

    it("flush_workqueue waits only for items queued before it, not armed ones (flush_workqueue)", () => {
      const s = make([bound(1)])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "Queue", wq: "wq0", item: "w1" })
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 5 })
      const waiter = s.block({ _tag: "FlushWorkqueue", wq: "wq0" })
      s.call({ _tag: "Queue", wq: "wq0", item: "w2" })
      s.call({ _tag: "AdvanceClock", ms: 5 })
      s.start("w0")
      s.call({ _tag: "Requeue", item: "w0" })
      s.finish("w0")
      assert.isFalse(s.ready(waiter), "w1 was queued before")
      s.start("w1")
      s.finish("w1")
      assert.isTrue(s.ready(waiter), "w2, dw0 and w0's re-queue came later")
      assert.strictEqual(s.ret(waiter), undefined)
    })

    it("flush_workqueue counts a cancelled item as done (pwq_dec_nr_in_flight)", () => {
      const s = make([bound(1)])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "Queue", wq: "wq0", item: "w1" })
      const waiter = s.block({ _tag: "FlushWorkqueue", wq: "wq0" })
      s.call({ _tag: "Cancel", item: "w1" })
      s.start("w0")
      s.finish("w0")
      assert.isTrue(s.ready(waiter))
    })
  })

  describe("drain and destroy", () => {
    it("drain_workqueue accepts only chained work and waits for it (drain_workqueue)", () => {
      const s = make([bound(), { name: "wq1", kind: "bound" }])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "Queue", wq: "wq1", item: "w2" })
      const waiter = s.block({ _tag: "Drain", wq: "wq0" })
      assert.deepStrictEqual(s.do({ _tag: "Queue", wq: "wq0", item: "w1" }), failed("Draining"))
      assert.isFalse(s.pending("w1"), "nothing left pending")
      s.start("w2")
      assert.deepStrictEqual(
        s.do({ _tag: "Queue", wq: "wq0", item: "w1", from: "w2" }),
        failed("Draining"),
        "a handler of another workqueue is not chained"
      )
      s.start("w0")
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq0", item: "w1", from: "w0" }), "chained")
      assert.isTrue(s.call({ _tag: "Requeue", item: "w0" }), "chained self-requeue")
      s.finish("w0")
      assert.isFalse(s.ready(waiter))
      s.start("w0")
      s.finish("w0")
      s.start("w1")
      s.finish("w1")
      assert.strictEqual(s.ret(waiter), undefined)
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq0", item: "w1" }), "open again")
    })

    it("a timer that fires during a drain is accepted and waited for (a deliberate difference)", () => {
      const s = make([bound()])
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10 })
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      const waiter = s.block({ _tag: "Drain", wq: "wq0" })
      s.call({ _tag: "AdvanceClock", ms: 10 })
      assert.strictEqual(s.phase("dw0"), "queued-active")
      s.start("w0")
      s.finish("w0")
      assert.isFalse(s.ready(waiter))
      s.start("dw0")
      s.finish("dw0")
      assert.isTrue(s.ready(waiter))
    })

    it("destroy_workqueue fires armed timers at once, drains, then queueing fails with Destroyed (destroy_workqueue)", () => {
      const s = make([bound()])
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 100 })
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      const waiter = s.block({ _tag: "Destroy", wq: "wq0" })
      assert.strictEqual(s.phase("dw0"), "queued-active")
      assert.deepStrictEqual(s.do({ _tag: "Queue", wq: "wq0", item: "w1" }), failed("Draining"))
      s.start("w0")
      s.finish("w0")
      s.start("dw0")
      s.finish("dw0")
      s.ret(waiter)
      assert.deepStrictEqual(s.do({ _tag: "Queue", wq: "wq0", item: "w1" }), failed("Destroyed"))
      assert.deepStrictEqual(s.do({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 5 }), failed("Destroyed"))
      assert.deepStrictEqual(s.do({ _tag: "FlushWorkqueue", wq: "wq0" }), failed("Destroyed"))
      assert.strictEqual(s.call({ _tag: "Destroy", wq: "wq0" }), undefined, "idempotent")
    })
  })

  describe("deadlocks", () => {
    it("a handler flushing, draining or destroying its own workqueue fails with Deadlock (__flush_workqueue)", () => {
      const s = make([bound()])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.start("w0")
      const before = s.state
      for (const tag of ["FlushWorkqueue", "Drain", "Destroy"] as const) {
        assert.deepStrictEqual(s.do({ _tag: tag, wq: "wq0", from: "w0" }), failed("Deadlock"))
      }
      assert.strictEqual(s.state, before, "failures change nothing")
    })

    it("an item flushing or cancel-syncing itself fails with Deadlock (start_flush_work)", () => {
      const s = make([bound()])
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 0 })
      s.start("dw0")
      assert.deepStrictEqual(s.do({ _tag: "FlushWork", item: "dw0", from: "dw0" }), failed("Deadlock"))
      assert.deepStrictEqual(s.do({ _tag: "FlushDelayedWork", item: "dw0", from: "dw0" }), failed("Deadlock"))
      assert.deepStrictEqual(s.do({ _tag: "CancelSync", item: "dw0", from: "dw0" }), failed("Deadlock"))
    })

    it("an ordered workqueue waiting on itself fails with Deadlock (flush_work)", () => {
      const s = make([
        { name: "wq0", kind: "ordered" },
        { name: "wq1", kind: "bound" }
      ])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "Queue", wq: "wq0", item: "w1" })
      s.call({ _tag: "Queue", wq: "wq1", item: "w2" })
      s.start("w0")
      assert.deepStrictEqual(s.do({ _tag: "FlushWork", item: "w1", from: "w0" }), failed("Deadlock"))
      const waiter = s.block({ _tag: "FlushWork", item: "w2", from: "w0" })
      assert.strictEqual(s.do({ _tag: "Finish", item: "w0", outcome: "success" })._tag, "Skipped", "w0 waits")
      s.start("w2")
      s.finish("w2")
      assert.isTrue(s.ret(waiter))
      s.finish("w0")
    })
  })

  // In the kernel lockdep *reports* a wait cycle and the tasks hang; docs/KERNEL-MAPPING.md turns only
  // the self-deadlocks into `Deadlock` errors. A cycle between different handlers blocks forever, as in the kernel.
  describe("wait cycles between handlers (not self-deadlocks)", () => {
    it("two handlers flushing each other's workqueue both block forever; nothing else happens for them (lockdep only reports)", () => {
      const s = make(
        [
          { name: "wq0", kind: "bound", maxActive: 1 },
          { name: "wq1", kind: "bound", maxActive: 1 }
        ],
        1
      )
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "Queue", wq: "wq1", item: "w1" })
      s.start("w0")
      s.start("w1")
      assert.deepStrictEqual(WorkqueueModel.deadlocked(s.state), [])
      s.block({ _tag: "FlushWorkqueue", wq: "wq0", from: "w1" })
      s.block({ _tag: "FlushWorkqueue", wq: "wq1", from: "w0" })
      assert.deepStrictEqual(s.allowed(), [], "no Start, End or Return: both hang")
      assert.strictEqual(WorkqueueModel.deadlocked(s.state).length, 2)
      const outside = s.block({ _tag: "FlushWork", item: "w0" })
      assert.isFalse(s.ready(outside), "whoever waits for them hangs too")
      assert.strictEqual(s.do({ _tag: "Finish", item: "w0", outcome: "success" })._tag, "Skipped", "w0 is blocked")
    })

    it("a cancelSync and a flush_work between two handlers block too (no Deadlock)", () => {
      const s = make(
        [
          { name: "wq0", kind: "bound" },
          { name: "wq1", kind: "unbound" }
        ],
        1
      )
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "Queue", wq: "wq1", item: "w1" })
      s.start("w0")
      s.start("w1")
      s.block({ _tag: "CancelSync", item: "w1", from: "w0" })
      s.block({ _tag: "FlushWork", item: "w0", from: "w1" })
      assert.deepStrictEqual(s.allowed(), [])
      assert.strictEqual(WorkqueueModel.deadlocked(s.state).length, 2)
    })

    it("a handler flushing an item that waits for a slot held by the handler's own next instance blocks forever (max_active 2)", () => {
      const s = make([bound(1)], 1)
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.start("w0")
      assert.isTrue(s.call({ _tag: "Requeue", item: "w0" }))
      s.call({ _tag: "Queue", wq: "wq0", item: "w1" })
      s.call({ _tag: "SetMaxActive", wq: "wq0", maxActive: 2 })
      assert.deepStrictEqual(s.startable("w0"), [], "the next w0 holds the second slot but waits for the running w0")
      s.block({ _tag: "FlushWork", item: "w1", from: "w0" }) // not max_active 1 any more: no Deadlock
      assert.deepStrictEqual(s.allowed(), [])
      assert.strictEqual(WorkqueueModel.deadlocked(s.state).length, 1)
    })

    it("flush_work of an item queued behind the caller on its own max_active 1 pwq fails with Deadlock; on another pwq it waits (flush_work)", () => {
      const s = make([bound(1)])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 0 })
      s.call({ _tag: "Queue", wq: "wq0", item: "w1", cpu: 0 })
      s.call({ _tag: "Queue", wq: "wq0", item: "w2", cpu: 1 })
      s.start("w0")
      const before = s.state
      assert.deepStrictEqual(s.do({ _tag: "FlushWork", item: "w1", from: "w0" }), failed("Deadlock"))
      assert.strictEqual(s.state, before, "failures change nothing")
      const waiter = s.block({ _tag: "FlushWork", item: "w2", from: "w0" })
      s.start("w2")
      s.finish("w2")
      assert.isTrue(s.ret(waiter))
    })

    it("flush_delayed_work fires the timer before its self-deadlock fails, and the item stays queued (flush_delayed_work)", () => {
      const s = make([{ name: "wq0", kind: "ordered" }])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 50 })
      s.start("w0")
      assert.deepStrictEqual(s.do({ _tag: "FlushDelayedWork", item: "dw0", from: "w0" }), failed("Deadlock"))
      assert.strictEqual(s.phase("dw0"), "queued-inactive", "the timer fired: queued behind w0")
      s.finish("w0")
      s.start("dw0")
    })
  })

  describe("freeze and thaw", () => {
    it("frozen freezable queues run active items but activate nothing; thaw resumes in order (freeze_workqueues_begin)", () => {
      const s = make([
        { name: "wq0", kind: "bound", maxActive: 1, freezable: true },
        { name: "wq1", kind: "bound" }
      ])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.start("w0")
      s.call({ _tag: "Queue", wq: "wq0", item: "dw0", cpu: 1 })
      const waiter = s.block({ _tag: "Freeze" })
      assert.deepStrictEqual(s.startable("dw0"), [1], "already active: still runs while frozen")
      s.start("dw0")
      s.finish("dw0")
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq0", item: "w1" }), "queueing still succeeds")
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq1", item: "w2" }))
      assert.deepStrictEqual(s.startable("w2"), [0], "not freezable: unaffected")
      s.finish("w0")
      assert.isTrue(s.ready(waiter))
      s.ret(waiter)
      assert.deepStrictEqual(s.startable("w1"), [])
      s.call({ _tag: "Thaw" })
      assert.deepStrictEqual(s.startable("w1"), [0])
    })
  })

  describe("observe", () => {
    it("reports a divergence for an event outside the allowed set", () => {
      const s = make([bound(1)])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.call({ _tag: "Queue", wq: "wq0", item: "w1" })
      const result = WorkqueueModel.observe(s.state, { _tag: "Start", item: "w1", wq: "wq0", cpu: 0 })
      assert.isTrue(WorkqueueModel.isDivergence(result))
      const wrongCpu = WorkqueueModel.observe(s.state, { _tag: "Start", item: "w0", wq: "wq0", cpu: 1 })
      assert.isTrue(WorkqueueModel.isDivergence(wrongCpu))
    })
  })

  describe("generated sequences", () => {
    it.prop(
      "never throw and keep the invariants",
      [WorkqueueArbitrary.scenario()],
      ([scenario]) => {
        const { trace } = WorkqueueModel.run(scenario.config, scenario.ops, WorkqueueArbitrary.chooser(scenario.seed))
        for (const [index, entry] of trace.entries()) {
          const where = `${WorkqueueArbitrary.format(scenario)}\nafter step ${index + 1}`
          assert.deepStrictEqual(WorkqueueModel.invariantViolations(entry.state), [], where)
          for (const event of WorkqueueModel.allowedEvents(entry.state)) {
            assert.isFalse(WorkqueueModel.isDivergence(WorkqueueModel.observe(entry.state, event)), where)
          }
        }
      },
      { arbitrary: { runs: 1000 } }
    )

    it.prop(
      "settle: with every event taken, nothing stays queued on an open, unfrozen queue unless a handler holds it up",
      [WorkqueueArbitrary.scenario({ maxOps: 25 })],
      ([scenario]) => {
        const { state } = WorkqueueModel.run(scenario.config, scenario.ops)
        assert.deepStrictEqual(WorkqueueModel.allowedEvents(state), [])
        for (const instance of state.instances) {
          if (instance.status === "Active") {
            const blocked = state.instances.some(
              (r) =>
                r.item === instance.item && r.id !== instance.id && (r.status === "Running" || r.status === "Finishing")
            )
            assert.isTrue(
              blocked,
              `${instance.item} is active but never started\n${WorkqueueArbitrary.format(scenario)}`
            )
          }
        }
      },
      { arbitrary: { runs: 500 } }
    )

    it("prints a scenario as a numbered op list", () => {
      const text = WorkqueueArbitrary.format({
        config: { cpus: 2, workqueues: [{ name: "wq0", kind: "bound", maxActive: 2, freezable: true }], items },
        ops: [
          { _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10, cpu: 1 },
          { _tag: "CancelSync", item: "w0", from: "w1" },
          { _tag: "AdvanceClock", ms: 5 }
        ],
        seed: 1
      })
      assert.strictEqual(
        text,
        "cpus=2 seed=1 wq0(bound, max_active=2, freezable)\n" +
          "  1. queueDelayedOn(wq0, cpu1, dw0, 10ms)\n" +
          "  2. w1> cancelSync(w0)\n" +
          "  3. advance(5ms)"
      )
    })
  })
  describe("regressions found by the lockstep checker against the engine", () => {
    it("unbound and ordered queues of one nice level share a pool: a second instance from another such queue waits (get_unbound_pool, assign_work)", () => {
      const s = make([
        { name: "wq0", kind: "unbound" },
        { name: "wq1", kind: "ordered" },
        { name: "wq2", kind: "unbound", highpri: true }
      ])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0" })
      s.start("w0", "wq0")
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq2", item: "w0" }))
      assert.deepStrictEqual(s.startable("w0", "wq2"), [null], "nice -20 unbound pool is another pool: may overlap")
      s.start("w0", "wq2")
      assert.isTrue(s.call({ _tag: "Queue", wq: "wq1", item: "w0" }))
      assert.deepStrictEqual(s.startable("w0", "wq1"), [], "same unbound pool: dispatch collision serialises")
      s.call({ _tag: "Finish", item: "w0", outcome: "success" })
      s.observe({ _tag: "End", item: "w0", wq: "wq0" })
      assert.deepStrictEqual(s.startable("w0", "wq1"), [null])
    })

    it("a floating unbound slot may be taken by a head blocked by its running instance, then the next item starts (node_activate_pending_pwq, assign_work)", () => {
      const s = make([{ name: "wq0", kind: "unbound", maxActive: 2 }])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 0 })
      s.start("w0")
      s.call({ _tag: "Queue", wq: "wq0", item: "w1", cpu: 0 })
      s.start("w1")
      s.call({ _tag: "Queue", wq: "wq0", item: "w1", cpu: 1 }) // redirected behind the running w1 (cpu0 pwq)
      s.call({ _tag: "Queue", wq: "wq0", item: "w2", cpu: 0 })
      s.call({ _tag: "Queue", wq: "wq0", item: "dw0", cpu: 1 })
      s.finish("w0") // one slot floats: the cpu0 head (w1) is blocked, the cpu1 head is dw0
      assert.deepStrictEqual(s.startable("dw0"), [null])
      assert.deepStrictEqual(s.startable("w2"), [], "w2 is behind w1, which may not have taken the slot")
      s.call({ _tag: "SetMaxActive", wq: "wq0", maxActive: 3 }) // a second slot floats
      assert.deepStrictEqual(s.startable("w2"), [null], "w1 may hold the first slot, so w2 may take the second")
      s.start("w2")
      assert.strictEqual(s.phase("w1"), "running+queued")
      assert.deepStrictEqual(s.startable("dw0"), [], "both floating slots are taken")
      assert.deepStrictEqual(WorkqueueModel.invariantViolations(s.state), [])
    })

    it("cancelling a blocked head that may hold a floating slot gives the slot back under the current max_active (try_to_grab_pending)", () => {
      const s = make([{ name: "wq0", kind: "unbound", maxActive: 2 }])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 0 })
      s.start("w0")
      s.call({ _tag: "Queue", wq: "wq0", item: "w1", cpu: 1 })
      s.start("w1")
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 1 }) // redirected behind the running w0 (cpu0 pwq)
      s.call({ _tag: "Queue", wq: "wq0", item: "w1", cpu: 0 }) // redirected behind the running w1 (cpu1 pwq)
      s.finish("w1") // the freed slot floats; it may be parked on the blocked w0
      s.call({ _tag: "SetMaxActive", wq: "wq0", maxActive: 1 })
      assert.isTrue(s.call({ _tag: "Cancel", item: "w0" }))
      assert.deepStrictEqual(s.allowed(), [], "w0 still runs and holds the only slot: w1 must wait")
      s.finish("w0")
      assert.deepStrictEqual(s.startable("w1"), [null])
    })

    it("the non-reentrance redirect looks only at the item's last pool: queued on two workqueues it may overlap (__queue_work, find_worker_executing_work)", () => {
      const s = make([bound(), { name: "wq1", kind: "unbound" }])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 1 })
      assert.strictEqual(s.start("w0"), 1)
      s.call({ _tag: "Queue", wq: "wq1", item: "w0" })
      s.start("w0", "wq1")
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 0 })
      assert.deepStrictEqual(
        s.startable("w0", "wq0"),
        [0],
        "the last pool is the unbound one, whose worker runs it for wq1: no redirect to cpu1"
      )
    })

    it("flush_work waits only for the instance in the last pool; cancelSync waits for every running one (start_flush_work; __cancel_work_sync)", () => {
      const s = make([bound(), { name: "wq1", kind: "unbound" }])
      s.call({ _tag: "Queue", wq: "wq0", item: "w0", cpu: 1 })
      s.start("w0")
      s.call({ _tag: "Suspend", item: "w0", latch: 0 })
      s.call({ _tag: "Queue", wq: "wq1", item: "w0" })
      s.start("w0", "wq1")
      s.finish("w0") // the unbound instance, the last started
      assert.strictEqual(s.phase("w0"), "running", "still running on cpu1")
      assert.isFalse(s.call({ _tag: "FlushWork", item: "w0" }), "nothing runs in the last pool")
      const waiter = s.block({ _tag: "CancelSync", item: "w0" })
      s.call({ _tag: "Release", latch: 0 })
      s.finish("w0")
      assert.isFalse(s.ret(waiter))
    })

    it("setMaxActive on a destroyed workqueue fails with Destroyed (the kernel's use-after-free → typed error)", () => {
      const s = make([bound(1)])
      s.call({ _tag: "Destroy", wq: "wq0" })
      assert.deepStrictEqual(s.do({ _tag: "SetMaxActive", wq: "wq0", maxActive: 2 }), failed("Destroyed"))
    })

    it("destroy fires armed timers in expiry order, so the earliest expiry gets the free slot (delayed_work_timer_fn)", () => {
      const s = make([bound(1)], 1)
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw1", delay: 10 })
      s.call({ _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 5 })
      s.block({ _tag: "Destroy", wq: "wq0" })
      assert.strictEqual(s.phase("dw0"), "queued-active")
      assert.strictEqual(s.phase("dw1"), "queued-inactive")
    })
  })
})
