/**
 * The CI slice of the torture test (torture/harness.ts; the long run is `npm run torture`): fixed seeds, a fixed
 * number of rounds and steps, under TestClock (exact: every timer fires at its expiry, 0 ms late) and under the live
 * clock (every timer fires, never early; how late is the machine's load, so it is recorded, not asserted: a 2 s
 * bound was a speed assumption). Each case runs alone; counts come from the seed, never from time; each round ends
 * on a logical condition (chains stopped, every timer fired, nothing owed), with real time only as a hang guard.
 *
 * Invariants checked: each successful queue runs exactly once, no item runs concurrently with itself, every armed
 * timer fires (exactly on time under TestClock, never early live) and none stays armed, tasks pending on the parent scheduler stay bounded (the
 * ping-pong bursts of queue + flush), outside queueing is refused with Draining only while a drain runs, and every
 * round quiesces and closes. A failure prints the seed, the round, the step and the calls on the item concerned.
 * With a small op budget (`opsBeforeYield`) every fiber yields every few operations: the interleavings a loaded
 * machine makes at random (the live-clock findings), fixed by the seed.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Torture from "../torture/harness.ts"

const expectClean = (report: Torture.Report) => {
  assert.deepStrictEqual(report.violations, [], Torture.formatReport(report))
  assert.isAbove(report.queued, 0)
  assert.isAbove(report.fired, 0, "timers fired")
}

describe("torture (CI slice)", () => {
  for (const seed of [1, 3, 6, 9]) {
    it.effect(`seed ${seed}, TestClock: 2 rounds of 200 random steps keep every invariant (timers exact)`, () =>
      Effect.map(Torture.run({ seed, rounds: 2, steps: 200, clock: "test", pingPong: 1_500 }), expectClean)
    )
  }

  for (const seed of [1, 3]) {
    it.effect(
      `seed ${seed}, TestClock, a yield every 24 operations: each call's outcome is recorded before any other fiber runs (no false Draining, no start before its queue is counted)`,
      () =>
        Effect.map(
          Torture.run({ seed, rounds: 1, steps: 200, clock: "test", pingPong: 1_500, opsBeforeYield: 24 }),
          expectClean
        )
    )
  }

  for (const [seed, ops] of [
    [10, 4],
    [74, 8]
  ] as const) {
    it.effect(
      `seed ${seed}, TestClock, a yield every ${ops} operations: a mod_delayed_work() during a cancelSync is left alone (the cancel's disable), not counted as queued`,
      () =>
        Effect.map(
          Torture.run({ seed, rounds: 1, steps: 200, clock: "test", pingPong: 1_500, opsBeforeYield: ops }),
          expectClean
        )
    )
  }

  it.effect(
    "seed 85, TestClock, a yield every operation: a DelayedWork.flush that fires a timer re-armed after the flush began is not a timer firing early",
    () =>
      Effect.map(
        Torture.run({ seed: 85, rounds: 1, steps: 200, clock: "test", pingPong: 5_000, opsBeforeYield: 1 }),
        expectClean
      ),
    { timeout: 120_000 }
  )

  for (const seed of [2, 4]) {
    it.live(
      `seed ${seed}, live clock: 1 round of 150 random steps keeps every invariant (timers never early and always fire; lateness recorded, not bounded)`,
      () => Effect.map(Torture.run({ seed, rounds: 1, steps: 150, clock: "live", pingPong: 1_500 }), expectClean)
    )
  }
})
