/**
 * The API reference, docs/api/, generated from the JSDoc of the published declarations.
 *
 * It reads what a user's editor reads: the `.d.ts` files that `tsc -b` emits into each package's `dist/` for the
 * modules the package exports (`src/*.ts`, not `internal/`), and writes one Markdown page per module, grouped by
 * `@category`, with each export's declaration and its JSDoc, plus docs/api/README.md as the index.
 *
 * Why not TypeDoc or @effect/docgen: both drive the TypeScript 5 compiler API, and this workspace's compiler is
 * TypeScript 7 (the native `tsc`, which has no such API yet); the declaration files it emits are regular enough
 * (one top-level statement per line at column 0, JSDoc directly above) to be read without a compiler.
 *
 *   npm run docs                       build, then write docs/api/
 *   node scripts/api-docs.ts --check   exit 1 when docs/api/ differs from what the JSDoc gives (run by `npm test`)
 */
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")
const outDir = path.join(root, "docs", "api")

interface Package {
  readonly dir: string
  readonly name: string
  readonly description: string
  /** where the public modules' declarations are: `exports["./*"].types` without the `*.d.ts` */
  readonly dts: string
}

interface Declaration {
  readonly name: string
  readonly kind: string
  readonly code: string
  readonly doc: Doc
  /** what its JSDoc lacks (a description, `@category`, `@since`), reported when the declaration is published */
  readonly problem: string | undefined
}

interface Doc {
  readonly text: string
  readonly tags: ReadonlyArray<readonly [tag: string, value: string]>
}

const packages = (): Array<Package> =>
  ["core", "testing", "platform", "cluster"].map((dir) => {
    const json = JSON.parse(fs.readFileSync(path.join(root, "packages", dir, "package.json"), "utf8"))
    const types: string = json.exports["./*"].types
    return { dir, name: json.name, description: json.description, dts: types.replace(/\*\.d\.ts$/, "") }
  })

/** The text of a `/** ... *\/` block without the comment markers and the leading ` * ` of each line. */
const parseDoc = (block: string): Doc => {
  const lines = block
    .replace(/^\/\*\*/, "")
    .replace(/\*\/$/, "")
    .split("\n")
    .map((line) => line.replace(/^\s*\* ?/, ""))
  const text: Array<string> = []
  const tags: Array<[string, string]> = []
  let inFence = false
  for (const line of lines) {
    if (line.trimStart().startsWith("```")) inFence = !inFence
    const tag = inFence ? null : /^@(\w+)\s*(.*)$/.exec(line.trim())
    if (tag) tags.push([tag[1]!, tag[2]!.trim()])
    else text.push(line)
  }
  // `{@link X}` / `{@link X text}` read as code in Markdown
  const joined = text
    .join("\n")
    .replace(/\{@link\s+([^}\s]+)(?:\s+([^}]+))?\}/g, (_, ref, label) => `\`${label ?? ref}\``)
  return { text: joined.trim(), tags }
}

const tagOf = (doc: Doc, tag: string): string | undefined => doc.tags.find(([t]) => t === tag)?.[1]

/**
 * Splits a declaration file into its top-level statements, each with the JSDoc block right above it. A re-export
 * (`export { A, B as C } from "./internal/x.ts"`, `export * from "./x.ts"`) is followed to the declaration file it
 * names (`file` is the path of `source`), and each name it exports is documented by its declaration there; a
 * re-exported name with no documented declaration there is an error, never a silent gap in the reference.
 */
