import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Testing from "../src/index.ts"

const srcDir = Path.join(import.meta.dirname, "..", "src")
const apiDir = Path.join(import.meta.dirname, "..", "..", "..", "docs", "api", "testing")

describe("index", () => {
  it("the barrel exports every public module of src/ as a namespace, and nothing else", () => {
    const modules = Fs.readdirSync(srcDir)
      .filter((f) => f.endsWith(".ts") && f !== "index.ts")
      .map((f) => f.slice(0, -3))
      .sort()
    assert.deepStrictEqual(Object.keys(Testing).sort(), modules)
  })

  it("the API reference (docs/api/testing) documents every value each public namespace exports", () => {
    for (const [name, ns] of Object.entries(Testing as unknown as Record<string, Record<string, unknown>>)) {
      const docs = new Set(
        Fs.readFileSync(Path.join(apiDir, `${name}.md`), "utf8")
          .split("\n")
          .filter((line) => line.startsWith("### "))
          .map((line) => line.slice(4).trim())
      )
      const undocumented = Object.keys(ns).filter((key) => !docs.has(key))
      assert.deepStrictEqual(undocumented, [], `${name}: exports missing from docs/api/testing/${name}.md`)
    }
  })
})
