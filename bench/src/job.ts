/**
 * The job body every system runs, and the bookkeeping around it.
 *
 * Every scenario uses the same body: add the index to a sink, count the completion, and resolve the run's promise
 * when the last one finishes. State lives in a few module-level locals, so the body is a handful of instructions and
 * allocates nothing; the lateness and priority variants add one `performance.now()` read.
 */

let sink = 0 // sum of the indices of the jobs that ran (checked against n(n-1)/2)
let done = 0 // jobs that ran
let total = 0 // jobs the current run expects
let onAll: () => void = () => {} // resolves the current run's promise

let due = new Float64Array(0) // due time of job i (performance.now() ms), for lateness
let late = new Float64Array(0) // lateness of job i: start time minus due time (ms)

let highStartedAt = Number.NaN // when the high-priority job started (performance.now() ms)
let doneAtHighStart = 0 // how many normal jobs had finished when the high-priority job started
let onHigh: () => void = () => {}

/** Reset the counters for a run of `n` jobs; the promise resolves when the `n`th job finishes. */
export const expectAll = (n: number): Promise<void> => {
  sink = 0
  done = 0
  total = n
  return new Promise<void>((resolve) => {
    onAll = resolve
  })
}

/** The job body. */
export const job = (i: number): void => {
  sink += i
  if (++done === total) onAll()
}

/** The job body, recording how late it started relative to its due time (scenario 3). */
export const jobLate = (i: number): void => {
  late[i] = performance.now() - due[i]!
  job(i)
}

/** Allocate the due/lateness arrays for `n` delayed jobs (before any timing starts). */
export const trackLateness = (n: number): void => {
  due = new Float64Array(n)
  late = new Float64Array(n)
}

/** Record job `i`'s due time, in `performance.now()` milliseconds. */
export const setDue = (i: number, at: number): void => {
  due[i] = at
}

/** The lateness of every job of the last delayed run, in milliseconds. */
export const lateness = (): Float64Array => late

/** Jobs that have finished in the current run. */
export const completed = (): number => done

/** Arm the high-priority job of scenario 6; the promise resolves when it starts. */
export const expectHigh = (): Promise<void> => {
  highStartedAt = Number.NaN
  doneAtHighStart = 0
  return new Promise<void>((resolve) => {
    onHigh = resolve
  })
}

/** The high-priority job's body: note when it started and how many normal jobs were done by then. */
export const highJob = (): void => {
  highStartedAt = performance.now()
  doneAtHighStart = done
  onHigh()
}

/** When the high-priority job started, and how many normal jobs had finished before it. */
export const highStart = (): { readonly at: number; readonly normalsBefore: number } => ({
  at: highStartedAt,
  normalsBefore: doneAtHighStart
})

/** Throw unless every job of an `n`-job run ran exactly once. */
export const verifyAll = (n: number): void => {
  const expected = (n * (n - 1)) / 2
  if (done !== n || sink !== expected) {
    throw new Error(`job accounting mismatch: ${done}/${n} completions, sink ${sink} (expected ${expected})`)
  }
}
