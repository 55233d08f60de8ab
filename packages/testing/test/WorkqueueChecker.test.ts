/**
 * The lockstep model check of the real engine (issue 5), the known engine divergences as focused regression tests,
 * and a mutation check: deliberately broken engine variants, built by wrapping the real engine through the
 * `SystemUnderTest` parameter, must each be caught with a shrunk counterexample.
 *
 * Seed: fixed by default; set `WQ_CHECK_SEED=<n>` (or `WQ_CHECK_SEED=random`) to explore locally.
 */
import { assert, describe, it } from "@effect/vitest"
import { DelayedWork, Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import { WorkqueueArbitrary, WorkqueueChecker, type WorkqueueModel } from "@effect-workqueue/testing"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"

const envSeed = process.env["WQ_CHECK_SEED"]
const SEED =
  envSeed === undefined || envSeed === ""
    ? 20261123
    : envSeed === "random"
      ? Math.floor(Math.random() * 2 ** 31)
      : Number(envSeed)

/**
 * The generator options of the big run. Known engine divergences (see the "known engine divergences" block below)
 * are kept out ONLY by narrowing the generator:
 *
 * - `exclude: ["Drain", "Destroy"]`: arming a timer during a drain (D2) and flush/drain of a destroyed queue (D1);
 * - `exclude: ["Thaw"]`: thaw does not release a blocked `freeze` (D4);
 * - `oneWorkqueuePerItem: true`: an item never runs on two workqueues at once, which the engine's single
 *   `work.current` cannot track (D3);
 * - `handlerBlocking: false`: handlers make only the self-deadlocking blocking calls, so no wait cycle between two
 *   handlers, which the engine does not detect (D5).
 *
 * Remove an entry once its regression test below passes (vitest then reports the `fails` test as unexpectedly passing).
 */
const BIG_RUN: WorkqueueArbitrary.ScenarioOptions = {
  maxOps: 100,
  exclude: ["Drain", "Destroy", "Thaw"],
  oneWorkqueuePerItem: true,
  handlerBlocking: false
}
/** Mutants are hunted on one workqueue (more interaction per op) with the same exclusions. */
const MUTATION_RUN: WorkqueueArbitrary.ScenarioOptions = { ...BIG_RUN, maxOps: 30, maxWorkqueues: 1 }
const BATCH = 10
const RUNS = 1000 // × BATCH = 10 000 sequences

let sequences = 0
let ops = 0
let events = 0
let started = 0

const scenario = (
  workqueues: ReadonlyArray<WorkqueueModel.WorkqueueSpec>,
  ops: ReadonlyArray<WorkqueueModel.Op>,
  cpus = 2
): WorkqueueArbitrary.Scenario => ({ config: { cpus, workqueues, items: WorkqueueArbitrary.items }, ops, seed: 0 })

/** Runs a scenario on the engine and fails with the readable report unless it passes. */
const expectPass = (s: WorkqueueArbitrary.Scenario) =>
  Effect.gen(function* () {
    const result = yield* WorkqueueChecker.check(s)
    assert.strictEqual(result._tag, "Passed", WorkqueueChecker.formatCheckResult(s, result))
  })

describe("WorkqueueChecker", () => {
  describe("model check of the real engine", () => {
    it.effect.prop(
      `${RUNS * BATCH} generated sequences follow the model (seed ${SEED})`,
      [Arbitrary.array(WorkqueueArbitrary.scenario(BIG_RUN), { minLength: BATCH, maxLength: BATCH })],
      ([batch]) =>
        Effect.gen(function* () {
          if (started === 0) started = Date.now()
          for (const s of batch) {
            const result = yield* WorkqueueChecker.check(s)
            if (result._tag === "Diverged") return yield* Effect.fail(new WorkqueueChecker.DivergenceError(s, result))
            sequences++
            ops += result.ops
            events += result.events
          }
          return true
        }),
      // size 100: Arbitrary's default size (10) keeps op lists short; 100 lets them grow to maxOps (~25 ops on average)
      { timeout: 120_000, arbitrary: { runs: RUNS, seed: SEED, size: 100 } }
    )

    it("checked at least 10 000 sequences in under two minutes", () => {
      const ms = Date.now() - started
      console.log(
        `model check: ${sequences} sequences (${ops} ops, ${events} observed events) in ${ms} ms (seed ${SEED})`
      )
      assert.isAtLeast(sequences, 10_000)
      assert.isBelow(ms, 120_000)
    })

    it.effect("handler calls, flushes, cancelSync, latches, failures and timers pass on hand-written scenarios", () =>
      Effect.gen(function* () {
        yield* expectPass(
          scenario(
            [{ name: "wq0", kind: "bound", maxActive: 1 }],
            [
              { _tag: "Queue", wq: "wq0", item: "w0", cpu: 1 },
              { _tag: "Queue", wq: "wq0", item: "w1", cpu: 1 },
              { _tag: "FlushWork", item: "w1" },
              { _tag: "Suspend", item: "w0", latch: 0 },
              { _tag: "Release", latch: 0 },
              { _tag: "Requeue", item: "w0" },
              { _tag: "CancelSync", item: "w0", from: "w0" },
              { _tag: "Finish", item: "w0", outcome: "failure" },
              { _tag: "Finish", item: "w1", outcome: "defect" },
              { _tag: "CancelSync", item: "w0" },
              { _tag: "QueueDelayed", wq: "wq0", item: "dw0", delay: 10 },
              { _tag: "AdvanceClock", ms: 9 },
              { _tag: "FlushDelayedWork", item: "dw0" },
              { _tag: "Finish", item: "dw0", outcome: "success" }
            ]
          )
        )
      })
    )

    it.effect("regression: a handler on an ordered queue queues on the CPU it observes (model pinned CPU 0)", () =>
      expectPass(
        scenario(
          [
            { name: "wq0", kind: "ordered" },
            { name: "wq1", kind: "bound" }
          ],
          [
            { _tag: "ModDelayed", wq: "wq0", item: "dw1", delay: 0, cpu: 1 },
            { _tag: "Queue", wq: "wq1", item: "dw0", from: "dw1" }
          ]
        )
      )
    )

    it.effect(
      "regression: a freed unbound slot may go to a head blocked by its running instance (node_activate_pending_pwq)",
      () =>
        expectPass(
          scenario(
            [{ name: "wq0", kind: "unbound", maxActive: 3 }],
            [
              { _tag: "Queue", wq: "wq0", item: "w1", cpu: 0 },
              { _tag: "SetMaxActive", wq: "wq0", maxActive: 1 },
              { _tag: "Queue", wq: "wq0", item: "w1" },
              { _tag: "Queue", wq: "wq0", item: "w0", cpu: 1 },
              { _tag: "SetMaxActive", wq: "wq0", maxActive: 2 }
            ],
            3
          )
        )
    )

    it.effect("regression: two unbound queues share a pool, so one item never overlaps itself there", () =>
      expectPass(
        scenario(
          [
            { name: "wq0", kind: "unbound" },
            { name: "wq1", kind: "ordered" }
          ],
          [
            { _tag: "Queue", wq: "wq0", item: "w1" },
            { _tag: "Queue", wq: "wq1", item: "w1" },
            { _tag: "Finish", item: "w1", outcome: "success" },
            { _tag: "Finish", item: "w1", outcome: "success" }
          ]
        )
      )
    )
  })

  // Each of these asserts the behaviour the spec requires; they fail on the engine today, so they are marked `fails`.
  describe("known engine divergences (expected to fail until the engine is fixed)", () => {
    it.effect.fails(
      "D1: flush and drain of a destroyed workqueue fail with Destroyed (spec §17 use-after-free → typed error)",
      () =>
        expectPass(
          scenario(
            [{ name: "wq0", kind: "bound" }],
            [
              { _tag: "Destroy", wq: "wq0" },
              { _tag: "FlushWorkqueue", wq: "wq0" },
              { _tag: "Drain", wq: "wq0" }
            ]
          )
        )
    )

    it.effect.fails(
      "D2: arming a delayed item during a drain succeeds; rejection applies at expiry (spec §3.2, §6.4)",
      () =>
        expectPass(
          scenario(
            [{ name: "wq0", kind: "bound" }],
            [
              { _tag: "Queue", wq: "wq0", item: "w1", cpu: 1 },
              { _tag: "Drain", wq: "wq0" },
              { _tag: "QueueDelayed", wq: "wq0", item: "dw1", delay: 20 },
              { _tag: "ModDelayed", wq: "wq0", item: "dw0", delay: 5 }
            ]
          )
        )
    )

    it.effect.fails(
      "D3: an item running on two pools at once is still serialised in each pool (find_worker_executing_work)",
      () =>
        expectPass(
          scenario(
            [
              { name: "wq0", kind: "bound", maxActive: 2 },
              { name: "wq1", kind: "ordered" }
            ],
            [
              { _tag: "Queue", wq: "wq0", item: "w1", cpu: 0 },
              { _tag: "Queue", wq: "wq1", item: "w1" },
              { _tag: "Requeue", item: "w1" }
            ],
            3
          )
        )
    )

    it.effect.fails("D4: thaw while a freeze waits for running items lets the freeze return (thaw_workqueues)", () =>
      expectPass(
        scenario(
          [{ name: "wq0", kind: "unbound", maxActive: 2, freezable: true }],
          [{ _tag: "ModDelayed", wq: "wq0", item: "dw1", delay: 0, cpu: 0 }, { _tag: "Freeze" }, { _tag: "Thaw" }],
          1
        )
      )
    )

    it.effect.fails(
      "D5: a wait cycle between two handlers fails with Deadlock instead of hanging (spec §13 lockdep; API.md lists only self-waits)",
      () =>
        expectPass(
          scenario(
            [
              { name: "wq0", kind: "bound", maxActive: 1 },
              { name: "wq1", kind: "bound", maxActive: 1 }
            ],
            [
              { _tag: "Queue", wq: "wq0", item: "w0", cpu: 0 },
              { _tag: "Queue", wq: "wq1", item: "w1", cpu: 0 },
              { _tag: "FlushWorkqueue", wq: "wq0", from: "w1" },
              { _tag: "FlushWorkqueue", wq: "wq1", from: "w0" }
            ],
            1
          )
        )
    )
  })

  describe("mutation check: broken engine variants are caught", () => {
    const base = WorkqueueChecker.engine
    const mutants: ReadonlyArray<WorkqueueChecker.SystemUnderTest> = [
      {
        ...base,
        name: "queue returns true while pending",
        queue: (wq, work, cpu) =>
          Effect.suspend(() => {
            const wasPending = Work.pendingUnsafe(work)
            return Effect.map(base.queue(wq, work, cpu), (queued) => queued || wasPending)
          })
      },
      {
        ...base,
        name: "cancelSync does not wait for a running instance",
        cancelSync: (work) => base.cancel(work)
      },
      {
        ...base,
        name: "Workqueue.flush also waits for items queued after it",
        flushWorkqueue: (wq) =>
          Effect.gen(function* () {
            for (;;) {
              yield* base.flushWorkqueue(wq)
              const snapshot = yield* WorkqueueSystem.snapshot
              const state = snapshot.workqueues.find((w) => w.name === Workqueue.name(wq))
              if (state === undefined || state.pwqs.every((p) => p.active === 0 && p.inactive === 0)) return
              yield* Effect.yieldNow
            }
          })
      },
      {
        ...base,
        name: "an ordered queue runs two items at once",
        makeWorkqueue: (spec) =>
          spec.kind === "ordered"
            ? Workqueue.make(spec.name, {
                flags: Workqueue.WQ_UNBOUND | (spec.freezable === true ? Workqueue.WQ_FREEZABLE : 0),
                maxActive: 2
              })
            : base.makeWorkqueue(spec)
      },
      {
        ...base,
        name: "modDelayed keeps the old expiry",
        modDelayed: (wq, work, delay, cpu) =>
          Work.pendingUnsafe(work) ? Effect.succeed(true) : base.modDelayed(wq, work, delay, cpu)
      },
      {
        ...base,
        name: "disable does not count (it only cancels)",
        disable: (work) => (DelayedWork.isDelayedWork(work) ? DelayedWork.cancel(work) : Work.cancel(work))
      },
      {
        ...base,
        name: "flushWork returns at once for a running item",
        flushWork: (work) => (Work.busyUnsafe(work).running ? Effect.succeed(false) : base.flushWork(work))
      }
    ]

    for (const mutant of mutants) {
      it.effect(
        `catches: ${mutant.name}`,
        () =>
          Effect.gen(function* () {
            const result = yield* Arbitrary.checkEffect(
              WorkqueueArbitrary.scenario(MUTATION_RUN),
              WorkqueueChecker.property(mutant),
              { runs: 3000, seed: SEED, size: 30 }
            )
            assert.strictEqual(result._tag, "Falsified", `mutant "${mutant.name}" survived`)
            if (result._tag === "Falsified") {
              const error = result.failure._tag === "PropertyError" ? result.failure.error : undefined
              console.log(
                `mutant "${mutant.name}" caught after ${result.runs} run(s), ${result.shrinks} shrink(s); shrunk counterexample:` +
                  `${error instanceof WorkqueueChecker.DivergenceError ? error.message : String(error)}`
              )
            }
          }),
        120_000
      )
    }
  })
})
