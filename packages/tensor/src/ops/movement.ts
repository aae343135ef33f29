/**
 * Data movement: reshape, permute/transpose, slice, concat, index_select. Permute and slice are one
 * strided-copy kernel (output index → input offset through arbitrary strides); concat and the slice
 * backward are its mirror, a strided write into a region of a larger tensor.
 */
import { needsGrad, record } from "../autograd.js";
import { sameDevice } from "../checks.js";
import { DTypeError, ShapeError, fmtShape } from "../errors.js";
import { zeros } from "../io.js";
import {
  INDEX_SELECT_FIELDS,
  indexSelectBackwardKernel,
  indexSelectKernel,
} from "../kernels/index-select.js";
import { grid1D, wgslType } from "../kernels/wgsl.js";
import { MAX_RANK, normAxis, numelOf, stridesOf } from "../shape.js";
import { Tensor } from "../tensor.js";
import { sliceGrad, stridedCopyInto, stridedWriteFrom } from "./strided-copy.js";

/** out[i] = src[base + Σ coord_d(i)·strides_d], coords of i in `shape`. */
function stridedCopy(
  op: string,
  src: Tensor,
  shape: readonly number[],
  strides: readonly number[],
  base: number,
): Tensor {
  if (shape.length > MAX_RANK) throw new ShapeError(`${op}: rank ${shape.length} exceeds ${MAX_RANK}.`);
  const out = new Tensor(src.device, shape, src.dtype);
  if (out.numel === 0) return out;
  if (src.dtype === "bf16" || src.dtype === "f16") {
    throw new DTypeError(`${op}: 16-bit tensors (${src.describe()}) are moved in f32: cast(t, 'f32') first.`);
  }
  // Merged dims, constant sizes, vec4 runs: see ops/strided-copy.ts.
  stridedCopyInto(src.device, op, src.buffer, out.buffer, wgslType(src.dtype), shape, strides, base);
  return out;
}

/** dst[base + Σ coord_d(i)·strides_d] = src[i] (in place on dst). */
function stridedWrite(op: string, src: Tensor, dst: Tensor, strides: readonly number[], base: number): void {
  if (src.numel === 0) return;
  if (src.dtype === "bf16" || src.dtype === "f16") {
    throw new DTypeError(`${op}: 16-bit tensors are moved in f32: cast(t, 'f32') first.`);
  }
  stridedWriteFrom(src.device, op, src.buffer, dst.buffer, wgslType(src.dtype), src.shape, strides, base);
}

/** Same data, new shape (no copy). One dimension may be -1. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = [...shape];
  const neg = s.indexOf(-1);
  if (neg >= 0) s[neg] = x.numel / Math.max(1, numelOf(s.filter((_, i) => i !== neg)));
  if (numelOf(s) !== x.numel || s.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(
      `reshape: cannot view ${fmtShape(x.shape)} (${x.numel} elements) as ${fmtShape(shape)}.`,
    );
  }
  const y = x.view(s);
  if (needsGrad(x)) record(y, { name: "reshape", inputs: [x], backward: (g) => [g.view(x.shape)] });
  return y;
}

/** Reorders dimensions: out.shape[i] = x.shape[perm[i]]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  sameDevice("permute", x);
  const p = perm.map((a) => normAxis("permute", a, x.rank));
  if (p.length !== x.rank || new Set(p).size !== p.length) {
    throw new ShapeError(
      `permute: ${JSON.stringify(perm)} is not a permutation of the ${x.rank} axes of ${fmtShape(x.shape)}.`,
    );
  }
  const st = stridesOf(x.shape);
  const y = stridedCopy(
    "permute",
    x,
    p.map((a) => x.shape[a]!),
    p.map((a) => st[a]!),
    0,
  );
  if (needsGrad(x)) {
    const inv = new Array<number>(p.length);
    p.forEach((a, i) => {
      inv[a] = i;
    });
    record(y, { name: "permute", inputs: [x], backward: (g) => [permute(g, inv)] });
  }
  return y;
}

/** Swaps two axes (default: the last two). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const perm = [...Array(x.rank).keys()];
  const i = normAxis("transpose", a, x.rank);
  const j = normAxis("transpose", b, x.rank);
  [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  return permute(x, perm);
}

/** x[..., start:start+size, ...] along `axis`. */
export function slice(x: Tensor, axis: number, start: number, size: number): Tensor {
  sameDevice("slice", x);
  const ax = normAxis("slice", axis, x.rank);
  const dim = x.shape[ax]!;
  if (!Number.isInteger(start) || !Number.isInteger(size) || start < 0 || size < 0 || start + size > dim) {
    throw new ShapeError(
      `slice: [${start}, ${start + size}) is outside axis ${ax} of ${fmtShape(x.shape)} (size ${dim}).`,
    );
  }
  const st = stridesOf(x.shape);
  const shape = x.shape.map((d, i) => (i === ax ? size : d));
  const y = stridedCopy("slice", x, shape, st, start * st[ax]!);
  if (needsGrad(x)) {
    record(y, {
      name: "slice",
      inputs: [x],
      backward: (g) => {
        if (g.dtype === "f32" || g.dtype === "i32" || g.dtype === "u32") {
          // One pass writing zeros outside the window, instead of a zero fill plus a scatter.
          const dx = new Tensor(x.device, x.shape, g.dtype);
          const outer = numelOf(x.shape.slice(0, ax));
          const inner = numelOf(x.shape.slice(ax + 1));
          sliceGrad(x.device, g.buffer, dx.buffer, wgslType(g.dtype), outer, dim, inner, start, size);
          return [dx];
        }
        const dx = zeros(x.device, x.shape, { dtype: g.dtype });
        stridedWrite("slice_backward", g, dx, st, start * st[ax]!);
        return [dx];
      },
    });
  }
  return y;
}

