/**
 * The entry of every pool thread: load a task's module, run the task, post one `Done` per `Run`. It imports
 * only `effect` deep modules and the codec; `effect/Schema` dominates a thread's start-up.
 *
 * A run that throws asynchronously (a timer callback, an unhandled rejection) crashes the thread on purpose:
 * the pool sees the exit, fails the run with a defect and replaces the thread.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { MessagePort, parentPort, receiveMessageOnPort, type TransferListItem, workerData } from "node:worker_threads"
import { isThreadTask, type ThreadTask } from "../ThreadTask.ts"
import {
  cloneableDefect,
  safeString,
  decode,
  type Done,
  encode,
  SLOT_ENTERED,
  SLOT_POSTED,
  SLOT_RETURNED,
  type ToThread
} from "./threadCodec.ts"

if (parentPort === null) {
  throw new Error(
    "@effect-workqueue/platform/thread-entry is the entry of a ThreadPool's threads: it runs only in a worker thread (pass its URL to ThreadPool.make's entry option, do not import it)"
  )
}
const data = workerData as { readonly posted: SharedArrayBuffer; port?: MessagePort }
if (!(data.port instanceof MessagePort)) {
  throw new Error("@effect-workqueue/platform/thread-entry: started without its pool's private port")
}
// the protocol's private channel (`Run` / `Abort` in, `Done` out), taken out of workerData before any task module
// loads: a task sees `parentPort` and `workerData`, never this port, so it cannot forge a reply; what it posts on
// `parentPort` is ignored by the pool
const port: MessagePort = data.port
delete data.port
// shared with the pool (`SLOT_*`): it adds 1 to SLOT_POSTED after each message it posts (see `idleWait`)
const posted = new Int32Array(data.posted)
let seen = 0 // the count of `posted` this thread has caught up with
let waiting = false // inside idleWait's loop (a run that completes synchronously returns into it)

// the current run: written only by the message handler and the run's own completion (one JS thread)
let current: { readonly id: number; readonly controller: AbortController } | undefined = undefined
const modules = new Map<string, Promise<Record<string, unknown>>>() // module URL → its namespace, imported once
const locations = new Map<number, { readonly module: string; readonly export: string }>() // task number → where
const tasks = new Map<number, ThreadTask<unknown, unknown, unknown>>() // task number → the loaded task

// `process.getActiveResourcesInfo()` lists what keeps the event loop alive, so an unref'd timer escapes it (and then
// fires, maybe crashing the thread, under the next run). Every `Timeout` and `Immediate` of this thread that is
// unref'd is recorded here as it is unref'd (whichever API created it: global, node:timers), until it is destroyed
// (fired or cleared: Node's `_destroyed`). Written by the patched `unref` and by `baselineNow` / `leftover`.
const unrefd = new Set<{ readonly _destroyed?: boolean }>()
for (const sample of [setTimeout(() => {}, 0), setImmediate(() => {})]) {
  const proto = Object.getPrototypeOf(sample) as { unref: (this: object) => unknown }
  const unref = proto.unref
  proto.unref = function (this: object) {
    unrefd.add(this)
    return unref.call(this)
  }
  if ("close" in sample) clearTimeout(sample as ReturnType<typeof setTimeout>)
  else clearImmediate(sample as ReturnType<typeof setImmediate>)
}

// the async resources (timers, handles) a run left behind: those beyond the ones there when it started
let baseline: ReadonlyArray<string> = []
const baselineNow = (): void => {
  baseline = process.getActiveResourcesInfo()
  unrefd.clear() // what was unref'd before (a task module's own import-time timers) is not the run's
}
const leftover = (): ReadonlyArray<string> | undefined => {
  const rest = [...baseline]
  const extra: Array<string> = []
  for (const resource of process.getActiveResourcesInfo()) {
    const i = rest.indexOf(resource)
    if (i >= 0) rest.splice(i, 1)
    else extra.push(resource)
  }
  for (const timer of unrefd) {
    if (timer._destroyed === true) unrefd.delete(timer)
    else extra.push(`${(timer as object).constructor.name} (unref'd)`)
  }
  return extra.length > 0 ? extra : undefined
}

const post = (done: Done, transfer?: Array<TransferListItem>) => {
  const left = leftover()
  if (left !== undefined) done = { ...done, leftover: left }
  try {
    port.postMessage(done, transfer ?? [])
  } catch (error) {
    // the encoded result cannot be structured-cloned (a function, a symbol): the run fails with a defect instead
    port.postMessage({
      _: "Done",
      id: done.id,
      outcome: "Defect",
      value: new Error(`ThreadTask result cannot be sent back: ${(error as Error).message}`),
      cpuUs: done.cpuUs
    } satisfies Done)
  }
}

const load = async (module: string, name: string): Promise<ThreadTask<unknown, unknown, unknown>> => {
  let ns = modules.get(module)
  if (ns === undefined) {
    ns = import(module) as Promise<Record<string, unknown>>
    modules.set(module, ns)
  }
  const exports = await ns
  // by its export name; else by the name it was made with (a bundler may rename a chunk's export: `sha2562`)
  let task = exports[name]
  if (!isThreadTask(task)) {
    task = Object.values(exports).find((u) => isThreadTask(u) && u.export === name)
  }
  if (!isThreadTask(task)) {
    throw new Error(`module ${module} has no ThreadTask export named "${name}"`)
  }
  return task
}

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

// never throws: a schema check of a hostile value (a Proxy whose traps throw, a revoked one) is "not a failure"
const isFailure = (task: ThreadTask<unknown, unknown, unknown>, error: unknown): boolean => {
  try {
    return task.failure !== undefined && Schema.is(task.failure as Schema.Codec<unknown, unknown>)(error)
  } catch {
    return false
  }
}

// a failure value in a few words: its tag, its message, or its JSON
const describe = (u: unknown): string => {
  let tag: string | undefined
  try {
    tag = typeof u === "object" && u !== null && "_tag" in u ? safeString((u as { _tag: unknown })._tag) : undefined
  } catch {
    tag = undefined
  }
  let text: string
  try {
    text = u instanceof Error && u.message !== "" ? String(u.message) : (JSON.stringify(u) ?? String(u))
  } catch {
    text = safeString(u)
  }
  if (text.length > 200) text = `${text.slice(0, 200)}…`
  return tag !== undefined ? `${tag} ${text}` : text
}

/** A schema failure's message (the `SchemaError`'s issue), or the squashed cause's text. */
const schemaMessage = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

