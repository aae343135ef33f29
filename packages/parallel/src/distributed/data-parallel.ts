/**
 * Data parallelism (Megatron core/distributed/distributed_data_parallel.py, torch DDP): every rank holds
 * the whole model and a slice of the batch; after backward the gradients are averaged over the ranks in
 * buckets, so every rank applies the same update. Parameters are broadcast from one rank at the start so
 * every replica begins equal.
 *
 * Backward here is synchronous, so the reduction runs after it rather than overlapping it: the trainer
 * calls `await dp.allReduceGradients(model)` between the last micro-batch's backward and optimizer.step.
 * Every parameter has a gradient afterwards (zeros where a rank's backward produced none), as with
 * Megatron's persistent gradient buffer.
 */
import type { Module } from "@vit/nn";
import type { Device, Tensor } from "@vit/tensor";
import type { ProcessGroup } from "../process-group.js";
import {
  type Bucket,
  DEFAULT_BUCKET_BYTES,
  FlatStaging,
  buildBuckets,
  ensureGrads,
  packBucket,
  unpackBucket,
} from "./buckets.js";

export interface DataParallelOptions {
  /** Target bucket size in bytes (default 25 MiB, PyTorch DDP's). */
  bucketBytes?: number;
  /** Average the gradients (default) or sum them. */
  average?: boolean;
}

export type ParameterSource = Module | ReadonlyArray<readonly [string, Tensor]>;

function named(src: ParameterSource): ReadonlyArray<readonly [string, Tensor]> {
  return Array.isArray(src)
    ? (src as ReadonlyArray<readonly [string, Tensor]>)
    : (src as Module).namedParameters();
}

export class DataParallel {
  readonly bucketBytes: number;
  readonly average: boolean;
  private layouts = new WeakMap<object, Bucket[]>();
  private staging = new Map<Device, FlatStaging>();

  constructor(
    readonly group: ProcessGroup,
    opts: DataParallelOptions = {},
  ) {
    this.bucketBytes = opts.bucketBytes ?? DEFAULT_BUCKET_BYTES;
    this.average = opts.average ?? true;
  }

  /** The bucket layout used for `model` (computed once per model). */
  buckets(model: ParameterSource): Bucket[] {
    let b = this.layouts.get(model);
    if (!b) {
      b = buildBuckets(named(model), { bucketBytes: this.bucketBytes });
      this.layouts.set(model, b);
    }
    return b;
  }

  private stagingFor(device: Device): FlatStaging {
    let s = this.staging.get(device);
    if (!s) {
      s = new FlatStaging(device);
      this.staging.set(device, s);
    }
    return s;
  }

  /** Averages (or sums) every parameter's gradient over the group, one collective per bucket. */
  async allReduceGradients(model: ParameterSource): Promise<void> {
    if (this.group.worldSize === 1) return;
    for (const b of this.buckets(model)) {
      ensureGrads(b);
      const flat = this.stagingFor(b.entries[0]!.param.device).view(b.numel);
      try {
        packBucket(b, flat, "grad");
        await this.group.allReduce([flat], this.average ? "mean" : "sum");
        unpackBucket(b, flat, "grad");
      } finally {
        flat.dispose();
      }
    }
  }

  /** Overwrites every parameter (and buffer) with rank `root`'s values. */
  async broadcastParameters(model: ParameterSource, root = 0): Promise<void> {
    await broadcastParameters(this.group, model, root, this.bucketBytes);
  }

  /** Frees the staging buffers. */
  dispose(): void {
    for (const s of this.staging.values()) s.dispose();
    this.staging.clear();
  }
}

/** Makes every replica start equal: rank `root`'s parameters and buffers, bucketed, to every rank. */
export async function broadcastParameters(
  group: ProcessGroup,
  model: ParameterSource,
  root = 0,
  bucketBytes = DEFAULT_BUCKET_BYTES,
): Promise<void> {
  if (group.worldSize === 1) return;
  const all = [...named(model), ...(Array.isArray(model) ? [] : (model as Module).namedBuffers())];
  // f32 tensors travel in buckets; others (bf16 weights under O2, integer buffers) one by one.
  for (const [, t] of all) if (t.dtype !== "f32") await group.broadcast([t], root);
  const buckets = buildBuckets(
    all.filter(([, t]) => t.dtype === "f32"),
    { bucketBytes, reverse: false },
  );
  if (!buckets.length) return;
  const staging = new FlatStaging(buckets[0]!.entries[0]!.param.device);
  try {
    for (const b of buckets) {
      const flat = staging.view(b.numel);
      try {
        packBucket(b, flat, "param");
        await group.broadcast([flat], root);
        unpackBucket(b, flat, "param");
      } finally {
        flat.dispose();
      }
    }
  } finally {
    staging.dispose();
  }
}
