/** A bare `worker_threads` worker for the thread bench: one message in, one message out. */
import { parentPort } from "node:worker_threads"
import { fibOf } from "./fibOf.ts"

parentPort!.on("message", (msg: { readonly id: number; readonly op: "noop" | "fib"; readonly n: number }) => {
  parentPort!.postMessage({ id: msg.id, r: msg.op === "fib" ? fibOf(msg.n) : msg.n })
})
