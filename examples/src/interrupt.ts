/**
 * Example 6: work queued from an "interrupt handler".
 *
 * Seed: 001 ("Work Queue from Interrupt").
 * Kernel calls mirrored: `my_irq_handler` (a Node `EventEmitter` listener: plain, non-Effect code that must not
 * block), `spin_lock` / `spin_unlock` around the device data (a synchronous critical section: JavaScript runs one
 * listener to completion, so a section with no `await`/`yield*` inside is the spinlock), `schedule_work` from
 * that context (through a runtime captured with `Effect.runForkWith(yield* Effect.context())`), and
 * `process_work` draining the data in process context.
 *
 * `schedule_work` on a pending item returns `false`: many interrupts coalesce into fewer runs. The seed keeps a
 * single `pending_data` int, which loses every value but the last when interrupts coalesce; here the interrupt
 * appends to a FIFO under the lock and the work takes the whole batch, so nothing is lost.
 *
 * Run: `npm run example -- interrupt`
 */
import { EventEmitter } from "node:events"
import { Work, WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import { type Program, runMain, say, stopwatch } from "./shared.ts"

/** `struct my_device` (the work item is made for it in `my_init`). */
class MyDevice extends EventEmitter<{ irq: [value: number] }> {
  pendingData: Array<number> = [] // lock: only touched in synchronous sections
  interrupts = 0
  scheduled = 0 // schedule_work returned true
  coalesced = 0 // schedule_work returned false: already pending
}

/** Hardware: raise `count` interrupts back to back (plain JavaScript, no Effect). */
const raiseInterrupts = (dev: MyDevice, first: number, count: number): void => {
  for (let i = 0; i < count; i++) dev.emit("irq", first + i)
}

export const program: Program = Effect.gen(function* () {
  const clock = yield* stopwatch
  const dev = new MyDevice()
  const processed: Array<number> = []

  // my_init(): INIT_WORK(&my_dev.work, process_work); spin_lock_init(&my_dev.lock); request IRQ
  const work = yield* Work.make(
    () =>
      Effect.gen(function* () {
        // spin_lock(&dev->lock); data = dev->pending_data; spin_unlock(&dev->lock);
        const batch = dev.pendingData
        dev.pendingData = []
        yield* say(`${yield* clock.stamp}  process_work: ${batch.length} value(s) [${batch.join(", ")}]`)
        yield* Effect.sleep("10 millis") // heavy processing in process context: can sleep
        processed.push(...batch)
      }),
    { name: "process_work" }
  )
  const runFork = Effect.runForkWith(yield* Effect.context<WorkqueueSystem.WorkqueueSystem>())
  dev.on("irq", (value) => {
    // my_irq_handler(): no yield*, no await: this whole listener is atomic
    dev.interrupts++
    dev.pendingData.push(value) // spin_lock; dev->pending_data = read_hardware(); spin_unlock
    runFork(
      Effect.tap(WorkqueueSystem.schedule(work), (queued) =>
        Effect.sync(() => (queued ? dev.scheduled++ : dev.coalesced++))
      )
    )
  })

  // three bursts of interrupts, 50 ms apart
  for (let burst = 0; burst < 3; burst++) {
    yield* say(`${yield* clock.stamp}  burst ${burst}: 4 interrupts`)
    yield* Effect.sync(() => raiseInterrupts(dev, burst * 4, 4))
    yield* Effect.sleep("50 millis")
  }
  yield* Work.flush(work)
  yield* say(`interrupts: ${dev.interrupts}, schedule_work true: ${dev.scheduled}, false (coalesced): ${dev.coalesced}`)
  yield* say(`processed ${processed.length} values in order: [${processed.join(", ")}]`)
  yield* say(`lost: ${dev.interrupts - processed.length}`)
})

if (import.meta.main) runMain(program)
