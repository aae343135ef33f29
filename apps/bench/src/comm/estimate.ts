/**
 * Communication per training step of a data-/tensor-parallel ViT on a cluster, on paper, so a cluster can be
 * sized before it is rented (docs/distributed.md's tables are this module's output: `node
 * apps/bench/dist/comm-estimate.js`). Bandwidth terms only (no per-message latency, no overlap with the
 * backward): t = bytes each rank's link must carry / link bandwidth.
 *   ring all-reduce (NCCL, MPI's large-message algorithms): each rank sends and receives 2(n−1)/n × S;
 *   our TCP star: rank 0 receives (n−1) × S and sends (n−1) × S (full duplex: the two overlap), so
 *     t = (n−1) × S / bw, every other rank waiting for it;
 *   distributed optimizer (ZeRO-1): reduce-scatter of the gradients + all-gather of the updated parameters,
 *     (n−1)/n × S each — the all-reduce's bus bytes — with the optimizer state divided by n;
 *   tensor parallelism of degree t (Megatron): the layers' matmul weights are split t ways, so the data-parallel
 *     gradient all-reduce carries ≈ 1/t of them; in exchange every layer all-reduces its activations (b·S·D
 *     elements) twice in the forward (after attention's proj and the MLP's fc2) and twice in the backward
 *     (the column-parallel layers' input gradients), over the t ranks of the TP group.
 */
import { type ViTConfig, getPreset, parameterShapes, sequenceLength } from "@vit/model";
import { vitTrainFlopsPerImage } from "../model-flops.js";

export const GBIT = 1e9 / 8;

/** Seconds of a ring all-reduce of `bytes` over `n` ranks on links of `bytesPerSecond`. */
export function ringAllReduceSeconds(bytes: number, n: number, bytesPerSecond: number): number {
  return n <= 1 ? 0 : ((2 * (n - 1)) / n) * (bytes / bytesPerSecond);
}

/** Seconds of the tcp backend's star all-reduce: rank 0's link carries (n−1) × bytes each way. */
export function starAllReduceSeconds(bytes: number, n: number, bytesPerSecond: number): number {
  return ((n - 1) * bytes) / bytesPerSecond;
}

/** Parameters of a config; `tp` > 1: one tensor-parallel rank's (split weights / tp, the rest replicated). */
export function parameterCount(c: ViTConfig, tp = 1): number {
  let n = 0;
  for (const { name, shape } of parameterShapes(c)) {
    const numel = shape.reduce((a, b) => a * b, 1);
    // Column-parallel (qkv, fc1: weight and bias) and row-parallel (proj, fc2: weight) are split.
    const split = /\.(attn\.qkv|mlp\.fc1)\.(weight|bias)$|\.(attn\.proj|mlp\.fc2)\.weight$/.test(name);
    n += split ? numel / tp : numel;
  }
  return n;
}

/** Bytes one rank all-reduces over its TP group per step: 4 all-reduces of b·S·D per layer. */
export function tpActivationBytes(c: ViTConfig, batchPerGpu: number, bytesPerElement: number): number {
  return 4 * c.num_layers * batchPerGpu * sequenceLength(c) * c.hidden_size * bytesPerElement;
}

const fmtBytes = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);
const fmtMs = (s: number) => (s >= 1 ? `${s.toFixed(2)} s` : `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)} ms`);
const row = (cells: Array<string | number>) => `| ${cells.join(" | ")} |`;

/** The compute a step's communication competes with: H100/H200 SXM bf16 dense peak, 40% MFU, batch 32. */
const STEP_BATCH = 32;
const STEP_MFU = 0.4;
const STEP_PEAK_TFLOPS = 989;

export const DP_SIZES = [8, 16, 32, 64, 128, 256, 512];
export const LINKS_GBIT = [100, 400];

