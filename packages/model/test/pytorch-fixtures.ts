/**
 * The PyTorch reference fixtures committed in ./fixtures, written by tooling/fixtures/make.py (see its
 * header for how each case is built). Paths resolve from this file, so tests read only the checkout.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type HostTensor, loadSafetensors } from "@vit/nn";
import { type ViTConfig, type WeightFormat, parseViTConfig } from "../src/index.js";

const FIXTURES_DIR = fileURLToPath(new URL("./fixtures/", import.meta.url));

/** Model cases: torchvision's ViT, a non-square grid, 3 heads × 3 layers, NeMo (8 class tokens, MLP-tanh). */
export const MODEL_CASES = ["vit-tiny-p8", "vit-rect-p4", "vit-3heads-3layers", "vit-nemo-8cls"] as const;
export type ModelCase = (typeof MODEL_CASES)[number];

/** Position-embedding resampling cases (fixtures/posembed/<name>.safetensors). */
export const POSEMBED_CASES = [
  "posembed-4x4-to-6x6",
  "posembed-3x5-to-6x2-8cls",
  "posembed-4x4-to-7x3-bilinear-8cls",
] as const;

export function fixturePath(...parts: string[]): string {
  return join(FIXTURES_DIR, ...parts);
}

export interface CaseConfig {
  /** config.json as written: `model` holds NeMo keys, `weights_format` the names in weights.safetensors. */
  raw: { model: Record<string, unknown>; weights_format: WeightFormat; batch_size: number };
  config: ViTConfig;
  format: WeightFormat;
}

export function readCaseConfig(name: ModelCase): CaseConfig {
  const raw = JSON.parse(readFileSync(fixturePath(name, "config.json"), "utf8")) as CaseConfig["raw"];
  return { raw, config: parseViTConfig(raw.model), format: raw.weights_format };
}

export interface LoadedCase extends CaseConfig {
  /** Every parameter under the case's foreign names (timm or NeMo). */
  weights: Record<string, HostTensor>;
  /** `images` [B, C, H, W] F32, `labels` [B] I64. */
  batch: Record<string, HostTensor>;
  /** `logits`, `loss` [1] and `grad.<foreign name>` for every parameter. */
  expected: Record<string, HostTensor>;
}

export async function loadCase(name: ModelCase): Promise<LoadedCase> {
  const [weights, batch, expected] = await Promise.all(
    ["weights", "batch", "expected"].map((f) => loadSafetensors(fixturePath(name, `${f}.safetensors`))),
  );
  return { ...readCaseConfig(name), weights: weights!, batch: batch!, expected: expected! };
}

/** max |a − b| / max |b|: the error relative to the reference's scale. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths differ (${a.length} vs ${b.length})`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}
