import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Platform from "../src/index.ts"

describe("index", () => {
  it("the barrel exports every public module of src/ as a namespace, and nothing else", () => {
    const dir = path.join(import.meta.dirname, "..", "src")
    const modules = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".ts") && f !== "index.ts")
      .map((f) => f.slice(0, -3))
      .sort()
    assert.deepStrictEqual(Object.keys(Platform).sort(), modules)
  })

  it("the API reference (docs/api/platform) documents every value each public namespace exports", () => {
    const apiDir = path.join(import.meta.dirname, "..", "..", "..", "docs", "api", "platform")
    for (const [name, ns] of Object.entries(Platform as unknown as Record<string, Record<string, unknown>>)) {
      const docs = new Set(
        fs
          .readFileSync(path.join(apiDir, `${name}.md`), "utf8")
          .split("\n")
          .filter((line) => line.startsWith("### "))
          .map((line) => line.slice(4).trim())
      )
      const undocumented = Object.keys(ns).filter((key) => !docs.has(key))
      assert.deepStrictEqual(undocumented, [], `${name}: exports missing from docs/api/platform/${name}.md`)
    }
  })
})
