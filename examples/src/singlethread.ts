/**
 * Example 4: a dedicated single-threaded workqueue with module init/exit.
 *
 * Seed: 001 ("Creating Custom Work Queue") and 004 (LDD3 7.6, `create_singlethread_workqueue`).
 * Kernel calls mirrored: `module_init(my_init)` / `module_exit(my_exit)` (the acquire and release of a scoped
 * `Layer`), `create_singlethread_workqueue("my_worker")` (`Workqueue.createSinglethread`, an ordered queue:
 * one item at a time, in queueing order), `queue_work(my_wq, work)` (`Workqueue.queue`), `destroy_workqueue`
 * (the finaliser `Workqueue.createSinglethread` registers: it drains the queue first).
 *
 * There is no `-ENOMEM` path: allocation cannot return NULL; a bad configuration fails with `WorkqueueError`.
 *
 * Run: `npm run example -- singlethread`
 */
import { Work, Workqueue } from "@effect-workqueue/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Program, runMain, say } from "./shared.ts"

/** `static struct workqueue_struct *my_wq;` */
export class MyWq extends Context.Service<MyWq, Workqueue.Workqueue>()("examples/MyWq") {
  /** `module_init(my_init)` on build, `module_exit(my_exit)` on release. */
  static readonly layer = Layer.effect(
    MyWq,
    Effect.gen(function* () {
      yield* say('my_init: create_singlethread_workqueue("my_worker")')
      yield* Effect.addFinalizer(() => say("my_exit: done (the workqueue is gone)"))
      const wq = yield* Workqueue.createSinglethread("my_worker") // its finaliser is destroy_workqueue(my_wq)
      yield* Effect.addFinalizer(() => say("my_exit: destroy_workqueue(my_wq)"))
      yield* say(`my_init: ok, max_active=${Workqueue.maxActive(wq)}`)
      return wq
    })
  )
}

/** `void queue_my_work(struct work_struct *work) { queue_work(my_wq, work); }` */
const queueMyWork = (work: Work.Work) => Effect.flatMap(MyWq, (wq) => Workqueue.queue(wq, work))

export const program: Program = Effect.gen(function* () {
  for (const name of ["first", "second", "third"]) {
    const work = yield* Work.make(
      () =>
        Effect.gen(function* () {
          yield* say(`  ${name}: start`)
          yield* Effect.sleep("20 millis") // sleeping does not let the next item start: single-threaded
          yield* say(`  ${name}: end`)
        }),
      { name }
    )
    yield* say(`queue_my_work(${name}) = ${yield* queueMyWork(work)}`)
  }
  yield* say("module loaded; now rmmod")
}).pipe(Effect.provide(MyWq.layer, { local: true }))

if (import.meta.main) runMain(program)
