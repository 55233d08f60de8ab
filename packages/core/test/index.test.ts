import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import * as Barrel from "../src/index.ts"

const srcDir = Path.join(Path.dirname(Url.fileURLToPath(import.meta.url)), "..", "src")

/** The public modules: every `src/*.ts` except the barrel itself (internals live in `src/internal/`). */
const publicModules = Fs.readdirSync(srcDir)
  .filter((f) => f.endsWith(".ts") && f !== "index.ts")
  .map((f) => f.slice(0, -".ts".length))
  .sort()

describe("index", () => {
  it("the barrel exports exactly the src/*.ts public modules, one namespace each", () => {
    assert.deepStrictEqual(Object.keys(Barrel).sort(), publicModules)
  })

  it("each barrel namespace is the module itself", async () => {
    for (const name of publicModules) {
      const mod = (await import(Url.pathToFileURL(Path.join(srcDir, `${name}.ts`)).href)) as Record<string, unknown>
      const ns = (Barrel as unknown as Record<string, Record<string, unknown>>)[name]!
      assert.deepStrictEqual(Object.keys(ns).sort(), Object.keys(mod).sort(), name)
      for (const key of Object.keys(mod)) assert.strictEqual(ns[key], mod[key], `${name}.${key}`)
    }
  })

  it('the barrel holds only `export * as X from "./X.ts"` lines', () => {
    const text = Fs.readFileSync(Path.join(srcDir, "index.ts"), "utf8")
    const exports = text
      .split("\n")
      .filter((line) => line.startsWith("export"))
      .map((line) => line.trim())
    assert.deepStrictEqual(
      exports,
      publicModules.map((m) => `export * as ${m} from "./${m}.ts"`)
    )
  })
})

describe("the API reference (docs/api/core, generated from the JSDoc by `npm run docs`)", () => {
  const apiDir = Path.join(srcDir, "..", "..", "..", "docs", "api", "core")
  const documented = (module: string): Set<string> =>
    new Set(
      Fs.readFileSync(Path.join(apiDir, `${module}.md`), "utf8")
        .split("\n")
        .filter((line) => line.startsWith("### "))
        .map((line) => line.slice(4).trim())
    )

  it("documents every value each public namespace exports: internals stay in src/internal/", () => {
    for (const name of publicModules) {
      const ns = (Barrel as unknown as Record<string, Record<string, unknown>>)[name]!
      const docs = documented(name)
      const undocumented = Object.keys(ns).filter((key) => !docs.has(key))
      assert.deepStrictEqual(undocumented, [], `${name}: exports missing from docs/api/core/${name}.md`)
    }
  })
})
