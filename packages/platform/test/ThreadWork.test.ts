import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import { ThreadPool, ThreadWork } from "../src/index.ts"
import { crash, fib, gate, spin } from "./fixtures/threadTasks.ts"
import { makeGate, timeoutAfterStart, turns } from "./utils/gate.ts"
import { systemLayer } from "./utils/system.ts"

// handler failures are logged by the engine; keep the test output clean
const system = Layer.mergeAll(systemLayer({ cpus: 2 }), Logger.layer([]))

/** Records thread runs per label; `maxConcurrent` is the most runs of a label (or of all) at once. */
const recorder = () => {
  const running = new Map<string, number>()
  const maxByLabel = new Map<string, number>()
  const starts: Array<string> = []
  let all = 0
  let maxAll = 0
  const tracepoint = (tp: ThreadPool.Tracepoint) => {
    if (tp._ === "thread_run_start") {
      starts.push(tp.label)
      const n = (running.get(tp.label) ?? 0) + 1
      running.set(tp.label, n)
      maxByLabel.set(tp.label, Math.max(maxByLabel.get(tp.label) ?? 0, n))
      maxAll = Math.max(maxAll, ++all)
    } else if (tp._ === "thread_run_end") {
      running.set(tp.label, running.get(tp.label)! - 1)
      all--
    }
  }
  return { tracepoint, starts, maxByLabel, maxAll: () => maxAll, runningNow: () => all }
}

const pwqStats = (name: string) =>
  Effect.map(WorkqueueSystem.snapshot, (s) => {
    const wq = s.workqueues.find((w) => w.name === name)!
    return wq.pwqs.reduce(
      (acc, p) => ({
        started: acc.started + p.stats.started,
        completed: acc.completed + p.stats.completed,
        failed: acc.failed + p.stats.failed,
        defects: acc.defects + p.stats.defects
      }),
      { started: 0, completed: 0, failed: 0, defects: 0 }
    )
  })

