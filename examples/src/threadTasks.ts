/**
 * The thread task of the `threads` example, in a module of its own: each thread of the pool imports this file
 * (by URL) to find `digest`, so it imports only `effect` modules and `ThreadTask`, by their deep paths.
 */
import * as ThreadTask from "@effect-workqueue/platform/ThreadTask"
import * as Schema from "effect/Schema"
import * as Transferable from "effect/workers/Transferable"
import { createHash } from "node:crypto"

/** A byte buffer moved (not copied) to the thread. */
const Bytes = Transferable.schema(Schema.Uint8Array as Schema.Codec<Uint8Array<ArrayBuffer>>, (u) => [u.buffer])

/** `rounds` chained SHA-256 over the buffer: h = sha256(h ‖ bytes). CPU-bound, no yield. Hex result. */
export const chainedSha256 = (bytes: Uint8Array, rounds: number): string => {
  let h: Uint8Array = new Uint8Array(0)
  for (let i = 0; i < rounds; i++) h = createHash("sha256").update(h).update(bytes).digest()
  return Buffer.from(h).toString("hex")
}

export const digest = ThreadTask.make({
  module: import.meta.url,
  export: "digest",
  input: Schema.Struct({ bytes: Bytes, rounds: Schema.Int }),
  success: Schema.String,
  run: ({ bytes, rounds }) => chainedSha256(bytes, rounds)
})

/** The deterministic payload of job `id`: `size` bytes of a xorshift stream seeded by the id. */
export const payload = (id: number, size: number): Uint8Array<ArrayBuffer> => {
  const bytes = new Uint8Array(size)
  let x = (id + 1) * 0x9e3779b1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    bytes[i] = x & 0xff
  }
  return bytes
}
