/**
 * Example 8: recurring work every second, started and stopped.
 *
 * Seed: 001 ("Recurring Work").
 * Kernel calls mirrored: `INIT_DELAYED_WORK(&periodic_work, periodic_handler)` (`DelayedWork.make`), the
 * handler re-arming itself with `schedule_delayed_work(&periodic_work, HZ)` (`WorkqueueSystem.scheduleDelayed(self,
 * "1 second")`), `start_periodic` and `stop_periodic` (`DelayedWork.cancelSync`, which also stops the
 * self-re-arming: on return the item is neither armed, queued nor running).
 *
 * Run: `npm run example -- recurring`
 */
import { DelayedWork, WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import { type Program, runMain, say, stopwatch } from "./shared.ts"

export const program: Program = Effect.gen(function* () {
  const clock = yield* stopwatch
  const log = (line: string) => Effect.flatMap(clock.stamp, (t) => say(`${t}  ${line}`))
  let ticks = 0

  // periodic_handler(): do the periodic task, then reschedule ourselves
  const periodicWork = yield* DelayedWork.make(
    (self) =>
      Effect.gen(function* () {
        ticks++
        yield* log(`Periodic work executing (tick ${ticks})`)
        yield* WorkqueueSystem.scheduleDelayed(self, "1 second") // every second
      }).pipe(Effect.orDie),
    { name: "periodic_work" }
  )

  // start_periodic()
  yield* log(
    `start_periodic: schedule_delayed_work(HZ) = ${yield* WorkqueueSystem.scheduleDelayed(periodicWork, "1 second")}`
  )
  yield* Effect.sleep("3500 millis")

  // stop_periodic()
  yield* log(`stop_periodic: cancel_delayed_work_sync = ${yield* DelayedWork.cancelSync(periodicWork)}`)
  const ticksAtStop = ticks
  yield* Effect.sleep("2 seconds")
  yield* log(`2 s after stop: ${ticks - ticksAtStop} more ticks, pending = ${yield* DelayedWork.pending(periodicWork)}`)
})

if (import.meta.main) runMain(program)
