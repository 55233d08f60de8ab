/**
 * The thread-bench tasks for this library's pool (loaded in its threads by module URL). The deep import keeps a
 * thread's start-up small.
 */
import * as ThreadTask from "@effect-workqueue/platform/ThreadTask"
import * as Schema from "effect/Schema"
import { fibOf } from "./fibOf.ts"

export const noop = ThreadTask.make({
  module: import.meta.url,
  export: "noop",
  input: Schema.Number,
  success: Schema.Number,
  run: (n) => n
})

export const fib = ThreadTask.make({
  module: import.meta.url,
  export: "fib",
  input: Schema.Number,
  success: Schema.Number,
  run: fibOf
})
