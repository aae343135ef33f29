#!/usr/bin/env bash
# The `gpu` suite (src/suites/gpu.ts) on a lent NVIDIA GPU (H200) that has no Node installed: ViT-B/16
# training-step images/s at batch 64 in f32, bf16 (O2), fp16 (skipped until implemented), with flash
# attention and with f16 matmuls, each with peak memory and MFU, beside PyTorch CUDA when python3 has
# torch; plus f32/f16 matmul GFLOP/s per kernel variant on the ViT-B shapes.
# Needs .device/ from scripts/gpu-pack.sh carried along. Writes $OUT (the device tool's output folder,
# else /tmp/vit-gpu): gpu.json, gpu.md, gpu.log. Bounded to 7.5 minutes (the suite's own budget_s,
# 390 s by default, ends it early with the remaining cases marked skipped).
#   device run: bash apps/bench/scripts/gpu.sh        carry: [".device"]
# Node is unpacked into $VIT_GPU_NODE_DIR (default /tmp/vit-node) unless already there.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
DEV="$ROOT/.device"
RES=${OUT:-/tmp/vit-gpu}
NODE_DIR=${VIT_GPU_NODE_DIR:-/tmp/vit-node}
mkdir -p "$RES" "$NODE_DIR/bin"
[ -f "$DEV/vit-bench-gpu.mjs" ] || { echo "gpu.sh: $DEV/vit-bench-gpu.mjs is missing: run scripts/gpu-pack.sh here and carry .device" >&2; exit 2; }
# Node from the carried folder (decompressed once), Dawn's binding likewise.
[ -x "$NODE_DIR/bin/node" ] || { xz -dc "$DEV/node.xz" > "$NODE_DIR/bin/node.tmp" && chmod +x "$NODE_DIR/bin/node.tmp" && mv "$NODE_DIR/bin/node.tmp" "$NODE_DIR/bin/node"; }
DAWN="$DEV/node_modules/webgpu/dist/linux-x64/dawn.node"
[ -f "$DAWN" ] || xz -dk "$DAWN.xz"
export PATH="$NODE_DIR/bin:$PATH"
# NVIDIA's Vulkan ICD on the lent machines; the loader itself if the image lacks it (device README).
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
if ! ldconfig -p | grep -q libvulkan.so.1 && ls "$ROOT"/.gl/*.deb >/dev/null 2>&1; then
  for f in "$ROOT"/.gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
export VIT_BENCH_PYTHON=${VIT_BENCH_PYTHON:-python3}
{
  echo "node $(node --version)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1 | tail -1 || true
} > "$RES/gpu.log"
# The bundle resolves `webgpu` from .device/node_modules; the torch peer script sits beside it.
cp "$ROOT/apps/bench/peers/torch_peer.py" "$DEV/" 2>/dev/null || true
cd "$DEV"
timeout 450 node vit-bench-gpu.mjs "$RES/gpu.json" "$@" > "$RES/gpu.md" 2>> "$RES/gpu.log"
rc=$?
cat "$RES/gpu.md"
tail -5 "$RES/gpu.log"
exit $rc
