/**
 * Runner processes for the multi-process tests: each is test/fixtures/runner.ts in its own Node process, with its
 * output collected for assertions and its exit observable. Waits poll every 100 ms and are hang-guarded by the
 * project's test timeout only, never by a speed budget.
 */
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as Path from "node:path"

const runnerPath = Path.join(import.meta.dirname, "..", "fixtures", "runner.ts")

/** A runner process: its handle, everything it printed so far, and its exit code once it exits. */
export interface Child {
  readonly process: ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
}

/** Starts the runner fixture with `args` (and extra environment variables). */
export const start = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Child => {
  const child = spawn(process.execPath, [runnerPath, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env }
  })
  let output = ""
  child.stdout.on("data", (chunk) => (output += String(chunk)))
  child.stderr.on("data", (chunk) => (output += String(chunk)))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { process: child, output: () => output, exited }
}

/** Polls `condition` every 100 ms until it holds. */
export const until = <E, R>(condition: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function* () {
    while (!(yield* condition)) yield* Effect.sleep("100 millis")
  })

/** Waits until the runner printed "ready", failing with its output if it exited first. */
export const ready = (child: Child) =>
  until(Effect.sync(() => child.output().includes("ready") || child.process.exitCode !== null)).pipe(
    Effect.andThen(
      Effect.sync(() => assert.isTrue(child.output().includes("ready"), `runner did not start: ${child.output()}`))
    )
  )

/** SIGKILLs the runner unless it has already exited; resolves with its exit code. */
export const kill = (child: Child) =>
  Effect.promise(() => {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGKILL")
    return child.exited
  })
