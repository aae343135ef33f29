#!/usr/bin/env bash
# Prepares .device/ (git-ignored) for scripts/gpu.sh, to be carried to a lent GPU machine that has no
# Node: a compressed Node binary (this machine's), the gpu suite bundled into one ES module, Dawn's
# `webgpu` package (linux-x64 binding only, compressed) and the PyTorch peer script. ~30 MB in all, under
# the 64 MiB a carried tree may hold.
#   bash apps/bench/scripts/gpu-pack.sh
# then on the device machine (carry: [".device"]):
#   bash apps/bench/scripts/gpu.sh
# The two compressed binaries change only with Node or webgpu: they are cached in .cache/gpu-pack/, keyed
# by the source's path, size, mtime and the xz level (VIT_PACK_XZ_LEVEL, default 6).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
OUT="$ROOT/.device"
CACHE="$ROOT/.cache/gpu-pack"
LEVEL=${VIT_PACK_XZ_LEVEL:-6}
WEBGPU=$(cd "$ROOT/packages/tensor" && node -e 'console.log(require("path").dirname(require.resolve("webgpu/package.json")))')

# xz_cached SRC DEST: DEST = xz(SRC), from the cache when SRC has not changed.
xz_cached() {
  local src key
  src=$(readlink -f "$1")
  key=$(stat -c '%n|%s|%Y' "$src" | sha1sum | cut -c1-16)-$LEVEL
  if [ ! -f "$CACHE/$key.xz" ]; then
    mkdir -p "$CACHE"
    xz -T2 "-$LEVEL" -c "$src" > "$CACHE/$key.xz.tmp"
    mv "$CACHE/$key.xz.tmp" "$CACHE/$key.xz"
  fi
  cp "$CACHE/$key.xz" "$2"
}

rm -rf "$OUT"
mkdir -p "$OUT/node_modules/webgpu/dist/linux-x64"
echo "[pack] node $(node --version) -> .device/node.xz"
xz_cached "$(command -v node)" "$OUT/node.xz"
echo "[pack] building the bench's workspace dependencies and the gpu bundle"
(cd "$ROOT" && TURBO_TELEMETRY_DISABLED=1 pnpm exec turbo run build --filter=@vit/bench^... --output-logs=errors-only >/dev/null)
# The workspace packages say "sideEffects": false, which lets esbuild leave out what the gpu suite does
# not use (@vit/data and its native sharp among them).
(cd "$ROOT/apps/bench" && pnpm exec esbuild src/gpu-main.ts --bundle --platform=node --format=esm --target=node20 \
  --external:webgpu --log-level=warning \
  --banner:js='import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' \
  --outfile="$OUT/vit-bench-gpu.mjs")
echo "[pack] webgpu $(node -p "require('$WEBGPU/package.json').version") (linux-x64)"
cp "$WEBGPU/package.json" "$WEBGPU/index.js" "$OUT/node_modules/webgpu/"
xz_cached "$WEBGPU/dist/linux-x64/dawn.node" "$OUT/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
cp "$ROOT/apps/bench/peers/torch_peer.py" "$OUT/"
du -sh "$OUT"
