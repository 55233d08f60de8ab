/**
 * The repository stands alone: no file may point at documents that are not in it.
 *
 * Fails (exit 1, one line per hit) when a tracked file names a design document from outside the repository — the
 * kernel behaviour notes ("spec §N", "linux-workqueue.md"), an API contract ("API.md"), Effect notes
 * ("effect4-notes"), a style guide ("STYLE.md") or a sibling directory ("../shared") — or uses a bare "§N" that is
 * not a section of docs/DESIGN.md. Cite the kernel source instead (file and function: `kernel/workqueue.c`,
 * `__queue_work()`), Effect's source (`effect/src/Scheduler.ts`), or this repository's docs (docs/KERNEL-MAPPING.md,
 * docs/DESIGN.md §N). A package's README (`packages/<name>/README.md`) ships in its tarball without the repository,
 * so it may hold no relative link. Run by `npm test`.
 *
 *   node scripts/check-references.ts
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")

const forbidden: ReadonlyArray<readonly [RegExp, string]> = [
  [/spec\s*`?§/i, "the kernel notes' sections"],
  [/linux-workqueue\.md/, "the kernel notes"],
  [/\bAPI\.md\b/, "an API contract outside the repository (docs/KERNEL-MAPPING.md is ours)"],
  [/effect4-notes/, "Effect notes outside the repository"],
  [/\bSTYLE\.md\b/, "a style guide outside the repository"],
  [/\.\.\/shared\b|\/work\/shared\b/, "a directory outside the repository"]
]

/** A "§" is ours only as a section of docs/DESIGN.md: "DESIGN §3", "DESIGN.md §8", "[DESIGN.md §1](...)". */
const strayParagraph = (line: string): boolean => {
  for (let at = line.indexOf("§"); at >= 0; at = line.indexOf("§", at + 1)) {
    if (!/DESIGN(\.md)?\]?\s*(§[\d.]+\s*(,|and|\/|–|-)\s*)*$/.test(line.slice(Math.max(0, at - 60), at))) return true
  }
  return false
}

// this file names the patterns it forbids; the lock and the licences hold no prose of ours
const skipped = new Set(["scripts/check-references.ts", "package-lock.json"])

const files = execFileSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" })
  .split("\0")
  .filter((file) => file !== "" && !skipped.has(file) && !file.endsWith("LICENSE"))

const hits: Array<string> = []
for (const file of files) {
  const full = path.join(root, file)
  if (!fs.existsSync(full) || fs.statSync(full).isDirectory()) continue
  const text = fs.readFileSync(full, "utf8")
  if (text.includes("\0")) continue // binary
  // a package's README ships in its tarball without the repository: a relative link there is broken on npm
  const shipped = /^packages\/[^/]+\/README\.md$/.test(file)
  text.split("\n").forEach((line, i) => {
    if (shipped && /\]\((?!https?:|#)[^)]*\)/.test(line)) {
      hits.push(
        `${file}:${i + 1}: a relative link in a README that ships without the repository: ${line.trim().slice(0, 140)}`
      )
    }
    const rule = forbidden.find(([pattern]) => pattern.test(line))
    if (rule !== undefined) hits.push(`${file}:${i + 1}: refers to ${rule[1]}: ${line.trim().slice(0, 140)}`)
    else if (strayParagraph(line))
      hits.push(`${file}:${i + 1}: a "§" that is not a docs/DESIGN.md section: ${line.trim().slice(0, 140)}`)
  })
}

if (hits.length > 0) {
  process.stderr.write(
    `${hits.join("\n")}\n\n${hits.length} reference(s) to documents outside the repository. Cite the kernel source ` +
      "(kernel/workqueue.c and the function), Effect's source, or docs/ (KERNEL-MAPPING.md, DESIGN.md §N) instead.\n"
  )
  process.exit(1)
}
process.stdout.write(`references: ${files.length} tracked files point only inside the repository\n`)
