import { requireFloat, sameDevice } from "../checks.js";
/**
 * Dispatching the element-wise kernel (kernels/elementwise.ts). Kept apart from the differentiable ops
 * (elementwise.ts) so that reduce.ts can run it while elementwise.ts uses reduce.ts's sumTo for
 * broadcast gradients, without an import cycle between the two.
 */
import { ShapeError, fmtShape } from "../errors.js";
import {
  EW4_HEAD,
  EW_HEAD,
  VEC_PER_INVOCATION,
  VEC_WG,
  elementwise4Kernel,
  elementwiseFields,
  elementwiseKernel,
} from "../kernels/elementwise.js";
import { grid1D } from "../kernels/wgsl.js";
import { MAX_RANK, broadcastShapes, broadcastStrides, sameShape } from "../shape.js";
import type { Tensor } from "../tensor.js";

/** Runs `expr` over up to two broadcast inputs. `expr` sees f32 values a, b and the scalar s. */
export function elementwise(
  op: string,
  inputs: Tensor[],
  expr: string,
  scalar = 0,
  outDtype = inputs[0]!.dtype,
  /** Output shape when it is larger than the broadcast of the inputs (expand). */
  shape?: readonly number[],
): Tensor {
  const device = sameDevice(op, ...inputs);
  for (const t of inputs) requireFloat(op, t, ["f32", "f16", "bf16"]);
  let outShape: number[] = [...inputs[0]!.shape];
  for (const t of inputs.slice(1)) outShape = broadcastShapes(op, outShape, t.shape);
  if (shape) outShape = broadcastShapes(op, outShape, shape);
  if (outShape.length > MAX_RANK) {
    throw new ShapeError(
      `${op}: rank ${outShape.length} exceeds the supported ${MAX_RANK}; reshape to fewer dims.`,
    );
  }
  const out = inputs[0]!.newEmpty(outShape, outDtype);
  const plain = inputs.every((t) => sameShape(t.shape, outShape));
  if (vectorizable(inputs, outShape, outDtype)) {
    runVec4(op, inputs, expr, scalar, out, plain);
    return out;
  }
  const rank = outShape.length;
  const values: number[] = [out.numel, scalar];
  if (!plain) {
    values.push(...outShape);
    for (const t of inputs) values.push(...broadcastStrides(t.shape, outShape));
  }
  const variant = {
    expr,
    inputs: inputs.map((t) => t.dtype),
    out: outDtype,
    rank: plain ? null : rank,
  };
  device.run({
    name: op,
    kernel: elementwiseKernel,
    variant,
    buffers: [...inputs.map((t) => t.buffer), out.buffer],
    uniforms: { fields: elementwiseFields(EW_HEAD, variant.rank, inputs.length), values },
    // bf16 is packed two per u32 word: an invocation then writes one whole word (two elements).
    workgroups: grid1D(outDtype === "bf16" ? Math.ceil(out.numel / 2) : out.numel),
  });
  return out;
}

/**
 * The vec4 path: four elements per load/store and four vec4 per invocation. On lavapipe a divergent
 * storage load is a per-lane loop whatever its width, and every 8-invocation chunk pays a fixed
 * prologue (~8 integer divisions for its invocation ids), so fatter invocations were measured 3.3×
 * faster on an add (1.7 vs 0.5 G elements/s); on GPUs vec4 accesses are the usual win too. Taken when
 * the last dimension of the output is a multiple of 4 and every input either spans it or is broadcast
 * along it (a per-row scalar); types f32/f16.
 */
function vectorizable(inputs: Tensor[], outShape: readonly number[], outDtype: string): boolean {
  const last = outShape[outShape.length - 1] ?? 0;
  if (outShape.length === 0 || last % 4 !== 0 || last === 0) return false;
  if (![outDtype, ...inputs.map((t) => t.dtype)].every((d) => d === "f32" || d === "f16")) return false;
  return inputs.every((t) => {
    const tl = t.rank === 0 ? 1 : t.shape[t.rank - 1]!;
    return tl === last || tl === 1;
  });
}

function runVec4(
  op: string,
  inputs: Tensor[],
  expr: string,
  scalar: number,
  out: Tensor,
  plain: boolean,
): void {
  const device = out.device;
  const outShape = out.shape;
  const rank = outShape.length;
  const n4 = out.numel / 4;
  const invocations = Math.max(1, Math.ceil(n4 / VEC_PER_INVOCATION));
  // Which inputs span the last dimension (vec4 loads) and which are broadcast along it (scalar + splat).
  const spans = inputs.map((t) => t.rank > 0 && t.shape[t.rank - 1] === outShape[rank - 1]);
  const values: number[] = [n4, scalar, invocations];
  if (!plain) {
    // Coordinates in vec4 units: the last dimension counts groups of 4.
    for (let d = 0; d < rank; d++) values.push(d === rank - 1 ? outShape[d]! / 4 : outShape[d]!);
    inputs.forEach((t, k) => {
      const st = broadcastStrides(t.shape, outShape);
      for (let d = 0; d < rank; d++) {
        // Spanning inputs are indexed in vec4s (their strides are multiples of 4 but the last one).
        values.push(spans[k] ? (d === rank - 1 ? 1 : st[d]! / 4) : d === rank - 1 ? 0 : st[d]!);
      }
    });
  }
  const variant = {
    expr,
    inputs: inputs.map((t, k) => ({ dtype: t.dtype, spans: spans[k]! })),
    out: out.dtype,
    rank: plain ? null : rank,
  };
  device.run({
    name: op,
    kernel: elementwise4Kernel,
    variant,
    buffers: [...inputs.map((t) => t.buffer), out.buffer],
    uniforms: { fields: elementwiseFields(EW4_HEAD, variant.rank, inputs.length), values },
    workgroups: grid1D(invocations, VEC_WG),
  });
}
