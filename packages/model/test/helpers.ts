/** Shared test utilities of the ViT's parallel tests: comparisons, a tiny ViT config, host batches. */
import type { Module } from "@vit/nn";
import { type ViTConfig, parseViTConfig } from "../src/index.js";

/** max|a − b| / max|b| (0 when both are zero). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths ${a.length} vs ${b.length}`);
  let n = 0;
  let d = 0;
  for (let i = 0; i < b.length; i++) {
    n = Math.max(n, Math.abs(a[i]! - b[i]!));
    d = Math.max(d, Math.abs(b[i]!));
  }
  return d === 0 ? n : n / d;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) n = Math.max(n, Math.abs(a[i]! - b[i]!));
  return n;
}

/** A ViT small enough to run a few steps in well under a second on lavapipe. */
export function tinyViT(over: Record<string, unknown> = {}): ViTConfig {
  return parseViTConfig({
    style: "timm",
    img_h: 8,
    img_w: 8,
    num_channels: 3,
    patch_dim: 4,
    hidden_size: 32,
    ffn_hidden_size: 64,
    num_attention_heads: 4,
    num_layers: 2,
    num_classes: 5,
    hidden_dropout: 0,
    attention_dropout: 0,
    ...over,
  });
}

/** Deterministic pseudo-random host values in [-1, 1). */
export function hostRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** Every parameter's gradient, read back, by name. */
export async function gradsOf(m: Module): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [n, p] of m.namedParameters()) {
    if (!p.grad) throw new Error(`no grad for ${n}`);
    out[n] = Float32Array.from((await p.grad.data()) as Float32Array);
  }
  return out;
}

export async function paramsOf(m: Module): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [n, p] of m.namedParameters()) out[n] = Float32Array.from((await p.data()) as Float32Array);
  return out;
}
