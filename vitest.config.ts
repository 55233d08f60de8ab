import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: [
      { test: { name: "core", root: "packages/core", include: ["test/**/*.test.ts"] } },
      { test: { name: "testing", root: "packages/testing", include: ["test/**/*.test.ts"], testTimeout: 120_000 } },
      { test: { name: "platform", root: "packages/platform", include: ["test/**/*.test.ts"], testTimeout: 60_000 } },
      { test: { name: "examples", root: "examples", include: ["test/**/*.test.ts"], testTimeout: 60_000 } }
    ]
  }
})
