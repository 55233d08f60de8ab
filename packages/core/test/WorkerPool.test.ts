import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { Work, Workqueue, WorkqueueSystem } from "../src/index.ts"
import {
  makeGate,
  makeLogCapture,
  makeRecorder,
  settle,
  systemLayer,
  withSystemClosedOnSuccess
} from "./utils/recorder.ts"

/** A CPU-bound handler body: never suspends on anything but cooperative yields. */
const spin = (n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.yieldNow
  })

/**
 * Automatic CPU-hog detection (wq_worker_tick) measures real CPU time; tests about concurrency management and
 * priorities switch it off so a slow machine can't turn a CPU-bound item into a CPU-intensive one.
 */
const NO_HOG_DETECTION = 0

/** A CPU clock on a loaded machine: every read is 15 ms after the last, so every slice looks like a CPU hog. */
const loadedCpuClock = () => {
  let t = 0
  return () => (t += 15)
}

const kinds = (events: ReadonlyArray<{ readonly kind: string; readonly name: string }>) =>
  events.map((e) => `${e.kind} ${e.name}`)

const poolOf = (snap: WorkqueueSystem.Snapshot, wq: string, cpu = 0) => {
  const w = snap.workqueues.find((x) => x.name === wq)!
  const pwq = w.pwqs.find((p) => p.cpu === cpu) ?? w.pwqs[0]!
  return snap.pools.find((p) => p.id === pwq.pool)!
}

/** Every counter of workqueue `wq` in `snap`, summed over its pwqs. */
const statsOf = (snap: WorkqueueSystem.Snapshot, wq: string) => {
  const pwqs = snap.workqueues.find((x) => x.name === wq)!.pwqs
  type Key = keyof WorkqueueSystem.PwqSnapshot["stats"]
  const sum = {} as Record<Key, number>
  for (const key of Object.keys(WorkqueueSystem.snapshotStatUnits) as Array<Key>) {
    sum[key] = pwqs.reduce((n, p) => n + p.stats[key], 0)
  }
  return sum
}