const finish = (
  id: number,
  task: ThreadTask<unknown, unknown, unknown> | undefined,
  exit: Exit.Exit<unknown, unknown>,
  cpuStart: NodeJS.CpuUsage,
  aborted: boolean
) => {
  const cpu = process.threadCpuUsage(cpuStart)
  const cpuUs = cpu.user + cpu.system
  if (current?.id === id) current = undefined
  if (Exit.isSuccess(exit)) {
    const encoded = encode(task!.success, exit.value)
    if (Exit.isSuccess(encoded)) {
      return post({ _: "Done", id, outcome: "Success", value: encoded.value[0], cpuUs }, encoded.value[1])
    }
    // the value the task returned is not what its success schema takes: the typed `Decode` of the pool, as for a
    // result that does not decode on the main thread (the schema problem as text: a SchemaError does not clone)
    const why = `result does not encode with the task's success schema: ${schemaMessage(encoded.cause)}`
    return post({ _: "Done", id, outcome: "Decode", value: why, cpuUs })
  }
  const cause = exit.cause
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some" && task !== undefined && isFailure(task, error.value)) {
    const encoded = encode(task.failure!, error.value)
    if (Exit.isSuccess(encoded)) {
      return post({ _: "Done", id, outcome: "Failure", value: encoded.value[0], cpuUs }, encoded.value[1])
    }
    // of the failure schema's type but refused by its encoding (a check, a transformation): `Decode` as well
    const why = `failure does not encode with the task's failure schema: ${schemaMessage(encoded.cause)}`
    return post({ _: "Done", id, outcome: "Decode", value: why, cpuUs })
  }
  if (error._tag === "Some" && task !== undefined) {
    // an Effect failure the task's failure schema does not take: a defect that says so (its own message may be "")
    const why = task.failure === undefined ? "the task has no failure schema" : "its failure schema does not take it"
    const defect = new Error(`ThreadTask "${task.export}" failed with ${describe(error.value)}, but ${why}`)
    return post({ _: "Done", id, outcome: "Defect", value: defect, cpuUs })
  }
  if (Cause.hasInterruptsOnly(cause)) {
    if (aborted) return post({ _: "Done", id, outcome: "Interrupted", value: undefined, cpuUs })
    // nothing aborted the run: the task interrupted itself (Effect.interrupt); its caller was not interrupted
    const name = task?.export ?? "?"
    const defect = new Error(
      `ThreadTask "${name}" interrupted itself (Effect.interrupt) although its run was not aborted`
    )
    return post({ _: "Done", id, outcome: "Defect", value: defect, cpuUs })
  }
  return post({ _: "Done", id, outcome: "Defect", value: cloneableDefect(Cause.squash(cause)), cpuUs })
}

