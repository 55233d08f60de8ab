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
})