const parseDeclarations = (
  source: string,
  file: string
): { readonly moduleDoc: Doc | undefined; readonly decls: Array<Declaration> } => {
  const lines = source.replace(/\r\n/g, "\n").split("\n")
  const statements: Array<{ doc: string | undefined; code: string }> = []
  let pendingDoc: string | undefined
  let moduleDoc: Doc | undefined
  let i = 0
  while (i < lines.length) {
    const line = lines[i]!
    if (line.startsWith("/**")) {
      const start = i
      while (!lines[i]!.includes("*/")) i++
      const block = lines.slice(start, i + 1).join("\n")
      // a block followed by another block or by the imports documents the module (`@since` header)
      if (pendingDoc !== undefined && moduleDoc === undefined && statements.length === 0)
        moduleDoc = parseDoc(pendingDoc)
      pendingDoc = block
      i++
      continue
    }
    if (line === "" || line.startsWith("//")) {
      i++
      continue
    }
    const start = i
    i++
    while (i < lines.length && /^[\s})\]>|&]/.test(lines[i]!) && lines[i] !== "") i++
    const code = lines.slice(start, i).join("\n")
    if (code.startsWith("import ") && pendingDoc !== undefined && moduleDoc === undefined) {
      moduleDoc = parseDoc(pendingDoc)
      pendingDoc = undefined
    }
    statements.push({ doc: pendingDoc, code })
    pendingDoc = undefined
  }
  const decls: Array<Declaration> = []
  // a declaration exported under another name (`declare const await_ ...` then `export { await_ as await }`: a
  // reserved word as an export name) is documented under its exported name
  const local = new Map<string, { readonly doc: string | undefined; readonly code: string }>()
  for (const statement of statements) {
    const m = /^declare (?:const|function|class) (\w+)/.exec(statement.code)
    if (m !== null) local.set(m[1]!, statement)
  }
  for (const statement of statements) {
    const reexport = /^export (?:\{([^}]*)\}|\*) from "([^"]+)";?$/.exec(statement.code.replace(/\s+/g, " "))
    if (reexport !== null) {
      decls.push(...reexported(file, reexport[2]!, reexport[1]))
      continue
    }
    const renamed = /^export \{ (\w+) as (\w+) \};?$/.exec(statement.code)
    const target = renamed === null ? undefined : local.get(renamed[1]!)
    const { doc, code } =
      renamed === null || target === undefined
        ? statement
        : {
            doc: target.doc,
            code: `export ${target.code.replace(new RegExp(`^(declare \\w+ )${renamed[1]}\\b`), `$1${renamed[2]}`)}`
          }
    const m = /^export (?:declare )?(const|function|class|interface|type|namespace|enum|\* as) ?(\w+)/.exec(code)
    if (m === null) continue
    const parsed = doc === undefined ? { text: "", tags: [] } : parseDoc(doc)
    if (tagOf(parsed, "internal") !== undefined) continue
    const missing = [
      parsed.text === "" ? "description" : undefined,
      tagOf(parsed, "category") === undefined ? "@category" : undefined,
      tagOf(parsed, "since") === undefined ? "@since" : undefined
    ].filter((x) => x !== undefined)
    const problem =
      missing.length === 0
        ? undefined
        : `${path.relative(root, file)}: ${m[2]} lacks ${missing.join(", ")} in its JSDoc`
    const kind = m[1] === "* as" ? "namespace" : m[1]!
    decls.push({
      name: m[2]!,
      kind,
      code: code.replace(/^export (declare )?/, "").replace(/;$/, ""),
      doc: parsed,
      problem
    })
  }
  return { moduleDoc, decls }
}

/** The declarations behind `export { names } from "specifier"` (every one for `export *`, `names` undefined). */
const reexported = (file: string, specifier: string, names: string | undefined): Array<Declaration> => {
  const target = path.resolve(path.dirname(file), specifier.replace(/\.(?:ts|js)$/, "") + ".d.ts")
  if (!fs.existsSync(target)) throw new Error(`${file}: re-export from ${specifier}: ${target} is missing`)
  const { decls } = parseDeclarations(fs.readFileSync(target, "utf8"), target)
  if (names === undefined) return decls
  return names
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "" && !entry.startsWith("type "))
    .map((entry) => {
      const [name, alias] = entry.split(/\s+as\s+/) as [string, string | undefined]
      const decl = decls.find((d) => d.name === name)
      if (decl === undefined) {
        throw new Error(`${file}: re-exports ${name} from ${specifier}, which has no documented declaration of it`)
      }
      return alias === undefined
        ? decl
        : { ...decl, name: alias, code: decl.code.replace(new RegExp(`^(\\w+ )${name}\\b`), `$1${alias}`) }
    })
}

/** Exports that are public (no `@internal`) but lack their JSDoc: the generator refuses to write or check. */
const undocumented: Array<string> = []

const anchor = (name: string): string => name.toLowerCase().replace(/[^a-z0-9_-]/g, "")

