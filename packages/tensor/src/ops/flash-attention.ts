/**
 * Flash attention (FlashAttention-2): softmax(Q·Kᵀ·scale) (with attention dropout) · V without ever
 * materialising the S×S scores. Same signature and semantics as `attentionNaive`, and with dropout it
 * drops exactly the entries the naive path drops for the same device RNG offset (see the kernel file).
 * Memory: forward keeps O and one f32 per query row (L); backward adds one more (Δ) and the gradients.
 */
import { needsGrad, noGrad, record } from "../autograd.js";
import { requireFloat, sameDevice } from "../checks.js";
import type { Device, ProgramDesc } from "../device.js";
import { DTypeError, ShapeError } from "../errors.js";
import {
  FLASH_FIELDS,
  type FlashKernelConfig,
  type FlashVariant,
  flashBackwardKVKernel,
  flashBackwardQKernel,
  flashDeltaKernel,
  flashForwardKernel,
  zeroWordsKernel,
} from "../kernels/flash-attention.js";
import { grid1D } from "../kernels/wgsl.js";
import { nextOffset } from "../rng.js";
import { Tensor } from "../tensor.js";
import { type AttentionOptions, checkAttentionShapes } from "./attention.js";
import { cast } from "./cast.js";

/** Per-adapter kernel shape; `flashTuningFor` picks one, tests may force another. */
export interface FlashTuning {
  variant: FlashVariant;
  /** Rows owned per workgroup (forward/dQ: query rows; dK/dV: key rows). */
  wg: number;
  /** Other-side rows per unrolled block. */
  kb: number;
  /** "tiled": rows per workgroup-memory tile (rounded to a multiple of kb, capped by the memory limit). */
  bc: number;
  /** Compile the head dim into the shader (GPUs: registers) or pass it as a uniform (lavapipe). */
  constD: boolean;
  /** "subgroup": rows owned per invocation (register blocking); default 1. */
  rpl?: number;
}

/**
 * lavapipe: a workgroup is one 8-lane subgroup (one SIMD vector) owning 16 rows, 2 per lane; each block
 * of 8 other-side rows is loaded once and shared with subgroupBroadcast, no barriers, head dim as a
 * uniform (LLVM unrolling a compile-time D costs seconds per pipeline there). Two rows per lane were
 * 20-35% faster than one at S = 197 and 1025 (as fast at S = 17); four gained a few % more but doubled
 * the pipeline compile time (3.6 s with dropout). Without subgroups of exactly
 * that size, or for head dims that are not a multiple of 4, the "direct" kernel (every lane reads the
 * block itself). GPUs: 64 rows per workgroup sharing tiles staged in workgroup memory, head dim
 * compiled in so the row arrays live in registers.
 */
export function flashTuningFor(device: Device): FlashTuning {
  return device.isCpuAdapter
    ? { variant: "subgroup", wg: 8, kb: 8, bc: 0, constD: false, rpl: 2 }
    : { variant: "tiled", wg: 64, kb: 8, bc: 64, constD: true };
}

function kernelConfig(
  device: Device,
  D: number,
  dtype: "f32" | "f16",
  dropout: boolean,
  tuning: FlashTuning,
): FlashKernelConfig {
  let t = tuning;
  if (t.variant === "subgroup") {
    // Needs KB = the subgroup size, fixed (min = max) and ≤ 9 (the block dropout draws 3 Philox blocks),
    // workgroups of whole subgroups and vec4 rows; otherwise fall back to "direct".
    const sg = device.adapter.subgroupMinSize;
    const ok =
      device.hasFeature("subgroups") &&
      sg !== undefined &&
      sg === device.adapter.subgroupMaxSize &&
      sg <= 9 &&
      t.wg % sg === 0 &&
      D % 4 === 0;
    t = ok ? { ...t, kb: sg } : { ...t, variant: "direct", wg: 8, kb: 8 };
  }
  // Private row arrays: D exactly, or the next of a few sizes so head dims share pipelines.
  const dmax = t.constD ? D : ([64, 128, 256, 512].find((n) => n >= D) ?? Math.ceil(D / 256) * 256);
  let bc = t.kb;
  if (t.variant === "tiled") {
    // Two tiles of bc rows × D f32 (plus two f32 per row in the dK/dV pass) must fit workgroup memory;
    // a head dim too large for even one block of kb rows reads straight from storage instead.
    const budget = device.limits.maxComputeWorkgroupStorageSize;
    const fit = Math.floor(budget / (8 * dmax + 8) / t.kb) * t.kb;
    if (fit < t.kb) t = { ...t, variant: "direct" };
    else bc = Math.min(Math.max(t.kb, Math.floor(t.bc / t.kb) * t.kb), fit);
  }
  const rpl = t.variant === "subgroup" ? (t.rpl ?? 1) : 1;
  return { D: t.constD ? D : 0, dmax, dtype, dropout, variant: t.variant, wg: t.wg, kb: t.kb, bc, rpl };
}

/**
 * Workgroups for the row-owning kernels. Subgroup kernels number (batch·head, row block) densely over
 * x and y; the others use x = row blocks and put batch·head over (y, z). Both stay under 65,535.
 */
function rowGrid(cfg: FlashKernelConfig, rows: number, bh: number): [number, number, number] {
  if (cfg.variant === "subgroup") {
    const groups = Math.ceil((bh * Math.ceil(rows / (cfg.kb * cfg.rpl))) / (cfg.wg / cfg.kb));
    const y = Math.ceil(groups / 65535);
    return [Math.ceil(groups / y), y, 1];
  }
  const y = Math.min(bh, 65535);
  return [Math.ceil(rows / cfg.wg), y, Math.ceil(bh / y)];
}

