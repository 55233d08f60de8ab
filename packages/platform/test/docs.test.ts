/**
 * The JSDoc examples are specifications too: every ```ts block in `src/*.ts` that ends with a `// => value` line
 * is extracted, run, and its value compared with what the comment says (every example must run).
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

/** Brackets opened minus closed in `code` (strings and template literals skipped). */
const depth = (code: string): number => {
  let d = 0
  let quote: string | undefined
  for (let i = 0; i < code.length; i++) {
    const c = code[i]!
    if (quote !== undefined) {
      if (c === "\\") i++
      else if (c === quote) quote = undefined
    } else if (c === '"' || c === "'" || c === "`") quote = c
    else if (c === "(" || c === "[" || c === "{") d++
    else if (c === ")" || c === "]" || c === "}") d--
  }
  return d
}

/**
 * The expression a `// =>` line shows the value of: the code on that line (or on the line before when the comment
 * stands alone), extended upwards over the lines it closes, so `await Effect.runPromise(\n  program\n) // => 1`
 * is one expression. Returns its first line and its text.
 */
const expressionAt = (lines: ReadonlyArray<string>, at: number, code: string): [number, string] => {
  const last = code === "" ? at - 1 : at
  const parts = [code === "" ? lines[last]!.trim() : code]
  let first = last
  while (depth(parts.join("\n")) < 0 && first > 0) parts.unshift(lines[--first]!)
  return [first, parts.join("\n").trim()]
}

/**
 * An example written as a test (`it.effect("...", () => ... return value // => v)`): the `// =>` line is the test
 * body's return; the example runs with a stand-in `it.effect` that runs the body under `TestClock`, and its value
 * is what the body returns.
 */
const testBody = (lines: ReadonlyArray<string>): string =>
  [
    'import * as __Effect from "effect/Effect"',
    'import { TestClock as __TestClock } from "effect/testing"',
    "let __body: (() => __Effect.Effect<unknown, unknown>) | undefined",
    "const it = { effect: (_name: string, body: () => __Effect.Effect<unknown, unknown>) => { __body = body } }",
    ...lines.filter((line) => !/^import \{ it \} from "@effect\/vitest"/.test(line)),
    "export const __result = await __Effect.runPromise(__Effect.provide(__body!(), __TestClock.layer()))"
  ].join("\n")

/**
 * A `// =>` comment that is not a JavaScript value describes what the example does (`// => exits 0 once the work
 * ran`): such an example must still run to its end, and nothing is compared.
 */
const describes = "(describes its effect)"
const valueOf = (text: string): unknown => {
  try {
    return new Function(`return (${text})`)()
  } catch {
    return describes
  }
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
      const expected = valueOf(expectedText)
      const [first, expr] = expressionAt(lines, at, code)
      const body = code.startsWith("return ")
        ? testBody(lines)
        : expected === describes
          ? [...lines, 'export const __result = "describes"'].join("\n")
          : [...lines.slice(0, first), `export const __result = ${expr}`].join("\n")
      const file = path.join(outDir, `${name.replace(/\.ts$/, "")}_${n++}.ts`)
      fs.writeFileSync(file, body)
      examples.push({
        module: name,
        title: title!,
        file,
        expected
      })
    }
  }
  return examples
}

const examples = extract()

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
    it.live(`${example.module}: ${example.title}`, () =>
      Effect.promise(async () => {
        const mod = await import(pathToFileURL(example.file).href)
        assert.deepStrictEqual(mod.__result === "describes" ? describes : mod.__result, example.expected)
      })
    )
  }
})
