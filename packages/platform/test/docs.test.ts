/**
 * The JSDoc examples are specifications too: every ```ts block in `src/*.ts` that ends with a `// => value` line
 * is extracted, run, and its value compared with what the comment says (every example must run).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { extract, runExample } from "../../../scripts/docExamples.ts"

const srcDir = path.join(import.meta.dirname, "..", "src")
const outDir = path.join(import.meta.dirname, ".doc-examples")

const examples = extract(srcDir, outDir)

/**
 * The thread examples import their task module as `./tasks.ts` (a user's own file): it is the code of
 * `ThreadTask.make`'s example "A task module", written next to them so they run as written.
 */
const writeTaskModule = (): void => {
  const text = fs.readFileSync(path.join(srcDir, "ThreadTask.ts"), "utf8")
  const block = /\*\*Example\*\* \(A task module\)[\s\S]*?```ts\n([\s\S]*?)```/.exec(text)
  assert.isNotNull(block, "ThreadTask.ts has its task-module example")
  const lines = block![1]!.split("\n").map((line) => line.replace(/^\s*\* ?/, ""))
  fs.writeFileSync(path.join(outDir, "tasks.ts"), lines.filter((line) => !line.includes("// =>")).join("\n"))
}
writeTaskModule()

describe("JSDoc examples", () => {
  it("every public module has runnable examples", () => {
    const modules = new Set(examples.map((e) => e.module))
    for (const name of fs.readdirSync(srcDir).filter((f) => f.endsWith(".ts") && f !== "index.ts")) {
      assert.isTrue(modules.has(name), `${name} has no example with a // => result`)
    }
  })

  for (const example of examples) {
    it.live(`${example.module}: ${example.title}`, () => Effect.promise(() => runExample(example)))
  }
})
