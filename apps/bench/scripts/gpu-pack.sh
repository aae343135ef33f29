#!/usr/bin/env bash
# Prepares .device/ (git-ignored) for scripts/gpu.sh, to be carried to a lent GPU machine that has no
# Node: a compressed Node binary (this machine's), the gpu suite bundled into one ES module, Dawn's
# `webgpu` package (linux-x64 binding only, compressed) and the PyTorch peer script. ~35 MB in all, under
# the 64 MiB a carried tree may hold.
#   bash apps/bench/scripts/gpu-pack.sh
# then on the device machine (carry: [".device"]):
#   bash apps/bench/scripts/gpu.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
OUT="$ROOT/.device"
WEBGPU=$(cd "$ROOT/packages/tensor" && node -e 'console.log(require("path").dirname(require.resolve("webgpu/package.json")))')
rm -rf "$OUT"
mkdir -p "$OUT/node_modules/webgpu/dist/linux-x64"
echo "[pack] node $(node --version) -> .device/node.xz"
xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > "$OUT/node.xz"
echo "[pack] building @vit/tensor and the bench bundle"
(cd "$ROOT/packages/tensor" && pnpm exec tsup >/dev/null)
(cd "$ROOT/apps/bench" && pnpm exec esbuild src/gpu-main.ts --bundle --platform=node --format=esm --target=node20 \
  --external:webgpu --log-level=warning --ignore-annotations \
  --banner:js='import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' \
  --outfile="$OUT/vit-bench-gpu.mjs")
echo "[pack] webgpu $(node -p "require('$WEBGPU/package.json').version") (linux-x64)"
cp "$WEBGPU/package.json" "$WEBGPU/index.js" "$OUT/node_modules/webgpu/"
xz -T2 -6 -c "$WEBGPU/dist/linux-x64/dawn.node" > "$OUT/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
cp "$ROOT/apps/bench/peers/torch_peer.py" "$OUT/"
du -sh "$OUT"
