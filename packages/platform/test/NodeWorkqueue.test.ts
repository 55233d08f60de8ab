import { WorkqueueSystem } from "@effect-workqueue/core"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as os from "node:os"
import { NodeWorkqueue } from "../src/index.ts"
import { TestWorkqueue } from "@effect-workqueue/testing"

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
          EFFECT_WORKQUEUE_MAX_WORKERS_PER_POOL: "16",
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

  it.effect.each(["true", "yes", "on", "1", "y"])("the one boolean parser (Config.Boolean) reads %s as true", (value) =>
    Effect.gen(function* () {
      const resolved = yield* resolve({ env: { EFFECT_WORKQUEUE_POWER_EFFICIENT: value } })
      assert.isTrue(resolved.powerEfficient)
    })
  )

  it.effect("without `env`, options come from the ConfigProvider in context (any provider, not only process.env)", () =>
    Effect.gen(function* () {
      const resolved = yield* Effect.provideService(
        resolve({}),
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromUnknown({ EFFECT_WORKQUEUE_CPUS: "5", EFFECT_WORKQUEUE_POWER_EFFICIENT: "no" })
      )
      assert.strictEqual(resolved.cpus, 5)
      assert.isFalse(resolved.powerEfficient)
    })
  )

  it.effect("configInteger refuses what Config.Int accepts loosely (1e3, 1.0, +5), for PORT-like values", () =>
    Effect.gen(function* () {
      const port = NodeWorkqueue.configInteger("PORT", { min: 0, max: 65535 })
      const parse = (value: string) => Effect.result(port.parse(ConfigProvider.fromEnv({ env: { PORT: value } })))
      assert.strictEqual((yield* parse("8080"))._tag, "Success")
      for (const bad of ["1e3", "1.0", "-1", "+5", "+0", "65536", "80 80", "0x50"]) {
        assert.strictEqual((yield* parse(bad))._tag, "Failure", bad)
      }
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
    ["EFFECT_WORKQUEUE_CPUS", "0", "a decimal integer in 1..1024"],
    ["EFFECT_WORKQUEUE_CPUS", "2000", "a decimal integer in 1..1024"],
    ["EFFECT_WORKQUEUE_CPUS", "two", "a decimal integer in 1..1024"],
    ["EFFECT_WORKQUEUE_CPUS", "1.5", "a decimal integer in 1..1024"],
    ["EFFECT_WORKQUEUE_MAX_WORKERS_PER_POOL", "0", "a decimal integer >= 1"],
    ["EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS", "-1", "a decimal integer >= 0"],
    ["EFFECT_WORKQUEUE_SHUTDOWN_DEADLINE_MS", "10s", "a decimal integer >= 0"],
    ["EFFECT_WORKQUEUE_MONITOR_INTERVAL_MS", "1e3", "a decimal integer >= 0"],
    ["EFFECT_WORKQUEUE_CPUS", "0x10", "a decimal integer in 1..1024"],
    ["EFFECT_WORKQUEUE_CPUS", " 2", "a decimal integer in 1..1024"],
    ["EFFECT_WORKQUEUE_CPUS", "+2", "a decimal integer in 1..1024"],
    ["EFFECT_WORKQUEUE_IDLE_TIMEOUT_MS", "99999999999999999999", "a decimal integer >= 0"],
    ["EFFECT_WORKQUEUE_POWER_EFFICIENT", "maybe", "a boolean: true, false, yes, no, on, off, 1, 0, y or n"],
    ["EFFECT_WORKQUEUE_POWER_EFFICIENT", "TRUE", "a boolean: true, false, yes, no, on, off, 1, 0, y or n"]
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
          cpuClock: TestWorkqueue.frozenCpuClock,
          dumpOnSignal: false,
          forceExitOnSecondSignal: false
        })
      )
    )
  )

  it.effect("the layer fails with the config error on a bad variable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.provide(
          WorkqueueSystem.snapshot,
          NodeWorkqueue.layer({ env: { EFFECT_WORKQUEUE_CPUS: "lots" }, cpuClock: TestWorkqueue.frozenCpuClock })
        )
      )
      assert.strictEqual(error.variable, "EFFECT_WORKQUEUE_CPUS")
    })
  )
})
