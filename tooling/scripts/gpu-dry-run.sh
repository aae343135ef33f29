#!/usr/bin/env bash
# Keeps the GPU suite ready for the day a GPU is lent: packs .device/ exactly as for a device run
# (apps/bench/scripts/gpu-pack.sh), runs apps/bench/scripts/gpu.sh on the CPU's lavapipe adapter with the
# smoke options (every case path, small sizes), and checks the gpu.json it writes
# (apps/bench/scripts/check-gpu-report.mjs). Needs no GPU. The pack's compressed Node and Dawn binaries
# are cached in .cache/gpu-pack/, so only the first run pays for compressing them.
#   bash tooling/scripts/gpu-dry-run.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$ROOT"
bash apps/bench/scripts/gpu-pack.sh > "$tmp/pack.log" 2>&1 || { cat "$tmp/pack.log" >&2; echo "gpu-dry-run: gpu-pack.sh failed" >&2; exit 1; }
# The device tool carries at most 64 MiB.
kib=$(du -sk .device | cut -f1)
[ "$kib" -lt $((64 * 1024)) ] || { echo "gpu-dry-run: .device is ${kib} KiB, over the 64 MiB a device run can carry" >&2; exit 1; }
# Node is unpacked from .device/node.xz into the temp folder, so the dry run exercises that step too.
OUT="$tmp/out" VIT_GPU_NODE_DIR="$tmp/node" VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.json \
  bash apps/bench/scripts/gpu.sh smoke=1 preset=tiny batch=8 steps=1 > "$tmp/run.log" 2>&1 ||
  { cat "$tmp/run.log" >&2; echo "gpu-dry-run: gpu.sh failed" >&2; exit 1; }
# On lavapipe these paths must run, not be skipped: f32, bf16 O2, fp16 (lavapipe has shader-f16), flash
# attention and f16-autocast steps, and the f32 matmul kernels a CPU adapter has.
measured=step:f32,step:bf16,step:fp16,step:flash,step:f16-matmuls-tiled
measured+=,matmul:f32:tiled:256³,matmul:f32:texture:256³,matmul:f32:generic:256³
node apps/bench/scripts/check-gpu-report.mjs "$tmp/out/gpu.json" --measured "$measured" ||
  { cat "$tmp/out/gpu.md" >&2; exit 1; }
cat "$tmp/out/gpu.md"
