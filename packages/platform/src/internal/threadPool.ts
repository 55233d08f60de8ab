/**
 * The thread pool: a fixed cap of Node worker threads, a FIFO of runs waiting for a thread, and the life cycle
 * of each thread (spawn → idle ⇄ busy → aborting → exit → replaced).
 *
 * Field rules (as in core's `internal/state.ts`): **I** set at creation, read-only after; **P** the pool step:
 * read and written only in one synchronous step (a call from the caller's fiber, or a `message` / `exit` /
 * timer callback of Node) with no await between read and write. JavaScript runs one step at a time, so no step
 * sees another half done.
 *
 * ```
 *   submit ──► queue (FIFO) ──dispatch──► thread Busy ──Done──► thread Idle ──► dispatch next
 *                                             │ abort (caller interrupted)
 *                                             ▼
 *                                         Aborting ──Done (it yielded)──► Idle
 *                                             │ abortGraceMs passed
 *                                             ▼
 *                                        terminate ──exit──► gone; a replacement is spawned
 * ```
 *
 * A run's caller is resumed only when its thread is idle again or gone: an interrupted run never frees its
 * slot while its thread still computes.
 *
 * @internal
 */
import {
  MessageChannel,
  type MessagePort,
  type ResourceLimits,
  receiveMessageOnPort,
  type TransferListItem,
  Worker
} from "node:worker_threads"
import type { ThreadTask } from "../ThreadTask.ts"
import { asDone, type Done, SLOT_ENTERED, SLOT_POSTED, SLOT_RETURNED, type ToThread } from "./threadCodec.ts"

// ---------------------------------------------------------------------------
// structs
// ---------------------------------------------------------------------------

/** @internal */
export type ThreadState = "Idle" | "Busy" | "Aborting"

/** @internal */
export interface Thread {
  readonly id: number // I
  readonly name: string // I: `<pool>/<id>`
  readonly worker: Worker // I
  /**
   * I: the pool's end of the thread's private channel: `Run` / `Abort` go out and `Done` comes back here, never
   * on `parentPort`, which a task module can reach (what a task posts there is ignored). Unref'd: a busy thread
   * keeps the process alive through `worker.ref()`.
   */
  readonly port: MessagePort
  /**
   * I: shared with the thread. Slot `POSTED`: +1 after each message (wakes its idle wait), written by the pool.
   * Slots `ENTERED` / `RETURNED`: the id of the last run whose task function the thread called / that returned
   * (-1 before any), written by the thread, read by the pool when the thread dies: a death between the two is the
   * run's own synchronous code, never work an earlier run left behind.
   */
  readonly posted: Int32Array
  state: ThreadState // P
  run: Run | undefined // P: the run it executes (Busy, Aborting)
  cpuUs: number // P: thread CPU time of its finished runs, µs
  runs: number // P: runs it finished
  readonly known: Set<number> // P: task numbers whose module and export it was sent
  error: unknown // P: the last `error` event (an uncaught exception, ERR_WORKER_OUT_OF_MEMORY), for the exit report
  abortTimer: ReturnType<typeof setTimeout> | undefined // P: armed while Aborting
  terminating: boolean // P: terminate() was called; never handed another run
  exited: boolean // P: its `exit` event came
  retired: string | undefined // P: why it was terminated after a run that left async work pending
  previous: { readonly task: string; readonly label: string } | undefined // P: its last finished run, for blame
  readonly exitedPromise: Promise<void> // I: resolves on `exit`
}

/**
 * How a run ended, as its caller sees it.
 *
 * @internal
 */
export type Outcome =
  | Done
  | {
      readonly _: "Crashed"
      readonly thread: string
      readonly code: number
      readonly error: unknown
      /**
       * the thread's previous run (task export, label): its leftover async work may be what crashed; absent when
       * the thread died inside the run's own synchronous code
       */
      readonly previous?: { readonly task: string; readonly label: string } | undefined
      /** the thread died inside the task function's synchronous call (`process.exit` in it, ...) */
      readonly inRun?: boolean | undefined
    }
  | { readonly _: "Closed" }
  | { readonly _: "Unsendable"; readonly error: unknown }

