/**
 * The README demo (`npm start`): three workqueues with different flags, real work that sleeps, delayed work,
 * a flush and a drain, then what happened as a table and the `WorkqueueSystem.snapshot` as tables.
 *
 * - `percpu_wq`: per-CPU (`WQ_PERCPU`), `maxActive: 2` — four items queued from CPU 0, two run, two wait
 *   inactive until a slot frees (`alloc_workqueue("percpu_wq", WQ_PERCPU, 2)`).
 * - `ordered_wq`: `Workqueue.makeOrdered` — one at a time, in queueing order (`alloc_ordered_workqueue`); an
 *   item there re-queues itself twice, and `Workqueue.drain` waits for the whole chain (`drain_workqueue`).
 * - `highpri_wq`: `WQ_UNBOUND | WQ_HIGHPRI` — served by the unbound nice -20 pool.
 * - a delayed item on `percpu_wq` (`queue_delayed_work`), which `Workqueue.flush` does not wait for: a flush
 *   waits only for what was queued before it (`flush_workqueue`).
 *
 * `demo` is an `Effect` that prints through `Console.log` and reads time from the `Clock`, so the test runs it
 * under `TestClock` and checks the printed tables; `npm start` runs it on the real clock (about 0.5 s).
 */
import { DelayedWork, Work, Workqueue, WorkqueueMetrics, WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import { dump } from "./debugging.ts"
import { type Program, formatMs, printTable, runMain, say, stopwatch } from "./shared.ts"

/** One row of the event table. */
export interface Event {
  readonly time: number
  readonly event: string
  readonly work: string
  readonly workqueue: string
  readonly cpu: number | undefined
}

export interface DemoOptions {
  /** How long the sleeping handlers of `percpu_wq` sleep, in ms (others are fractions of it). Default 100. */
  readonly sleep?: number
  /** Delay of the delayed item, in ms. Default 300. */
  readonly delay?: number
}

/** The demo, parameterised by its timings. */
export const makeDemo = (options?: DemoOptions): Program =>
  Effect.scoped(
    Effect.gen(function* () {
      const sleep = options?.sleep ?? 100
      const delay = options?.delay ?? 300
      const clock = yield* stopwatch
      const events: Array<Event> = []
      const record = (event: string, work: string, workqueue: string, cpu?: number) =>
        Effect.map(clock.ms, (time) => {
          events.push({ time, event, work, workqueue, cpu })
        })

      /** A handler that records its start and end (with the CPU it ran on) and sleeps `ms` in between. */
      const sleeper = (name: string, wq: string, ms: number) =>
        Work.make(
          () =>
            Effect.gen(function* () {
              const cpu = yield* WorkqueueSystem.currentCpu
              yield* record("start", name, wq, cpu)
              yield* Effect.sleep(ms)
              yield* record("end", name, wq, cpu)
            }),
          { name }
        )
      const queue = (wq: Workqueue.Workqueue, work: Work.Work) =>
        Effect.gen(function* () {
          const queued = yield* Workqueue.queue(wq, work)
          yield* record(`queue -> ${queued}`, work.name, Workqueue.name(wq))
        })

      const percpu = yield* Workqueue.make("percpu_wq", { flags: Workqueue.WQ_PERCPU, maxActive: 2 })
      const ordered = yield* Workqueue.makeOrdered("ordered_wq")
      const highpri = yield* Workqueue.make("highpri_wq", { flags: Workqueue.WQ_UNBOUND | Workqueue.WQ_HIGHPRI })

      // four sleeping items on the per-CPU queue, from CPU 0: max_active 2 holds two back
      for (let i = 0; i < 4; i++) yield* queue(percpu, yield* sleeper(`io_${i}`, "percpu_wq", sleep))
      // three on the ordered queue: strictly one after the other
      for (let i = 0; i < 3; i++) yield* queue(ordered, yield* sleeper(`log_${i}`, "ordered_wq", sleep / 2))
      // two urgent ones on the unbound highpri queue
      for (let i = 0; i < 2; i++) yield* queue(highpri, yield* sleeper(`urgent_${i}`, "highpri_wq", sleep / 5))
      // a delayed item on the per-CPU queue
      const timer = yield* DelayedWork.make(
        () => Effect.flatMap(WorkqueueSystem.currentCpu, (cpu) => record("start+end", "timer", "percpu_wq", cpu)),
        { name: "timer" }
      )
      const armed = yield* Workqueue.queueDelayed(percpu, timer, delay)
      yield* record(`queue_delayed(${delay}ms) -> ${armed}`, "timer", "percpu_wq")

      // flush: waits for io_0..io_3 (queued before the call), not for the armed timer
      yield* record("flush begin", "-", "percpu_wq")
      yield* Workqueue.flush(percpu)
      yield* record(`flush end (timer pending: ${yield* DelayedWork.pending(timer)})`, "-", "percpu_wq")

      // a chain on the ordered queue: the item re-queues itself twice; drain waits for all of it
      let round = 0
      const chain = yield* Work.make(
        (self) =>
          Effect.gen(function* () {
            round++
            yield* record(`chain round ${round}`, "chain", "ordered_wq", yield* WorkqueueSystem.currentCpu)
            yield* Effect.sleep(sleep / 10)
            if (round < 3) yield* Workqueue.queue(ordered, self) // chained work is allowed while draining
          }).pipe(Effect.orDie),
        { name: "chain" }
      )
      yield* queue(ordered, chain)
      yield* record("drain begin", "-", "ordered_wq")
      yield* Workqueue.drain(ordered)
      yield* record("drain end", "-", "ordered_wq")

      // let the timer fire, then look at the system
      yield* Effect.sleep(Math.max(0, delay + 10 - (yield* clock.ms)))
      yield* Work.flush(timer)
      const snapshot = yield* WorkqueueSystem.snapshot

      yield* say("== what happened ==")
      yield* printTable(
        ["time", "event", "work", "workqueue", "cpu"],
        events.map((e) => [formatMs(e.time), e.event, e.work, e.workqueue, e.cpu])
      )
      yield* say("")
      yield* say("== WorkqueueSystem.snapshot (the debugging example's dump) ==")
      const mine = new Set(["percpu_wq", "ordered_wq", "highpri_wq", "events"])
      yield* dump(snapshot, { names: [...mine] })
      yield* say("")
      yield* say("== WorkqueueMetrics.stats (wq_monitor.py) ==")
      const stats = yield* WorkqueueMetrics.stats
      yield* printTable(
        ["workqueue", "total", "infl", "failed", "CMW", "mayday", "rescued"],
        stats
          .filter((s) => mine.has(s.name))
          .map((s) => [s.name, s.started, s.inFlight, s.failed + s.defects, s.cmWakeup, s.mayday, s.rescued])
      )
    })
  )

/** The demo with its default timings. */
export const demo: Program = makeDemo()

if (import.meta.main) runMain(demo)