/** Joins tensors along `axis`; every other dimension must match. */
export function concat(xs: Tensor[], axis: number): Tensor {
  if (!xs.length) throw new ShapeError("concat: needs at least one tensor.");
  const device = sameDevice("concat", ...xs);
  const first = xs[0]!;
  const ax = normAxis("concat", axis, first.rank);
  for (const t of xs) {
    if (
      t.rank !== first.rank ||
      t.dtype !== first.dtype ||
      t.shape.some((d, i) => i !== ax && d !== first.shape[i])
    ) {
      throw new ShapeError(
        `concat: ${xs.map((u) => `${fmtShape(u.shape)} ${u.dtype}`).join(", ")} differ outside axis ${ax} (or in dtype).`,
      );
    }
  }
  const shape = first.shape.map((d, i) => (i === ax ? xs.reduce((a, t) => a + t.shape[ax]!, 0) : d));
  const out = new Tensor(device, shape, first.dtype);
  const st = stridesOf(shape);
  let at = 0;
  const starts: number[] = [];
  for (const t of xs) {
    starts.push(at);
    stridedWrite("concat", t, out, st, at * st[ax]!);
    at += t.shape[ax]!;
  }
  if (needsGrad(...xs)) {
    record(out, {
      name: "concat",
      inputs: xs,
      backward: (g) => xs.map((t, i) => (t.requiresGrad ? slice(g, ax, starts[i]!, t.shape[ax]!) : null)),
    });
  }
  return out;
}

/** Picks entries of `x` along `axis` by the i32 `index` (torch.index_select). */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  const device = sameDevice("index_select", x, index);
  if (index.dtype !== "i32" || index.rank !== 1) {
    throw new DTypeError(`index_select: index ${index.describe()} must be a 1-D i32 tensor.`);
  }
  if (x.dtype !== "f32" && x.dtype !== "i32") {
    throw new DTypeError(`index_select: ${x.describe()} must be f32 or i32.`);
  }
  const ax = normAxis("index_select", axis, x.rank);
  const shape = x.shape.map((d, i) => (i === ax ? index.numel : d));
  const out = new Tensor(device, shape, x.dtype);
  const inner = numelOf(x.shape.slice(ax + 1));
  device.run({
    name: "index_select",
    kernel: indexSelectKernel,
    variant: { type: wgslType(x.dtype) },
    buffers: [x.buffer, index.buffer, out.buffer],
    uniforms: { fields: INDEX_SELECT_FIELDS, values: [out.numel, inner, index.numel, x.shape[ax]!] },
    workgroups: grid1D(out.numel),
  });
  if (needsGrad(x)) {
    record(out, {
      name: "index_select",
      inputs: [x],
      backward: (g) => {
        const dx = new Tensor(device, x.shape, g.dtype);
        device.run({
          name: "index_select_backward",
          kernel: indexSelectBackwardKernel,
          variant: {},
          buffers: [g.buffer, index.buffer, dx.buffer],
          uniforms: { fields: INDEX_SELECT_FIELDS, values: [x.numel, inner, index.numel, x.shape[ax]!] },
          workgroups: grid1D(x.numel),
        });
        return [dx];
      },
    });
  }
  return out;
}
