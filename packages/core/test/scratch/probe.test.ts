import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { Work, Workqueue, WorkqueueSystem } from "../../src/index.ts"
import { makeRecorder, settle } from "../utils/recorder.ts"

describe("probe", () => {
  it.effect("sleepers both start at 0", () =>
    Effect.gen(function* () {
      const rec = yield* makeRecorder
      const wq = yield* Workqueue.make("wq")
      const a = yield* Work.make(rec.handler("a", Effect.sleep(10)))
      const b = yield* Work.make(rec.handler("b", Effect.sleep(10)))
      assert.isTrue(yield* Workqueue.queue(wq, a))
      assert.isTrue(yield* Workqueue.queue(wq, b))
      yield* settle()
      console.log(yield* rec.trace)
      yield* TestClock.adjust(10)
      yield* settle()
      console.log(yield* rec.trace)
      const cpuA = yield* Work.make(rec.handler("ca", Effect.gen(function* () { for (let i = 0; i < 5; i++) yield* Effect.yieldNow })))
      const cpuB = yield* Work.make(rec.handler("cb", Effect.gen(function* () { for (let i = 0; i < 5; i++) yield* Effect.yieldNow })))
      yield* Workqueue.queue(wq, cpuA)
      yield* Workqueue.queue(wq, cpuB)
      yield* settle()
      console.log(yield* rec.trace)
      console.log(JSON.stringify((yield* WorkqueueSystem.snapshot).pools.filter(p => p.workers.length > 0), null, 0))
    }).pipe(Effect.provide(WorkqueueSystem.layer({ cpus: 4 }))))
})
