/** piscina's worker for the thread bench: the same two tasks. */
import { fibOf } from "./fibOf.ts"

export default ({ op, n }: { readonly op: "noop" | "fib"; readonly n: number }): number => (op === "fib" ? fibOf(n) : n)
