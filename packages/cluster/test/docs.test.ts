/**
 * The JSDoc examples are specifications too: every ```ts block in `src/*.ts` that ends with a `// => value` line
 * is extracted, run, and its value (awaited when a promise) compared with what the comment says (every example must run).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

const srcDir = path.join(import.meta.dirname, "..", "src")
const outDir = path.join(import.meta.dirname, ".doc-examples")

interface Example {
  readonly module: string
  readonly title: string
  readonly file: string
  readonly expected: unknown
}

const extract = (): Array<Example> => {
  fs.rmSync(outDir, { recursive: true, force: true })
  fs.mkdirSync(outDir, { recursive: true })
  const examples: Array<Example> = []
  for (const name of fs.readdirSync(srcDir).filter((f) => f.endsWith(".ts"))) {
    const text = fs.readFileSync(path.join(srcDir, name), "utf8")
    const blocks = text.matchAll(/\*\*Example\*\* \(([^)]*)\)[\s\S]*?```ts\n([\s\S]*?)```/g)
    let n = 0
    for (const [, title, raw] of blocks) {
      const lines = raw!.split("\n").map((line) => line.replace(/^\s*\* ?/, ""))
      const at = lines.findIndex((line) => line.includes("// =>"))
      if (at < 0) continue
      const [code, expectedText] = lines[at]!.split("// =>").map((part) => part.trim()) as [string, string]
      // the value is the expression on the `// =>` line, or on the line before when the comment stands alone
      const exprLine = code === "" ? at - 1 : at
      const expr = (code === "" ? lines[exprLine]! : code).trim()
      const body = [...lines.slice(0, exprLine), `export const __result = ${expr}`].join("\n")
      const file = path.join(outDir, `${name.replace(/\.ts$/, "")}_${n++}.ts`)
      fs.writeFileSync(file, body)
      examples.push({
        module: name,
        title: title!,
        file,
        expected: new Function(`return (${expectedText})`)()
      })
    }
  }
  return examples
}

const examples = extract()

describe("JSDoc examples", () => {
  it("every public module has runnable examples", () => {
    const modules = new Set(examples.map((e) => e.module))
    for (const name of ["DurableWorkqueue.ts", "DurableWorkqueueError.ts"]) {
      assert.isTrue(modules.has(name), `${name} has no example with a // => result`)
    }
  })

  for (const example of examples) {
    it.live(`${example.module}: ${example.title}`, () =>
      Effect.promise(async () => {
        const mod = await import(pathToFileURL(example.file).href)
        assert.deepStrictEqual(await mod.__result, example.expected)
      })
    )
  }
})
