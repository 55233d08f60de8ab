#!/usr/bin/env bash
# Consumer check: the four packages as a user gets them from the registry.
#
# Builds the packages, packs them with `npm pack`, installs the tarballs into a throwaway project in a temporary
# directory outside the workspace (effect 4.1.5, @effect/platform-node 4.1.5, TypeScript, esbuild from the npm
# registry, no `overrides`), then checks:
#   1. the tarballs hold dist/, src/, README, CHANGELOG, LICENSE and no test/, tsconfig or build info, and
#      `npm publish --dry-run` finds nothing in package.json to correct;
#   2. the install prints no warning (Node 24, the workspace's devDependency, on PATH: every engines field holds);
#   3. exactly one copy of effect and of each of our packages (`npm query`, as `npm ls effect` shows);
#   4. `tsc --noEmit` is clean on the user's program under moduleResolution nodenext and bundler, with an ordinary
#      strict config (no allowImportingTsExtensions, no custom conditions, skipLibCheck off), with the workspace's
#      TypeScript and with TypeScript 5;
#   5. plain `node` (no type stripping: the program is compiled by tsc) runs a program importing all four packages
#      on Node 24, and a program on core and testing alone on the machine's own Node (both claim Node >= 20);
#   6. esbuild bundles the program and the bundle runs;
#   6b. the thread snippet of the platform README (tasks.ts + service.ts, extracted as written) type-checks in
#      step 4, runs a ThreadWork from the installed package in step 5, and runs bundled by the README's recipe
#      (thread entry and task module as entry points of their own, code splitting);
#   7. the installed `effect-workqueue-monitor` bin runs: `--help` exits 0.
# Needs the npm registry. Run by .ci/run; by hand: `npm run consumer-check` (about a minute).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
started=$SECONDS

node24_dir="$root/node_modules/node/bin"
# the machine's own Node: under `npm run`, PATH starts with node_modules/.bin (the Node 24 devDependency), and
# npm_node_execpath is the Node that runs npm itself
system_node="${npm_node_execpath:-$(command -v node)}"
[ -x "$node24_dir/node" ] || { echo "consumer-check: $node24_dir/node missing (npm ci first)"; exit 1; }
ts_version="$(node -p 'require("./package.json").devDependencies.typescript')"
types_node_version="$(node -p 'require("./package.json").devDependencies["@types/node"]')"
effect_version="4.1.5"
esbuild_version="0.28.2"
ts5_version="5.9.3" # many users still compile with TypeScript 5: the declarations must read the same there

work="$(mktemp -d "${TMPDIR:-/tmp}/effect-workqueue-consumer.XXXXXX")"
trap 'rm -rf "$work"' EXIT
fail() { echo "consumer-check FAILED: $*" >&2; exit 1; }
step() { echo "consumer-check: $*"; }

step "build (tsc -b) and pack"
npx tsc -b tsconfig.json
npm pack --silent --pack-destination "$work" -w packages/core -w packages/testing -w packages/platform \
  -w packages/cluster >/dev/null
core_tgz="$(ls "$work"/effect-workqueue-core-*.tgz)"
testing_tgz="$(ls "$work"/effect-workqueue-testing-*.tgz)"
platform_tgz="$(ls "$work"/effect-workqueue-platform-*.tgz)"
cluster_tgz="$(ls "$work"/effect-workqueue-cluster-*.tgz)"

step "1. tarball contents, and package.json as npm publish reads it"
for dir in packages/core packages/testing packages/platform packages/cluster; do
  # npm publish silently "corrects" (rewrites or drops) package.json fields it finds invalid, e.g. a bin path
  if npm publish --dry-run -w "$dir" 2>&1 | grep -E 'npm warn publish' | grep -v 'logged in'; then
    fail "npm publish would change $dir/package.json (above)"
  fi
done
for tgz in "$core_tgz" "$testing_tgz" "$platform_tgz" "$cluster_tgz"; do
  listing="$(tar -tzf "$tgz")"
  for must in package/package.json package/README.md package/CHANGELOG.md package/LICENSE package/src/index.ts; do
    grep -qx "$must" <<<"$listing" || fail "$(basename "$tgz") lacks $must"
  done
  grep -qE '^package/dist/(src/)?index\.(js|d\.ts|js\.map|d\.ts\.map)$' <<<"$listing" || fail "$(basename "$tgz") lacks dist/"
  if grep -E '(^package/test/|tsconfig|tsbuildinfo|\.test\.)' <<<"$listing"; then fail "$(basename "$tgz") ships the files above"; fi
done
grep -qx package/dist/bin/monitor.js <<<"$(tar -tzf "$platform_tgz")" || fail "platform lacks dist/bin/monitor.js"

