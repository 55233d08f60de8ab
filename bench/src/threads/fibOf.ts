/** The CPU-bound body every thread system runs: naive Fibonacci. */
export const fibOf = (k: number): number => (k < 2 ? k : fibOf(k - 1) + fibOf(k - 2))
