/**
 * Example 12: LDD3's `jiq` ("just in queue") module: `/proc/jiqwq` and `/proc/jiqwqdelay`.
 *
 * Seed: 004 (LDD3 chapter 7.6.1, "The shared queue").
 * Kernel calls mirrored: `INIT_WORK(&jiq_work, jiq_print_wq, &jiq_data)` (`Work.make` /
 * `DelayedWork.make` closing over the client data), the reader's `prepare_to_wait` + `schedule_work` +
 * `schedule()` (schedule, then wait on a `Deferred` the work completes), and `jiq_print_wq` re-submitting itself
 * with `schedule_work` (delay 0) or `schedule_delayed_work(&jiq_work, data->delay)` (delay 1 jiffy).
 *
 * Jiffies: 1 jiffy = 4 ms of the Effect `Clock` (HZ = 250, a common kernel configuration); `time` is
 * `floor(ms / 4)`, counted from the start of the read. Under `TestClock` the columns are exact: `jiqwq` shows delta 0 on every line,
 * `jiqwqdelay` exactly 1. `preempt` is the preempt count, 0 in process context; `pid` stands in for the
 * worker's pid: `kworker/C:I` → 100 + 10·C + I (fibers have no pid); `command` is the worker's
 * kworker name (LDD3 shows `events/1`, the per-CPU "events" thread of 2.6 kernels). The worker name is found
 * through `WorkqueueSystem.snapshot` (the busy worker running this item): core has no `current_work()` /
 * `current->comm` accessor.
 *
 * Run: `npm run example -- jiqwq` and `npm run example -- jiqwqdelay`
 */
import { DelayedWork, WorkqueueSystem } from "@effect-workqueue/core"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { type Program, runMain, say } from "./shared.ts"

/** Milliseconds per jiffy (HZ = 250). */
export const MS_PER_JIFFY = 4
/** Lines printed per read (LDD3 stops when the page is full). */
export const LINES = 5

/** `struct clientdata`: what one reader of the /proc file gets. */
interface ClientData {
  readonly delay: number // in jiffies
  prevjiffies: number
  lines: Array<string>
}

/** A stand-in pid for a worker: `kworker/C:I` → 100 + 10·C + I (fibers have no pid). */
const pidOf = (comm: string): number => {
  const m = /(\d+):(\d+)/.exec(comm)
  return m === null ? 0 : 100 + 10 * Number(m[1]) + Number(m[2])
}

const header = "    time  delta preempt   pid cpu command"

/** Reading `/proc/jiqwq` (delay 0) or `/proc/jiqwqdelay` (delay 1 jiffy), from a process on `cpu`. */
const readJiq = (file: "jiqwq" | "jiqwqdelay", cpu: number): Program =>
  Effect.gen(function* () {
    const t0 = yield* Clock.currentTimeMillis
    const jiffies = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor((ms - t0) / MS_PER_JIFFY))
    const data: ClientData = { delay: file === "jiqwq" ? 0 : 1, prevjiffies: 0, lines: [] }
    const done = yield* Deferred.make<void>()

    // jiq_print(): one line; false once the page is full (and wake the reader)
    const jiqPrint = (name: string) =>
      Effect.gen(function* () {
        const j = yield* jiffies
        if (data.lines.length >= LINES) {
          yield* Deferred.succeed(done, undefined) // wake_up_interruptible(&jiq_wait)
          return false
        }
        const snapshot = yield* WorkqueueSystem.snapshot
        const comm =
          snapshot.pools.flatMap((pool) => pool.workers).find((w) => w.state !== "idle" && w.work === name)?.name ?? "?"
        const line = [
          String(j).padStart(8),
          String(j - data.prevjiffies).padStart(6),
          String(0).padStart(7),
          String(pidOf(comm)).padStart(5),
          String(yield* WorkqueueSystem.currentCpu).padStart(3),
          ` ${comm}`
        ].join("")
        data.lines.push(line)
        data.prevjiffies = j
        return true
      })

    // jiq_print_wq(): print, then re-submit itself (at once, or after data->delay jiffies)
    const jiqWork = yield* DelayedWork.make(
      (self) =>
        Effect.gen(function* () {
          if (!(yield* jiqPrint(self.name))) return
          if (data.delay > 0) yield* WorkqueueSystem.scheduleDelayed(self, data.delay * MS_PER_JIFFY)
          else yield* WorkqueueSystem.schedule(self)
        }).pipe(Effect.orDie),
      { name: `jiq_work(${file})` }
    )

    // the reader: prepare_to_wait(&jiq_wait, ...); schedule_work(&jiq_work); schedule(); finish_wait(...)
    yield* WorkqueueSystem.onCpu(cpu)(WorkqueueSystem.schedule(jiqWork))
    yield* Deferred.await(done)
    yield* say(`% cat /proc/${file}`)
    yield* say(header)
    for (const line of data.lines) yield* say(line)
  })

/** `cat /proc/jiqwq`: the work re-queues itself with `schedule_work`, delta 0. */
export const jiqwq: Program = readJiq("jiqwq", 1)

/** `cat /proc/jiqwqdelay`: the work re-arms itself with `schedule_delayed_work(.., 1)`, delta exactly 1. */
export const jiqwqdelay: Program = readJiq("jiqwqdelay", 0)

/** Both reads, as in the book. */
export const program: Program = Effect.andThen(jiqwq, jiqwqdelay)

if (import.meta.main) {
  const which = process.argv[2]
  runMain(which === "jiqwq" ? jiqwq : which === "jiqwqdelay" ? jiqwqdelay : program)
}
