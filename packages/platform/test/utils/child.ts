/**
 * A real child process for the integration tests: every stdout/stderr line kept, waits driven by the lines
 * themselves (no polling, no sleeps), and a generous hang guard on every wait that fails with the output so far.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"

/** A hang guard, not a time budget: a healthy run needs a small fraction of it even on a loaded machine. */
export const HANG_GUARD_MS = Number(process.env.HANG_GUARD_MS ?? 45_000)

export interface Child {
  readonly process: ChildProcess
  readonly lines: Array<string>
  /** The JSON events printed by the child (lines starting with `{"event"`). */
  readonly events: Array<{ readonly event: string; readonly [key: string]: unknown }>
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  /** Resolves with the first line (past or future) matching `test`. */
  readonly waitForLine: (test: (line: string) => boolean, what: string) => Promise<string>
  readonly waitForEvent: (event: string, what?: string) => Promise<void>
  /** The exit, or a failure with the output if it does not come within the hang guard. */
  readonly waitForExit: () => Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly output: () => string
}

const children = new Set<ChildProcess>()

/** Kill whatever a failed test left running (call in `afterEach`). */
export const killAll = () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  children.clear()
}

export const start = (
  file: string,
  options: { readonly args?: ReadonlyArray<string>; readonly env?: Record<string, string> } = {}
): Child => {
  const child = spawn(process.execPath, [file, ...(options.args ?? [])], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.add(child)
  const lines: Array<string> = []
  const events: Array<{ event: string; [key: string]: unknown }> = []
  const watchers = new Set<(line: string) => void>()
  const onLine = (line: string) => {
    lines.push(line)
    if (line.startsWith('{"event"')) events.push(JSON.parse(line) as { event: string })
    for (const watcher of watchers) watcher(line)
  }
  createInterface({ input: child.stdout! }).on("line", onLine)
  createInterface({ input: child.stderr! }).on("line", onLine)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal }))
  )
  const output = () => lines.join("\n")
  const guard = <A>(promise: Promise<A>, what: string): Promise<A> =>
    new Promise<A>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`hang guard: no ${what} within ${HANG_GUARD_MS} ms; output:\n${output()}`)),
        HANG_GUARD_MS
      )
      promise.then(
        (a) => {
          clearTimeout(timer)
          resolve(a)
        },
        (e) => {
          clearTimeout(timer)
          reject(e)
        }
      )
    })
  const waitForLine = (test: (line: string) => boolean, what: string) => {
    const seen = lines.find(test)
    if (seen !== undefined) return Promise.resolve(seen)
    return guard(
      new Promise<string>((resolve, reject) => {
        const watcher = (line: string) => {
          if (!test(line)) return
          watchers.delete(watcher)
          resolve(line)
        }
        watchers.add(watcher)
        void exited.then(() => {
          // let the last lines arrive before giving up
          setImmediate(() => {
            const late = lines.find(test)
            if (late !== undefined) resolve(late)
            else reject(new Error(`exited before ${what}; output:\n${output()}`))
          })
        })
      }),
      what
    )
  }
  return {
    process: child,
    lines,
    events,
    exited,
    waitForLine,
    waitForEvent: (event, what) =>
      waitForLine((line) => line.startsWith(`{"event":"${event}"`), what ?? `event ${event}`).then(() => undefined),
    waitForExit: () => guard(exited, "exit"),
    output
  }
}