describe("WorkerPool", () => {
  describe("concurrency management (bound pools)", () => {
    // The machine's speed reaches a schedule only through the CPU clock (hog detection, time slices). On a loaded
    // machine a slice of "a" could pass the 10 ms hog threshold: "a" turned CPU-intensive, left concurrency
    // management, and "b" started without a concurrency-management wake-up, so the cmWakeup assertion failed; the
    // system's close then flushed items sleeping on a TestClock nobody advanced, and the failure became a hang. A
    // frozen clock takes the machine out; a "loaded" one (every slice 15 ms) pins that other schedule; and the
    // system closes only on success, so a failure is reported, not hung.
    for (const [machine, cpuClock] of [
      ["any machine", () => 0],
      ["a loaded machine", loadedCpuClock()]
    ] as const) {
      it.effect(
        `the next item starts when the running one sleeps: two 10 ms sleepers both start at t=0, on ${machine} (wq_worker_sleeping)`,
        () =>
          Effect.gen(function* () {
            const rec = yield* makeRecorder
            const wq = yield* Workqueue.make("cm")
            yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler("a", Effect.sleep(10))))
            yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler("b", Effect.sleep(10))))
            yield* settle()
            assert.deepStrictEqual(yield* rec.trace, ["start a@0/cpu0", "start b@0/cpu0"])
            const snap = yield* WorkqueueSystem.snapshot
            assert.strictEqual(poolOf(snap, "cm").workers.length, 2)
            if (machine === "any machine") {
              assert.isAtLeast(statsOf(snap, "cm").cmWakeup, 1, "the sleep woke another worker (PWQ_STAT_CM_WAKEUP)")
            } else {
              assert.strictEqual(statsOf(snap, "cm").cmWakeup, 0, "a CPU hog left concurrency management: no wake-up")
            }
            yield* TestClock.adjust(10)
            yield* settle()
            assert.deepStrictEqual(yield* rec.trace, [
              "start a@0/cpu0",
              "start b@0/cpu0",
              "end a@10/cpu0",
              "end b@10/cpu0"
            ])
          }).pipe(withSystemClosedOnSuccess({ cpus: 4, cpuClock }))
      )
    }

    it.effect(
      "an expectation a loaded machine breaks fails at once: the system's close, which would wait for TestClock sleepers, is skipped",
      () =>
        Effect.gen(function* () {
          // the "any machine" expectation above, on the loaded clock: a hog left concurrency management, so no
          // concurrency-management wake-up; with the close run on failure, flushing the sleepers nobody advances
          // the TestClock for would hang instead of reporting
          const exit = yield* Effect.exit(
            Effect.gen(function* () {
              const wq = yield* Workqueue.make("cm")
              yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.sleep(10)))
              yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.sleep(10)))
              yield* settle()
              assert.isAtLeast(statsOf(yield* WorkqueueSystem.snapshot, "cm").cmWakeup, 1)
            }).pipe(withSystemClosedOnSuccess({ cpus: 4, cpuClock: loadedCpuClock() }))
          )
          assert.isTrue(Exit.isFailure(exit), "the loaded clock changed the schedule")
          assert.match(
            String(Cause.squash((exit as Exit.Failure<void, unknown>).cause)),
            /expected \+0 to be at least 1/
          )
        }),
      { timeout: 60_000 }
    )

    it.effect(
      "CPU-bound handlers that only yield run one after another on one CPU (need_more_worker / keep_working)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("cm")
          for (const n of ["a", "b", "c"]) yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler(n, spin(10))))
          yield* settle(200)
          assert.deepStrictEqual(kinds(yield* rec.events), ["start a", "end a", "start b", "end b", "start c", "end c"])
          const snap = yield* WorkqueueSystem.snapshot
          assert.strictEqual(poolOf(snap, "cm").workers.length, 1, "one worker was enough")
        }).pipe(Effect.provide(systemLayer({ cpus: 4, cpuIntensiveThresh: NO_HOG_DETECTION })))
    )

    it.effect("CPU-bound items on different CPUs run side by side: pools are per CPU (need_more_worker)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("cm")
        yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler("a", spin(20))))
        yield* Workqueue.queueOn(wq, 1, yield* Work.make(rec.handler("b", spin(20))))
        yield* settle(200)
        assert.deepStrictEqual(kinds(yield* rec.events).slice(0, 2), ["start a", "start b"])
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "the pools are shared: items of two per-CPU workqueues on one CPU are concurrency-managed together (worker_pool)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const one = yield* Workqueue.make("one")
          const two = yield* Workqueue.make("two")
          yield* Workqueue.queueOn(one, 2, yield* Work.make(rec.handler("a", spin(10))))
          yield* Workqueue.queueOn(two, 2, yield* Work.make(rec.handler("b", spin(10))))
          yield* settle(200)
          assert.deepStrictEqual(kinds(yield* rec.events), ["start a", "end a", "start b", "end b"])
          const snap = yield* WorkqueueSystem.snapshot
          assert.strictEqual(poolOf(snap, "one", 2).id, poolOf(snap, "two", 2).id)
        }).pipe(Effect.provide(systemLayer({ cpus: 4, cpuIntensiveThresh: NO_HOG_DETECTION })))
    )

    it.effect("WQ_CPU_INTENSIVE items don't hold back the next item on their CPU (WQ_CPU_INTENSIVE)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const hogs = yield* Workqueue.make("hogs", { flags: Workqueue.WQ_CPU_INTENSIVE })
        const plain = yield* Workqueue.make("plain")
        yield* Workqueue.queueOn(hogs, 0, yield* Work.make(rec.handler("hog", spin(60))))
        yield* Workqueue.queueOn(plain, 0, yield* Work.make(rec.handler("quick", spin(2))))
        yield* settle(300)
        assert.deepStrictEqual(kinds(yield* rec.events), ["start hog", "start quick", "end quick", "end hog"])
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("WQ_HIGHPRI items are served before normal ones on the same CPU (WQ_HIGHPRI)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const normal = yield* Workqueue.make("normal")
        const high = yield* Workqueue.make("high", { flags: Workqueue.WQ_HIGHPRI })
        yield* Workqueue.queueOn(normal, 0, yield* Work.make(rec.handler("n", spin(40))))
        yield* Workqueue.queueOn(high, 0, yield* Work.make(rec.handler("h", spin(40))))
        yield* settle(300)
        const ends = yield* rec.ends
        assert.deepStrictEqual(ends, ["h", "n"], "the highpri item, queued second, finishes first")
        const snap = yield* WorkqueueSystem.snapshot
        assert.notStrictEqual(poolOf(snap, "high").id, poolOf(snap, "normal").id, "a separate pool")
        assert.strictEqual(poolOf(snap, "high").nice, -20)
        assert.strictEqual(poolOf(snap, "normal").nice, 0)
      }).pipe(Effect.provide(systemLayer({ cpus: 4, cpuIntensiveThresh: NO_HOG_DETECTION })))
    )
  })

  describe("BH pools", () => {
    it.effect("WQ_BH | WQ_HIGHPRI items run before normal BH items of the same CPU (HI_SOFTIRQ)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const bh = yield* WorkqueueSystem.systemBhWq
        const bhHigh = yield* WorkqueueSystem.systemBhHighpriWq
        yield* Workqueue.queueOn(bh, 0, yield* Work.make(rec.handler("normal", spin(20))))
        yield* Workqueue.queueOn(bhHigh, 0, yield* Work.make(rec.handler("high", spin(20))))
        yield* settle(200)
        assert.deepStrictEqual(yield* rec.ends, ["high", "normal"])
        const snap = yield* WorkqueueSystem.snapshot
        assert.strictEqual(poolOf(snap, "events_bh_highpri").nice, -20)
        assert.strictEqual(poolOf(snap, "events_bh_highpri").kind, "bh")
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("BH items run in queueing order, one at a time, on the queueing CPU (WQ_BH)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const bh = yield* WorkqueueSystem.systemBhWq
        for (const n of ["a", "b", "c"]) {
          yield* WorkqueueSystem.onCpu(1)(Workqueue.queue(bh, yield* Work.make(rec.handler(n, spin(3)))))
        }
        yield* settle(200)
        assert.deepStrictEqual(yield* rec.trace, [
          "start a@0/cpu1",
          "end a@0/cpu1",
          "start b@0/cpu1",
          "end b@0/cpu1",
          "start c@0/cpu1",
          "end c@0/cpu1"
        ])
        const snap = yield* WorkqueueSystem.snapshot
        const pool = poolOf(snap, "events_bh", 1)
        assert.strictEqual(pool.kind, "bh")
        assert.strictEqual(pool.cpu, 1)
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("a long run of BH items keeps queueing order across softirq restarts (bh_worker)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const bh = yield* WorkqueueSystem.systemBhWq
        const names = Array.from({ length: 25 }, (_, i) => `bh${i}`)
        for (const n of names) yield* Workqueue.queueOn(bh, 2, yield* Work.make(rec.handler(n)))
        yield* settle(200)
        assert.deepStrictEqual(yield* rec.starts, names)
        assert.isTrue((yield* rec.events).every((e) => e.cpu === 2))
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("a suspending BH handler logs a diagnostic naming the item and workqueue (WQ_BH)", () => {
      const logs = makeLogCapture()
      return Effect.gen(function* () {
        const rec = yield* makeRecorder
        const bh = yield* WorkqueueSystem.systemBhWq
        yield* Workqueue.queue(bh, yield* Work.make(rec.handler("sleepy_bh", Effect.sleep(5)), { name: "sleepy_bh" }))
        yield* settle()
        yield* TestClock.adjust(5)
        yield* settle()
        assert.deepStrictEqual(yield* rec.ends, ["sleepy_bh"], "it still completes")
        const diag = logs.lines.filter((l) => l.message.includes("sleepy_bh") && l.message.includes("events_bh"))
        assert.strictEqual(diag.length, 1, logs.text())
        assert.strictEqual(diag[0]!.level, "Warn")
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }), Effect.provide(logs.layer))
    })
  })

  describe("workers", () => {
    it.effect(
      "workers get kworker-style names: kworker/<cpu>:<id>, H for highpri, u<pool id> for unbound, R- for rescuers (format_worker_id)",
      () =>
        Effect.gen(function* () {
          const gate = yield* makeGate
          const bound = yield* Workqueue.make("bound")
          const high = yield* Workqueue.make("high", { flags: Workqueue.WQ_HIGHPRI })
          const unbound = yield* Workqueue.make("unbound", { flags: Workqueue.WQ_UNBOUND })
          yield* Workqueue.make("reclaim", { flags: Workqueue.WQ_MEM_RECLAIM })
          yield* Workqueue.queueOn(bound, 0, yield* Work.make(() => gate.await, { name: "b" }))
          yield* Workqueue.queueOn(high, 0, yield* Work.make(() => gate.await, { name: "h" }))
          yield* Workqueue.queueOn(bound, 3, yield* Work.make(() => gate.await, { name: "b3" }))
          yield* Workqueue.queue(unbound, yield* Work.make(() => gate.await, { name: "u" }))
          yield* settle()
          const snap = yield* WorkqueueSystem.snapshot
          const names = (wq: string, cpu = 0) => poolOf(snap, wq, cpu).workers.map((w) => w.name)
          assert.deepStrictEqual(names("bound"), ["kworker/0:0"])
          assert.deepStrictEqual(names("high"), ["kworker/0:0H"])
          assert.deepStrictEqual(names("bound", 3), ["kworker/3:0"])
          const unboundPool = poolOf(snap, "unbound")
          assert.strictEqual(unboundPool.kind, "unbound")
          assert.deepStrictEqual(names("unbound"), [`kworker/u${unboundPool.id}:0`])
          assert.strictEqual(snap.workqueues.find((w) => w.name === "reclaim")!.rescuer, "kworker/R-reclaim")
          const busy = poolOf(snap, "bound").workers[0]!
          assert.strictEqual(busy.comm, "kworker/0:0+bound")
          assert.strictEqual(busy.work, "b")
          assert.strictEqual(busy.workqueue, "bound")
          assert.notStrictEqual(busy.state, "idle")
          yield* gate.open
          yield* settle()
          const after = poolOf(yield* WorkqueueSystem.snapshot, "bound").workers[0]!
          assert.strictEqual(after.state, "idle")
          assert.strictEqual(after.comm, "kworker/0:0-bound")
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("worker ids are per pool and the lowest free id is reused (format_worker_id)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("ids")
        for (const n of ["a", "b", "c"])
          yield* Workqueue.queueOn(wq, 1, yield* Work.make(() => Effect.sleep(10), { name: n }))
        yield* settle()
        const snap = yield* WorkqueueSystem.snapshot
        assert.deepStrictEqual(
          poolOf(snap, "ids", 1).workers.map((w) => w.name),
          ["kworker/1:0", "kworker/1:1", "kworker/1:2"]
        )
        assert.deepStrictEqual(poolOf(snap, "ids", 2).workers, [], "other CPUs' pools are untouched")
        yield* TestClock.adjust(10)
        yield* settle()
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("idle workers beyond the reserve are culled after 300 s on the Clock (idle_worker_timeout)", () =>
      Effect.gen(function* () {
        const wq = yield* Workqueue.make("cull")
        for (let i = 0; i < 6; i++) yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.sleep(10)))
        yield* settle()
        const count = Effect.map(WorkqueueSystem.snapshot, (s) => {
          const pool = poolOf(s, "cull")
          return { workers: pool.workers.length, idle: pool.idle }
        })
        assert.deepStrictEqual(yield* count, { workers: 6, idle: 0 })
        yield* TestClock.adjust(10)
        yield* settle()
        assert.deepStrictEqual(yield* count, { workers: 6, idle: 6 })
        yield* TestClock.adjust(300_000 - 1)
        yield* settle()
        assert.deepStrictEqual(yield* count, { workers: 6, idle: 6 }, "not before 300 s")
        yield* TestClock.adjust(1)
        yield* settle()
        assert.deepStrictEqual(yield* count, { workers: 2, idle: 2 }, "culled down to the reserve")
        const names = poolOf(yield* WorkqueueSystem.snapshot, "cull").workers.map((w) => w.name)
        assert.strictEqual(names.length, 2)
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "a handler that interrupts itself doesn't kill its worker; it counts as a defect (process_one_work)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("interrupting")
          yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler("interrupts", Effect.interrupt)))
          yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler("next")))
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["interrupts", "next"])
          const stats = statsOf(yield* WorkqueueSystem.snapshot, "interrupting")
          assert.deepStrictEqual([stats.completed, stats.defects], [2, 1])
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("a handler that interrupts its own fiber doesn't leave the item running forever (process_one_work)", () =>
      Effect.gen(function* () {
        const rec = yield* makeRecorder
        const wq = yield* Workqueue.make("self_interrupt")
        yield* Workqueue.queueOn(
          wq,
          0,
          yield* Work.make(
            rec.handler(
              "suicidal",
              Effect.withFiber((fiber) => Fiber.interrupt(fiber))
            )
          )
        )
        yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler("next")))
        yield* settle()
        assert.deepStrictEqual(yield* rec.starts, ["suicidal", "next"])
        const stats = statsOf(yield* WorkqueueSystem.snapshot, "self_interrupt")
        assert.strictEqual(stats.completed, stats.started, "the interrupted item is finished, not running forever")
        const flusher = yield* Effect.forkChild(Workqueue.flush(wq))
        yield* settle()
        assert.isDefined(flusher.pollUnsafe(), "flush (and so destroy and the layer's close) does not hang")
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect("an unbound highpri workqueue gets its own nice -20 unbound pool (get_unbound_pool)", () =>
      Effect.gen(function* () {
        const plain = yield* Workqueue.make("plain", { flags: Workqueue.WQ_UNBOUND })
        const high = yield* Workqueue.make("high", { flags: Workqueue.WQ_UNBOUND | Workqueue.WQ_HIGHPRI })
        yield* Workqueue.queue(plain, yield* Work.make(() => Effect.void))
        yield* Workqueue.queue(high, yield* Work.make(() => Effect.void))
        yield* settle()
        const snap = yield* WorkqueueSystem.snapshot
        const p = poolOf(snap, "plain")
        const h = poolOf(snap, "high")
        assert.notStrictEqual(p.id, h.id)
        assert.strictEqual(poolOf(snap, "events_unbound").id, p.id, "shared by attribute equality")
        assert.deepStrictEqual([p.kind, p.nice, h.kind, h.nice], ["unbound", 0, "unbound", -20])
        assert.deepStrictEqual(
          h.workers.map((w) => w.name),
          [`kworker/u${h.id}:0`]
        )
      }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "culling takes the longest-idle workers first and re-arms for the rest; freed ids are reused (idle_cull_fn)",
      () =>
        Effect.gen(function* () {
          const wq = yield* Workqueue.make("cull")
          for (let i = 0; i < 3; i++) yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.sleep(10)))
          for (let i = 0; i < 3; i++) yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.sleep(100_000)))
          yield* settle()
          const workers = Effect.map(WorkqueueSystem.snapshot, (s) => poolOf(s, "cull").workers.map((w) => w.name))
          assert.strictEqual((yield* workers).length, 6)
          yield* TestClock.adjust(100_000)
          yield* settle()
          yield* TestClock.adjust(200_010 - 1)
          yield* settle()
          assert.strictEqual((yield* workers).length, 6, "the first three have been idle 300 s only at t=300 010")
          yield* TestClock.adjust(1)
          yield* settle()
          assert.deepStrictEqual(yield* workers, ["kworker/0:3", "kworker/0:4", "kworker/0:5"], "oldest idle first")
          yield* TestClock.adjust(100_000 - 11)
          yield* settle()
          assert.strictEqual((yield* workers).length, 3)
          yield* TestClock.adjust(1)
          yield* settle()
          assert.strictEqual((yield* workers).length, 2, "the next one went at t=400 000")
          for (let i = 0; i < 3; i++) yield* Workqueue.queueOn(wq, 0, yield* Work.make(() => Effect.sleep(10)))
          yield* settle()
          assert.deepStrictEqual(
            [...(yield* workers)].sort(),
            ["kworker/0:0", "kworker/0:4", "kworker/0:5"],
            "idle workers are reused, the new one gets the lowest free id"
          )
          yield* TestClock.adjust(10)
          yield* settle()
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }))
    )

    it.effect(
      "a failing or dying handler never kills its worker: the next item runs, stats count it, the error is logged with work and workqueue (process_one_work)",
      () => {
        const logs = makeLogCapture()
        return Effect.gen(function* () {
          const rec = yield* makeRecorder
          const wq = yield* Workqueue.make("faulty")
          yield* Workqueue.queueOn(
            wq,
            0,
            yield* Work.make(rec.handler("fails", Effect.fail("boom")), { name: "fails" })
          )
          yield* Workqueue.queueOn(
            wq,
            0,
            yield* Work.make(rec.handler("dies", Effect.die(new Error("kaboom"))), { name: "dies" })
          )
          yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler("ok"), { name: "ok" }))
          yield* settle()
          assert.deepStrictEqual(yield* rec.ends, ["fails", "dies", "ok"])
          const snap = yield* WorkqueueSystem.snapshot
          const stats = statsOf(snap, "faulty")
          assert.deepStrictEqual([stats.started, stats.completed, stats.failed, stats.defects], [3, 3, 1, 1])
          assert.strictEqual(poolOf(snap, "faulty").workers.length, 1, "the same worker went on")
          const errors = logs.lines.filter((l) => l.level === "Error")
          const failed = errors.find((l) => l.message.includes("fails"))
          const died = errors.find((l) => l.message.includes("dies"))
          assert.isDefined(failed, logs.text())
          assert.isDefined(died, logs.text())
          assert.include(failed!.message, "faulty")
          assert.strictEqual(failed!.annotations["workqueue"], "faulty")
          assert.strictEqual(failed!.annotations["work"], "fails")
          assert.strictEqual(died!.annotations["work"], "dies")
          // the next queueing on the same worker still works
          yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler("again")))
          yield* settle()
          assert.deepStrictEqual((yield* rec.ends).at(-1), "again")
        }).pipe(withSystemClosedOnSuccess({ cpus: 4 }), Effect.provide(logs.layer))
      }
    )
  })

  describe("accounting", () => {
    it.effect.each([1, 2, 3])(
      "after a mixed load (seed %s) every pool and pwq is back to zero: nr_running, worklist, nr_active (pwq_dec_nr_active)",
      (seed) =>
        Effect.gen(function* () {
          let x = seed
          const rnd = (n: number) => {
            x = (x * 1103515245 + 12345) & 0x7fffffff
            return x % n
          }
          const gate = yield* makeGate
          const wqs = [
            yield* Workqueue.make("plain"),
            yield* Workqueue.make("limited", { maxActive: 2 }),
            yield* Workqueue.make("unbound", { flags: Workqueue.WQ_UNBOUND, maxActive: 3 }),
            yield* Workqueue.makeOrdered("ordered"),
            yield* Workqueue.make("high", { flags: Workqueue.WQ_HIGHPRI }),
            yield* Workqueue.make("hogs", { flags: Workqueue.WQ_CPU_INTENSIVE })
          ]
          const works: Array<Work.Work> = []
          for (let i = 0; i < 40; i++) {
            const kind = rnd(7)
            const wq = wqs[rnd(wqs.length)]!
            const cpu = rnd(4)
            let requeued = false
            const work = yield* Work.make((self) =>
              Effect.gen(function* () {
                switch (kind) {
                  case 0:
                    return yield* spin(1 + rnd(10))
                  case 1:
                    return yield* Effect.sleep(1 + rnd(20))
                  case 2:
                    return yield* gate.await
                  case 3:
                    return yield* Effect.fail("boom")
                  case 4:
                    return yield* Effect.die("kaboom")
                  case 5:
                    if (!requeued) {
                      requeued = true
                      yield* Effect.ignore(Workqueue.queueOn(wq, cpu, self))
                    }
                    return yield* spin(2)
                  default:
                    yield* Effect.sleep(1)
                    yield* spin(3)
                    return yield* Effect.sleep(2)
                }
              })
            )
            works.push(work)
            yield* Effect.ignore(Workqueue.queueOn(wq, cpu, work))
            if (rnd(5) === 0) yield* Work.cancel(works[rnd(works.length)]!)
            if (rnd(4) === 0) yield* settle(rnd(5))
            if (rnd(8) === 0) yield* TestClock.adjust(rnd(5))
          }
          for (let i = 0; i < 30; i++) {
            yield* TestClock.adjust(1)
            yield* settle(5)
          }
          yield* gate.open
          for (let i = 0; i < 30; i++) {
            yield* TestClock.adjust(1)
            yield* settle(5)
          }
          yield* settle()
          const snap = yield* WorkqueueSystem.snapshot
          for (const pool of snap.pools) {
            assert.deepStrictEqual(
              [pool.nrRunning, pool.worklist, pool.idle],
              [0, 0, pool.workers.length],
              `pool ${pool.id} (${pool.kind}, cpu ${pool.cpu})`
            )
          }
          for (const wq of snap.workqueues) {
            for (const pwq of wq.pwqs) {
              assert.deepStrictEqual(
                [pwq.active, pwq.inactive, pwq.stats.started - pwq.stats.completed],
                [0, 0, 0],
                `${wq.name} cpu ${pwq.cpu}`
              )
            }
          }
          for (const work of works) assert.isFalse(yield* Work.pending(work))
        }).pipe(Effect.provide(systemLayer({ cpus: 4, cpuIntensiveThresh: NO_HOG_DETECTION })))
    )
  })

  describe("rescuer", () => {
    it.effect(
      "an unbound WQ_MEM_RECLAIM workqueue is rescued too when its pool can't get a worker (rescuer_thread)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const plain = yield* Workqueue.make("plain", { flags: Workqueue.WQ_UNBOUND })
          const reclaim = yield* Workqueue.make("reclaim", { flags: Workqueue.WQ_UNBOUND | Workqueue.WQ_MEM_RECLAIM })
          yield* Workqueue.queue(plain, yield* Work.make(rec.handler("blocker", gate.await)))
          yield* settle()
          yield* Workqueue.queue(reclaim, yield* Work.make(rec.handler("rescued")))
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["blocker"])
          yield* TestClock.adjust(10)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["blocker", "rescued"])
          assert.isAbove(statsOf(yield* WorkqueueSystem.snapshot, "reclaim").rescued, 0)
          yield* gate.open
          yield* settle()
        }).pipe(withSystemClosedOnSuccess({ cpus: 4, maxWorkersPerPool: 1 }))
    )

    it.effect(
      "a WQ_MEM_RECLAIM workqueue still makes progress when the pool's only worker is blocked (rescuer_thread)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const plain = yield* Workqueue.make("plain")
          const reclaim = yield* Workqueue.make("reclaim", { flags: Workqueue.WQ_MEM_RECLAIM })
          yield* Workqueue.queueOn(plain, 0, yield* Work.make(rec.handler("blocker", gate.await)))
          yield* settle()
          yield* Workqueue.queueOn(reclaim, 0, yield* Work.make(rec.handler("rescued")))
          yield* Workqueue.queueOn(plain, 0, yield* Work.make(rec.handler("stuck")))
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["blocker"], "no worker can be created")
          yield* TestClock.adjust(10)
          yield* settle()
          yield* TestClock.adjust(100)
          yield* settle()
          assert.deepStrictEqual(yield* rec.starts, ["blocker", "rescued"], "the rescuer ran the reclaim item only")
          const rescuedAt = (yield* rec.events).find((e) => e.name === "rescued")!
          assert.strictEqual(rescuedAt.cpu, 0, "on the CPU of the pool it rescued")
          const snap = yield* WorkqueueSystem.snapshot
          const stats = statsOf(snap, "reclaim")
          assert.isAbove(stats.rescued, 0)
          assert.isAbove(stats.mayday, 0)
          assert.strictEqual(statsOf(snap, "plain").rescued, 0)
          assert.strictEqual(poolOf(snap, "plain").workers.length, 1, "maxWorkersPerPool: 1")
          yield* gate.open
          yield* settle()
          assert.deepStrictEqual(yield* rec.ends, ["rescued", "blocker", "stuck"])
          const pool = poolOf(yield* WorkqueueSystem.snapshot, "plain")
          assert.deepStrictEqual(
            [pool.nrRunning, pool.worklist, pool.idle],
            [0, 0, 1],
            "the pool's accounting is intact"
          )
        }).pipe(withSystemClosedOnSuccess({ cpus: 4, maxWorkersPerPool: 1 }))
    )

    it.effect(
      "a second starvation episode on the same pool is rescued too: the rescuer clears the pwq's mayday flag (rescuer_thread)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const plain = yield* Workqueue.make("plain")
          const reclaim = yield* Workqueue.make("reclaim", { flags: Workqueue.WQ_MEM_RECLAIM })
          for (const episode of [1, 2]) {
            const gate = yield* makeGate
            yield* Workqueue.queueOn(plain, 0, yield* Work.make(rec.handler(`blocker${episode}`, gate.await)))
            yield* settle()
            yield* Workqueue.queueOn(reclaim, 0, yield* Work.make(rec.handler(`rescued${episode}`)))
            yield* settle()
            yield* TestClock.adjust(10)
            yield* settle()
            yield* TestClock.adjust(100)
            yield* settle()
            assert.include(
              yield* rec.ends,
              `rescued${episode}`,
              `episode ${episode}: the reclaim item ran while the pool's only worker was blocked (mayday → rescuer)`
            )
            assert.strictEqual(statsOf(yield* WorkqueueSystem.snapshot, "reclaim").rescued, episode)
            yield* gate.open
            yield* settle()
          }
          assert.isAtLeast(statsOf(yield* WorkqueueSystem.snapshot, "reclaim").mayday, 2, "one mayday per episode")
          // a failed assertion leaves a blocker gated: the system is closed only on success, so the kill is the
          // assertion's message, not a hang in the close
        }).pipe(withSystemClosedOnSuccess({ cpus: 4, maxWorkersPerPool: 1 }))
    )

    it.effect(
      "the rescuer keeps non-reentrance: an instance queued behind its running self waits for it (assign_work in rescuer_thread)",
      () =>
        Effect.gen(function* () {
          const rec = yield* makeRecorder
          const gate = yield* makeGate
          const reclaim = yield* Workqueue.make("reclaim", { flags: Workqueue.WQ_MEM_RECLAIM })
          let runs = 0
          const work = yield* Work.make(() =>
            Effect.gen(function* () {
              const n = ++runs
              yield* rec.mark("start", `w${n}`)
              if (n === 1) yield* gate.await
              yield* rec.mark("end", `w${n}`)
            })
          )
          yield* Workqueue.queueOn(reclaim, 0, work)
          yield* settle()
          assert.isTrue(yield* Workqueue.queueOn(reclaim, 0, work), "queued again while it runs (and sleeps)")
          yield* settle()
          yield* TestClock.adjust(10)
          yield* settle()
          yield* TestClock.adjust(100)
          yield* settle()
          yield* gate.open
          yield* settle()
          const events = (yield* rec.events).map((e) => `${e.kind} ${e.name}@${e.at}`)
          assert.deepStrictEqual(
            events,
            ["start w1@0", "end w1@110", "start w2@110", "end w2@110"],
            "never two at once"
          )
        }).pipe(withSystemClosedOnSuccess({ cpus: 4, maxWorkersPerPool: 1 }))
    )
  })
})