describe("ThreadWork", () => {
  it.live("runs its task in a thread and hands the result to onSuccess in the main thread", () =>
    Effect.gen(function* () {
      const pool = yield* ThreadPool.make({ threads: 2 })
      const wq = yield* Workqueue.make("crunch")
      const results: Array<number> = []
      const work = yield* ThreadWork.make(pool, fib, {
        name: "fib20",
        input: () => Effect.succeed(20),
        onSuccess: (n) => Effect.sync(() => results.push(n))
      })
      assert.strictEqual(work.name, "fib20")
      yield* Workqueue.queue(wq, work)
      yield* Workqueue.flush(wq)
      assert.deepStrictEqual(results, [6765])
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("the thread's CPU time is charged to the item's pwq: wq_monitor's CPUtime covers the thread run", () =>
    Effect.gen(function* () {
      const pool = yield* ThreadPool.make({ threads: 1 })
      const wq = yield* Workqueue.make("charged")
      const work = yield* ThreadWork.make(pool, fib, { name: "fib32", input: () => Effect.succeed(32) })
      yield* Workqueue.queue(wq, work)
      yield* Workqueue.flush(wq)
      const threadMs = ThreadPool.snapshotUnsafe(pool).stats.cpuTimeMs
      assert.isTrue(threadMs > 0)
      const snap = yield* WorkqueueSystem.snapshot
      const cpuTimeMs = snap.workqueues
        .find((w) => w.name === "charged")!
        .pwqs.reduce((t, p) => t + p.stats.cpuTimeMs, 0)
      assert.isTrue(cpuTimeMs >= threadMs - 0.01, `pwq cpuTime ${cpuTimeMs} < thread time ${threadMs}`)
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("PENDING coalescing: queueing a pending item returns false; queued while running, it runs once more", () =>
    Effect.gen(function* () {
      const rec = recorder()
      const pool = yield* ThreadPool.make({ threads: 2, tracepoint: rec.tracepoint })
      const wq = yield* Workqueue.make("coalesce")
      const g = makeGate()
      const work = yield* ThreadWork.make(pool, gate, {
        name: "g",
        input: () => Effect.succeed({ cell: g.cell, tag: 0 })
      })
      assert.isTrue(yield* Workqueue.queue(wq, work))
      yield* g.started(1)
      assert.isTrue(yield* Workqueue.queue(wq, work)) // running, not pending: queued again
      assert.isFalse(yield* Workqueue.queue(wq, work)) // pending: coalesced
      assert.isFalse(yield* Workqueue.queue(wq, work))
      yield* g.release
      yield* Workqueue.flush(wq)
      assert.deepStrictEqual(rec.starts, ["g", "g"])
      assert.strictEqual(rec.maxByLabel.get("g"), 1)
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("non-reentrance: queued on another CPU while running, the item waits; its thread runs never overlap", () =>
    Effect.gen(function* () {
      const rec = recorder()
      const pool = yield* ThreadPool.make({ threads: 2, tracepoint: rec.tracepoint })
      const wq = yield* Workqueue.make("reentrance")
      const g = makeGate()
      const work = yield* ThreadWork.make(pool, gate, {
        name: "g",
        input: () => Effect.succeed({ cell: g.cell, tag: 0 })
      })
      yield* Workqueue.queueOn(wq, 0, work)
      yield* g.started(1)
      assert.isTrue(yield* Workqueue.queueOn(wq, 1, work))
      yield* turns(20)
      // a free thread and a free CPU, yet the second instance has not started
      assert.strictEqual(g.startedCount(), 1)
      assert.deepStrictEqual(ThreadPool.snapshotUnsafe(pool).live.filter((t) => t.state === "busy").length, 1)
      yield* g.release
      yield* Workqueue.flush(wq)
      assert.deepStrictEqual(rec.starts, ["g", "g"])
      assert.strictEqual(rec.maxByLabel.get("g"), 1)
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("max_active bounds the thread runs of a workqueue, though the pool has more threads", () =>
    Effect.gen(function* () {
      const rec = recorder()
      const pool = yield* ThreadPool.make({ threads: 4, tracepoint: rec.tracepoint })
      const wq = yield* Workqueue.make("bounded", { flags: Workqueue.WQ_UNBOUND, maxActive: 2 })
      const g = makeGate()
      for (let i = 0; i < 6; i++) {
        const work = yield* ThreadWork.make(pool, gate, {
          name: `g${i}`,
          input: () => Effect.succeed({ cell: g.cell, tag: i })
        })
        yield* Workqueue.queue(wq, work)
      }
      yield* g.started(2)
      yield* turns(20)
      assert.strictEqual(g.startedCount(), 2)
      assert.strictEqual(rec.runningNow(), 2)
      yield* g.release
      yield* Workqueue.flush(wq)
      assert.strictEqual(rec.starts.length, 6)
      assert.strictEqual(rec.maxAll(), 2)
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("an ordered workqueue runs its thread items one at a time in queueing order", () =>
    Effect.gen(function* () {
      const rec = recorder()
      const pool = yield* ThreadPool.make({ threads: 2, tracepoint: rec.tracepoint })
      const wq = yield* Workqueue.makeOrdered("ordered")
      const done: Array<number> = []
      for (const n of [22, 5, 18, 1, 12]) {
        const work = yield* ThreadWork.make(pool, fib, {
          name: `fib${n}`,
          input: () => Effect.succeed(n),
          onSuccess: () => Effect.sync(() => done.push(n))
        })
        yield* Workqueue.queue(wq, work)
      }
      yield* Workqueue.flush(wq)
      assert.deepStrictEqual(done, [22, 5, 18, 1, 12])
      assert.strictEqual(rec.maxAll(), 1)
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("flush with thread items in flight returns after every one has run and its thread is idle", () =>
    Effect.gen(function* () {
      const pool = yield* ThreadPool.make({ threads: 2 })
      const wq = yield* Workqueue.make("flush")
      const done: Array<string> = []
      for (let i = 0; i < 6; i++) {
        const work = yield* ThreadWork.make(pool, fib, {
          name: `fib${i}`,
          input: () => Effect.succeed(20 + (i % 3)),
          onSuccess: () => Effect.sync(() => done.push(`fib${i}`))
        })
        yield* Workqueue.queue(wq, work)
      }
      yield* Workqueue.flush(wq)
      assert.strictEqual(done.length, 6)
      assert.isTrue(ThreadPool.snapshotUnsafe(pool).live.every((t) => t.state === "idle"))
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("drain waits for thread items that requeue themselves (chained work) until none is left", () =>
    Effect.gen(function* () {
      const pool = yield* ThreadPool.make({ threads: 2 })
      const wq = yield* Workqueue.make("drain")
      let left = 5
      let ran = 0
      const work: Work.Work = yield* ThreadWork.make(pool, fib, {
        name: "chain",
        input: () => Effect.succeed(15),
        onSuccess: () =>
          Effect.gen(function* () {
            ran++
            if (--left > 0) yield* Workqueue.queue(wq, work)
          })
      })
      yield* Workqueue.queue(wq, work)
      yield* Workqueue.drain(wq)
      assert.strictEqual(ran, 5)
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("cancel of a pending thread item removes it before it reaches a thread", () =>
    Effect.gen(function* () {
      const rec = recorder()
      const pool = yield* ThreadPool.make({ threads: 2, tracepoint: rec.tracepoint })
      const wq = yield* Workqueue.make("cancel", { flags: Workqueue.WQ_UNBOUND, maxActive: 1 })
      const g = makeGate()
      const first = yield* ThreadWork.make(pool, gate, {
        name: "first",
        input: () => Effect.succeed({ cell: g.cell, tag: 0 })
      })
      const second = yield* ThreadWork.make(pool, fib, { name: "second", input: () => Effect.succeed(10) })
      yield* Workqueue.queue(wq, first)
      yield* Workqueue.queue(wq, second)
      yield* g.started(1)
      assert.isTrue(yield* Work.cancel(second))
      yield* g.release
      yield* Workqueue.flush(wq)
      assert.deepStrictEqual(rec.starts, ["first"])
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("cancelSync of a running thread item waits until its thread run has ended (cancel_work_sync)", () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      const pool = yield* ThreadPool.make({
        threads: 2,
        tracepoint: (tp) => {
          if (tp._ === "thread_run_end") events.push("thread_run_end")
        }
      })
      const wq = yield* Workqueue.make("cancelsync")
      const g = makeGate()
      const work = yield* ThreadWork.make(pool, gate, {
        name: "g",
        input: () => Effect.succeed({ cell: g.cell, tag: 0 })
      })
      yield* Workqueue.queue(wq, work)
      yield* g.started(1)
      const cancelling = yield* Effect.forkChild(Work.cancelSync(work))
      yield* turns(20)
      assert.isUndefined(cancelling.pollUnsafe()) // still running in its thread: cancelSync waits
      yield* g.release
      const wasPending = yield* Fiber.join(cancelling)
      events.push("cancelSync returned")
      assert.isFalse(wasPending)
      assert.deepStrictEqual(events, ["thread_run_end", "cancelSync returned"])
      assert.deepStrictEqual(Work.busyUnsafe(work), { pending: false, running: false })
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("destroy with thread items in flight runs every accepted item to completion first", () =>
    Effect.gen(function* () {
      const pool = yield* ThreadPool.make({ threads: 2 })
      const scope = yield* Scope.make()
      const wq = yield* Workqueue.make("destroy").pipe(Scope.provide(scope))
      const done: Array<number> = []
      for (let i = 0; i < 5; i++) {
        const work = yield* ThreadWork.make(pool, fib, {
          name: `fib${i}`,
          input: () => Effect.succeed(21),
          onSuccess: () => Effect.sync(() => done.push(i))
        })
        yield* Workqueue.queue(wq, work)
      }
      yield* Scope.close(scope, Exit.void) // Workqueue.make's finaliser: destroy (drain first)
      assert.deepStrictEqual([...done].sort(), [0, 1, 2, 3, 4])
      const error = yield* Effect.flip(Workqueue.queue(wq, yield* Work.make(() => Effect.void)))
      assert.strictEqual(error.reason, "Destroyed")
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("freeze waits for a running freezable thread item and holds queued ones until thaw", () =>
    Effect.gen(function* () {
      const rec = recorder()
      const pool = yield* ThreadPool.make({ threads: 2, tracepoint: rec.tracepoint })
      const wq = yield* Workqueue.make("freezable", { flags: Workqueue.WQ_FREEZABLE })
      const g = makeGate()
      const running = yield* ThreadWork.make(pool, gate, {
        name: "running",
        input: () => Effect.succeed({ cell: g.cell, tag: 0 })
      })
      const later = yield* ThreadWork.make(pool, fib, { name: "later", input: () => Effect.succeed(10) })
      yield* Workqueue.queue(wq, running)
      yield* g.started(1)
      const freezing = yield* Effect.forkChild(WorkqueueSystem.freeze)
      yield* turns(20)
      assert.isUndefined(freezing.pollUnsafe()) // the thread item still runs
      yield* g.release
      yield* Fiber.join(freezing)
      yield* Workqueue.queue(wq, later)
      yield* turns(20)
      assert.deepStrictEqual(rec.starts, ["running"])
      yield* WorkqueueSystem.thaw
      yield* Workqueue.flush(wq)
      assert.deepStrictEqual(rec.starts, ["running", "later"])
    }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live(
    "a handler timeout of a non-yielding thread run ends the item only once its thread is gone; the next item runs on a replacement",
    () =>
      Effect.gen(function* () {
        const events: Array<string> = []
        const pool = yield* ThreadPool.make({
          threads: 1,
          abortGraceMs: 10,
          tracepoint: (tp) => {
            if (tp._ === "thread_exit") events.push(`exit:${tp.reason}`)
          }
        })
        const wq = yield* Workqueue.make("timeout")
        const g = makeGate()
        const stuck = yield* Work.make(
          () =>
            timeoutAfterStart(ThreadPool.run(pool, spin, { cell: g.cell }), g.started(1), 50).pipe(
              Effect.andThen(Effect.sync(() => events.push("handler ended")))
            ),
          { name: "stuck" }
        )
        const next = yield* ThreadWork.make(pool, fib, {
          name: "next",
          input: () => Effect.succeed(15),
          onSuccess: (n) => Effect.sync(() => events.push(`next ${n}`))
        })
        yield* Workqueue.queue(wq, stuck)
        yield* Workqueue.queue(wq, next)
        yield* Workqueue.flush(wq)
        assert.deepStrictEqual(events, ["exit:abort", "handler ended", "next 610"])
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.terminated, 1)
      }).pipe(Effect.scoped, Effect.provide(system))
  )

  it.live("a crashed thread fails its item with a defect (counted in wq_monitor defects); later items still run", () =>
    Effect.gen(function* () {
      const pool = yield* ThreadPool.make({ threads: 1 })
      const wq = yield* Workqueue.make("faulty")
      const done: Array<number> = []
      const bad = yield* ThreadWork.make(pool, crash, { name: "bad", input: () => Effect.void })
      const good = yield* ThreadWork.make(pool, fib, {
        name: "good",
        input: () => Effect.succeed(12),
        onSuccess: (n) => Effect.sync(() => done.push(n))
      })
      yield* Workqueue.queue(wq, bad)
      yield* Workqueue.queue(wq, good)
      yield* Workqueue.flush(wq)
      assert.deepStrictEqual(done, [144])
      const stats = yield* pwqStats("faulty")
      assert.strictEqual(stats.defects, 1)
      assert.strictEqual(stats.started, 2)
      assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.crashed, 1)
    }).pipe(Effect.scoped, Effect.provide(system))
  )
})
