/**
 * Example 1: the system workqueue with per-item data.
 *
 * Seed: 001 ("Work Queues", Linux Driver Development Guide), "Using System Work Queue".
 * Kernel calls mirrored: `struct my_work_data` + `container_of` (here: the handler's closure over its data),
 * `INIT_WORK` (`Work.make`), `schedule_work` (`WorkqueueSystem.schedule`), `msleep(100)` (`Effect.sleep`),
 * `flush_work` (`Work.flush`).
 *
 * Run: `npm run example -- system-wq`
 */
import { Work, WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import { type Program, runMain, say, stopwatch } from "./shared.ts"

/** `struct my_work_data`: the data travels with the work item (no `container_of` needed). */
interface MyWorkData {
  value: number
  readonly buffer: Array<string>
}

export const program: Program = Effect.gen(function* () {
  const clock = yield* stopwatch

  // start_work(val): my_work.value = val; INIT_WORK(&my_work.work, my_work_handler); schedule_work(&my_work.work)
  const startWork = Effect.fn("startWork")(function* (val: number) {
    const data: MyWorkData = { value: val, buffer: [] }
    const work = yield* Work.make(
      () =>
        Effect.gen(function* () {
          const cpu = yield* WorkqueueSystem.currentCpu
          yield* say(`${yield* clock.stamp}  Work executing: value=${data.value} (cpu ${cpu})`)
          yield* Effect.sleep("100 millis") // msleep(100): a work handler can sleep
          data.buffer.push(`processed ${data.value}`)
          yield* say(`${yield* clock.stamp}  Work done: value=${data.value}, buffer=[${data.buffer.join(", ")}]`)
        }),
      { name: "my_work_handler" }
    )
    const queued = yield* WorkqueueSystem.schedule(work)
    return { work, data, queued }
  })

  const first = yield* startWork(42)
  yield* say(`${yield* clock.stamp}  schedule_work(value=42) = ${first.queued}`)
  const again = yield* WorkqueueSystem.schedule(first.work)
  yield* say(`${yield* clock.stamp}  schedule_work(same item, still pending) = ${again}`)
  const second = yield* startWork(7)
  yield* say(`${yield* clock.stamp}  schedule_work(value=7) = ${second.queued}`)

  const waited = yield* Work.flush(first.work)
  yield* say(`${yield* clock.stamp}  flush_work(value=42) = ${waited}`)
  yield* Work.flush(second.work)
  yield* say(`${yield* clock.stamp}  both items done; pending = ${yield* Work.pending(first.work)}`)
})

if (import.meta.main) runMain(program)
