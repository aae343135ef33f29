/**
 * "attention" suite: flash attention (ours) against the naive composition matmul → softmax → dropout →
 * matmul that materialises the S×S scores (peer "naive"), both on the same device in the same run, for
 * ViT shapes: forward only (inference) and forward + backward (training).
 *
 * The figure is attention GFLOP/s under the usual nominal count (forward 4·B·H·Sq·Sk·D, backward 2.5×
 * that), identical for both paths, so ours/peer is the speed-up; `extra` carries the median ms of each
 * path and the peak GPU bytes each allocated above its inputs (allocator peak, not timing).
 */
import { Device, type Tensor, attentionNaive, flashAttention, noGrad, randn, scope } from "@vit/tensor";
import { type BenchCase, type BenchContext, stats } from "../types.js";

interface Shape {
  label: string;
  B: number;
  H: number;
  S: number;
  D: number;
  dropout: number;
}

const SHAPES: Shape[] = [
  // tiny ViT on 28×28 (PERF-NOTES peer config: hidden 128, 4 heads, patch 7 → 16 + CLS) at batch 64.
  { label: "B64 H4 S17 d32", B: 64, H: 4, S: 17, D: 32, dropout: 0 },
  // ViT-S-like head layout at 224/16 (196 patches + CLS), small batch.
  { label: "B8 H4 S197 d32", B: 8, H: 4, S: 197, D: 32, dropout: 0 },
  { label: "B8 H4 S197 d32 drop0.1", B: 8, H: 4, S: 197, D: 32, dropout: 0.1 },
  // ViT-B/16: 12 heads of 64.
  { label: "B2 H12 S197 d64", B: 2, H: 12, S: 197, D: 64, dropout: 0 },
  // Long sequence (e.g. 512 px / 16 = 1024 patches + CLS): where S×S memory hurts.
  { label: "B1 H2 S1025 d64", B: 1, H: 2, S: 1025, D: 64, dropout: 0 },
];

type Attn = typeof flashAttention;

/** Median ms per call over `repeats` samples (after warm-up) and the peak bytes above the inputs. */
async function measure(
  device: Device,
  attn: Attn,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  g: Tensor,
  shape: Shape,
  backward: boolean,
  warmup: number,
  repeats: number,
): Promise<{ ms: number[]; peak: number }> {
  const opts = { dropout: shape.dropout };
  const step = () => {
    scope(() => {
      if (backward) attn(q, k, v, opts).backward(g);
      else noGrad(() => attn(q, k, v, opts));
    });
    for (const t of [q, k, v]) {
      t.grad?.dispose();
      t.grad = null;
    }
  };
  for (let i = 0; i < warmup; i++) step();
  await device.sync();
  const base = device.memoryStats().liveBytes;
  device.resetPeak();
  step();
  await device.sync();
  const peak = device.memoryStats().peakBytes - base;
  // Several calls per sample for small shapes: one submit + wait round trip is ~1.2 ms on lavapipe
  // (PERF-NOTES), which would otherwise dominate.
  const work = shape.B * shape.H * shape.S * shape.S * shape.D;
  const inner = work < 1e7 ? 8 : work < 5e7 ? 2 : 1;
  const ms: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) step();
    await device.sync();
    ms.push((performance.now() - t0) / inner);
  }
  return { ms, peak };
}

export async function attentionSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const device = await Device.create({ seed: 1 });
  const cases: BenchCase[] = [];
  const warmup = ctx.quick ? 1 : 2;
  const repeats = ctx.quick ? 3 : 7;
  try {
    ctx.log(`attention: ${device.adapter.description || device.adapter.device}`);
    for (const shape of SHAPES) {
      const dims = [shape.B, shape.H, shape.S, shape.D];
      const [q, k, v, g] = [0, 1, 2, 3].map(() => randn(device, dims));
      for (const t of [q!, k!, v!]) t.requiresGrad = true;
      for (const backward of [false, true]) {
        if (!backward && shape.dropout > 0) continue; // dropout only acts in training
        const flops = 4 * shape.B * shape.H * shape.S * shape.S * shape.D * (backward ? 3.5 : 1);
        const ours = await measure(device, flashAttention, q!, k!, v!, g!, shape, backward, warmup, repeats);
        const peer = await measure(device, attentionNaive, q!, k!, v!, g!, shape, backward, warmup, repeats);
        const gf = (ms: number[]) => ms.map((m) => flops / (m * 1e6));
        const o = stats(gf(ours.ms));
        const p = stats(gf(peer.ms));
        const name = `${backward ? "fwd+bwd" : "fwd"} ${shape.label}`;
        cases.push({
          suite: "attention",
          name,
          unit: "GFLOP/s",
          ...o,
          repeats,
          peer: {
            name: "naive",
            median: p.median,
            note: "matmul + softmax + dropout + matmul (S×S scores in memory)",
          },
          ratio: o.median / p.median,
          extra: {
            ms: stats(ours.ms).median,
            naiveMs: stats(peer.ms).median,
            peakBytes: ours.peak,
            naivePeakBytes: peer.peak,
          },
        });
        ctx.log(
          `${name}: flash ${stats(ours.ms).median.toFixed(2)} ms (peak ${(ours.peak / 2 ** 20).toFixed(2)} MiB), ` +
            `naive ${stats(peer.ms).median.toFixed(2)} ms (peak ${(peer.peak / 2 ** 20).toFixed(2)} MiB)`,
        );
      }
      for (const t of [q!, k!, v!, g!]) t.dispose();
    }
  } finally {
    device.destroy();
  }
  return cases;
}