/** @internal */
export interface Run {
  readonly id: number // I
  readonly task: ThreadTask<any, any, any> // I
  readonly label: string // I: the work item's name (or the task's export)
  readonly input: unknown // I: encoded
  readonly transfer: Array<TransferListItem> // I
  thread: Thread | undefined // P: set on dispatch
  startedAt: number // P: performance.now() at dispatch
  settled: boolean // P
  onSettle: (outcome: Outcome) => void // P: resumes the caller (replaced by the abort waiter on interrupt)
  next: Run | undefined // P: queue links
  prev: Run | undefined // P
}

/** @internal */
export type Tracepoint =
  | { readonly _: "thread_spawn"; readonly pool: string; readonly thread: string }
  | {
      readonly _: "thread_run_start"
      readonly pool: string
      readonly thread: string
      readonly task: string
      readonly label: string
    }
  | {
      readonly _: "thread_run_end"
      readonly pool: string
      readonly thread: string
      readonly task: string
      readonly label: string
      readonly outcome: "Success" | "Failure" | "Defect" | "Interrupted" | "Crashed"
      /** thread CPU time of the run, ms (0 when the thread died) */
      readonly cpuTimeMs: number
      /** wall time from dispatch to the end, ms */
      readonly wallTimeMs: number
    }
  | {
      readonly _: "thread_exit"
      readonly pool: string
      readonly thread: string
      readonly code: number
      /**
       * `crash`: died on its own (an uncaught error, resourceLimits); `abort`: terminated to stop a run;
       * `retired`: terminated after a run that left async work pending (a timer, a handle); `close`
       */
      readonly reason: "crash" | "abort" | "retired" | "close"
    }

/** @internal */
export interface PoolOptions {
  readonly name: string
  readonly threads: number
  readonly abortGraceMs: number
  readonly resourceLimits: ResourceLimits | undefined
  /** the module every thread runs (the package's `thread-entry`, or the one given to `make`) */
  readonly entry: URL
  readonly tracepoint: ((tp: Tracepoint) => void) | undefined
}

/** @internal */
export interface PoolState extends PoolOptions {
  readonly threadSet: Set<Thread> // P: live threads (not yet exited)
  readonly idle: Array<Thread> // P: LIFO of idle threads (the warmest first)
  head: Run | undefined // P: FIFO of runs waiting for a thread
  tail: Run | undefined // P
  queued: number // P
  lifecycle: "Open" | "Closed" // P
  nextThreadId: number // P
  nextRunId: number // P
  readonly stats: PoolStats // P
}

/** The pool's counters (`ThreadPool.snapshot`'s `stats`): every field P, counted where a run or a thread ends. @internal */
export interface PoolStats {
  runs: number
  succeeded: number
  failed: number
  defects: number
  interrupted: number
  crashed: number
  terminated: number
  spawned: number
  cpuUs: number
}

/**
 * The default thread entry, next to this file, with its extension: `.ts` in the workspace, `.js` in the dist
 * build. In a bundle this file is gone and `import.meta.url` is the bundle's: `ThreadPool.make` checks the entry
 * exists and asks for the `entry` option.
 *
 * @internal
 */
