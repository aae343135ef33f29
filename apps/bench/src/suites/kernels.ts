/**
 * `kernels` suite: matmul GFLOP/s (f32, and f16 where the adapter has shader-f16) over ViT-B/16, ViT-S-like
 * and tiny-ViT training shapes and 1024³, beside tfjs-backend-webgpu on the same Dawn adapter in this
 * process and PyTorch on the CPU (one BLAS thread); layernorm and softmax GB/s; the cost of one dispatch;
 * and the effect of the two ways of waiting for the GPU (timer polling vs dawn.node's spin).
 *
 * `--set autotune=1` runs the one-time matmul autotune first (and writes its cache).
 */
import {
  Device,
  type MatmulKernelKind,
  type Tensor,
  add,
  autotuneMatmul,
  layerNorm,
  matmul,
  matmulKernelFor,
  noGrad,
  ones,
  rand,
  setMatmulKernelOverride,
  softmax,
  subgroupMatrixStatus,
  zeros,
} from "@vit/tensor";
import { loadTfjs, tfMatmul } from "../peers/tfjs.js";
import { runTorch } from "../peers/torch.js";
import { type BenchCase, type BenchContext, stats } from "../types.js";

export type Shape = [M: number, N: number, K: number, transA: boolean, transB: boolean];

interface MatmulCase {
  label: string;
  shape: Shape;
  /** Heavy products are measured only in full runs (and never through tfjs on a CPU adapter). */
  heavy?: boolean;
}

const TINY_M = 64 * 17; // tiny ViT, batch 64, 16 patches + 1 class token

export const MATMUL_CASES: MatmulCase[] = [
  { label: "1024³", shape: [1024, 1024, 1024, false, false] },
  { label: "ViT-B/16 b64 qkv (x·Wᵀ)", shape: [64 * 197, 2304, 768, false, true], heavy: true },
  { label: "ViT-B/16 b64 fc1 (x·Wᵀ)", shape: [64 * 197, 3072, 768, false, true], heavy: true },
  { label: "ViT-S b32 (x·W)", shape: [32 * 197, 192, 768, false, false] },
  { label: "tiny qkv fwd (x·Wᵀ)", shape: [TINY_M, 384, 128, false, true] },
  { label: "tiny proj fwd (x·Wᵀ)", shape: [TINY_M, 128, 128, false, true] },
  { label: "tiny fc1 fwd (x·Wᵀ)", shape: [TINY_M, 512, 128, false, true] },
  { label: "tiny fc2 fwd (x·Wᵀ)", shape: [TINY_M, 128, 512, false, true] },
  { label: "tiny qkv dX (dY·W)", shape: [TINY_M, 128, 384, false, false] },
  { label: "tiny fc1 dX (dY·W)", shape: [TINY_M, 128, 512, false, false] },
  { label: "tiny fc2 dX (dY·W)", shape: [TINY_M, 512, 128, false, false] },
  { label: "tiny qkv dW (dYᵀ·X)", shape: [384, 128, TINY_M, true, false] },
  { label: "tiny fc1 dW (dYᵀ·X)", shape: [512, 128, TINY_M, true, false] },
  { label: "tiny fc2 dW (dYᵀ·X)", shape: [128, 512, TINY_M, true, false] },
];

const fmtShape = ([M, N, K, ta, tb]: Shape) => `${M}×${N}×${K} ${ta ? "T" : "N"}${tb ? "T" : "N"}`;

/**
 * GFLOP/s per repeat: each repeat runs enough products for ~`targetMs`, then waits once. With `want`,
 * that kernel is forced; when it cannot take the product on this adapter (matmul falls back to another),
 * nothing is measured and `gflops` is empty, `kernel` naming the fallback.
 */
export async function oursMatmul(
  device: Device,
  [M, N, K, ta, tb]: Shape,
  dtype: "f32" | "f16",
  repeats: number,
  targetMs: number,
  want?: MatmulKernelKind,
): Promise<{ gflops: number[]; kernel: string }> {
  if (want) setMatmulKernelOverride(want);
  try {
    return await timeMatmul(device, [M, N, K, ta, tb], dtype, repeats, targetMs, want);
  } finally {
    if (want) setMatmulKernelOverride(null);
  }
}