/** The markdown tables of docs/distributed.md. */
export function estimateTables(): string {
  const out: string[] = [];
  const models = [
    { name: "ViT-B/16", preset: "B/16" },
    { name: "ViT-g/14", preset: "g/14" },
  ];
  out.push("### Parameters and gradient bytes\n");
  out.push(
    row([
      "model (preset)",
      "parameters",
      "f32 gradients",
      "bf16 gradients",
      "train GFLOP/image",
      `compute per step at b${STEP_BATCH}/GPU, ${STEP_MFU * 100}% MFU of ${STEP_PEAK_TFLOPS} TFLOP/s`,
    ]),
  );
  out.push(row(["---", "---:", "---:", "---:", "---:", "---:"]));
  for (const m of models) {
    const c = getPreset(m.preset);
    const p = parameterCount(c);
    out.push(
      row([
        `${m.name} (\`${m.preset}\`)`,
        `${(p / 1e6).toFixed(1)} M`,
        fmtBytes(4 * p),
        fmtBytes(2 * p),
        (vitTrainFlopsPerImage(c) / 1e9).toFixed(1),
        fmtMs((STEP_BATCH * vitTrainFlopsPerImage(c)) / (STEP_MFU * STEP_PEAK_TFLOPS * 1e12)),
      ]),
    );
  }
  for (const m of models) {
    const p = parameterCount(getPreset(m.preset));
    for (const [dtype, size] of [
      ["f32", 4],
      ["bf16", 2],
    ] as const) {
      const S = p * size;
      out.push(`\n### ${m.name}, ${dtype} gradients (${fmtBytes(S)} all-reduced per step)\n`);
      out.push(
        row([
          "DP ranks",
          "ring: bytes each way per GPU",
          ...LINKS_GBIT.map((g) => `ring @ ${g} Gb/s`),
          "star: bytes each way at rank 0",
          ...LINKS_GBIT.map((g) => `star @ ${g} Gb/s`),
        ]),
      );
      out.push(
        row(["---:", "---:", ...LINKS_GBIT.map(() => "---:"), "---:", ...LINKS_GBIT.map(() => "---:")]),
      );
      for (const n of DP_SIZES) {
        out.push(
          row([
            n,
            fmtBytes(((2 * (n - 1)) / n) * S),
            ...LINKS_GBIT.map((g) => fmtMs(ringAllReduceSeconds(S, n, g * GBIT))),
            fmtBytes((n - 1) * S),
            ...LINKS_GBIT.map((g) => fmtMs(starAllReduceSeconds(S, n, g * GBIT))),
          ]),
        );
      }
    }
  }
  // Tensor parallelism for B/16 at batch 32 per GPU.
  const b16 = getPreset("B/16");
  const batch = 32;
  out.push(
    `\n### ViT-B/16, tensor parallelism at batch ${batch} per GPU (S = ${sequenceLength(b16)} tokens, D = ${b16.hidden_size}), DP = 64\n`,
  );
  out.push(
    row([
      "TP",
      "params per GPU",
      "DP all-reduce per GPU (bf16 grads, ring, 400 Gb/s)",
      "TP activation all-reduces per GPU per step (bf16)",
      "their time @ 400 Gb/s",
      "@ 450 GB/s (NVLink, one direction)",
    ]),
  );
  out.push(row(["---:", "---:", "---:", "---:", "---:", "---:"]));
  for (const t of [1, 2, 4, 8]) {
    const p = parameterCount(b16, t);
    const act = t > 1 ? tpActivationBytes(b16, batch, 2) : 0;
    out.push(
      row([
        t,
        `${(p / 1e6).toFixed(1)} M`,
        `${fmtBytes(2 * p)} → ${fmtMs(ringAllReduceSeconds(2 * p, 64, 400 * GBIT))}`,
        t > 1 ? `${fmtBytes(act)} (${4 * b16.num_layers} × ${fmtBytes(act / (4 * b16.num_layers))})` : "—",
        t > 1 ? fmtMs(ringAllReduceSeconds(act, t, 400 * GBIT)) : "—",
        t > 1 ? fmtMs(ringAllReduceSeconds(act, t, 450e9)) : "—",
      ]),
    );
  }
  // Distributed optimizer: AdamW state per rank.
  out.push(
    "\n### Distributed optimizer (ZeRO-1): AdamW state per GPU (f32 m and v, + f32 master weights under bf16 O2)\n",
  );
  out.push(row(["model", "replicated (f32 / bf16 O2)", ...DP_SIZES.map((n) => `DP ${n}`)]));
  out.push(row(["---", "---:", ...DP_SIZES.map(() => "---:")]));
  for (const m of models) {
    const p = parameterCount(getPreset(m.preset));
    out.push(
      row([
        m.name,
        `${fmtBytes(8 * p)} / ${fmtBytes(12 * p)}`,
        ...DP_SIZES.map((n) => `${fmtBytes((8 * p) / n)} / ${fmtBytes((12 * p) / n)}`),
      ]),
    );
  }
  return out.join("\n");
}