export const defaultEntry = (): URL =>
  new URL(`./threadMain${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url)

// ---------------------------------------------------------------------------
// policy predicates
// ---------------------------------------------------------------------------

// dispatch: may another thread be spawned?
const mayCreateThread = (pool: PoolState): boolean => pool.lifecycle === "Open" && pool.threadSet.size < pool.threads

// ---------------------------------------------------------------------------
// lifecycle of threads
// ---------------------------------------------------------------------------

/** @internal */
export const makePool = (options: PoolOptions): PoolState => ({
  ...options,
  threadSet: new Set(),
  idle: [],
  head: undefined,
  tail: undefined,
  queued: 0,
  lifecycle: "Open",
  nextThreadId: 0,
  nextRunId: 0,
  stats: {
    runs: 0,
    succeeded: 0,
    failed: 0,
    defects: 0,
    interrupted: 0,
    crashed: 0,
    terminated: 0,
    spawned: 0,
    cpuUs: 0
  }
})

const trace = (pool: PoolState, tp: Tracepoint): void => {
  if (pool.tracepoint === undefined) return
  try {
    pool.tracepoint(tp)
  } catch {
    // a throwing sink must not break a pool step (it runs inside Node's message and exit callbacks)
  }
}

const createThread = (pool: PoolState): Thread => {
  const id = pool.nextThreadId++
  const name = `${pool.name}/${id}`
  const posted = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT))
  posted[SLOT_ENTERED] = posted[SLOT_RETURNED] = -1
  // the protocol's own channel, handed to the thread in workerData (whose entry removes it from there before any
  // task module loads): a task can post on parentPort, never on this
  const channel = new MessageChannel()
  const worker = new Worker(pool.entry, {
    name,
    workerData: { posted: posted.buffer, port: channel.port2 },
    transferList: [channel.port2],
    ...(pool.resourceLimits !== undefined ? { resourceLimits: pool.resourceLimits } : {})
  })
  let exitedResolve: () => void = () => {}
  const thread: Thread = {
    id,
    name,
    worker,
    port: channel.port1,
    posted,
    state: "Idle",
    run: undefined,
    cpuUs: 0,
    runs: 0,
    known: new Set(),
    error: undefined,
    abortTimer: undefined,
    terminating: false,
    exited: false,
    retired: undefined,
    previous: undefined,
    exitedPromise: new Promise<void>((resolve) => {
      exitedResolve = resolve
    })
  }
  // only well-formed replies count; `parentPort` (the worker's own `message` event) is not listened to at all
  thread.port.on("message", (msg: unknown) => receiveDone(pool, thread, msg))
  thread.port.unref()
  worker.on("error", (error) => {
    thread.error = error
  })
  worker.on("exit", (code) => {
    // replies the thread posted before it died are delivered first (Node drains parentPort the same way)
    for (
      let entry = receiveMessageOnPort(thread.port);
      entry !== undefined;
      entry = receiveMessageOnPort(thread.port)
    ) {
      receiveDone(pool, thread, entry.message)
    }
    thread.port.close()
    threadExited(pool, thread, code)
    exitedResolve()
  })
  pool.threadSet.add(thread)
  pool.stats.spawned++
  trace(pool, { _: "thread_spawn", pool: pool.name, thread: name })
  return thread
}

/** Terminate a thread; it gets no further run. @internal */
export const threadTerminate = (thread: Thread): void => {
  thread.terminating = true
  void thread.worker.terminate()
}

const threadEnterIdle = (pool: PoolState, thread: Thread): void => {
  thread.state = "Idle"
  thread.run = undefined
  thread.worker.unref() // an idle thread does not keep the process alive
  pool.idle.push(thread)
}

const settle = (run: Run, outcome: Outcome): void => {
  if (run.settled) return
  run.settled = true
  run.onSettle(outcome) // must be the last step: it resumes the caller, which may submit again
}

const countOutcome = (pool: PoolState, outcome: Outcome["_"] | Done["outcome"]): void => {
  switch (outcome) {
    case "Success":
      pool.stats.succeeded++
      break
    case "Failure":
    case "TaskNotFound":
    case "Decode":
      pool.stats.failed++
      break
    case "Interrupted":
      pool.stats.interrupted++
      break
    case "Unsendable":
      pool.stats.failed++
      break
    default:
      pool.stats.defects++
  }
}

// a message on the thread's private port: a well-formed `Done` (shape and types checked) or nothing
const receiveDone = (pool: PoolState, thread: Thread, msg: unknown): void => {
  const done = asDone(msg)
  if (done !== undefined) threadDone(pool, thread, done)
}

// a `Done` from the thread: the thread is idle from now on
const threadDone = (pool: PoolState, thread: Thread, done: Done): void => {
  const run = thread.run
  if (run === undefined || run.id !== done.id || thread.exited) return // a late reply of a terminated run
  if (thread.abortTimer !== undefined) clearTimeout(thread.abortTimer)
  thread.abortTimer = undefined
  thread.cpuUs += done.cpuUs
  thread.runs++
  pool.stats.cpuUs += done.cpuUs
  countOutcome(pool, done.outcome)
  trace(pool, {
    _: "thread_run_end",
    pool: pool.name,
    thread: thread.name,
    task: run.task.export,
    label: run.label,
    outcome: done.outcome === "TaskNotFound" || done.outcome === "Decode" ? "Failure" : done.outcome,
    cpuTimeMs: done.cpuUs / 1000,
    wallTimeMs: performance.now() - run.startedAt
  })
  thread.run = undefined
  thread.previous = { task: run.task.export, label: run.label }
  // a run that left async work pending (a timer, a handle) retires its thread: that work would otherwise run
  // (and might crash) under the next run, which would be blamed for it
  if (done.leftover !== undefined && !thread.terminating) {
    thread.retired = `task "${run.task.export}" left ${done.leftover.join(", ")} pending`
    threadTerminate(thread)
  } else if (pool.lifecycle === "Open" && !thread.terminating) {
    // a thread being terminated (its abort grace ran out as it finished) is not reused: its exit comes next
    threadEnterIdle(pool, thread)
  } else {
    threadTerminate(thread)
  }
  dispatch(pool)
  settle(run, done) // must be the last step
}

// the thread is gone: fail (or finish the abort of) its run and replace it
const threadExited = (pool: PoolState, thread: Thread, code: number): void => {
  thread.exited = true
  if (thread.abortTimer !== undefined) clearTimeout(thread.abortTimer)
  pool.threadSet.delete(thread)
  const i = pool.idle.indexOf(thread)
  if (i >= 0) pool.idle.splice(i, 1)
  const run = thread.run
  thread.run = undefined
  // the thread told us (shared memory, so even a `process.exit` cannot outrun it) it was inside this run's task call
  const inRun =
    run !== undefined &&
    Atomics.load(thread.posted, SLOT_ENTERED) === run.id &&
    Atomics.load(thread.posted, SLOT_RETURNED) !== run.id
  const reason =
    pool.lifecycle === "Closed"
      ? "close"
      : thread.retired !== undefined && run === undefined
        ? "retired"
        : thread.state === "Aborting" || thread.terminating
          ? "abort"
          : "crash"
  trace(pool, { _: "thread_exit", pool: pool.name, thread: thread.name, code, reason })
  if (reason === "abort") pool.stats.terminated++
  else if (reason === "crash") pool.stats.crashed++
  if (run !== undefined) {
    countOutcome(pool, reason === "abort" ? "Interrupted" : "Crashed")
    trace(pool, {
      _: "thread_run_end",
      pool: pool.name,
      thread: thread.name,
      task: run.task.export,
      label: run.label,
      outcome: reason === "abort" ? "Interrupted" : "Crashed",
      cpuTimeMs: 0,
      wallTimeMs: performance.now() - run.startedAt
    })
  }
  // replace a thread that died busy, so the pool keeps its warm size; others are created on demand
  if (run !== undefined && mayCreateThread(pool)) threadEnterIdle(pool, createThread(pool))
  dispatch(pool)
  if (run !== undefined) {
    settle(
      run,
      pool.lifecycle === "Closed" && reason === "close"
        ? { _: "Closed" }
        : inRun
          ? { _: "Crashed", thread: thread.name, code, error: thread.error, inRun: true }
          : { _: "Crashed", thread: thread.name, code, error: thread.error, previous: thread.previous }
    ) // must be the last step
  }
}

// ---------------------------------------------------------------------------
// dispatch
// ---------------------------------------------------------------------------

const dequeue = (pool: PoolState): Run | undefined => {
  const run = pool.head
  if (run === undefined) return undefined
  unlink(pool, run)
  return run
}

const unlink = (pool: PoolState, run: Run): void => {
  if (run.prev !== undefined) run.prev.next = run.next
  else pool.head = run.next
  if (run.next !== undefined) run.next.prev = run.prev
  else pool.tail = run.prev
  run.next = run.prev = undefined
  pool.queued--
}

const isQueued = (pool: PoolState, run: Run): boolean =>
  run.thread === undefined && (pool.head === run || run.prev !== undefined)

const post = (thread: Thread, msg: ToThread, transfer?: Array<TransferListItem>): void => {
  thread.port.postMessage(msg, transfer)
  Atomics.add(thread.posted, SLOT_POSTED, 1)
  Atomics.notify(thread.posted, SLOT_POSTED) // must follow the post: the thread reads the port after it wakes
}

// a number per task (module + export) for all pools, so a thread is sent the task's location once
const taskNumbers = new Map<string, number>()
const taskNumberCache = new WeakMap<ThreadTask<any, any, any>, number>()
const taskNumber = (task: ThreadTask<any, any, any>): number => {
  let n = taskNumberCache.get(task)
  if (n === undefined) {
    const key = `${task.module}#${task.export}`
    n = taskNumbers.get(key)
    if (n === undefined) {
      n = taskNumbers.size
      taskNumbers.set(key, n)
    }
    taskNumberCache.set(task, n)
  }
  return n
}

