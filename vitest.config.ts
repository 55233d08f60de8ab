import { defineConfig } from "vitest/config"

// Timeouts are hang guards only, never speed budgets: the suite must pass with the machine fully loaded (two
// `npm test` at once on two cores). Tests count by seed and read time from TestClock; throughput lives in `npm run bench`.
const HANG_GUARD = { testTimeout: 300_000, hookTimeout: 300_000 }

export default defineConfig({
  test: {
    projects: [
      { test: { name: "core", root: "packages/core", include: ["test/**/*.test.ts"], ...HANG_GUARD } },
      {
        test: {
          name: "testing",
          root: "packages/testing",
          include: ["test/**/*.test.ts"],
          ...HANG_GUARD,
          testTimeout: 600_000
        }
      },
      { test: { name: "platform", root: "packages/platform", include: ["test/**/*.test.ts"], ...HANG_GUARD } },
      { test: { name: "examples", root: "examples", include: ["test/**/*.test.ts"], testTimeout: 60_000 } }
    ]
  }
})
