/**
 * The JSDoc examples are specifications too: every ```ts block in `src/*.ts` that ends with a `// => value` line
 * is extracted, run, and its value compared with what the comment says (every example must run).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { extract, runExample } from "../../../scripts/docExamples.ts"

const srcDir = path.join(import.meta.dirname, "..", "src")
const outDir = path.join(import.meta.dirname, ".doc-examples")

const examples = extract(srcDir, outDir)

describe("JSDoc examples", () => {
  it("every public module has runnable examples", () => {
    const modules = new Set(examples.map((e) => e.module))
    for (const name of ["Work.ts", "DelayedWork.ts", "Workqueue.ts", "WorkqueueSystem.ts", "WorkqueueMetrics.ts"]) {
      assert.isTrue(modules.has(name), `${name} has no example with a // => result`)
    }
  })

  for (const example of examples) {
    it.live(`${example.module}: ${example.title}`, () => Effect.promise(() => runExample(example)))
  }
})