/** Hand queued runs to idle threads, creating threads up to the cap. @internal */
export const dispatch = (pool: PoolState): void => {
  let refused: Array<readonly [Run, Outcome]> | undefined = undefined // settled after the loop, not inside it
  while (pool.head !== undefined && pool.lifecycle === "Open") {
    let thread = pool.idle.pop()
    if (thread === undefined && mayCreateThread(pool)) {
      try {
        thread = createThread(pool)
      } catch (error) {
        // Node refused to spawn (bad resourceLimits, no memory): the run fails, it is not left waiting forever
        const run = dequeue(pool)!
        countOutcome(pool, "Crashed")
        ;(refused ??= []).push([run, { _: "Crashed", thread: `${pool.name}/(spawn)`, code: -1, error }])
        continue
      }
    }
    if (thread === undefined) break
    const run = dequeue(pool)!
    const task = taskNumber(run.task)
    const known = thread.known.has(task)
    const msg: ToThread = known
      ? { _: "Run", id: run.id, task, input: run.input }
      : { _: "Run", id: run.id, task, module: run.task.module, export: run.task.export, input: run.input }
    try {
      post(thread, msg, run.transfer)
    } catch (error) {
      // structured clone refused the input (a function, a detached buffer): nothing was sent, the thread stays
      // idle, unref'd like every idle thread (a fresh thread is ref'd: it must not keep the process alive)
      threadEnterIdle(pool, thread)
      countOutcome(pool, "Unsendable")
      ;(refused ??= []).push([run, { _: "Unsendable", error }])
      continue
    }
    if (!known) thread.known.add(task)
    run.thread = thread
    run.startedAt = performance.now()
    thread.state = "Busy"
    thread.run = run
    thread.worker.ref() // a busy thread keeps the process alive until its caller has the result
    trace(pool, {
      _: "thread_run_start",
      pool: pool.name,
      thread: thread.name,
      task: run.task.export,
      label: run.label
    })
  }
  if (refused !== undefined) for (const [run, outcome] of refused) settle(run, outcome)
}