/** Shifts the headings inside a JSDoc text below the page's own (`##` module sections, `###` declarations). */
const body = (text: string): string => text.replace(/^(#{1,3}) /gm, "#### ")

const renderModule = (pkg: Package, module: string, file: string): string => {
  const source = fs.readFileSync(file, "utf8")
  const { moduleDoc, decls } = parseDeclarations(source, file)
  for (const d of decls) if (d.problem !== undefined) undocumented.push(d.problem)
  const out: Array<string> = [
    `# ${module}`,
    "",
    `\`import { ${module} } from "${pkg.name}"\` (or \`import * as ${module} from "${pkg.name}/${module}"\`)`,
    ""
  ]
  if (moduleDoc !== undefined && moduleDoc.text !== "") out.push(body(moduleDoc.text), "")
  const categories = new Map<string, Array<Declaration>>()
  for (const d of decls) {
    const category = tagOf(d.doc, "category") ?? "other"
    categories.set(category, [...(categories.get(category) ?? []), d])
  }
  const order = [...categories.keys()].sort((a, b) => (a === "other" ? 1 : b === "other" ? -1 : a.localeCompare(b)))
  out.push("## Contents", "")
  for (const category of order) {
    const names = [...new Set(categories.get(category)!.map((d) => d.name))]
    out.push(`- ${category}: ${names.map((n) => `[${n}](#${anchor(n)})`).join(", ")}`)
  }
  out.push("")
  for (const category of order) {
    out.push(`## ${category}`, "")
    const seen = new Set<string>()
    for (const d of categories.get(category)!) {
      if (!seen.has(d.name)) out.push(`### ${d.name}`, "")
      seen.add(d.name)
      out.push("```ts", d.code, "```", "")
      if (d.doc.text !== "") out.push(body(d.doc.text), "")
      const since = tagOf(d.doc, "since")
      if (since !== undefined) out.push(`Since ${since}.`, "")
    }
  }
  return `${out
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trimEnd()}\n`
}

const generate = (): Map<string, string> => {
  const files = new Map<string, string>()
  const index: Array<string> = [
    "# API reference",
    "",
    "Generated by `npm run docs` (scripts/api-docs.ts) from the JSDoc of the declarations each package publishes;",
    "`npm test` fails when this directory is out of date. Each page lists a module's exports by category, with the",
    "declaration a user's editor shows and its documentation (the kernel function it mirrors, what holds on return,",
    "an example). How the API maps onto the kernel: [../KERNEL-MAPPING.md](../KERNEL-MAPPING.md).",
    ""
  ]
  for (const pkg of packages()) {
    index.push(`## ${pkg.name}`, "", pkg.description, "")
    const dtsDir = path.join(root, "packages", pkg.dir, pkg.dts)
    if (!fs.existsSync(dtsDir)) throw new Error(`${dtsDir} is missing: run \`npm run build\` first`)
    const modules = fs
      .readdirSync(dtsDir)
      .filter((f) => f.endsWith(".d.ts") && f !== "index.d.ts")
      .map((f) => f.slice(0, -".d.ts".length))
      .sort()
    for (const module of modules) {
      const file = path.join(dtsDir, `${module}.d.ts`)
      files.set(path.join(pkg.dir, `${module}.md`), renderModule(pkg, module, file))
      const summary =
        parseDeclarations(fs.readFileSync(file, "utf8"), file).moduleDoc?.text.split("\n\n")[0]?.replace(/\n/g, " ") ??
        ""
      index.push(`- [${module}](${pkg.dir}/${module}.md)${summary === "" ? "" : `: ${summary}`}`)
    }
    index.push("")
  }
  files.set("README.md", `${index.join("\n").trimEnd()}\n`)
  return files
}

const existing = (dir: string, prefix = ""): Array<string> =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) =>
          e.isDirectory() ? existing(path.join(dir, e.name), path.join(prefix, e.name)) : [path.join(prefix, e.name)]
        )
    : []

const files = generate()
if (undocumented.length > 0) {
  process.stderr.write(
    `every public export needs a JSDoc description, @category and @since (or @internal, and a home in internal/):\n${[
      ...new Set(undocumented)
    ].join("\n")}\n`
  )
  process.exit(1)
}
if (process.argv.includes("--check")) {
  const stale = [
    ...[...files].filter(([file, text]) => {
      const at = path.join(outDir, file)
      return !fs.existsSync(at) || fs.readFileSync(at, "utf8") !== text
    }),
    ...existing(outDir)
      .filter((file) => !files.has(file))
      .map((file) => [file, ""] as const)
  ].map(([file]) => file)
  if (stale.length > 0) {
    process.stderr.write(
      `docs/api is out of date with the JSDoc (${stale.join(", ")}): run \`npm run docs\` and commit docs/api\n`
    )
    process.exit(1)
  }
} else {
  fs.rmSync(outDir, { recursive: true, force: true })
  for (const [file, text] of files) {
    fs.mkdirSync(path.dirname(path.join(outDir, file)), { recursive: true })
    fs.writeFileSync(path.join(outDir, file), text)
  }
  process.stdout.write(`docs/api: ${files.size} pages\n`)
}