step "2. install the tarballs into $work/app"
mkdir "$work/app"
cp scripts/consumer/main.ts scripts/consumer/core.ts scripts/consumer/tsconfig.nodenext.json \
  scripts/consumer/tsconfig.bundler.json "$work/app/"
cat >"$work/app/package.json" <<JSON
{
  "name": "consumer",
  "private": true,
  "type": "module",
  "dependencies": {
    "@effect-workqueue/core": "file:$core_tgz",
    "@effect-workqueue/testing": "file:$testing_tgz",
    "@effect-workqueue/platform": "file:$platform_tgz",
    "@effect-workqueue/cluster": "file:$cluster_tgz",
    "@effect/sql-pg": "$effect_version",
    "@effect/platform-node": "$effect_version",
    "effect": "$effect_version"
  },
  "devDependencies": {
    "@types/node": "$types_node_version",
    "esbuild": "$esbuild_version",
    "typescript": "$ts_version",
    "typescript5": "npm:typescript@$ts5_version"
  },
  "allowScripts": { "esbuild": true }
}
JSON
# the README's thread snippet, as written: its tasks.ts and service.ts blocks
node -e '
const fs = require("node:fs")
const readme = fs.readFileSync(process.argv[1], "utf8")
for (const name of ["tasks", "service"]) {
  const m = readme.match(new RegExp("```ts\\n(// " + name + "\\.ts[\\s\\S]*?)```"))
  if (m === null) { console.error("no " + name + ".ts block in " + process.argv[1]); process.exit(1) }
  fs.writeFileSync(process.argv[2] + "/" + name + ".ts", m[1])
}' packages/platform/README.md "$work/app"
cd "$work/app"
export PATH="$node24_dir:$PATH" # a user on Node 24: npm, tsc, esbuild and the bin run on it
install_log="$work/install.log"
npm install --no-audit --no-fund --loglevel=warn >"$install_log" 2>&1 || { cat "$install_log"; fail "npm install"; }
if grep -i 'warn' "$install_log"; then fail "the install printed warnings (above)"; fi

step "3. one copy of effect and of each package"
npm ls effect
for pkg in effect @effect-workqueue/core @effect-workqueue/testing @effect-workqueue/platform @effect-workqueue/cluster; do
  copies="$(npm query "[name=\"$pkg\"]" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(new Set(JSON.parse(s).map(n=>n.realpath)).size))')"
  [ "$copies" = 1 ] || fail "$copies copies of $pkg"
done

step "4. tsc --noEmit, moduleResolution nodenext and bundler, TypeScript $ts_version and $ts5_version"
npx tsc -p tsconfig.nodenext.json --noEmit
npx tsc -p tsconfig.bundler.json
node node_modules/typescript5/bin/tsc -p tsconfig.nodenext.json --noEmit
node node_modules/typescript5/bin/tsc -p tsconfig.bundler.json

step "5. plain node runs the compiled program"
npx tsc -p tsconfig.nodenext.json
node --no-experimental-strip-types out/main.js
hello_sha256="2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
node --no-experimental-strip-types out/service.js >"$work/service.txt" 2>&1 || { cat "$work/service.txt"; fail "the README's thread snippet"; }
grep -q "u1 $hello_sha256" "$work/service.txt" || { cat "$work/service.txt"; fail "the README's thread snippet printed no hash"; }
"$system_node" out/core.js

step "6. esbuild bundles it"
npx esbuild main.ts --bundle --platform=node --format=esm --outfile=bundle.mjs --log-level=warning \
  --banner:js="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"
node bundle.mjs
step "6b. esbuild bundles the README's thread snippet by its recipe, and it runs"
npx esbuild service.ts tasks.ts thread-entry=@effect-workqueue/platform/thread-entry --bundle --splitting \
  --format=esm --platform=node --outdir=threads-bundle --log-level=warning \
  --banner:js="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"
node threads-bundle/service.js >"$work/service-bundle.txt" 2>&1 || { cat "$work/service-bundle.txt"; fail "the bundled thread snippet"; }
grep -q "u1 $hello_sha256" "$work/service-bundle.txt" || { cat "$work/service-bundle.txt"; fail "the bundled thread snippet printed no hash"; }

step "7. the installed effect-workqueue-monitor bin"
./node_modules/.bin/effect-workqueue-monitor --help >"$work/help.txt" || fail "effect-workqueue-monitor --help exited $?"
grep -q "effect-workqueue-monitor" "$work/help.txt" || { cat "$work/help.txt"; fail "--help printed no usage"; }

step "passed in $((SECONDS - started)) s (Node $(node --version) for the user, $("$system_node" --version) for core and testing)"
