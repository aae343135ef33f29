/**
 * Checkpoints: one safetensors file holding the model (`model.<param>`), the optimizer state
 * (`optim.<param>.<state>`) and, in the header metadata, everything else a resume needs (step, epoch,
 * optimizer step count, device RNG, data-loader position, config, best metric). Files are written
 * atomically (temp file + fsync + rename, by saveSafetensors), so a kill during a save leaves the
 * previous checkpoint intact; `keep last K` and `best` are maintained by renaming, never rewriting.
 */
import { existsSync, readdirSync, rmSync, statSync, copyFileSync, renameSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type HostTensor, openSafetensors, readSafetensorsHeader, saveSafetensors } from "@vit/nn";
import { type Tensor, VitError } from "@vit/tensor";

export const CHECKPOINT_FORMAT = "vit-checkpoint/1";

export interface CheckpointMeta {
  format: string;
  step: number;
  epoch: number;
  optimizerSteps: number;
  rng: { seed: number; offset: number };
  loader: unknown;
  config: unknown;
  metrics: Record<string, number>;
  /** Class names of the training set, when known (for `vit predict`). */
  classes?: string[];
  best?: { metric: string; value: number; step: number };
}

async function toHost(t: Tensor | HostTensor): Promise<HostTensor> {
  if (!("device" in t)) return t; // already on the host (e.g. merged tensor-parallel weights)
  const d = await t.data();
  return t.dtype === "i32"
    ? { dtype: "I32", shape: [...t.shape], data: Int32Array.from(d) }
    : { dtype: "F32", shape: [...t.shape], data: Float32Array.from(d) };
}

export async function saveCheckpoint(
  path: string,
  model: Record<string, Tensor | HostTensor>,
  optim: Record<string, Tensor>,
  meta: CheckpointMeta,
): Promise<void> {
  const tensors: Record<string, HostTensor> = {};
  for (const [k, t] of Object.entries(model)) tensors[`model.${k}`] = await toHost(t);
  for (const [k, t] of Object.entries(optim)) tensors[`optim.${k}`] = await toHost(t);
  mkdirSync(join(path, ".."), { recursive: true });
  await saveSafetensors(path, tensors, { vit: JSON.stringify(meta) });
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  model: Record<string, HostTensor>;
  optim: Record<string, HostTensor>;
}

/** A checkpoint that is missing, is not a vit checkpoint, or does not fit the run resuming from it. */
export class CheckpointError extends VitError {}

export async function readCheckpointMeta(path: string): Promise<CheckpointMeta> {
  const h = await readSafetensorsHeader(path);
  const raw = h.metadata?.vit;
  if (!raw) {
    throw new CheckpointError(`${path} is a safetensors file but not a vit checkpoint (no "vit" metadata)`, {
      hint: "for timm/HF/NeMo weights use `vit finetune --from` or `vit convert`",
    });
  }
  let meta: Partial<CheckpointMeta> | null = null;
  let problem = "";
  try {
    meta = JSON.parse(raw);
  } catch (e) {
    problem = ` (${(e as Error).message})`;
  }
  // Everything that reads a checkpoint starts from its config and step: refuse metadata without them here.
  if (typeof meta?.config !== "object" || meta.config === null || typeof meta.step !== "number") {
    throw new CheckpointError(`${path}: its "vit" metadata is not a vit checkpoint's (config, step, ...)${problem}`, {
      hint: "the checkpoint is damaged: use another one (an earlier step-N or best.safetensors)",
    });
  }
  return meta as CheckpointMeta;
}

export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  if (!existsSync(path)) {
    throw new CheckpointError(`checkpoint ${path} does not exist`, {
      hint: "pass a .safetensors checkpoint; a run keeps them in <exp_dir>/<name>/checkpoints/",
    });
  }
  const meta = await readCheckpointMeta(path);
  const f = await openSafetensors(path);
  const model: Record<string, HostTensor> = {};
  const optim: Record<string, HostTensor> = {};
  try {
    for (const k of f.keys()) {
      const t = await f.read(k);
      if (k.startsWith("model.")) model[k.slice(6)] = t;
      else if (k.startsWith("optim.")) optim[k.slice(6)] = t;
    }
  } finally {
    f.close();
  }
  return { meta, model, optim };
}

/** step-000123.safetensors files in `dir`, oldest first. */
export function listStepCheckpoints(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^step-\d+\.safetensors$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** Deletes all but the newest `keep` step checkpoints. */
export function pruneCheckpoints(dir: string, keep: number): void {
  const all = listStepCheckpoints(dir);
  for (const f of all.slice(0, Math.max(0, all.length - keep))) {
    rmSync(f, { force: true });
    // Optimizer shards of other data-parallel ranks written beside it.
    const stem = f.replace(/\.safetensors$/, "");
    for (const g of readdirSync(dir))
      if (join(dir, g).startsWith(`${stem}.rank-`)) rmSync(join(dir, g), { force: true });
  }
}

/** Newest step checkpoint in `dir` (for resume_if_exists). */
export function latestCheckpoint(dir: string): string | null {
  const all = listStepCheckpoints(dir);
  return all.length ? all[all.length - 1]! : null;
}

/** Copies `src` to `dir/best.safetensors` atomically. */
export function markBest(src: string, dir: string): void {
  const tmp = join(dir, `.best.tmp-${process.pid}`);
  copyFileSync(src, tmp);
  renameSync(tmp, join(dir, "best.safetensors"));
}

export function checkpointPath(dir: string, step: number): string {
  return join(dir, `step-${String(step).padStart(7, "0")}.safetensors`);
}

export function fileSize(path: string): number {
  return statSync(path).size;
}
