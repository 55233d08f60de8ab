/**
 * Example 7: cancelling and flushing, with every return value.
 *
 * Seed: 001 ("Canceling Work") and 002 ("Flushing and canceling work"); 004 (LDD3: `cancel_delayed_work`
 * returning 0 means "may still run; flush to be sure").
 * Kernel calls mirrored: `cancel_work_sync` (`Work.cancelSync`), `cancel_delayed_work_sync`
 * (`DelayedWork.cancelSync`), `cancel_work` (`Work.cancel`), `cancel_delayed_work` (`DelayedWork.cancel`),
 * `flush_workqueue` (`Workqueue.flush`), `flush_scheduled_work` (`WorkqueueSystem.flushScheduled`).
 *
 * Run: `npm run example -- cancel`
 */
import { DelayedWork, Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import { type Program, runMain, say, stopwatch } from "./shared.ts"

export const program: Program = Effect.scoped(
  Effect.gen(function* () {
    const clock = yield* stopwatch
    const log = (line: string) => Effect.flatMap(clock.stamp, (t) => say(`${t}  ${line}`))
    const ran: Array<string> = []
    const sleeper = (name: string, ms: number) =>
      Work.make(
        () =>
          Effect.gen(function* () {
            ran.push(`${name}:start`)
            yield* Effect.sleep(ms)
            ran.push(`${name}:end`)
          }),
        { name }
      )

    // cancel_work_sync on a queued item that has not started: true, and it never runs
    const queued = yield* sleeper("queued", 10)
    yield* WorkqueueSystem.schedule(queued)
    yield* log(`cancel_work_sync(queued, not started) = ${yield* Work.cancelSync(queued)}`)

    // cancel_work_sync on a running item: false (not pending), but it waits until the run is over
    const running = yield* sleeper("running", 100)
    yield* WorkqueueSystem.schedule(running)
    yield* Effect.sleep("10 millis") // let it start
    yield* log(`cancel_work_sync(running) = ${yield* Work.cancelSync(running)}; ran: [${ran.join(", ")}]`)

    // cancel_work does not wait: the running instance goes on
    const noWait = yield* sleeper("nowait", 100)
    yield* WorkqueueSystem.schedule(noWait)
    yield* Effect.sleep("10 millis")
    yield* log(`cancel_work(running) = ${yield* Work.cancel(noWait)}; still running: ${!ran.includes("nowait:end")}`)
    yield* WorkqueueSystem.schedule(noWait) // queued again while it runs
    yield* log(`cancel_work(queued again while running) = ${yield* Work.cancel(noWait)}`)
    yield* Work.flush(noWait)
    yield* log(`flush_work(nowait) done; ran: [${ran.join(", ")}]`)

    // cancel_delayed_work / cancel_delayed_work_sync on an armed timer
    const dwork = yield* DelayedWork.make(() => Effect.sync(() => ran.push("delayed")), { name: "delayed" })
    yield* WorkqueueSystem.scheduleDelayed(dwork, "1 second")
    yield* log(`cancel_delayed_work(armed) = ${yield* DelayedWork.cancel(dwork)}`)
    yield* log(`cancel_delayed_work(idle) = ${yield* DelayedWork.cancel(dwork)}`)
    yield* WorkqueueSystem.scheduleDelayed(dwork, "1 second")
    yield* log(`cancel_delayed_work_sync(armed) = ${yield* DelayedWork.cancelSync(dwork)}`)
    yield* log(`cancel_delayed_work_sync(idle) = ${yield* DelayedWork.cancelSync(dwork)}`)

    // flush_workqueue: waits for what was queued before the call
    const wq = yield* Workqueue.make("cancel_demo")
    let done = 0
    for (let i = 0; i < 3; i++) {
      const item = yield* Work.make(() =>
        Effect.andThen(
          Effect.sleep(20 * (i + 1)),
          Effect.sync(() => done++)
        )
      )
      yield* Workqueue.queue(wq, item)
    }
    yield* Workqueue.flush(wq)
    yield* log(`flush_workqueue(cancel_demo): ${done} of 3 items done`)

    // flush_scheduled_work: the same for system_wq (deprecated in the kernel: a warning is logged once)
    let scheduledDone = 0
    for (let i = 0; i < 2; i++) {
      yield* WorkqueueSystem.schedule(
        yield* Work.make(() =>
          Effect.andThen(
            Effect.sleep("30 millis"),
            Effect.sync(() => scheduledDone++)
          )
        )
      )
    }
    yield* WorkqueueSystem.flushScheduled
    yield* log(`flush_scheduled_work: ${scheduledDone} of 2 items done`)
    yield* log(`never ran: queued=${!ran.includes("queued:start")}, delayed=${!ran.includes("delayed")}`)
  })
)

if (import.meta.main) runMain(program)
