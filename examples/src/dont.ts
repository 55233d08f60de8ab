/**
 * Example 13: the seeds' "Don't" list, made impossible or safe.
 *
 * Seed: 001 ("Best Practices": Do / Don't).
 * Kernel calls mirrored: `schedule_work(&work)` on an uninitialised `work_struct` ("Crash! Not initialized"),
 * and `kfree(data)` while `data->work` may still run; the fix the seed gives, `cancel_work_sync(&data->work);
 * kfree(data);` (`Work.cancelSync` in the scope's finaliser, before the release).
 *
 * 1. Using work that was never made cannot compile: `WorkqueueSystem.schedule` takes a `Work`, and the only
 *    way to get one is `Work.make` (`INIT_WORK`). A look-alike object is a type error — see
 *    `examples/test/dont.test.ts`, which holds the `// @ts-expect-error` line.
 * 2. Freeing data while its work may run: the data is a scoped resource whose release first runs
 *    `Work.cancelSync(work)`, so the release waits for a running instance and removes a pending one. The
 *    handler checks the `freed` flag on every access; it never sees freed data.
 *
 * Run: `npm run example -- dont`
 */
import { Work, WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import { type Program, runMain, say, stopwatch } from "./shared.ts"

/** `struct my_data` with its embedded work. */
interface MyData {
  readonly id: number
  freed: boolean
  readonly work: Work.Work
}

export const program: Program = Effect.gen(function* () {
  const clock = yield* stopwatch
  const log = (line: string) => Effect.flatMap(clock.stamp, (t) => say(`${t}  ${line}`))
  let useAfterFree = 0

  /** `kmalloc` + `INIT_WORK`, released by `cancel_work_sync` + `kfree`: the Do from the seed, as a scope. */
  const allocMyData = (id: number) =>
    Effect.acquireRelease(
      Effect.gen(function* () {
        const data: MyData = {
          id,
          freed: false,
          work: yield* Work.make(
            () =>
              Effect.gen(function* () {
                yield* log(`data ${id}: cleanup_work start`)
                yield* Effect.sleep("50 millis") // still using data->...
                if (data.freed) useAfterFree++
                yield* log(`data ${id}: cleanup_work end (data freed? ${data.freed})`)
              }),
            { name: `cleanup_work_${id}` }
          )
        }
        return data
      }),
      (data) =>
        Effect.gen(function* () {
          const wasPending = yield* Effect.orDie(Work.cancelSync(data.work)) // cancel_work_sync(&data->work)
          data.freed = true // kfree(data)
          yield* log(`data ${data.id}: cancel_work_sync = ${wasPending}, then kfree`)
        })
    )

  // Data whose work is running when the scope closes: the release waits for the run to end.
  yield* Effect.scoped(
    Effect.gen(function* () {
      const data = yield* allocMyData(1)
      yield* WorkqueueSystem.schedule(data.work)
      yield* Effect.sleep("10 millis")
      yield* log("data 1: scope closing while its work runs")
    })
  )
  // Data whose work is still queued when the scope closes: the release removes it; it never runs.
  yield* Effect.scoped(
    Effect.gen(function* () {
      const data = yield* allocMyData(2)
      yield* WorkqueueSystem.schedule(data.work)
      yield* log("data 2: scope closing while its work is queued")
    })
  )
  yield* log(`use-after-free accesses: ${useAfterFree}`)
})

if (import.meta.main) runMain(program)