async function timeMatmul(
  device: Device,
  [M, N, K, ta, tb]: Shape,
  dtype: "f32" | "f16",
  repeats: number,
  targetMs: number,
  want?: MatmulKernelKind,
): Promise<{ gflops: number[]; kernel: string }> {
  const a = rand(device, ta ? [K, M] : [M, K], -1, 1, { dtype });
  const b = rand(device, tb ? [N, K] : [K, N], -1, 1, { dtype });
  const kernel = matmulKernelFor(a, b, { transA: ta, transB: tb });
  if (want && kernel !== want) {
    a.dispose();
    b.dispose();
    return { gflops: [], kernel };
  }
  const run = (n: number) => {
    for (let i = 0; i < n; i++) noGrad(() => matmul(a, b, { transA: ta, transB: tb })).dispose();
  };
  run(2);
  await device.sync();
  const t0 = performance.now();
  run(1);
  await device.sync();
  const inner = Math.max(1, Math.min(64, Math.round(targetMs / Math.max(0.05, performance.now() - t0))));
  const out: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    run(inner);
    await device.sync();
    out.push((2 * M * N * K * inner) / ((performance.now() - t) / 1000) / 1e9);
  }
  a.dispose();
  b.dispose();
  return { gflops: out, kernel };
}

async function rowOp(device: Device, fn: () => Tensor, bytes: number, repeats: number): Promise<number[]> {
  const run = (n: number) => {
    for (let i = 0; i < n; i++) noGrad(fn).dispose();
  };
  run(2);
  await device.sync();
  const inner = 20;
  const out: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    run(inner);
    await device.sync();
    out.push((bytes * inner) / ((performance.now() - t) / 1000) / 1e9);
  }
  return out;
}

