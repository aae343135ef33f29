/**
 * The four communication ops of tensor parallelism (Megatron core/tensor_parallel/mappings.py), as
 * ordinary autograd ops. The layers call these; the model never calls a collective.
 *
 *   copy-to-region      forward: identity           backward: all-reduce
 *   reduce-from-region  forward: all-reduce         backward: identity
 *   scatter-to-region   forward: keep my last-dim chunk   backward: all-gather along the last dim
 *   gather-from-region  forward: all-gather (last dim)    backward: keep my chunk
 *
 * A forward that communicates is async (await it); a backward that communicates is an async node run
 * by backwardAsync. With one rank every op is the identity.
 */
import {
  type Tensor,
  cast,
  clone,
  keep,
  needsGrad,
  noGrad,
  permute,
  record,
  reshape,
  slice,
  zeros,
} from "@vit/tensor";
import { recordAsync } from "../autograd-async.js";
import type { ProcessGroup } from "../process-group.js";
import { divide } from "./utils.js";

/** Identity forward; all-reduces the gradient in backward (the input of a column-parallel layer). */
export function copyToTensorParallelRegion(x: Tensor, group: ProcessGroup): Tensor {
  if (group.worldSize === 1) return x;
  const y = x.view(x.shape);
  if (needsGrad(x)) {
    recordAsync(y, {
      name: "copy_to_tensor_parallel_region",
      inputs: [x],
      backwardAsync: async (g) => {
        const s = keep(clone(g));
        await group.allReduce([s], "sum");
        return [s];
      },
    });
  }
  return y;
}

/** All-reduces (sums) the partial results of a row-parallel layer; identity backward. */
export async function reduceFromTensorParallelRegion(x: Tensor, group: ProcessGroup): Promise<Tensor> {
  if (group.worldSize === 1) return x;
  const grad = needsGrad(x);
  // Created before the await, so the scope open now (the caller's) owns it like any op's output. Half
  // partial sums (autocast) are reduced in f32: the collectives move f32.
  const y = noGrad(() => (x.dtype === "f32" ? clone(x) : cast(x, "f32")));
  await group.allReduce([y], "sum");
  if (grad) record(y, { name: "reduce_from_tensor_parallel_region", inputs: [x], backward: (g) => [g] });
  return y;
}

/** Keeps this rank's chunk of the last dimension; all-gathers the gradient in backward. */
export function scatterToTensorParallelRegion(x: Tensor, group: ProcessGroup): Tensor {
  if (group.worldSize === 1) return x;
  const c = divide(x.shape[x.rank - 1]!, group.worldSize, "scatter_to_tensor_parallel_region");
  const grad = needsGrad(x);
  const y = noGrad(() => slice(x, -1, group.rank * c, c));
  if (grad) {
    recordAsync(y, {
      name: "scatter_to_tensor_parallel_region",
      inputs: [x],
      backwardAsync: async (g) => [await allGatherLastDim(g, group)],
    });
  }
  return y;
}

/** All-gathers the ranks' chunks along the last dimension; keeps this rank's chunk of the gradient. */
export async function gatherFromTensorParallelRegion(x: Tensor, group: ProcessGroup): Promise<Tensor> {
  if (group.worldSize === 1) return x;
  const grad = needsGrad(x);
  const c = x.shape[x.rank - 1]!;
  // The collectives move 4-byte elements: a half activation (autocast) is gathered in f32.
  const wide = x.dtype === "f32" ? x : noGrad(() => cast(x, "f32"));
  const y = await allGatherLastDim(wide, group);
  if (wide !== x) wide.dispose();
  if (grad) {
    record(y, {
      name: "gather_from_tensor_parallel_region",
      inputs: [x],
      backward: (g) => [slice(g, -1, group.rank * c, c)],
    });
  }
  return y;
}

/** [..., c] on each rank → [..., worldSize·c], chunks in rank order (no autograd). */
export async function allGatherLastDim(x: Tensor, group: ProcessGroup): Promise<Tensor> {
  const ws = group.worldSize;
  const lead = x.shape.slice(0, -1);
  const c = x.shape[x.rank - 1]!;
  const rows = lead.reduce((a, b) => a * b, 1);
  const flat = zeros(x.device, [ws, rows, c]);
  try {
    await group.allGather(flat, x);
    // Rank-major [ws, rows, c] → [rows, ws, c]: each row's chunks side by side.
    return noGrad(() => reshape(permute(flat, [1, 0, 2]), [...lead, ws * c]));
  } finally {
    flat.dispose();
  }
}
