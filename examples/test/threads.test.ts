import { assert, describe, it } from "@effect/vitest"
import { WorkqueueSystem } from "@effect-workqueue/core"
import { TestWorkqueue } from "@effect-workqueue/testing"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { program } from "../src/threads.ts"

describe("threads (CPU-bound hashing offloaded from an HTTP service)", () => {
  it.live(
    "every job is accepted at once, hashed in a thread to the reference digest, and pings are answered while threads hash",
    () =>
      Effect.gen(function* () {
        const lines: Array<string> = []
        const console: Console.Console = {
          ...globalThis.console,
          log: (...args: ReadonlyArray<unknown>) => void lines.push(args.map(String).join(" "))
        } as unknown as Console.Console
        yield* program.pipe(
          Effect.provide(WorkqueueSystem.layer({ cpus: 2, cpuClock: TestWorkqueue.frozenCpuClock })),
          Effect.provideService(Console.Console, console)
        )
        // the two "(timing, machine-dependent)" lines are shown, not asserted
        const stable = lines.filter((line) => !line.includes("(timing, machine-dependent)"))
        assert.deepStrictEqual(stable, [
          "digest service listening; 8 jobs of 1 MiB × 100 SHA-256 rounds",
          "POST /digest × 8: all 202 Accepted at once",
          "8/8 digests done in threads; equal to the main-thread reference: true",
          'thread pool "hash": 8 runs, CPU time > 0: true',
          "pings answered while a thread was hashing: yes"
        ])
        assert.strictEqual(lines.length, stable.length + 2)
      })
  )
})
