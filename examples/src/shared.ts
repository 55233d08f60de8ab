/**
 * Helpers shared by the examples: printing through `Console.log` (so tests read the lines from `TestConsole`),
 * fixed-width tables, elapsed time on the Effect `Clock`, and the Node entry point.
 *
 * Every example prints only through `say` / `printTable`, both `Console.log`: under `it.effect` the lines land in
 * `TestConsole.logLines`, under `npm run example` on stdout.
 */
import { NodeRuntime } from "@effect/platform-node"
import { WorkqueueSystem, type WorkqueueError } from "@effect-workqueue/core"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

/** What every example exports as `program`: it needs only a booted `WorkqueueSystem`. */
export type Program = Effect.Effect<void, WorkqueueError.WorkqueueError, WorkqueueSystem.WorkqueueSystem>

/** Print one line (the examples' `pr_info`). */
export const say = (line: string): Effect.Effect<void> => Console.log(line)

/** Render rows as a fixed-width table: numbers right-aligned, text left-aligned, two spaces between columns. */
export const renderTable = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string | number | boolean | undefined>>
): Array<string> => {
  const cells = rows.map((row) => headers.map((_, i) => cellText(row[i])))
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === "number"))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)))
  const line = (row: ReadonlyArray<string>) =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd()
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)]
}

const cellText = (value: string | number | boolean | undefined): string =>
  value === undefined ? "-" : typeof value === "string" ? value : String(value)

/** Print a table, one `Console.log` per line. */
export const printTable = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string | number | boolean | undefined>>
): Effect.Effect<void> => Effect.forEach(renderTable(headers, rows), say, { discard: true })

/**
 * A stopwatch on the Effect `Clock` (the `TestClock` in tests): `elapsed` is the ms since `stopwatch` ran,
 * formatted `t=  100ms`.
 */
export const stopwatch: Effect.Effect<{
  readonly ms: Effect.Effect<number>
  readonly stamp: Effect.Effect<string>
}> = Effect.map(Clock.currentTimeMillis, (t0) => {
  const ms = Effect.map(Clock.currentTimeMillis, (t) => t - t0)
  return { ms, stamp: Effect.map(ms, formatMs) }
})

/** `t=  100ms` */
export const formatMs = (ms: number): string => `t=${String(ms).padStart(5)}ms`

/**
 * Run an example as a Node program: boot `WorkqueueSystem.layer({ cpus: 4 })` around it, exit 0 when it is done
 * (closing the layer destroys every workqueue and ends the worker fibers), 1 on failure.
 * `NodeRuntime.runMain` keeps the process alive while fibers wait (`makeRunMain` in `effect/src/Runtime.ts`
 * holds a `setInterval`).
 */
export const runMain = (program: Program, options?: { readonly cpus?: number }): void =>
  NodeRuntime.runMain(program.pipe(Effect.provide(WorkqueueSystem.layer({ cpus: options?.cpus ?? 4 }))))
