/**
 * The JSDoc examples are specifications too: every ```ts block of a package's `src/*.ts` that holds a `// => value`
 * line is extracted to a module of its own, run, and its value (awaited when a promise) compared with what the
 * comment says. Shared by each package's `test/docs.test.ts`; they add the package's own requirements.
 */
import { assert } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

export interface Example {
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
export const describes = "(describes its effect)"
const valueOf = (text: string): unknown => {
  try {
    return new Function(`return (${text})`)()
  } catch {
    return describes
  }
}

/**
 * Extract every runnable example of `srcDir/*.ts` into `outDir` (emptied first), one module per example.
 * `describing: false` makes an expected text that is not a JavaScript value an error instead of a description.
 */
export const extract = (
  srcDir: string,
  outDir: string,
  options?: { readonly describing?: boolean }
): Array<Example> => {
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
      const expected =
        options?.describing === false ? new Function(`return (${expectedText})`)() : valueOf(expectedText)
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

/** Run one extracted example and compare its value with its `// =>` comment. */
export const runExample = async (example: Example): Promise<void> => {
  const mod = await import(pathToFileURL(example.file).href)
  const value = await mod.__result
  assert.deepStrictEqual(value === "describes" ? describes : value, example.expected)
}