export async function kernelsSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const repeats = ctx.quick ? 3 : 5;
  const targetMs = ctx.quick ? 150 : 400;
  const device = await Device.create();
  const a = device.adapter;
  ctx.meta ??= {};
  ctx.meta.adapter = {
    vendor: a.vendor,
    architecture: a.architecture,
    device: a.device,
    description: a.description,
    backend: a.backend,
    features: a.features,
    subgroupMinSize: a.subgroupMinSize,
    subgroupMaxSize: a.subgroupMaxSize,
  };
  ctx.meta.pollMode = device.pollMode;
  ctx.log(`adapter: ${a.description || a.device} (${a.architecture}), poll mode ${device.pollMode}`);
  if (ctx.options?.autotune) {
    const t = await autotuneMatmul(device);
    for (const l of t.log) ctx.log(`autotune ${l}`);
    ctx.log(`autotune cache: ${t.path ?? "(not written)"}`);
  }
  ctx.meta.subgroupMatrix = subgroupMatrixStatus(device);
  const cpuAdapter =
    a.architecture === "software" || /llvmpipe|lavapipe|swiftshader/i.test(`${a.device} ${a.description}`);
  const cases: BenchCase[] = [];
  const selected = MATMUL_CASES.filter((c) => !c.heavy || !ctx.quick);
  const tf = await loadTfjs(ctx.log);
  const torch = runTorch({
    op: "matmul",
    device: "cpu",
    dtype: "f32",
    repeats,
    shapes: selected.map((c) => c.shape),
  });
  if (torch?.error) ctx.log(torch.error);
  if (torch?.torch) ctx.meta.torch = `${torch.torch} (${torch.blas}, 1 thread)`;
  const dtypes: Array<"f32" | "f16"> = device.hasFeature("shader-f16") ? ["f32", "f16"] : ["f32"];
  for (const dtype of dtypes) {
    for (const [i, c] of selected.entries()) {
      if (dtype === "f16" && !/1024|qkv fwd|ViT-B\/16 b64 qkv/.test(c.label)) continue;
      ctx.log(`matmul ${dtype} ${c.label}`);
      const outBytes = c.shape[0] * c.shape[1] * (dtype === "f16" ? 2 : 4);
      if (outBytes > device.limits.maxStorageBufferBindingSize) {
        ctx.log(
          `skipped ${c.label}: its ${outBytes} B result exceeds this adapter's maxStorageBufferBindingSize`,
        );
        continue;
      }
      const m = await oursMatmul(device, c.shape, dtype, repeats, targetMs);
      const ours = stats(m.gflops);
      const bc: BenchCase = {
        suite: "kernels",
        name: `matmul ${dtype} ${c.label} ${fmtShape(c.shape)}`,
        unit: "GFLOP/s",
        ...ours,
        repeats,
        extra: { kernel: m.kernel },
      };
      const tq = torch?.gflops?.[i];
      if (dtype === "f32" && tq) {
        bc.peer = { name: "PyTorch CPU 1 thread", median: tq[0] };
        bc.ratio = ours.median / tq[0];
      }
      if (dtype === "f32" && tf && !(c.heavy && cpuAdapter)) {
        const tfs = stats(await tfMatmul(tf, c.shape, ctx.quick ? 2 : 3, device.pollMode));
        const entry = {
          name: "tfjs-webgpu (same adapter)",
          median: tfs.median,
          ratio: ours.median / tfs.median,
        };
        if (bc.peer) bc.morePeers = [entry];
        else {
          bc.peer = { name: entry.name, median: entry.median };
          bc.ratio = entry.ratio;
        }
      }
      cases.push(bc);
    }
  }

  // Row kernels: bytes moved = read x + write y (layernorm also reads γ, β: negligible).
  for (const [rows, d] of [
    [TINY_M, 128],
    [64 * 197, 768],
  ] as const) {
    const x = rand(device, [rows, d]);
    const w = ones(device, [d]);
    const b = zeros(device, [d]);
    const gb = stats(await rowOp(device, () => layerNorm(x, w, b, 1e-6), rows * d * 8, repeats));
    cases.push({ suite: "kernels", name: `layernorm f32 [${rows}, ${d}]`, unit: "GB/s", ...gb, repeats });
    for (const t of [x, w, b]) t.dispose();
  }
  for (const [rows, d] of [
    [64 * 4 * 17, 17],
    [8 * 12 * 197, 197],
  ] as const) {
    const x = rand(device, [rows, d]);
    const gb = stats(await rowOp(device, () => softmax(x), rows * d * 8, repeats));
    cases.push({ suite: "kernels", name: `softmax f32 [${rows}, ${d}]`, unit: "GB/s", ...gb, repeats });
    x.dispose();
  }

  // Dispatch overhead: tiny element-wise adds (one dispatch of one workgroup each).
  {
    const x = rand(device, [64]);
    const n = 1000;
    const samples: number[] = [];
    let jsUs = 0;
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) noGrad(() => add(x, x)).dispose();
      jsUs += ((performance.now() - t0) * 1000) / n;
      await device.sync();
      samples.push(((performance.now() - t0) * 1000) / n);
    }
    const s = stats(samples);
    cases.push({
      suite: "kernels",
      name: "µs per dispatch (64-element add, recorded + executed)",
      unit: "µs (lower is better)",
      ...s,
      repeats,
      extra: { js_record_us: Number((jsUs / repeats).toFixed(1)) },
    });
    x.dispose();
  }
  device.destroy();

  // Waiting for the GPU: timer polling (CPU-adapter default) vs dawn.node's spin, same product.
  const pollShape = MATMUL_CASES[4]!.shape;
  const figures: Record<string, ReturnType<typeof stats>> = {};
  for (const mode of ["timer", "spin"] as const) {
    const d = await Device.create({ pollMode: mode });
    figures[mode] = stats((await oursMatmul(d, pollShape, "f32", repeats, targetMs)).gflops);
    d.destroy();
  }
  cases.push({
    suite: "kernels",
    name: `poll mode: timer vs spin, matmul f32 ${fmtShape(pollShape)}`,
    unit: "GFLOP/s",
    ...figures.timer!,
    repeats,
    peer: { name: "same, spin polling", median: figures.spin!.median },
    ratio: figures.timer!.median / figures.spin!.median,
  });
  return cases;
}
