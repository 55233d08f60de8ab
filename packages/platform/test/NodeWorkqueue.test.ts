import { WorkqueueSystem } from "@effect-workqueue/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as os from "node:os"
import { NodeWorkqueue } from "../src/index.ts"

const resolve = (options: NodeWorkqueue.Options) => NodeWorkqueue.resolveOptions(options)

describe("NodeWorkqueue", () => {
  it.effect("defaults: cpus = os.availableParallelism(), 10 s deadline, no monitor", () =>
    Effect.gen(function* () {
      const resolved = yield* resolve({ env: {} })
      assert.deepStrictEqual(resolved, {
        cpus: Math.min(os.availableParallelism(), 1024),
        maxWorkersPerPool: undefined,
        idleTimeoutMs: undefined,
        powerEfficient: false,
        shutdownDeadlineMs: 10_000,
        monitorIntervalMs: 0
      })
    })
  )

  it.effect("reads every EFFECT_WORKQUEUE_* variable; empty counts as unset", () =>
    Effect.gen(function* () {
      const resolved = yield* resolve({
        env: {
          EFFECT_WORKQUEUE_CPUS: "3",
          EFFECT_WORKQUEUE_MAX_WORKERS_PER_POOL: " 16 ",
          EFFECT_WORKQUEUE_IDLE_TIMEOUT_MS: "1000",
          EFFECT_WORKQUEUE_POWER_EFFICIENT: "true",
          EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS: "2500",
          EFFECT_WORKQUEUE_MONITOR_INTERVAL_MS: ""
        }
      })
      assert.deepStrictEqual(resolved, {
        cpus: 3,
        maxWorkersPerPool: 16,
        idleTimeoutMs: 1000,
        powerEfficient: true,
        shutdownDeadlineMs: 2500,
        monitorIntervalMs: 0
      })
    })
  )

  it.effect("code options win over the environment", () =>
    Effect.gen(function* () {
      const resolved = yield* resolve({
        cpus: 2,
        shutdownDeadlineMs: 0,
        env: { EFFECT_WORKQUEUE_CPUS: "8", EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS: "99" }
      })
      assert.strictEqual(resolved.cpus, 2)
      assert.strictEqual(resolved.shutdownDeadlineMs, 0)
    })
  )

  it.effect.each([
    ["EFFECT_WORKQUEUE_CPUS", "0", "an integer in 1..1024"],
    ["EFFECT_WORKQUEUE_CPUS", "2000", "an integer in 1..1024"],
    ["EFFECT_WORKQUEUE_CPUS", "two", "an integer in 1..1024"],
    ["EFFECT_WORKQUEUE_CPUS", "1.5", "an integer in 1..1024"],
    ["EFFECT_WORKQUEUE_MAX_WORKERS_PER_POOL", "0", "an integer >= 1"],
    ["EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS", "-1", "an integer >= 0"],
    ["EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS", "10s", "an integer >= 0"],
    ["EFFECT_WORKQUEUE_MONITOR_INTERVAL_MS", "1e3", "an integer >= 0"],
    ["EFFECT_WORKQUEUE_POWER_EFFICIENT", "maybe", "true, false, 1 or 0"]
  ] as const)("a bad %s=%s fails naming the variable", ([variable, value, expected]) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(resolve({ env: { [variable]: value } }))
      assert.strictEqual(error._tag, "NodeWorkqueueConfigError")
      assert.strictEqual(error.variable, variable)
      assert.strictEqual(error.value, value)
      assert.strictEqual(error.message, `${variable}=${JSON.stringify(value)} is not valid: expected ${expected}`)
    })
  )

  it.effect("a bad option from code fails naming the option", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(resolve({ cpus: 0, env: {} }))
      assert.strictEqual(error.variable, "options.cpus")
    })
  )

  it("clampCpus maps any reported count into the core's 1..1024", () => {
    assert.deepStrictEqual(
      [0, -3, Number.NaN, 1, 8, 8.7, 1024, 4096].map(NodeWorkqueue.clampCpus),
      [1, 1, 1, 1, 8, 8, 1024, 1024]
    )
    assert.strictEqual(NodeWorkqueue.machineCpus(), Math.min(os.availableParallelism(), 1024))
  })

  it("toSystemOptions maps the resolved options onto WorkqueueSystem.layer's", () => {
    assert.deepStrictEqual(
      NodeWorkqueue.toSystemOptions({
        cpus: 6,
        maxWorkersPerPool: 4,
        idleTimeoutMs: 500,
        powerEfficient: true,
        shutdownDeadlineMs: 1,
        monitorIntervalMs: 0
      }),
      { cpus: 6, maxWorkersPerPool: 4, idleTimeout: 500, powerEfficient: true }
    )
  })

  it.effect("the layer boots the system with the resolved CPU count", () =>
    Effect.gen(function* () {
      const system = yield* WorkqueueSystem.WorkqueueSystem
      assert.strictEqual(system.cpus, 3)
      const snapshot = yield* WorkqueueSystem.snapshot
      assert.strictEqual(snapshot.cpus, 3)
    }).pipe(
      Effect.provide(
        NodeWorkqueue.layer({
          env: { EFFECT_WORKQUEUE_CPUS: "3" },
          dumpOnSignal: false,
          forceExitOnSecondSignal: false
        })
      )
    )
  )

  it.effect("the layer fails with the config error on a bad variable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.provide(WorkqueueSystem.snapshot, NodeWorkqueue.layer({ env: { EFFECT_WORKQUEUE_CPUS: "lots" } }))
      )
      assert.strictEqual(error.variable, "EFFECT_WORKQUEUE_CPUS")
    })
  )
})
