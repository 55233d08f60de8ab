/**
 * Example 3: delayed work, 2 seconds, cancelled before it runs.
 *
 * Seed: 001 ("Delayed Work") and 002 ("schedule_delayed_work", "cancel_delayed_work_sync").
 * Kernel calls mirrored: `INIT_DELAYED_WORK` (`DelayedWork.make`), `schedule_delayed_work(&dw, 2 * HZ)`
 * (`WorkqueueSystem.scheduleDelayed(dwork, "2 seconds")`), `delayed_work_pending`, `cancel_delayed_work_sync`
 * (`DelayedWork.cancelSync`), with every return value printed.
 *
 * Run: `npm run example -- delayed-work`
 */
import { DelayedWork, WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import { type Program, runMain, say, stopwatch } from "./shared.ts"

export const program: Program = Effect.gen(function* () {
  const clock = yield* stopwatch
  const log = (line: string) => Effect.flatMap(clock.stamp, (t) => say(`${t}  ${line}`))

  // INIT_DELAYED_WORK(&my_delayed_work, delayed_handler)
  const dwork = yield* DelayedWork.make(() => log("Delayed work executing"), { name: "delayed_handler" })

  // start_delayed_work(): schedule_delayed_work(&my_delayed_work, 2 * HZ)
  yield* log(`schedule_delayed_work(2 s) = ${yield* WorkqueueSystem.scheduleDelayed(dwork, "2 seconds")}`)
  yield* log(`schedule_delayed_work(2 s) again = ${yield* WorkqueueSystem.scheduleDelayed(dwork, "2 seconds")}`)
  yield* Effect.sleep("1 second")
  yield* log(`delayed_work_pending = ${yield* DelayedWork.pending(dwork)}`)

  // cancel_work(): cancel_delayed_work_sync(&my_delayed_work), one second before the timer would fire
  yield* log(`cancel_delayed_work_sync = ${yield* DelayedWork.cancelSync(dwork)} (the timer was armed)`)
  yield* log(`delayed_work_pending = ${yield* DelayedWork.pending(dwork)}`)
  yield* log(`cancel_delayed_work_sync = ${yield* DelayedWork.cancelSync(dwork)} (nothing left to cancel)`)

  // Wait past the original expiry: nothing runs.
  yield* Effect.sleep("2 seconds")
  yield* log("2 s later: the handler never ran")

  // For contrast: let it fire, then cancel — nothing was pending any more.
  yield* log(`schedule_delayed_work(2 s) = ${yield* WorkqueueSystem.scheduleDelayed(dwork, "2 seconds")}`)
  yield* Effect.sleep("2500 millis")
  yield* log(`cancel_delayed_work_sync after it ran = ${yield* DelayedWork.cancelSync(dwork)}`)
})

if (import.meta.main) runMain(program)
