/**
 * No import cycle between the workspace's packages, and no undeclared one.
 *
 * oxlint's `import/no-cycle` (in `npm run lint`) follows the relative imports inside a package; an import of another
 * workspace package by name (`@effect-workqueue/testing`) resolves to that package's built `dist/`, which it does
 * not read, so a cycle through package names (core's sources importing the testing kit, which imports core) passes
 * both it and `tsc -b`. This check reads every package's published sources (`src/`, `bin/`) and fails (exit 1, one
 * line per problem) when
 *
 * - a package imports another workspace package at run time without declaring it in `dependencies` or
 *   `peerDependencies` (a user's install would not have it), or
 * - the packages' run-time imports form a cycle.
 *
 * Type-only imports (`import type`, `export type`) are erased by the compiler and are not edges, as for oxlint.
 * Tests, examples and benchmarks may import any package: nothing imports them.
 *
 *   node scripts/check-package-deps.ts     (run by `npm test` as `check:deps`)
 */
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")
const packagesDir = path.join(root, "packages")

interface Pkg {
  readonly name: string
  readonly dir: string
  readonly declared: ReadonlySet<string>
}

const pkgs: Array<Pkg> = fs
  .readdirSync(packagesDir)
  .filter((d) => fs.existsSync(path.join(packagesDir, d, "package.json")))
  .map((d) => {
    const json = JSON.parse(fs.readFileSync(path.join(packagesDir, d, "package.json"), "utf8"))
    return {
      name: json.name as string,
      dir: path.join(packagesDir, d),
      declared: new Set([...Object.keys(json.dependencies ?? {}), ...Object.keys(json.peerDependencies ?? {})])
    }
  })
const names = new Set(pkgs.map((p) => p.name))

const sources = (dir: string): Array<string> =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) =>
          e.isDirectory()
            ? sources(path.join(dir, e.name))
            : /\.[cm]?ts$/.test(e.name) && !e.name.endsWith(".d.ts")
              ? [path.join(dir, e.name)]
              : []
        )
    : []

/** The workspace packages `text` imports at run time (comments, where JSDoc examples live, are not code). */
const runtimeImports = (text: string): Array<string> => {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1")
  const found: Array<string> = []
  const specifier =
    /(?:^|[;\s])(import|export)(\s+type\b)?[^"'`;]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']/g
  for (const m of code.matchAll(specifier)) {
    if (m[2] !== undefined) continue // import type / export type
    const spec = m[3] ?? m[4]!
    const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!
    if (names.has(name)) found.push(name)
  }
  return found
}

const problems: Array<string> = []
const edges = new Map<string, Set<string>>()
for (const pkg of pkgs) {
  const out = new Set<string>()
  for (const file of [...sources(path.join(pkg.dir, "src")), ...sources(path.join(pkg.dir, "bin"))]) {
    for (const dep of runtimeImports(fs.readFileSync(file, "utf8"))) {
      if (dep === pkg.name) continue
      out.add(dep)
      if (!pkg.declared.has(dep)) {
        problems.push(
          `${path.relative(root, file)}: imports ${dep}, which ${pkg.name} does not declare as a dependency`
        )
      }
    }
  }
  edges.set(pkg.name, out)
}

// depth-first search for a cycle in the package graph
const state = new Map<string, "visiting" | "done">()
const visit = (name: string, trail: Array<string>): void => {
  if (state.get(name) === "done") return
  if (state.get(name) === "visiting") {
    problems.push(`import cycle between packages: ${[...trail.slice(trail.indexOf(name)), name].join(" -> ")}`)
    return
  }
  state.set(name, "visiting")
  for (const next of edges.get(name) ?? []) visit(next, [...trail, name])
  state.set(name, "done")
}
for (const pkg of pkgs) visit(pkg.name, [])

if (problems.length > 0) {
  process.stderr.write(`${[...new Set(problems)].join("\n")}\n`)
  process.exit(1)
}
process.stdout.write(`packages: ${pkgs.length} packages, no import cycle, every workspace import declared\n`)
