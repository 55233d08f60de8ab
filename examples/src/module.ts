/**
 * Example 10: the kernel module from the internals article.
 *
 * Seed: 003 ("Overview and Core Concepts of Linux Workqueue", Part 5: "Creating a Simple Kernel Module").
 * Kernel calls mirrored: `alloc_workqueue("my_private_wq", WQ_MEM_RECLAIM, 1)` (`Workqueue.make`),
 * `kmalloc` + `INIT_WORK` / `INIT_DELAYED_WORK`, `queue_work` and `queue_delayed_work(my_wq, .., HZ * 2)`,
 * `printk("value = %d, CPU: %d", .., smp_processor_id())` (`WorkqueueSystem.currentCpu`), `kfree(data)` in the
 * handlers, and at `module_exit`: `flush_workqueue(my_wq)` + `destroy_workqueue(my_wq)`.
 *
 * The article says the exit flush "will wait for all queued work (including delayed work)". In the kernel
 * `flush_workqueue` does not wait for a timer that has not fired yet; here `Workqueue.flush` does not either,
 * but `Workqueue.destroy` fires armed timers at once and drains, so nothing is dropped. The module stays
 * loaded for 3 s, so the 2 s delayed work has run before the exit anyway.
 *
 * Run: `npm run example -- module`
 */
import { DelayedWork, Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import { type Program, runMain, say, stopwatch } from "./shared.ts"

/** `struct my_data { int value; struct work_struct my_work; struct delayed_work my_delayed_work; }` */
interface MyData {
  readonly value: number
  freed: boolean
}

export const program: Program = Effect.gen(function* () {
  const clock = yield* stopwatch
  const printk = (line: string) => Effect.flatMap(clock.stamp, (t) => say(`${t}  ${line}`))
  const live = new Set<MyData>()
  const kmalloc = (value: number): MyData => {
    const data = { value, freed: false }
    live.add(data)
    return data
  }
  const kfree = (data: MyData) => {
    data.freed = true
    live.delete(data)
  }

  yield* Effect.scoped(
    Effect.gen(function* () {
      // my_module_init()
      yield* printk("Workqueue module init")
      const myWq = yield* Workqueue.make("my_private_wq", { flags: Workqueue.WQ_MEM_RECLAIM, maxActive: 1 })

      const data1 = kmalloc(1)
      const myWork = yield* Work.make(
        () =>
          Effect.gen(function* () {
            yield* printk(`My work: value = ${data1.value}, CPU: ${yield* WorkqueueSystem.currentCpu}`)
            kfree(data1)
          }),
        { name: "my_work_handler" }
      )
      yield* Workqueue.queue(myWq, myWork)

      const data2 = kmalloc(2)
      const myDelayedWork = yield* DelayedWork.make(
        () =>
          Effect.gen(function* () {
            yield* printk(`My delayed work: value = ${data2.value}, CPU: ${yield* WorkqueueSystem.currentCpu}`)
            kfree(data2)
          }),
        { name: "my_delayed_work_handler" }
      )
      yield* Workqueue.queueDelayed(myWq, myDelayedWork, "2 seconds") // HZ * 2

      yield* Effect.sleep("3 seconds") // the module stays loaded

      // my_module_exit()
      yield* printk("Workqueue module exit")
      yield* Workqueue.flush(myWq)
      yield* Workqueue.destroy(myWq) // the scope's close would do it too; destroy is idempotent
      yield* printk("flush_workqueue + destroy_workqueue done")
    })
  )
  yield* printk(`live allocations after exit: ${live.size}`)
})

if (import.meta.main) runMain(program)
