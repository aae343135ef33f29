/**
 * Checkpoints: one safetensors file holding the model (`model.<param>`), the optimizer state
 * (`optim.<param>.<state>`) and, in the header metadata, everything else a resume needs (step, epoch,
 * optimizer step count, device RNG, data-loader position, config, best metric). Files are written
 * atomically (temp file + fsync + rename, by saveSafetensors), so a kill during a save leaves the
 * previous checkpoint intact; `keep last K` and `best` are maintained by renaming, never rewriting.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
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
  if (!existsSync(path)) {
    throw new CheckpointError(`checkpoint ${path} does not exist`, {
      hint: "pass a .safetensors checkpoint; a run keeps them in <exp_dir>/<name>/version_N/checkpoints/",
    });
  }
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

/** The step of a `step-N.safetensors` path (null for other names, e.g. best.safetensors). */
export function stepOfCheckpoint(path: string): number | null {
  const m = /(?:^|[\\/])step-(\d+)\.safetensors$/.exec(path);
  return m ? Number(m[1]) : null;
}

/**
 * Deletes all but the newest `keep` of `own` (the step checkpoints this run wrote, or resumed with), with
 * the optimizer shards of other ranks beside them; returns the ones kept, oldest first. Files of other
 * runs are never in `own`, so a run cannot delete another run's work (or, as a shorter run sharing a
 * folder once did, its own fresh checkpoint).
 */
export function pruneCheckpoints(own: string[], keep: number): string[] {
  const sorted = [...new Set(own)].sort((a, b) => (stepOfCheckpoint(a) ?? 0) - (stepOfCheckpoint(b) ?? 0));
  const drop = sorted.slice(0, Math.max(0, sorted.length - keep));
  for (const f of drop) {
    rmSync(f, { force: true });
    const dir = dirname(f);
    const shardPrefix = `${basename(f).replace(/\.safetensors$/, "")}.rank-`;
    for (const g of readdirSync(dir)) if (g.startsWith(shardPrefix)) rmSync(join(dir, g), { force: true });
  }
  return sorted.slice(drop.length);
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
