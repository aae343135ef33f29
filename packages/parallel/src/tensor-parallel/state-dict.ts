/**
 * Converting between a single-device ViT state dict and tensor-parallel shards (Megatron's checkpoint
 * conversion for a change of tensor-parallel size). Works on host tensors (safetensors' HostTensor), on
 * parameters and equally on gradients keyed by parameter name.
 *
 * Which way each parameter splits:
 *   blocks.i.attn.qkv.{weight,bias}   column, head-aware: rank r gets rows of heads [r·H/p, (r+1)·H/p) from
 *                                     each of the q, k and v blocks, stacked q|k|v (timm's layout)
 *   blocks.i.mlp.fc1.{weight,bias}    column: rows [r·F/p, (r+1)·F/p)
 *   blocks.i.attn.proj.weight,
 *   blocks.i.mlp.fc2.weight           row: columns [r·in/p, (r+1)·in/p)
 *   everything else                   replicated (embeddings, norms, row-parallel biases, head)
 */
import { WeightMappingError } from "@vit/model";
import type { HostTensor } from "@vit/nn";
import { divide } from "./utils.js";

export type TensorParallelSplit = "qkv" | "column" | "row" | "replicated";

export interface HeadLayout {
  hidden_size: number;
  num_attention_heads: number;
}

export function tensorParallelSplitOf(name: string): TensorParallelSplit {
  if (/(^|\.)attn\.qkv\.(weight|bias)$/.test(name)) return "qkv";
  if (/(^|\.)mlp\.fc1\.(weight|bias)$/.test(name)) return "column";
  if (/(^|\.)(attn\.proj|mlp\.fc2)\.weight$/.test(name)) return "row";
  return "replicated";
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

/** Row ranges [start, start+count) of a tensor viewed as [rows, rowLen], concatenated. */
function takeRows(t: HostTensor, ranges: Array<[number, number]>): HostTensor {
  const rowLen = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const rows = ranges.reduce((a, [, n]) => a + n, 0);
  const out = alloc(t, rows * rowLen);
  const src = t.data as unknown as Arr;
  let at = 0;
  for (const [s, n] of ranges) {
    out.set(src.subarray(s * rowLen, (s + n) * rowLen), at);
    at += n * rowLen;
  }
  return make(t, [rows, ...t.shape.slice(1)], out);
}

/** Columns [start, start+count) of a 2-D tensor. */
function takeCols(t: HostTensor, start: number, count: number): HostTensor {
  const [R, C] = t.shape as [number, number];
  const out = alloc(t, R * count);
  const src = t.data as unknown as Arr;
  for (let r = 0; r < R; r++) out.set(src.subarray(r * C + start, r * C + start + count), r * count);
  return make(t, [R, count], out);
}

/** Row ranges of the qkv weight/bias held by `rank`: its heads' rows of the q, k and v blocks. */
function qkvRanges(rows: number, tp: number, rank: number): Array<[number, number]> {
  const D = divide(rows, 3, "qkv rows");
  const per = divide(D, tp, "qkv rows per block");
  return [0, 1, 2].map((s) => [s * D + rank * per, per] as [number, number]);
}

function checkHeads(cfg: HeadLayout, tp: number): void {
  // Whole heads per rank; the head width (kv_channels) need not divide hidden_size.
  divide(cfg.num_attention_heads, tp, "attention heads");
}

/** One state dict per tensor-parallel rank, from the single-device one. */
export function splitTensorParallelStateDict(
  sd: Record<string, HostTensor>,
  cfg: HeadLayout,
  tp: number,
): Array<Record<string, HostTensor>> {
  checkHeads(cfg, tp);
  const shards: Array<Record<string, HostTensor>> = Array.from({ length: tp }, () => ({}));
  for (const [name, t] of Object.entries(sd)) {
    const kind = tensorParallelSplitOf(name);
    for (let r = 0; r < tp; r++) {
      let part: HostTensor;
      if (kind === "qkv") part = takeRows(t, qkvRanges(t.shape[0]!, tp, r));
      else if (kind === "column") {
        const per = divide(t.shape[0]!, tp, name);
        part = takeRows(t, [[r * per, per]]);
      } else if (kind === "row") {
        if (t.shape.length !== 2)
          throw new WeightMappingError(`splitTensorParallelStateDict: ${name} should be 2-D, is [${t.shape}]`, {
            hint: "split a state dict of this model's architecture (check the checkpoint's model config)",
          });
        const per = divide(t.shape[1]!, tp, name);
        part = takeCols(t, r * per, per);
      } else part = t;
      shards[r]![name] = part;
    }
  }
  return shards;
}

/**
 * The single-device state dict from the shards. Replicated entries come from rank 0; pass
 * `checkReplicated` to get the largest difference between ranks' copies of each (they should agree).
 */
export function mergeTensorParallelStateDicts(
  shards: Array<Record<string, HostTensor>>,
  cfg: HeadLayout,
  checkReplicated?: (name: string, maxAbsDiff: number) => void,
): Record<string, HostTensor> {
  const tp = shards.length;
  checkHeads(cfg, tp);
  const out: Record<string, HostTensor> = {};
  for (const [name, t0] of Object.entries(shards[0]!)) {
    const parts = shards.map((s, r) => {
      const p = s[name];
      if (!p) {
        throw new WeightMappingError(`mergeTensorParallelStateDicts: rank ${r}'s shard lacks "${name}"`, {
          hint: "merge the shards of one model, one per tensor-parallel rank, in rank order",
        });
      }
      return p;
    });
    const kind = tensorParallelSplitOf(name);
    const rowLen = t0.shape.slice(1).reduce((a, b) => a * b, 1);
    if (kind === "replicated") {
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
    } else if (kind === "column") {
      const rows = t0.shape[0]! * tp;
      const data = alloc(t0, rows * rowLen);
      parts.forEach((p, r) => data.set(p.data as unknown as Arr, r * t0.shape[0]! * rowLen));
      out[name] = make(t0, [rows, ...t0.shape.slice(1)], data);
    } else if (kind === "qkv") {
      const per = divide(t0.shape[0]!, 3, name);
      const D = per * tp;
      const data = alloc(t0, 3 * D * rowLen);
      parts.forEach((p, r) => {
        const src = p.data as unknown as Arr;
        for (let s = 0; s < 3; s++)
          data.set(src.subarray(s * per * rowLen, (s + 1) * per * rowLen), (s * D + r * per) * rowLen);
      });
      out[name] = make(t0, [3 * D, ...t0.shape.slice(1)], data);
    } else {
      const [R, c] = t0.shape as [number, number];
      const C = c * tp;
      const data = alloc(t0, R * C);
      parts.forEach((p, r) => {
        const src = p.data as unknown as Arr;
        for (let i = 0; i < R; i++) data.set(src.subarray(i * c, (i + 1) * c), i * C + r * c);
      });
      out[name] = make(t0, [R, C], data);
    }
  }
  return out;
}
