import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as url from "node:url"
import { ThreadPool, ThreadTask } from "../src/index.ts"
import {
  anything,
  buggy,
  crash,
  echo,
  exitNow,
  effectNever,
  failing,
  failsWith,
  fib,
  gate,
  hog,
  hostileThrow,
  leftover,
  leftoverUnref,
  parentPost,
  reverse,
  sleepy,
  spin,
  TaskError,
  untilAborted,
  wrongType
} from "./fixtures/threadTasks.ts"
import { killAll, start } from "./utils/child.ts"
import { makeGate, timeoutAfterStart, turns } from "./utils/gate.ts"

const defectOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? Cause.squash(exit.cause) : assert.fail("expected a failure")

describe("ThreadPool", () => {
  describe("running", () => {
    it.live("run returns the task's result, computed in a thread", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 20), 6765)
        assert.deepStrictEqual(yield* ThreadPool.run(pool, echo, { n: 1, s: "a" }), { n: 1, s: "a" })
      }).pipe(Effect.scoped)
    )

    it.live("a typed failure crosses the boundary as the same typed failure (thrown or Effect.fail)", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        for (const viaEffect of [false, true]) {
          const error = yield* Effect.flip(ThreadPool.run(pool, failing, { code: 7, viaEffect }))
          assert.isTrue(error instanceof TaskError)
          assert.strictEqual((error as TaskError).code, 7)
        }
        const snap = ThreadPool.snapshotUnsafe(pool)
        assert.strictEqual(snap.stats.failed, 2)
      }).pipe(Effect.scoped)
    )

    it.live("a thrown value the failure schema does not take is a defect, keeping its name and message", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        const defect = defectOf(yield* Effect.exit(ThreadPool.run(pool, buggy, undefined)))
        assert.isTrue(defect instanceof Error)
        assert.strictEqual((defect as Error).name, "RangeError")
        assert.strictEqual((defect as Error).message, "not a TaskError")
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.defects, 1)
      }).pipe(Effect.scoped)
    )

    it.live("what a task posts on parentPort is ignored: no crash of the host, no forged result, no count", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 2 })
        // null and undefined crashed the main process (TypeError reading "id"); a forged Done was taken as the
        // run's result and its negative CPU time counted
        const modes = ["null", "undefined", "junk", "forge", "null", "forge"]
        const results = yield* Effect.forEach(modes, (mode) => ThreadPool.run(pool, parentPost, mode), {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual(results, modes)
        assert.deepStrictEqual(yield* ThreadPool.run(pool, echo, { n: 1, s: "after" }), { n: 1, s: "after" })
        const stats = ThreadPool.snapshotUnsafe(pool).stats
        assert.strictEqual(stats.runs, modes.length + 1)
        assert.strictEqual(stats.succeeded, modes.length + 1)
        assert.strictEqual(stats.defects + stats.crashed + stats.failed, 0)
        assert.isAtLeast(stats.cpuTimeMs, 0)
      }).pipe(Effect.scoped)
    )

    it.live("a task cannot reach the pool's private port: workerData holds only the shared counters", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        assert.strictEqual(yield* ThreadPool.run(pool, parentPost, "peek"), "posted")
      }).pipe(Effect.scoped)
    )

    it.live(
      "a thrown or failed Proxy, revoked Proxy or unprintable object is a defect of the run; the thread lives",
      () =>
        Effect.gen(function* () {
          const pool = yield* ThreadPool.make({ threads: 1 })
          for (const kind of ["proxy", "revoked", "unprintable"]) {
            for (const effect of [false, true]) {
              const exit = yield* Effect.exit(ThreadPool.run(pool, hostileThrow, { kind, effect }))
              assert.isTrue(Exit.hasDies(exit), `${kind}/${effect}`)
              const defect = defectOf(exit)
              // before: the thread died checking or printing the value, and the run was a Crashed ThreadPoolError
              assert.isFalse(defect instanceof ThreadPool.ThreadPoolError, `${kind}/${effect}: ${String(defect)}`)
            }
          }
          assert.deepStrictEqual(yield* ThreadPool.run(pool, echo, { n: 2, s: "b" }), { n: 2, s: "b" })
          const stats = ThreadPool.snapshotUnsafe(pool).stats
          assert.deepStrictEqual([stats.defects, stats.crashed, stats.spawned, stats.succeeded], [6, 0, 1, 1])
        }).pipe(Effect.scoped)
    )

    it.live("binary data marked Transferable is moved both ways", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        const input = new Uint8Array([1, 2, 3, 4])
        const output = yield* ThreadPool.run(pool, reverse, input)
        assert.deepStrictEqual([...output], [4, 3, 2, 1])
        assert.strictEqual(input.byteLength, 0) // detached: it was transferred, not copied
      }).pipe(Effect.scoped)
    )

    it.live("an input that does not encode fails Encode, naming the pool and the task; nothing is run", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ name: "cpu", threads: 1 })
        const error = yield* Effect.flip(ThreadPool.run(pool, fib, "x" as unknown as number))
        assert.strictEqual(error.reason, "Encode")
        assert.include(error.message, `thread pool "cpu" task "fib"`)
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.runs, 0)
      }).pipe(Effect.scoped)
    )

    it.live("a task missing from its module fails TaskNotFound naming the module and export; the thread stays", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ name: "cpu", threads: 1 })
        const ghost = ThreadTask.make({ ...fib, export: "ghost" })
        const error = yield* Effect.flip(ThreadPool.run(pool, ghost, 3))
        assert.strictEqual(error.reason, "TaskNotFound")
        assert.include(error.message, `thread pool "cpu" task "ghost"`)
        assert.include(error.message, `no ThreadTask export named "ghost"`)
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 10), 55)
        const snap = ThreadPool.snapshotUnsafe(pool)
        assert.strictEqual(snap.stats.spawned, 1)
        assert.strictEqual(snap.stats.failed, 1)
        assert.strictEqual(snap.stats.crashed, 0)
      }).pipe(Effect.scoped)
    )

    it.live("a task module that does not load fails TaskNotFound naming the module, not a crash", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        const module = new URL("./fixtures/no-such-tasks.js", import.meta.url).href
        const lost = ThreadTask.make({ ...fib, module })
        const error = yield* Effect.flip(ThreadPool.run(pool, lost, 3))
        assert.strictEqual(error.reason, "TaskNotFound")
        assert.include(error.message, module)
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.crashed, 0)
      }).pipe(Effect.scoped)
    )

    it.live("a task defined in the program's entry module fails TaskNotFound before any thread runs it", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        const main = ThreadTask.make({ ...fib, module: url.pathToFileURL(process.argv[1]!).href })
        const error = yield* Effect.flip(ThreadPool.run(pool, main, 3))
        assert.strictEqual(error.reason, "TaskNotFound")
        assert.include(error.message, "entry module")
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.spawned, 0)
      }).pipe(Effect.scoped)
    )

    it.live("make fails InvalidOptions naming a thread entry that does not exist (a bundle without it)", () =>
      Effect.gen(function* () {
        const entry = new URL("./fixtures/no-such-entry.mjs", import.meta.url)
        const error = yield* Effect.flip(ThreadPool.make({ name: "cpu", entry }))
        assert.strictEqual(error.reason, "InvalidOptions")
        assert.include(error.message, entry.href)
        const relative = yield* Effect.flip(ThreadPool.make({ entry: "./thread-entry.mjs" }))
        assert.include(relative.message, "entry must be an absolute URL")
      }).pipe(Effect.scoped)
    )

    it.live("the entry option runs the threads from the given module (as a bundle's thread-entry would)", () =>
      Effect.gen(function* () {
        const entry = new URL("../src/internal/threadMain.ts", import.meta.url)
        const pool = yield* ThreadPool.make({ threads: 1, entry: entry.href })
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 20), 6765)
      }).pipe(Effect.scoped)
    )

    it.live("make fails Unsupported on a Node without process.threadCpuUsage", () =>
      Effect.gen(function* () {
        const original = process.threadCpuUsage
        const error = yield* Effect.acquireUseRelease(
          Effect.sync(() => {
            ;(process as { threadCpuUsage?: unknown }).threadCpuUsage = undefined
          }),
          () => Effect.flip(ThreadPool.make({ name: "cpu" })),
          () =>
            Effect.sync(() => {
              process.threadCpuUsage = original
            })
        )
        assert.strictEqual(error.reason, "Unsupported")
        assert.include(error.message, "process.threadCpuUsage")
      }).pipe(Effect.scoped)
    )

    it.live("an input structured clone refuses fails Encode; nothing runs and the thread stays usable", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ name: "cpu", threads: 1 })
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 10), 55) // the thread is up and idle
        const error = yield* Effect.flip(ThreadPool.run(pool, anything, () => 1))
        assert.strictEqual(error.reason, "Encode")
        assert.include(error.message, "cannot be sent to a thread")
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 10), 55)
        const snap = ThreadPool.snapshotUnsafe(pool)
        assert.strictEqual(snap.stats.spawned, 1)
        assert.deepStrictEqual(
          snap.live.map((t) => t.state),
          ["idle"]
        )
      }).pipe(Effect.scoped)
    )

    it.live("a fresh thread whose first run is refused as unsendable does not keep the process alive", () =>
      Effect.promise(async () => {
        const child = start(new URL("./fixtures/unsendableExit.ts", import.meta.url).pathname)
        try {
          await child.waitForLine((line) => line.startsWith("refused"), "refused")
          const exit = await child.waitForExit() // the hang guard fails the test if the idle thread holds the process
          assert.strictEqual(exit.code, 0, child.output())
          assert.include(child.output(), "refused 1") // the thread was spawned and is still live (idle, unref'd)
        } finally {
          killAll()
        }
      })
    )

    it.live(
      "a result its success schema does not take fails with the typed Decode naming the task and the problem",
      () =>
        Effect.gen(function* () {
          const pool = yield* ThreadPool.make({ threads: 1 })
          const error = yield* Effect.flip(ThreadPool.run(pool, wrongType, 0))
          assert.isTrue(ThreadPool.isThreadPoolError(error), String(error))
          const typed = error as ThreadPool.ThreadPoolError
          assert.strictEqual(typed.reason, "Decode")
          assert.strictEqual(typed.task, "wrongType")
          assert.include(typed.message, "success schema")
          assert.include(typed.message, "Expected number")
          // a typed failure, counted as one; the thread stays usable
          assert.strictEqual(yield* ThreadPool.run(pool, wrongType, 3), 3)
          const { stats } = ThreadPool.snapshotUnsafe(pool)
          assert.deepStrictEqual([stats.failed, stats.defects, stats.spawned], [1, 0, 1])
        }).pipe(Effect.scoped)
    )

    it.live("a failure its failure schema takes but does not encode fails with the typed Decode as well", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        assert.strictEqual(yield* Effect.flip(ThreadPool.run(pool, failsWith, "declined")), "declined")
        const error = yield* Effect.flip(ThreadPool.run(pool, failsWith, "secret"))
        assert.isTrue(ThreadPool.isThreadPoolError(error), String(error))
        const typed = error as ThreadPool.ThreadPoolError
        assert.strictEqual(typed.reason, "Decode")
        assert.strictEqual(typed.task, "failsWith")
        assert.include(typed.message, "failure schema")
        assert.include(typed.message, "a secret cannot leave the thread")
      }).pipe(Effect.scoped)
    )

    it.live("a result structured clone refuses is a defect; the thread stays usable", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        const defect = defectOf(yield* Effect.exit(ThreadPool.run(pool, anything, "give me a function")))
        assert.include(String(defect), "result cannot be sent back")
        assert.strictEqual(yield* ThreadPool.run(pool, anything, "ok"), "ok")
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.spawned, 1)
      }).pipe(Effect.scoped)
    )

    it.live("a throwing tracepoint sink does not break the pool", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({
          threads: 1,
          tracepoint: () => {
            throw new Error("sink bug")
          }
        })
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 10), 55)
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 11), 89)
      }).pipe(Effect.scoped)
    )

    it("ThreadTask.make rejects a module that is not an absolute URL, and an empty export", () => {
      assert.throws(() => ThreadTask.make({ ...fib, module: "./tasks.ts" }), /must be an absolute URL/)
      assert.throws(() => ThreadTask.make({ ...fib, export: "" }), /non-empty name/)
    })

    it.live("make rejects a bad thread count or grace with InvalidOptions", () =>
      Effect.gen(function* () {
        for (const threads of [0, -1, 1.5, Number.NaN]) {
          const error = yield* Effect.flip(ThreadPool.make({ name: "bad", threads }))
          assert.strictEqual(error.reason, "InvalidOptions")
          assert.include(error.message, `thread pool "bad"`)
        }
        for (const abortGraceMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
          const error = yield* Effect.flip(ThreadPool.make({ abortGraceMs }))
          assert.strictEqual(error.reason, "InvalidOptions")
          assert.include(error.message, "abortGraceMs")
        }
        const error = yield* Effect.flip(ThreadPool.make({ resourceLimits: { maxOldGenerationSizeMb: -5 } }))
        assert.include(error.message, "resourceLimits.maxOldGenerationSizeMb must be a number > 0")
        // below these V8 aborts the whole process (measured: old generation 1-2 MB, stack 0.1 MB)
        for (const resourceLimits of [
          { maxOldGenerationSizeMb: 2 },
          { maxOldGenerationSizeMb: 7.9 },
          { stackSizeMb: 0.1 }
        ]) {
          const tiny = yield* Effect.flip(ThreadPool.make({ name: "tiny", resourceLimits }))
          assert.strictEqual(tiny.reason, "InvalidOptions")
          assert.include(tiny.message, `resourceLimits.${Object.keys(resourceLimits)[0]} must be >= `)
        }
      }).pipe(Effect.scoped)
    )
  })

  describe("sizing", () => {
    it.live("threads default to os.availableParallelism()", () =>
      Effect.gen(function* () {
        const os = yield* Effect.promise(() => import("node:os"))
        const pool = yield* ThreadPool.make()
        assert.strictEqual(pool.threads, os.availableParallelism())
      }).pipe(Effect.scoped)
    )

    it.live("threads are created on demand up to the cap; runs beyond it wait in FIFO order", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 2 })
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).live.length, 0)
        const g = makeGate()
        const fibers = yield* Effect.forEach([0, 1, 2, 3], (tag) =>
          Effect.forkChild(ThreadPool.run(pool, gate, { cell: g.cell, tag }, { label: `g${tag}` }))
        )
        yield* g.started(2)
        const snap = ThreadPool.snapshotUnsafe(pool)
        assert.deepStrictEqual(
          snap.live.map((t) => [t.state, t.work]),
          [
            ["busy", "g0"],
            ["busy", "g1"]
          ]
        )
        assert.strictEqual(snap.queued, 2)
        yield* g.release
        assert.deepStrictEqual(yield* Fiber.joinAll(fibers), [0, 1, 2, 3])
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.spawned, 2)
      }).pipe(Effect.scoped)
    )
  })

  describe("interruption", () => {
    it.live(
      "a timeout of a non-yielding task terminates its thread, returns only once the thread is gone, and a replacement runs the next task",
      () =>
        Effect.gen(function* () {
          const events: Array<string> = []
          const pool = yield* ThreadPool.make({
            threads: 1,
            abortGraceMs: 10,
            tracepoint: (tp) => events.push(tp._ === "thread_exit" ? `exit:${tp.reason}` : tp._)
          })
          const g = makeGate()
          const result = yield* timeoutAfterStart(ThreadPool.run(pool, spin, { cell: g.cell }), g.started(1), 50)
          events.push("returned")
          assert.isTrue(result._tag === "None")
          // the thread was gone (and its run ended) before the timed-out run returned
          assert.deepStrictEqual(events.slice(0, 2), ["thread_spawn", "thread_run_start"])
          assert.isTrue(events.indexOf("exit:abort") < events.indexOf("returned"))
          assert.isTrue(events.indexOf("thread_run_end") < events.indexOf("returned"))
          const snap = ThreadPool.snapshotUnsafe(pool)
          assert.strictEqual(snap.stats.terminated, 1)
          assert.strictEqual(snap.stats.interrupted, 1)
          assert.isTrue(snap.live.every((t) => t.state === "idle"))
          assert.strictEqual(yield* ThreadPool.run(pool, fib, 10), 55)
        }).pipe(Effect.scoped)
    )

    it.live("a task that yields stops cooperatively (signal or Effect interruption): its thread is kept", () =>
      Effect.gen(function* () {
        // a grace of a minute: a termination would hang the test, so finishing proves the stop was cooperative
        const pool = yield* ThreadPool.make({ threads: 1, abortGraceMs: 60_000 })
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 5), 5) // the thread is up
        for (const task of [untilAborted, effectNever] as const) {
          const g = makeGate()
          const fiber = yield* Effect.forkChild(ThreadPool.run(pool, task as typeof effectNever, { cell: g.cell }))
          yield* g.started(1) // it runs in its thread: the abort reaches a started task
          yield* Fiber.interrupt(fiber)
        }
        const snap = ThreadPool.snapshotUnsafe(pool)
        assert.strictEqual(snap.stats.terminated, 0)
        assert.strictEqual(snap.stats.spawned, 1)
        assert.strictEqual(snap.stats.interrupted, 2)
        assert.deepStrictEqual(
          snap.live.map((t) => t.state),
          ["idle"]
        )
      }).pipe(Effect.scoped)
    )

    it.live("an interrupted run frees its thread only when the thread is idle: the next run waits for it", () =>
      Effect.gen(function* () {
        const starts: Array<string> = []
        const pool = yield* ThreadPool.make({
          threads: 1,
          abortGraceMs: 60_000, // never terminated here: the gate must be released
          tracepoint: (tp) => {
            if (tp._ === "thread_run_start") starts.push(tp.label)
          }
        })
        const g = makeGate()
        const blocked = yield* Effect.forkChild(
          ThreadPool.run(pool, gate, { cell: g.cell, tag: 1 }, { label: "blocked" })
        )
        yield* g.started(1)
        const next = yield* Effect.forkChild(ThreadPool.run(pool, fib, 10, { label: "next" }))
        const interrupting = yield* Effect.forkChild(Fiber.interrupt(blocked))
        yield* turns(20)
        // the thread still computes: the interrupt has not returned and the next run has not started
        assert.isUndefined(interrupting.pollUnsafe())
        assert.deepStrictEqual(starts, ["blocked"])
        assert.deepStrictEqual(
          ThreadPool.snapshotUnsafe(pool).live.map((t) => t.state),
          ["aborting"]
        )
        yield* g.release
        yield* Fiber.join(interrupting)
        assert.strictEqual(yield* Fiber.join(next), 55)
        assert.deepStrictEqual(starts, ["blocked", "next"])
      }).pipe(Effect.scoped)
    )

    it.live("interrupting a run still waiting for a thread removes it; it never starts", () =>
      Effect.gen(function* () {
        const starts: Array<string> = []
        const pool = yield* ThreadPool.make({
          threads: 1,
          tracepoint: (tp) => {
            if (tp._ === "thread_run_start") starts.push(tp.label)
          }
        })
        const g = makeGate()
        const first = yield* Effect.forkChild(ThreadPool.run(pool, gate, { cell: g.cell, tag: 1 }, { label: "first" }))
        yield* g.started(1)
        const waiting = yield* Effect.forkChild(ThreadPool.run(pool, fib, 10, { label: "waiting" }))
        yield* turns(2)
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).queued, 1)
        yield* Fiber.interrupt(waiting)
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).queued, 0)
        yield* g.release
        assert.strictEqual(yield* Fiber.join(first), 1)
        assert.deepStrictEqual(starts, ["first"])
      }).pipe(Effect.scoped)
    )
  })

  describe("faults", () => {
    it.live("a crashed thread fails its run with a Crashed defect and is replaced; runs waiting are kept", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ name: "cpu", threads: 1 })
        const crashed = yield* Effect.forkChild(Effect.exit(ThreadPool.run(pool, crash, undefined)))
        const waiting = yield* Effect.forkChild(ThreadPool.run(pool, fib, 12))
        const defect = defectOf(yield* Fiber.join(crashed))
        assert.isTrue(ThreadPool.isThreadPoolError(defect))
        assert.strictEqual((defect as ThreadPool.ThreadPoolError).reason, "Crashed")
        assert.include((defect as ThreadPool.ThreadPoolError).message, "boom in a timer")
        assert.strictEqual(yield* Fiber.join(waiting), 144)
        const snap = ThreadPool.snapshotUnsafe(pool)
        assert.strictEqual(snap.stats.crashed, 1)
        assert.strictEqual(snap.stats.spawned, 2)
        assert.strictEqual(snap.stats.defects, 1)
      }).pipe(Effect.scoped)
    )

    it.live("at the smallest resourceLimits accepted a thread too small to start is Crashed, not a process abort", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({
          threads: 1,
          resourceLimits: { maxOldGenerationSizeMb: 8, stackSizeMb: 1 }
        })
        const exit = yield* Effect.exit(ThreadPool.run(pool, fib, 10))
        // the process is still here to look: the run either fit or died with its thread
        if (Exit.isFailure(exit)) assert.strictEqual((defectOf(exit) as ThreadPool.ThreadPoolError).reason, "Crashed")
        else assert.strictEqual(exit.value, 55)
      }).pipe(Effect.scoped)
    )

    it.live("a run that leaves async work pending retires its thread: the work cannot crash the next run", () =>
      Effect.gen(function* () {
        const exits: Array<string> = []
        const pool = yield* ThreadPool.make({
          threads: 1,
          tracepoint: (tp) => {
            if (tp._ === "thread_exit") exits.push(tp.reason)
          }
        })
        assert.strictEqual(yield* ThreadPool.run(pool, leftover, undefined), 1) // its result is kept
        // the leftover timer expired long ago; had the thread been kept it would fire (and throw) during this run
        assert.strictEqual(yield* ThreadPool.run(pool, sleepy, 20), 20)
        const snap = ThreadPool.snapshotUnsafe(pool)
        assert.strictEqual(snap.stats.crashed, 0)
        assert.strictEqual(snap.stats.defects, 0)
        assert.strictEqual(snap.stats.spawned, 2)
        assert.deepStrictEqual(exits, ["retired"])
        // a run that leaves nothing keeps its thread
        assert.strictEqual(yield* ThreadPool.run(pool, sleepy, 1), 1)
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.spawned, 2)
      }).pipe(Effect.scoped)
    )

    it.live("an unref'd timer, interval or immediate left pending retires the thread too; the next run is safe", () =>
      Effect.gen(function* () {
        const exits: Array<string> = []
        const pool = yield* ThreadPool.make({
          threads: 1,
          tracepoint: (tp) => {
            if (tp._ === "thread_exit") exits.push(tp.reason)
          }
        })
        for (const kind of ["timeout", "interval", "immediate"] as const) {
          assert.strictEqual(yield* ThreadPool.run(pool, leftoverUnref, kind), kind)
          // before: the unref'd work escaped the check and threw during this innocent run (Crashed, blamed on it)
          assert.strictEqual(yield* ThreadPool.run(pool, sleepy, 20), 20)
        }
        const snap = ThreadPool.snapshotUnsafe(pool)
        assert.deepStrictEqual([snap.stats.crashed, snap.stats.defects, snap.stats.spawned], [0, 0, 4])
        assert.deepStrictEqual(exits, ["retired", "retired", "retired"])
      }).pipe(Effect.scoped)
    )

    it.live("a timer a task module starts when imported is not a run's leftover: the thread is kept", () =>
      Effect.gen(function* () {
        // the same task, made here without importing its module (whose timer would then run in this process)
        const plain = ThreadTask.make({
          module: new URL("./fixtures/moduleTimer.ts", import.meta.url),
          export: "plain",
          input: Schema.Number,
          success: Schema.Number,
          run: (n: number) => n + 1
        })
        const pool = yield* ThreadPool.make({ threads: 1 })
        assert.strictEqual(yield* ThreadPool.run(pool, plain, 1), 2)
        assert.strictEqual(yield* ThreadPool.run(pool, plain, 2), 3)
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.spawned, 1)
      }).pipe(Effect.scoped)
    )

    it.live("a crash names the thread's previous run, whose leftover work may be the cause", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 10, { label: "warm-up" }), 55)
        const defect = defectOf(yield* Effect.exit(ThreadPool.run(pool, crash, undefined)))
        assert.include((defect as ThreadPool.ThreadPoolError).message, `previous run was task "fib" (warm-up)`)
      }).pipe(Effect.scoped)
    )

    it.live("a thread that dies inside a run's own call of its task is blamed on that run, not the previous one", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 10, { label: "warm-up" }), 55)
        const defect = defectOf(yield* Effect.exit(ThreadPool.run(pool, exitNow, undefined, { label: "exits" })))
        const message = (defect as ThreadPool.ThreadPoolError).message
        assert.strictEqual((defect as ThreadPool.ThreadPoolError).reason, "Crashed")
        assert.include(message, "exit code 3")
        assert.include(message, "it died inside this run's call of the task function")
        assert.notInclude(message, "previous run")
        // the replacement thread starts clean: a later crash in async work still names its previous run
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 10, { label: "after" }), 55)
        const later = defectOf(yield* Effect.exit(ThreadPool.run(pool, crash, undefined)))
        assert.include((later as ThreadPool.ThreadPoolError).message, `previous run was task "fib" (after)`)
      }).pipe(Effect.scoped)
    )

    it.live("a thread exceeding resourceLimits fails its run with a Crashed defect and is replaced", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({
          threads: 1,
          resourceLimits: { maxOldGenerationSizeMb: 24, maxYoungGenerationSizeMb: 4 }
        })
        const defect = defectOf(yield* Effect.exit(ThreadPool.run(pool, hog, undefined)))
        assert.strictEqual((defect as ThreadPool.ThreadPoolError).reason, "Crashed")
        assert.include((defect as ThreadPool.ThreadPoolError).message, "ERR_WORKER_OUT_OF_MEMORY")
        assert.strictEqual(yield* ThreadPool.run(pool, fib, 12), 144)
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.crashed, 1)
      }).pipe(Effect.scoped)
    )
  })

  describe("lifetime", () => {
    it.live("closing the pool fails running and waiting runs with Closed, and every thread exits", () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const pool = yield* ThreadPool.make({ threads: 1 }).pipe(Scope.provide(scope))
        const g = makeGate()
        const running = yield* Effect.forkChild(ThreadPool.run(pool, gate, { cell: g.cell, tag: 1 }))
        yield* g.started(1)
        const waiting = yield* Effect.forkChild(ThreadPool.run(pool, fib, 10))
        yield* Scope.close(scope, Exit.void)
        const snap = ThreadPool.snapshotUnsafe(pool)
        assert.strictEqual(snap.state, "Closed")
        assert.strictEqual(snap.live.length, 0)
        for (const fiber of [running, waiting]) {
          const error = yield* Effect.flip(Fiber.join(fiber as Fiber.Fiber<number, ThreadPool.ThreadPoolError>))
          assert.strictEqual(error.reason, "Closed")
        }
        const after = yield* Effect.flip(ThreadPool.run(pool, fib, 1))
        assert.strictEqual(after.reason, "Closed")
      })
    )
  })

  describe("observability", () => {
    it.live("each run's thread CPU time appears in its thread_run_end tracepoint and in the snapshot", () =>
      Effect.gen(function* () {
        const ends: Array<ThreadPool.Tracepoint> = []
        const pool = yield* ThreadPool.make({
          name: "cpu",
          threads: 1,
          tracepoint: (tp) => {
            if (tp._ === "thread_run_end") ends.push(tp)
          }
        })
        yield* ThreadPool.run(pool, fib, 25, { label: "crunch" })
        const end = ends[0]!
        assert.isTrue(end._ === "thread_run_end" && end.label === "crunch" && end.task === "fib")
        assert.isTrue(end._ === "thread_run_end" && end.outcome === "Success" && end.cpuTimeMs > 0)
        const snap = ThreadPool.snapshotUnsafe(pool)
        assert.isTrue(snap.live[0]!.cpuTimeMs > 0 && snap.stats.cpuTimeMs > 0)
        assert.deepStrictEqual(JSON.parse(JSON.stringify(pool)), {
          _id: "ThreadPool",
          name: "cpu",
          threads: 1,
          state: "Open"
        })
      }).pipe(Effect.scoped)
    )
  })
})
