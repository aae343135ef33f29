/**
 * Flash attention (FlashAttention-2): softmax(Q·Kᵀ·scale) (with attention dropout) · V without ever
 * materialising the S×S scores. Same signature and semantics as `attentionNaive`, and with dropout it
 * drops exactly the entries the naive path drops for the same device RNG offset (see the kernel file).
 * Memory: forward keeps O and one f32 per query row (L); backward adds one more (Δ) and the gradients.
 */
import { needsGrad, record } from "../autograd.js";
import type { Device, ProgramDesc } from "../device.js";
import { DTypeError, ShapeError } from "../errors.js";
import { requireFloat, sameDevice } from "../io.js";
import {
  FLASH_FIELDS,
  type FlashKernelConfig,
  type FlashVariant,
  flashBackwardKVWGSL,
  flashBackwardQWGSL,
  flashDeltaWGSL,
  flashForwardWGSL,
  flashKey,
} from "../kernels/flash-attention.js";
import { grid1D } from "../kernels/wgsl.js";
import { nextOffset } from "../rng.js";
import { Tensor } from "../tensor.js";
import { type AttentionOptions, checkAttentionShapes } from "./attention.js";

/** Per-adapter kernel shape; `flashConfigFor` picks one, tests may force another. */
export interface FlashTuning {
  variant: FlashVariant;
  /** Rows owned per workgroup (forward/dQ: query rows; dK/dV: key rows). */
  wg: number;
  /** Other-side rows per block/tile. 0 = as many as fit in workgroup memory (tiled) / default. */
  bc: number;
}

/**
 * lavapipe: one SIMD vector (8 lanes) per workgroup, rows read straight from storage at a
 * workgroup-uniform address (a scalar load + broadcast there), no barriers. GPUs: 64 rows per
 * workgroup sharing K/V (or Q/dO) tiles staged in workgroup memory.
 */
export function flashTuningFor(device: Device): FlashTuning {
  return device.isCpuAdapter ? { variant: "direct", wg: 8, bc: 16 } : { variant: "tiled", wg: 64, bc: 0 };
}

function kernelConfig(device: Device, D: number, dtype: "f32" | "f16", dropout: boolean, t: FlashTuning): FlashKernelConfig {
  let bc = t.bc;
  if (t.variant === "tiled") {
    // Two tiles of bc rows × D f32 (plus two f32 per row in the dK/dV pass) must fit workgroup memory.
    const budget = device.limits.maxComputeWorkgroupStorageSize;
    const fit = Math.floor(budget / (8 * D + 8));
    if (fit < 1) {
      throw new ShapeError(`flash_attention: head_dim ${D} is too large for this adapter's ${budget}-byte workgroup memory.`);
    }
    bc = Math.min(bc > 0 ? bc : 64, fit);
  } else if (bc <= 0) {
    bc = 16;
  }
  return { D, dtype, dropout, variant: t.variant, wg: t.wg, bc };
}

/** Workgroups for row-owning kernels: x = row blocks, batch·head over (y, z) to stay under 65,535. */
function rowGrid(rows: number, wg: number, bh: number): [number, number, number] {
  const y = Math.min(bh, 65535);
  return [Math.ceil(rows / wg), y, Math.ceil(bh / y)];
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
  for (const t of [q, k, v]) requireFloat("flash_attention", t);
  if (k.dtype !== q.dtype || v.dtype !== q.dtype) {
    throw new DTypeError(`flash_attention: q, k, v must share one dtype (got ${q.dtype}, ${k.dtype}, ${v.dtype}).`);
  }
  const [B, H, Sq, D] = q.shape as [number, number, number, number];
  const Sk = k.shape[2]!;
  if (Sk === 0 || D === 0) {
    throw new ShapeError(`flash_attention: k ${k.describe()} needs at least one key and a non-zero head_dim.`);
  }
  const p = opts.dropout ?? 0;
  // Same check as dropout(), which the naive path runs even when not training.
  if (!(p >= 0 && p < 1)) throw new ShapeError(`flash_attention: dropout probability ${p} must be in [0, 1).`);
  const dropout = (opts.training ?? true) && p > 0;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const seed = device.rng.seed;
  // One offset per call, drawn only when dropout is active (as dropout() does), so the naive and flash
  // paths consume the device RNG identically and checkpoint replay regenerates the same mask.
  const offset = dropout ? nextOffset(device.rng) : 0;
  const dtype = q.dtype as "f32" | "f16";
  const cfg = kernelConfig(device, D, dtype, dropout, tuning ?? flashTuningFor(device));
  const BH = B * H;
  const values = [Sq, Sk, BH, scale * Math.LOG2E, scale, p, dropout ? 1 / (1 - p) : 1, seed, offset];
  const uniforms = { fields: FLASH_FIELDS, values };

  const o = new Tensor(device, q.shape, dtype);
  const lse = new Tensor(device, [B, H, Sq], "f32");
  if (o.numel > 0) {
    device.run({
      name: "flash_attention",
      key: flashKey("fwd", cfg),
      code: () => flashForwardWGSL(cfg),
      buffers: [q.buffer, k.buffer, v.buffer, o.buffer, lse.buffer],
      uniforms,
      workgroups: rowGrid(Sq, cfg.wg, BH),
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
    backward: (g) => {
      const dq = q.requiresGrad ? new Tensor(device, q.shape, dtype) : null;
      const dk = k.requiresGrad || v.requiresGrad ? new Tensor(device, k.shape, dtype) : null;
      const dv = k.requiresGrad || v.requiresGrad ? new Tensor(device, v.shape, dtype) : null;
      if (o.numel > 0) {
        const delta = new Tensor(device, [B, H, Sq], "f32");
        device.run({
          name: "flash_attention_delta",
          key: flashKey("delta", cfg),
          code: () => flashDeltaWGSL(cfg),
          buffers: [oSaved.buffer, g.buffer, delta.buffer],
          uniforms,
          workgroups: grid1D(BH * Sq, 64),
        });
        if (dk && dv) {
          device.run({
            name: "flash_attention_dkv",
            key: flashKey("dkv", cfg),
            code: () => flashBackwardKVWGSL(cfg),
            buffers: [q.buffer, k.buffer, v.buffer, g.buffer, lse.buffer, delta.buffer, dk.buffer, dv.buffer],
            uniforms,
            workgroups: rowGrid(Sk, cfg.wg, BH),
          });
        }
        if (dq) {
          device.run({
            name: "flash_attention_dq",
            key: flashKey("dq", cfg),
            code: () => flashBackwardQWGSL(cfg),
            buffers: [q.buffer, k.buffer, v.buffer, g.buffer, lse.buffer, delta.buffer, dq.buffer],
            uniforms,
            workgroups: rowGrid(Sq, cfg.wg, BH),
          });
        }
        delta.dispose();
      } else {
        // No query rows: nothing flows to K or V.
        for (const t of [dk, dv]) if (t) device.run(zeroFill(t));
      }
      lse.dispose();
      oSaved.dispose();
      return [dq, k.requiresGrad ? dk : (dk?.dispose(), null), v.requiresGrad ? dv : (dv?.dispose(), null)];
    },
  });
  return o;
}

/** A program that zeroes `t` (only for the degenerate Sq = 0 case). */
function zeroFill(t: Tensor): ProgramDesc {
  const words = Math.ceil(t.buffer.size / 4);
  return {
    name: "flash_attention_zero",
    key: "flash_attention_zero",
    code: () => `@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i < arrayLength(&x)) { x[i] = 0u; }
}`,
    buffers: [t.buffer],
    workgroups: grid1D(words, 64),
  };
}