const run = async (msg: Extract<ToThread, { _: "Run" }>) => {
  const controller = new AbortController()
  current = { id: msg.id, controller }
  const cpuStart = process.threadCpuUsage()
  let task: ThreadTask<unknown, unknown, unknown> | undefined = undefined
  let exit: Exit.Exit<unknown, unknown>
  task = tasks.get(msg.task)
  if (task === undefined) {
    if (msg.module !== undefined) locations.set(msg.task, { module: msg.module, export: msg.export! })
    const where = locations.get(msg.task)!
    try {
      task = await load(where.module, where.export)
      tasks.set(msg.task, task)
    } catch (error) {
      // the module does not load or lacks the export: a typed TaskNotFound naming both, not a defect
      const cpu = process.threadCpuUsage(cpuStart)
      if (current?.id === msg.id) current = undefined
      const why = error instanceof Error ? error.message : String(error)
      post({ _: "Done", id: msg.id, outcome: "TaskNotFound", value: why, cpuUs: cpu.user + cpu.system })
      if (!waiting) idleWait()
      return
    }
  }
  try {
    // what the run leaves is measured against now: a task module's own import-time timers are not the run's
    baselineNow()
    const input = decode(task.input, msg.input)
    if (controller.signal.aborted) {
      exit = Exit.interrupt() // aborted before it began (the abort came with the run): not started at all
    } else if (Exit.isFailure(input)) {
      exit = Exit.die(new Error(`ThreadTask "${task.export}": input does not decode: ${Cause.squash(input.cause)}`))
    } else {
      // tell the pool (shared memory: seen even if the call exits the thread) that this run's own code runs now
      Atomics.store(posted, SLOT_ENTERED, msg.id)
      let result: unknown
      try {
        result = task.run(input.value, { signal: controller.signal })
      } finally {
        Atomics.store(posted, SLOT_RETURNED, msg.id)
      }
      if (Effect.isEffect(result)) {
        exit = await Effect.runPromiseExit(result as Effect.Effect<unknown, unknown>, { signal: controller.signal })
      } else {
        const value = isThenable(result) ? await result : result
        exit = controller.signal.aborted ? Exit.interrupt() : Exit.succeed(value)
      }
    }
  } catch (error) {
    // a thrown value: a typed failure if the failure schema takes it, else a defect (decided in finish)
    exit =
      controller.signal.aborted && !(task !== undefined && isFailure(task, error))
        ? Exit.interrupt()
        : task !== undefined && isFailure(task, error)
          ? Exit.fail(error)
          : Exit.die(error)
  }
  try {
    finish(msg.id, task, exit, cpuStart, controller.signal.aborted)
  } catch (error) {
    // the last line of defence: whatever the task threw or returned, its run ends with a defect, never the thread
    const defect = new Error(
      `ThreadTask "${task?.export ?? "?"}": its outcome could not be encoded (${safeString(cloneableDefect(error))})`
    )
    post({ _: "Done", id: msg.id, outcome: "Defect", value: defect, cpuUs: 0 })
  }
  // a run that finished without yielding returns into idleWait's loop; one that finished later waits here
  if (!waiting) idleWait()
}

const onMessage = (msg: ToThread): void => {
  if (msg._ === "Run") {
    void run(msg)
  } else if (current !== undefined && current.id === msg.id) {
    current.controller.abort()
  }
}

/**
 * Idle, wait on the shared counter instead of the event loop, then read the messages synchronously: a `message`
 * event costs a C++ → JS crossing with async tracking, the wait does not (piscina does the same). Only while no
 * run is current: a run's own async work needs the event loop. Any async work a finished run left behind waits
 * until the next run.
 */
const idleWait = (): void => {
  waiting = true
  while (current === undefined) {
    Atomics.wait(posted, SLOT_POSTED, seen)
    seen = Atomics.load(posted, SLOT_POSTED)
    for (let entry = receiveMessageOnPort(port); entry !== undefined; entry = receiveMessageOnPort(port)) {
      onMessage(entry.message as ToThread)
    }
  }
  waiting = false
}

port.on("message", onMessage)
baselineNow()
idleWait()
