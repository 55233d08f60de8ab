/**
 * Encoding and decoding of thread-task values, shared by the pool (main thread) and the thread entry. Encoding
 * collects the transferables that `effect/workers/Transferable` schemas mark, so binary data is moved.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type { TransferListItem } from "node:worker_threads"
import * as Transferable from "effect/workers/Transferable"

/** @internal */
export type Codec = Schema.Codec<any, any, never, never>

// one encoder / decoder per schema (not per value), built on first use
const encoders = new WeakMap<Codec, (a: unknown) => Effect.Effect<unknown, Schema.SchemaError>>()
const decoders = new WeakMap<Codec, (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>>()

/**
 * Encode `value` with `schema`; on success the encoded value and the transfer list.
 *
 * @internal
 */
export const encode = (
  schema: Codec,
  value: unknown
): Exit.Exit<readonly [unknown, Array<TransferListItem>], Schema.SchemaError> => {
  let encoder = encoders.get(schema)
  if (encoder === undefined) {
    encoder = Schema.encodeUnknownEffect(schema)
    encoders.set(schema, encoder)
  }
  const collector = Transferable.makeCollectorUnsafe()
  return Effect.runSyncExit(
    Effect.map(
      Effect.provideService(encoder(value), Transferable.Collector, collector),
      (encoded) => [encoded, collector.readUnsafe()] as const
    )
  )
}

/**
 * Decode `encoded` with `schema`.
 *
 * @internal
 */
export const decode = (schema: Codec, encoded: unknown): Exit.Exit<unknown, Schema.SchemaError> => {
  let decoder = decoders.get(schema)
  if (decoder === undefined) {
    decoder = Schema.decodeUnknownExit(schema)
    decoders.set(schema, decoder)
  }
  return decoder(encoded)
}

/**
 * A defect as structured clone can carry it: an `Error` keeps its name, message and stack; other values that
 * cannot be cloned become their string. Never throws: a thrown `Proxy` (whose traps throw, or revoked), an object
 * whose `toString` / `Symbol.toPrimitive` throws or an `Error` with throwing getters becomes a description of
 * what it is, so a task's strange throw is a defect of its run, never the death of its thread.
 *
 * @internal
 */
export const cloneableDefect = (defect: unknown): unknown => {
  try {
    if (defect instanceof Error) {
      const error = new Error(String(defect.message))
      error.name = String(defect.name)
      const stack = defect.stack
      if (typeof stack === "string") error.stack = stack
      return error
    }
  } catch {
    return safeString(defect)
  }
  try {
    structuredClone(defect)
    return defect
  } catch {
    return safeString(defect)
  }
}

/**
 * `String(u)` that never throws: a value whose conversion throws (a `Proxy`, a throwing `toString` or
 * `Symbol.toPrimitive`) is named by its type instead.
 *
 * @internal
 */
export const safeString = (u: unknown): string => {
  try {
    return String(u)
  } catch {
    try {
      return `[unprintable ${typeof u}: ${Object.prototype.toString.call(u)}]`
    } catch {
      return `[unprintable ${typeof u}]`
    }
  }
}

/**
 * The messages. Main → thread: `Run` (one at a time per thread), `Abort` (of the current run). Thread → main:
 * `Done` (exactly one per `Run`, also after an abort).
 *
 * @internal
 */
export type ToThread =
  | {
      readonly _: "Run"
      readonly id: number
      /** the pool's number for the task; `module` and `export` come only the first time a thread sees it */
      readonly task: number
      readonly module?: string | undefined
      readonly export?: string | undefined
      readonly input: unknown
    }
  | { readonly _: "Abort"; readonly id: number }

/**
 * The slots of the `Int32Array` a pool shares with each thread (`workerData.posted`): `SLOT_POSTED` counts the
 * pool's messages (the thread's idle wait sleeps on it); `SLOT_ENTERED` / `SLOT_RETURNED` hold the id of the last
 * run whose task function the thread called / that returned (-1 before any), so when a thread dies the pool knows
 * whether it died inside a run's own synchronous call. Written with `Atomics`: unlike a message, a store is seen
 * even when the thread exits right after it.
 *
 * @internal
 */
export const SLOT_POSTED = 0
/** @internal */
export const SLOT_ENTERED = 1
/** @internal */
export const SLOT_RETURNED = 2

/** @internal */
export interface Done {
  readonly _: "Done"
  readonly id: number
  /**
   * `Success`: `value` is the encoded result; `Failure`: the encoded typed failure; `Defect`: a cloneable defect;
   * `TaskNotFound`: why the task's module or export did not load (a string); `Decode`: the result (or typed
   * failure) does not encode with the task's schema in the thread — the schema problem (a string).
   */
  readonly outcome: "Success" | "Failure" | "Defect" | "Interrupted" | "TaskNotFound" | "Decode"
  readonly value: unknown
  /** thread CPU time of this run (user + system), µs */
  readonly cpuUs: number
  /**
   * The async resources the run left pending (`process.getActiveResourcesInfo()` types, e.g. `Timeout`): the pool
   * retires such a thread, so what they do later cannot crash the next run.
   */
  readonly leftover?: ReadonlyArray<string> | undefined
}

/** Every `Done` outcome; typed so that a new outcome in `Done` must be added here too (or `asDone` drops it). */
const DONE_OUTCOMES: { readonly [K in Done["outcome"]]: true } = {
  Success: true,
  Failure: true,
  Defect: true,
  Interrupted: true,
  TaskNotFound: true,
  Decode: true
}

/**
 * A message from a thread's private port as a `Done`, or `undefined` unless it is one: an object with `_: "Done"`,
 * an integer `id` >= 0, a known `outcome`, a finite `cpuUs` >= 0 and `leftover` absent or an array of strings.
 * Reads each field once, and never throws (a getter or a `Proxy` cannot reach here through structured clone,
 * but nothing is assumed).
 *
 * @internal
 */
export const asDone = (u: unknown): Done | undefined => {
  try {
    if (typeof u !== "object" || u === null) return undefined
    const m = u as Record<string, unknown>
    const { _: tag, id, outcome, value, cpuUs, leftover } = m
    if (tag !== "Done") return undefined
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) return undefined
    if (typeof outcome !== "string" || !Object.hasOwn(DONE_OUTCOMES, outcome)) return undefined
    if (typeof cpuUs !== "number" || !Number.isFinite(cpuUs) || cpuUs < 0) return undefined
    if (leftover !== undefined && !(Array.isArray(leftover) && leftover.every((x) => typeof x === "string"))) {
      return undefined
    }
    return {
      _: "Done",
      id,
      outcome: outcome as Done["outcome"],
      value,
      cpuUs,
      ...(leftover !== undefined ? { leftover: leftover as ReadonlyArray<string> } : {})
    }
  } catch {
    return undefined
  }
}
