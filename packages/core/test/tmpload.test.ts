import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { Work, Workqueue, WorkqueueSystem } from "../src/index.ts"
import { makeRecorder, settle } from "./utils/recorder.ts"

for (const step of [0, 1, 3, 5, 9, 11, 20, 50]) {
  it.effect(`two sleepers with a cpu clock stepping ${step} ms per read`, () => {
    let t = 0
    const cpuClock = () => (t += step)
    return Effect.gen(function* () {
      const rec = yield* makeRecorder
      const wq = yield* Workqueue.make("cm")
      yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler("a", Effect.sleep(10))))
      yield* Workqueue.queueOn(wq, 0, yield* Work.make(rec.handler("b", Effect.sleep(10))))
      yield* settle()
      assert.deepStrictEqual(yield* rec.trace, ["start a@0/cpu0", "start b@0/cpu0"])
      yield* TestClock.adjust(10)
      yield* settle()
      assert.deepStrictEqual(yield* rec.trace, ["start a@0/cpu0", "start b@0/cpu0", "end a@10/cpu0", "end b@10/cpu0"])
    }).pipe(Effect.provide(WorkqueueSystem.layer({ cpus: 4, cpuClock })))
  }, { timeout: 10_000 })
}
