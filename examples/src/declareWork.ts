/**
 * Example 2: a static work item, `DECLARE_WORK`.
 *
 * Seed: 001 ("Static Initialization") and 002 ("Declaring and initializing work items: Static declaration").
 * Kernel calls mirrored: `static DECLARE_WORK(my_work, my_handler)` (a module-level `Work` built once by a
 * `Layer` and held as a service), `schedule_work(&my_work)` (`WorkqueueSystem.schedule`), `flush_work`.
 *
 * A kernel `DECLARE_WORK` is initialised at compile time; an Effect `Work` captures services when it is made,
 * so the "compile time" of an Effect program is layer construction: the item is made once, in `MyWork.layer`,
 * and every user gets the same item (queueing it while pending returns `false`, as in the kernel).
 *
 * Run: `npm run example -- declare-work`
 */
import { Work, WorkqueueSystem } from "@effect-workqueue/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Program, runMain, say, stopwatch } from "./shared.ts"

let runs = 0 // module state the handler owns, like a driver's static counter

/** `static void my_handler(struct work_struct *work)` */
const myHandler = (): Effect.Effect<void> =>
  Effect.gen(function* () {
    runs++
    yield* say(`  my_handler: run #${runs} on cpu ${yield* WorkqueueSystem.currentCpu}`)
  })

/** `static DECLARE_WORK(my_work, my_handler);`: one item for the whole program. */
export class MyWork extends Context.Service<MyWork, Work.Work>()("examples/MyWork") {
  static readonly layer: Layer.Layer<MyWork> = Layer.effect(MyWork, Work.make(myHandler, { name: "my_work" }))
}

export const program: Program = Effect.gen(function* () {
  runs = 0
  const clock = yield* stopwatch
  const myWork = yield* MyWork
  yield* say(`${yield* clock.stamp}  schedule_work(&my_work) = ${yield* WorkqueueSystem.schedule(myWork)}`)
  yield* say(
    `${yield* clock.stamp}  schedule_work(&my_work) = ${yield* WorkqueueSystem.schedule(myWork)} (already pending)`
  )
  yield* Work.flush(myWork)
  yield* say(`${yield* clock.stamp}  flush_work(&my_work) done`)
  // Another user of the same static item, elsewhere in the program: it gets the very same work_struct.
  const sameItem = yield* MyWork
  yield* say(`${yield* clock.stamp}  same item from the layer: ${sameItem === myWork}`)
  yield* say(`${yield* clock.stamp}  schedule_work(&my_work) = ${yield* WorkqueueSystem.schedule(sameItem)}`)
  yield* Work.flush(sameItem)
  yield* say(`${yield* clock.stamp}  handler ran ${runs} times`)
}).pipe(Effect.provide(MyWork.layer))

if (import.meta.main) runMain(program)
