/**
 * Gradient buckets (Megatron core/distributed/param_and_grad_buffer.py, PyTorch DDP's Reducer): the
 * parameters are laid out, in reverse registration order (the order backward produces their gradients),
 * in consecutive buckets of about `bucketBytes`, so a model's gradients travel in a few large collectives
 * instead of one per tensor. A bucket never splits a parameter; one larger than the bucket size gets a
 * bucket of its own. Each bucket is padded to a multiple of `padTo` elements so that it divides evenly
 * over the ranks (the distributed optimizer reduce-scatters it).
 */
import { DTypeError, type Device, type Tensor, keep, zeros } from "@vit/tensor";

/** PyTorch DDP's default bucket_cap_mb. */
export const DEFAULT_BUCKET_BYTES = 25 * 2 ** 20;

export interface BucketEntry {
  name: string;
  param: Tensor;
  /** Element offset of the parameter inside its bucket. */
  offset: number;
  numel: number;
}

export interface Bucket {
  index: number;
  entries: BucketEntry[];
  /** Elements the parameters fill. */
  numel: number;
  /** numel rounded up to a multiple of padTo (the flat buffer's length). */
  paddedNumel: number;
}

export interface BucketOptions {
  bucketBytes?: number;
  padTo?: number;
  /** Lay parameters out last-to-first (default true, as DDP and Megatron do). */
  reverse?: boolean;
}

export function buildBuckets(
  named: ReadonlyArray<readonly [string, Tensor]>,
  opts: BucketOptions = {},
): Bucket[] {
  const cap = Math.max(1, Math.floor((opts.bucketBytes ?? DEFAULT_BUCKET_BYTES) / 4));
  const padTo = Math.max(1, opts.padTo ?? 1);
  const order = opts.reverse === false ? [...named] : [...named].reverse();
  const buckets: Bucket[] = [];
  let cur: BucketEntry[] = [];
  let fill = 0;
  const close = () => {
    if (!cur.length) return;
    buckets.push({
      index: buckets.length,
      entries: cur,
      numel: fill,
      paddedNumel: Math.ceil(fill / padTo) * padTo,
    });
    cur = [];
    fill = 0;
  };
  for (const [name, param] of order) {
    if (fill > 0 && fill + param.numel > cap) close();
    cur.push({ name, param, offset: fill, numel: param.numel });
    fill += param.numel;
    if (fill >= cap) close();
  }
  close();
  return buckets;
}

/** A flat f32 scratch buffer per device, grown on demand and reused by every bucket in turn. */
export class FlatStaging {
  private flat: Tensor | null = null;

  constructor(readonly device: Device) {}

  /** A view of the first `numel` elements (dispose it after use; the storage stays). */
  view(numel: number): Tensor {
    if (!this.flat || this.flat.numel < numel) {
      this.flat?.dispose();
      this.flat = keep(zeros(this.device, [Math.max(1, numel)]));
    }
    return keep(this.flat.view([numel]));
  }

  get bytes(): number {
    return this.flat ? this.flat.numel * 4 : 0;
  }

  dispose(): void {
    this.flat?.dispose();
    this.flat = null;
  }
}

/** Every parameter of the bucket gets a gradient (zeros where backward produced none); all must be f32. */
export function ensureGrads(b: Bucket): void {
  for (const e of b.entries) {
    if (!e.param.grad) e.param.grad = keep(zeros(e.param.device, e.param.shape));
    if (e.param.grad.dtype !== "f32") {
      throw new DTypeError(
        `gradient buckets: the gradient of "${e.name}" is ${e.param.grad.dtype}; gradients are reduced in f32`,
        { hint: "accumulate bf16/f16 parameters' gradients in f32, as Megatron's main_grad" },
      );
    }
  }
}

/** Copies each entry's gradient (or value) into the flat buffer at its offset. */
export function packBucket(b: Bucket, flat: Tensor, what: "grad" | "param"): void {
  for (const e of b.entries) {
    const src = what === "grad" ? e.param.grad! : e.param;
    flat.device.copy(src.buffer, 0, flat.buffer, e.offset * 4, e.numel * 4);
  }
}

/** Copies the flat buffer back into each entry's gradient (or value). */
export function unpackBucket(b: Bucket, flat: Tensor, what: "grad" | "param"): void {
  for (const e of b.entries) {
    const dst = what === "grad" ? e.param.grad! : e.param;
    flat.device.copy(flat.buffer, e.offset * 4, dst.buffer, 0, e.numel * 4);
  }
}