/**
 * Accept a run: queue it and dispatch. `onSettle` is called exactly once, when the run's thread is idle again
 * or gone (or the pool closed before it started).
 *
 * @internal
 */
export const submit = (
  pool: PoolState,
  task: ThreadTask<any, any, any>,
  label: string,
  input: unknown,
  transfer: Array<TransferListItem>,
  onSettle: (outcome: Outcome) => void
): Run => {
  const run: Run = {
    id: pool.nextRunId++,
    task,
    label,
    input,
    transfer,
    thread: undefined,
    startedAt: 0,
    settled: false,
    onSettle,
    next: undefined,
    prev: pool.tail
  }
  if (pool.tail !== undefined) pool.tail.next = run
  else pool.head = run
  pool.tail = run
  pool.queued++
  pool.stats.runs++
  dispatch(pool)
  return run
}

/**
 * Stop a run whose caller was interrupted; `onIdle` is called once its thread is idle or gone (at once for a
 * run still queued). Cooperative first (an `Abort` message: the task's signal fires), then, after
 * `abortGraceMs`, the thread is terminated and replaced.
 *
 * @internal
 */
export const abort = (pool: PoolState, run: Run, onIdle: () => void): void => {
  run.onSettle = onIdle
  if (run.settled) return onIdle()
  if (isQueued(pool, run)) {
    unlink(pool, run)
    pool.stats.interrupted++
    run.settled = true
    return onIdle()
  }
  const thread = run.thread
  if (thread === undefined || thread.state !== "Busy") return // already aborting: the first abort's timer runs
  thread.state = "Aborting"
  post(thread, { _: "Abort", id: run.id })
  thread.abortTimer = setTimeout(() => {
    thread.abortTimer = undefined
    if (!thread.exited && thread.run === run) threadTerminate(thread)
  }, pool.abortGraceMs)
}

/**
 * Close the pool: runs still queued settle `Closed`; busy threads are terminated (their runs settle `Closed`);
 * resolves when every thread has exited.
 *
 * @internal
 */
export const close = (pool: PoolState): Promise<void> => {
  if (pool.lifecycle === "Closed") return Promise.all([...pool.threadSet].map((t) => t.exitedPromise)).then(() => {})
  pool.lifecycle = "Closed"
  const waiting: Array<Run> = []
  for (let run = dequeue(pool); run !== undefined; run = dequeue(pool)) waiting.push(run)
  const threads = [...pool.threadSet]
  pool.idle.length = 0
  for (const thread of threads) threadTerminate(thread)
  for (const run of waiting) settle(run, { _: "Closed" })
  return Promise.all(threads.map((t) => t.exitedPromise)).then(() => {})
}
