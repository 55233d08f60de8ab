import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { ThreadPool, ThreadTask } from "../src/index.ts"
import { Boom, selfInterrupt, TaskError, undeclared } from "./fixtures/threadTasks.ts"

describe("ThreadTask", () => {
  describe("types", () => {
    it("the error type comes from the failure schema alone: without one it is never", () => {
      const plain = ThreadTask.make({
        module: import.meta.url,
        export: "plain",
        input: Schema.Number,
        success: Schema.Number,
        run: (n) => Effect.succeed(n)
      })
      const none: ThreadTask.ThreadTask<number, number, never> = plain
      const typed = ThreadTask.make({
        module: import.meta.url,
        export: "typed",
        input: Schema.Number,
        success: Schema.Number,
        failure: TaskError,
        run: (n) => (n > 0 ? Effect.succeed(n) : Effect.fail(new TaskError({ code: n, message: "negative" })))
      })
      const some: ThreadTask.ThreadTask<number, number, TaskError> = typed
      assert.strictEqual(none.export, "plain")
      assert.strictEqual(some.failure, TaskError)
    })

    it("a run whose Effect can fail does not compile without a failure schema that takes the error", () => {
      const make = () => [
        ThreadTask.make({
          module: import.meta.url,
          export: "noSchema",
          input: Schema.Number,
          success: Schema.Number,
          // @ts-expect-error: Boom is not in the error type (no failure schema), so catchTag could never see it
          run: (n) => Effect.fail(new Boom({ n }))
        }),
        ThreadTask.make({
          module: import.meta.url,
          export: "otherSchema",
          input: Schema.Number,
          success: Schema.Number,
          failure: TaskError,
          // @ts-expect-error: the failure schema takes TaskError, not Boom
          run: (n) => Effect.fail(new Boom({ n }))
        })
      ]
      assert.strictEqual(make().length, 2)
    })
  })

  describe("failures", () => {
    it.live("an Effect failure without a failure schema is a defect naming the task and the value", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        const exit = yield* Effect.exit(ThreadPool.run(pool, undeclared, 7))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
        const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.include((defect as Error).message, `ThreadTask "undeclared" failed with Boom`)
        assert.include((defect as Error).message, `"n":7`)
        assert.include((defect as Error).message, "no failure schema")
        assert.strictEqual(ThreadPool.snapshotUnsafe(pool).stats.defects, 1)
      }).pipe(Effect.scoped)
    )

    it.live("a task returning Effect.interrupt, not aborted, is a defect; the caller is not interrupted", () =>
      Effect.gen(function* () {
        const pool = yield* ThreadPool.make({ threads: 1 })
        const exit = yield* Effect.exit(ThreadPool.run(pool, selfInterrupt, undefined))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          assert.isFalse(Cause.hasInterrupts(exit.cause))
          assert.include((Cause.squash(exit.cause) as Error).message, `ThreadTask "selfInterrupt" interrupted itself`)
        }
        const stats = ThreadPool.snapshotUnsafe(pool).stats
        assert.strictEqual(stats.defects, 1)
        assert.strictEqual(stats.interrupted, 0)
      }).pipe(Effect.scoped)
    )
  })
})