/** q, k, v: [batch, heads, seq, head_dim] → [batch, heads, seq_q, head_dim]. */
export function flashAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  return flashAttentionWith(q, k, v, opts);
}

/** `flashAttention` with an explicit kernel shape (tests run the GPU variant on the CPU adapter too). */
export function flashAttentionWith(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions = {},
  tuning?: FlashTuning,
): Tensor {
  checkAttentionShapes(q, k, v);
  const device = sameDevice("flash_attention", q, k, v);
  if (q.dtype === "bf16" && k.dtype === "bf16" && v.dtype === "bf16") {
    // bf16 activations (autocast): no bf16 arithmetic in WGSL, so the kernel runs on f32 copies (exact).
    const o = flashAttentionWith(cast(q, "f32"), cast(k, "f32"), cast(v, "f32"), opts, tuning);
    return cast(o, "bf16");
  }
  for (const t of [q, k, v]) requireFloat("flash_attention", t);
  if (k.dtype !== q.dtype || v.dtype !== q.dtype) {
    throw new DTypeError(
      `flash_attention: q, k, v must share one dtype (got ${q.dtype}, ${k.dtype}, ${v.dtype}).`,
    );
  }
  const [B, H, Sq, D] = q.shape as [number, number, number, number];
  const Sk = k.shape[2]!;
  if (Sk === 0 || D === 0) {
    throw new ShapeError(
      `flash_attention: k ${k.describe()} needs at least one key and a non-zero head_dim.`,
    );
  }
  const p = opts.dropout ?? 0;
  // Same check as dropout(), which the naive path runs even when not training.
  if (!(p >= 0 && p < 1))
    throw new ShapeError(`flash_attention: dropout probability ${p} must be in [0, 1).`);
  const dropout = (opts.training ?? true) && p > 0;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const seed = device.rng.seed;
  // One offset per call, drawn only when dropout is active (as dropout() does), so the naive and flash
  // paths consume the device RNG identically and checkpoint replay regenerates the same mask.
  const offset = dropout ? nextOffset(device.rng) : 0;
  const dtype = q.dtype as "f32" | "f16";
  const cfg = kernelConfig(device, D, dtype, dropout, tuning ?? flashTuningFor(device));
  const BH = B * H;
  const values = [Sq, Sk, BH, D, scale * Math.LOG2E, scale, p, dropout ? 1 / (1 - p) : 1, seed, offset];
  const uniforms = { fields: FLASH_FIELDS, values };

  const o = new Tensor(device, q.shape, dtype);
  const lse = new Tensor(device, [B, H, Sq], "f32");
  if (o.numel > 0) {
    device.run({
      name: "flash_attention",
      kernel: flashForwardKernel,
      variant: cfg,
      buffers: [q.buffer, k.buffer, v.buffer, o.buffer, lse.buffer],
      uniforms,
      workgroups: rowGrid(cfg, Sq, BH),
    });
  }
  if (!needsGrad(q, k, v)) {
    lse.dispose();
    return o;
  }
  // Backward needs O itself (Δ = rowsum(dO∘O)); hold its storage through a view, so that a caller
  // disposing the output tensor early does not break backward. Both saved tensors live in the current
  // scope, like layerNorm's statistics, and are freed as soon as backward has used them.
  const oSaved = o.view(o.shape);
  record(o, {
    name: "flash_attention",
    inputs: [q, k, v],
    backward: (gIn) => {
      // The kernels read dO in the activations' type (an f32 gradient reaching f16 attention is rounded).
      const g = gIn.dtype === dtype ? gIn : noGrad(() => cast(gIn, dtype));
      const dq = q.requiresGrad ? new Tensor(device, q.shape, dtype) : null;
      const dk = k.requiresGrad || v.requiresGrad ? new Tensor(device, k.shape, dtype) : null;
      const dv = k.requiresGrad || v.requiresGrad ? new Tensor(device, v.shape, dtype) : null;
      if (o.numel > 0) {
        const delta = new Tensor(device, [B, H, Sq], "f32");
        device.run({
          name: "flash_attention_delta",
          kernel: flashDeltaKernel,
          variant: cfg,
          buffers: [oSaved.buffer, g.buffer, delta.buffer],
          uniforms,
          workgroups: grid1D(BH * Sq, 64),
        });
        if (dk && dv) {
          device.run({
            name: "flash_attention_dkv",
            kernel: flashBackwardKVKernel,
            variant: cfg,
            buffers: [q.buffer, k.buffer, v.buffer, g.buffer, lse.buffer, delta.buffer, dk.buffer, dv.buffer],
            uniforms,
            workgroups: rowGrid(cfg, Sk, BH),
          });
        }
        if (dq) {
          device.run({
            name: "flash_attention_dq",
            kernel: flashBackwardQKernel,
            variant: cfg,
            buffers: [q.buffer, k.buffer, v.buffer, g.buffer, lse.buffer, delta.buffer, dq.buffer],
            uniforms,
            workgroups: rowGrid(cfg, Sq, BH),
          });
        }
        delta.dispose();
      } else {
        // No query rows: nothing flows to K or V.
        for (const t of [dk, dv]) if (t) device.run(zeroFill(t));
      }
      lse.dispose();
      oSaved.dispose();
      // dK and dV come from one pass; autograd frees whichever of them is not needed.
      if (g !== gIn) g.dispose();
      return [dq, dk, dv];
    },
  });
  return o;
}

/** A program that zeroes `t` (only for the degenerate Sq = 0 case). */
function zeroFill(t: Tensor): ProgramDesc<Record<string, never>> {
  return {
    name: "flash_attention_zero",
    kernel: zeroWordsKernel,
    variant: {},
    buffers: [t.buffer],
    workgroups: grid1D(Math.ceil(t.buffer.size / 4), 64),
  };
}
