/**
 * Which parameters are split across the tensor-parallel group, and converting between a full state dict
 * and per-rank shards (Megatron's checkpoint conversion for a change of tensor-parallel size).
 *
 * The split rule is declared by the layers that hold split weights (Megatron's partition_dim /
 * partition_stride attributes): a module with `tensorParallelPartitions` names, per local parameter, the
 * dimension it is split on and its stride; every other parameter is replicated. `tensorParallelLayout`
 * walks a model and gives the rule by dotted name, so a layer renamed in its parent still shards right.
 *
 * A split on dim d with stride s: the full tensor holds s blocks stacked along d (q|k|v for a fused qkv
 * projection), and rank r holds its 1/p of every block, stacked the same way. Works on host tensors
 * (safetensors' HostTensor), on parameters and equally on gradients keyed by parameter name.
 */
import type { HostTensor, Module } from "@vit/nn";
import { ParallelConfigError } from "../errors.js";
import { divide } from "./utils.js";

/** How one parameter is split: along `dim`, in `stride` stacked blocks (1: one contiguous block). */
export interface Partition {
  dim: number;
  stride: number;
}

/** A module holding split parameters: its own parameters' partitions, by local name (absent: replicated). */
export interface TensorParallelModule {
  readonly tensorParallelPartitions: Readonly<Record<string, Partition>>;
}

/** Split parameters by dotted name; a name absent from the map is replicated on every rank. */
export type TensorParallelLayout = ReadonlyMap<string, Partition>;

/** The split rule of `model`, gathered from the declarations of its modules. */
export function tensorParallelLayout(model: Module): TensorParallelLayout {
  const out = new Map<string, Partition>();
  const walk = (m: Module, prefix: string) => {
    const own = (m as Partial<TensorParallelModule>).tensorParallelPartitions;
    if (own) for (const [n, p] of Object.entries(own)) out.set(prefix + n, p);
    for (const [n, c] of m.children()) walk(c, `${prefix}${n}.`);
  };
  walk(model, "");
  return out;
}

function layoutOf(l: Module | TensorParallelLayout): TensorParallelLayout {
  return l instanceof Map ? l : tensorParallelLayout(l as Module);
}

/** The typed-array operations used here, common to every HostTensor data type. */
interface Arr {
  length: number;
  subarray(a: number, b: number): Arr;
  set(src: Arr, offset: number): void;
}

function alloc(like: HostTensor, n: number): Arr {
  const Ctor = like.data.constructor as unknown as new (n: number) => Arr;
  return new Ctor(n);
}

function make(like: HostTensor, shape: number[], data: Arr): HostTensor {
  return { dtype: like.dtype, shape, data } as unknown as HostTensor;
}

/**
 * The tensor seen as [outer, n, inner] around the split dim, cut into stride·p chunks along n: calls
 * `copy(fullAt, shardAt, len)` for every run of rank `r`'s elements (offsets into full and shard data).
 */
function forEachRun(
  name: string,
  shape: readonly number[],
  part: Partition,
  tp: number,
  r: number,
  copy: (fullAt: number, shardAt: number, len: number) => void,
): number[] {
  if (part.dim >= shape.length) {
    throw new ParallelConfigError(`${name} is split on dim ${part.dim} but is [${shape}]`, {
      hint: "convert a state dict of this model's architecture (check the checkpoint's model config)",
    });
  }
  const outer = shape.slice(0, part.dim).reduce((a, b) => a * b, 1);
  const inner = shape.slice(part.dim + 1).reduce((a, b) => a * b, 1);
  const n = shape[part.dim]!;
  const chunk = divide(divide(n, part.stride, `${name} blocks`), tp, name);
  const own = part.stride * chunk;
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < part.stride; j++)
      copy((o * n + (j * tp + r) * chunk) * inner, (o * own + j * chunk) * inner, chunk * inner);
  return shape.map((d, i) => (i === part.dim ? own : d));
}

/** One state dict per tensor-parallel rank, from the full one, by the split rule of `layout`. */
export function splitTensorParallelStateDict(
  sd: Record<string, HostTensor>,
  layout: Module | TensorParallelLayout,
  tp: number,
): Array<Record<string, HostTensor>> {
  const rule = layoutOf(layout);
  const shards: Array<Record<string, HostTensor>> = Array.from({ length: tp }, () => ({}));
  for (const [name, t] of Object.entries(sd)) {
    const part = rule.get(name);
    for (let r = 0; r < tp; r++) {
      if (!part) {
        shards[r]![name] = t;
        continue;
      }
      const src = t.data as unknown as Arr;
      const data = alloc(t, t.data.length / tp);
      const shape = forEachRun(name, t.shape, part, tp, r, (f, s, n) => data.set(src.subarray(f, f + n), s));
      shards[r]![name] = make(t, shape, data);
    }
  }
  return shards;
}

/**
 * The full state dict from the shards (rank order). Replicated entries come from rank 0; pass
 * `checkReplicated` to get the largest difference between ranks' copies of each (they should agree).
 */
export function mergeTensorParallelStateDicts(
  shards: Array<Record<string, HostTensor>>,
  layout: Module | TensorParallelLayout,
  checkReplicated?: (name: string, maxAbsDiff: number) => void,
): Record<string, HostTensor> {
  const rule = layoutOf(layout);
  const tp = shards.length;
  const out: Record<string, HostTensor> = {};
  for (const [name, t0] of Object.entries(shards[0]!)) {
    const parts = shards.map((s, r) => {
      const p = s[name];
      if (!p) {
        throw new ParallelConfigError(`mergeTensorParallelStateDicts: rank ${r}'s shard lacks "${name}"`, {
          hint: "merge the shards of one model, one per tensor-parallel rank, in rank order",
        });
      }
      return p;
    });
    const part = rule.get(name);
    if (!part) {
      out[name] = t0;
      if (checkReplicated) {
        let worst = 0;
        for (const p of parts.slice(1)) {
          const a = t0.data as unknown as ArrayLike<number>;
          const b = p.data as unknown as ArrayLike<number>;
          for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(Number(a[i]) - Number(b[i])));
        }
        checkReplicated(name, worst);
      }
      continue;
    }
    const full = t0.shape.map((d, i) => (i === part.dim ? d * tp : d));
    const data = alloc(t0, t0.data.length * tp);
    parts.forEach((p, r) => {
      const src = p.data as unknown as Arr;
      forEachRun(name, full, part, tp, r, (f, s, n) => data.set(src.subarray(s, s + n), f));
    });
    out[name] = make(t0, full, data);
  }
  return out;
}
