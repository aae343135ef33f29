#!/usr/bin/env python3
"""PyTorch peer for vit-bench's `kernels`, `step` and `gpu` suites, run in the same session on the same
machine. Reads one JSON request on stdin, prints one JSON line on stdout.

  {"op": "matmul", "device": "cpu"|"cuda", "dtype": "f32"|"f16", "repeats": 5,
   "shapes": [[M, N, K, transA, transB], ...]}          -> {"gflops": [[median, min, max], ...]}
  {"op": "step", "device": "cpu"|"cuda", "preset": "tiny"|"B/16", "batch": 64, "steps": 10,
   "repeats": 3, "amp": false|"f16"|"bf16"}              -> {"images_per_second": [median, min, max],
                                                             "peak_bytes": N (cuda: max_memory_allocated)}

CPU runs use one BLAS/intra-op thread (torch.set_num_threads(1)), as the issue asks: vit-bench's own
CPU figure comes from a 2-core lavapipe device, and a single-threaded BLAS is the conventional peer.
The step is torchvision's VisionTransformer with timm-style 1 class token: forward, cross-entropy,
backward, AdamW (lr 1e-3, wd 0.05), zero_grad — the same work vit-bench's step suite times.
"""
import json
import statistics
import sys
import time

import torch


def stats(xs):
    return [statistics.median(xs), min(xs), max(xs)]


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


def bench_matmul(req):
    dev = req.get("device", "cpu")
    dtype = torch.float16 if req.get("dtype") == "f16" else torch.float32
    out = []
    for M, N, K, ta, tb in req["shapes"]:
        a = torch.randn((K, M) if ta else (M, K), device=dev, dtype=dtype)
        b = torch.randn((N, K) if tb else (K, N), device=dev, dtype=dtype)
        f = lambda: torch.matmul(a.t() if ta else a, b.t() if tb else b)
        for _ in range(2):
            f()
        sync(dev)
        # Enough calls per sample for ~0.2 s, so timer resolution never matters.
        t0 = time.perf_counter()
        f()
        sync(dev)
        one = max(time.perf_counter() - t0, 1e-6)
        inner = max(1, min(200, int(0.2 / one)))
        xs = []
        for _ in range(req.get("repeats", 5)):
            t0 = time.perf_counter()
            for _ in range(inner):
                f()
            sync(dev)
            xs.append(2.0 * M * N * K * inner / (time.perf_counter() - t0) / 1e9)
        out.append(stats(xs))
    return {"gflops": out}


def build_vit(preset):
    from torchvision.models.vision_transformer import VisionTransformer

    if preset == "tiny":
        m = VisionTransformer(image_size=28, patch_size=7, num_layers=4, num_heads=4, hidden_dim=128, mlp_dim=512, num_classes=10)
        # torchvision's ViT takes 3 channels; the tiny preset is 1-channel Fashion-MNIST.
        m.conv_proj = torch.nn.Conv2d(1, 128, kernel_size=7, stride=7)
        return m, (1, 28, 28), 10
    if preset == "B/16":
        return VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072, num_classes=1000), (3, 224, 224), 1000
    raise SystemExit(f"torch_peer: unknown preset {preset}")


def bench_step(req):
    dev = req.get("device", "cpu")
    model, shape, classes = build_vit(req.get("preset", "tiny"))
    model.to(dev).train()
    B = req.get("batch", 64)
    x = torch.randn((B, *shape), device=dev)
    y = torch.randint(0, classes, (B,), device=dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    # "amp": true is the older spelling of "f16" (torch.autocast with float16).
    amp = req.get("amp")
    amp_dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    amp = bool(amp) and dev == "cuda"

    def step():
        with torch.autocast("cuda", dtype=amp_dtype, enabled=amp):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    sync(dev)
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    steps = req.get("steps", 10)
    xs = []
    for _ in range(req.get("repeats", 3)):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync(dev)
        xs.append(B * steps / (time.perf_counter() - t0))
    res = {"images_per_second": stats(xs)}
    if dev == "cuda":
        res["peak_bytes"] = torch.cuda.max_memory_allocated()
    return res


def blas_library():
    """The BLAS actually loaded (Debian's torch links libblas.so.3, an alternative: reference or OpenBLAS)."""
    try:
        maps = open("/proc/self/maps").read()
    except OSError:
        return "unknown"
    for name in ("openblas", "mkl", "blis", "libblas"):
        if name in maps:
            return name
    return "unknown"


def main():
    req = json.loads(sys.stdin.read())
    if req.get("device", "cpu") == "cpu":
        torch.set_num_threads(1)
    elif not torch.cuda.is_available():
        print(json.dumps({"error": "CUDA is not available to PyTorch"}))
        return
    res = bench_matmul(req) if req["op"] == "matmul" else bench_step(req)
    res["torch"] = torch.__version__
    res["blas"] = blas_library()
    print(json.dumps(res))


if __name__ == "__main__":
    main()
