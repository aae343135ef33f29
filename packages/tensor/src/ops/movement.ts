/**
 * Data movement: reshape, permute/transpose, slice, concat, index_select. Permute and slice are one
 * strided-copy kernel (output index → input offset through arbitrary strides); concat and the slice
 * backward are its mirror, a strided write into a region of a larger tensor.
 */
import { needsGrad, noGrad, record } from "../autograd.js";
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
import { cast } from "./cast.js";
import { coalesce, sliceGrad, stridedCopyInto, stridedWriteFrom } from "./strided-copy.js";

/**
 * A 16-bit strided move as a move of u32 words (pairs of elements), when every pair stays together: the
 * innermost run is contiguous and even, every other stride and the base are even. That covers the head
 * split/merge and the token slices of a ViT with even head and hidden widths, so half-precision activations
 * move without widening. null when the layout splits pairs.
 */
function wordLayout(
  shape: readonly number[],
  strides: readonly number[],
  base: number,
): { shape: number[]; strides: number[]; base: number } | null {
  const c = coalesce(shape, strides);
  const n = c.shape.length;
  if (
    c.strides[n - 1] !== 1 ||
    c.shape[n - 1]! % 2 ||
    base % 2 ||
    c.strides.some((st, i) => i < n - 1 && st % 2)
  ) {
    return null;
  }
  return {
    shape: c.shape.map((d, i) => (i === n - 1 ? d / 2 : d)),
    strides: c.strides.map((st, i) => (i === n - 1 ? 1 : st / 2)),
    base: base / 2,
  };
}

const is16 = (t: Tensor) => t.dtype === "bf16" || t.dtype === "f16";

/** out[i] = src[base + Σ coord_d(i)·strides_d], coords of i in `shape`. */
function stridedCopy(
  op: string,
  src: Tensor,
  shape: readonly number[],
  strides: readonly number[],
  base: number,
): Tensor {
  if (shape.length > MAX_RANK) throw new ShapeError(`${op}: rank ${shape.length} exceeds ${MAX_RANK}.`);
  const words = is16(src) && numelOf(shape) > 0 ? wordLayout(shape, strides, base) : null;
  if (is16(src) && numelOf(shape) > 0 && !words) {
    // Pairs split: move in f32 (exact both ways), then back to the 16-bit type; the temporaries go now.
    const wide = noGrad(() => cast(src, "f32"));
    const moved = stridedCopy(op, wide, shape, strides, base);
    const out = noGrad(() => cast(moved, src.dtype));
    wide.dispose();
    moved.dispose();
    return out;
  }
  const out = new Tensor(src.device, shape, src.dtype);
  if (out.numel === 0) return out;
  if (words) {
    stridedCopyInto(src.device, op, src.buffer, out.buffer, "u32", words.shape, words.strides, words.base);
    return out;
  }
  // Merged dims, constant sizes, vec4 runs: see ops/strided-copy.ts.
  stridedCopyInto(src.device, op, src.buffer, out.buffer, wgslType(src.dtype), shape, strides, base);
  return out;
}

/** dst[base + Σ coord_d(i)·strides_d] = src[i] (in place on dst). 16-bit only where pairs stay together. */
function stridedWrite(op: string, src: Tensor, dst: Tensor, strides: readonly number[], base: number): void {
  if (src.numel === 0) return;
  if (is16(src)) {
    const words = wordLayout(src.shape, strides, base);
    if (!words) throw new DTypeError(`${op}: this 16-bit layout splits element pairs; cast(t, 'f32') first.`);
    stridedWriteFrom(src.device, op, src.buffer, dst.buffer, "u32", words.shape, words.strides, words.base);
    return;
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
      backward: (g16) => {
        // Gradients flow in f32 (a 16-bit one is widened: exact).
        const g = is16(g16) ? cast(g16, "f32") : g16;
        if (g.dtype === "f32" || g.dtype === "i32" || g.dtype === "u32") {
          // One pass writing zeros outside the window, instead of a zero fill plus a scatter.
          const dx = new Tensor(x.device, x.shape, g.dtype);
          const outer = numelOf(x.shape.slice(0, ax));
          const inner = numelOf(x.shape.slice(ax + 1));
          sliceGrad(x.device, g.buffer, dx.buffer, wgslType(g.dtype), outer, dim, inner, start, size);
          if (g !== g16) g.dispose();
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
  const dtypes = new Set(xs.map((t) => t.dtype));
  const floats = xs.every((t) => t.dtype === "f32" || is16(t));
  // Mixed float dtypes concatenate in f32, as torch.cat promotes (a parameter beside autocast activations).
  if (dtypes.size > 1 && floats)
    return concat(
      xs.map((t) => (t.dtype === "f32" ? t : cast(t, "f32"))),
      axis,
    );
  if (is16(xs[0]!) && dtypes.size === 1) {
    // Every piece must move as whole u32 words, else concatenate in f32 and narrow back (exact).
    const ax0 = normAxis("concat", axis, xs[0]!.rank);
    const shape0 = xs[0]!.shape.map((d, i) => (i === ax0 ? xs.reduce((a, t) => a + t.shape[ax0]!, 0) : d));
    const st0 = stridesOf(shape0);
    let at0 = 0;
    const aligned = xs.every((t) => {
      const ok = t.numel === 0 || wordLayout(t.shape, st0, at0 * st0[ax0]!) !== null;
      at0 += t.shape[ax0]!;
      return ok;
    });
    if (!aligned)
      return cast(
        concat(
          xs.map((t) => cast(t, "f32")),
          axis,
        ),
        xs[0]!.dtype,
      );
  }
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

/** Element strides of head h, token s, channel d of one third (q, k or v) inside qkv [B, S, 3·H·hd]. */
function qkvStrides(S: number, H: number, hd: number): number[] {
  return [S * 3 * H * hd, hd, 3 * H * hd, 1];
}

/**
 * The heads of a fused q|k|v projection, qkv [B, S, 3·H·hd] (q, k, v side by side, each H heads of hd
 * channels, as timm's and Megatron's fused qkv Linear lay them out) → q, k, v [B, H, S, hd]: one strided
 * copy each, not recorded (ops/attention.ts's packedAttention owns their gradient).
 */
export function splitQKV(qkv: Tensor, heads: number, headDim: number): [Tensor, Tensor, Tensor] {
  const [B, S, W] = qkv.shape as [number, number, number];
  if (qkv.rank !== 3 || W !== 3 * heads * headDim) {
    throw new ShapeError(
      `splitQKV: ${fmtShape(qkv.shape)} is not [batch, seq, 3 × ${heads} heads × ${headDim}] (q, k, v side by side).`,
    );
  }
  const st = qkvStrides(S, heads, headDim);
  return noGrad(() =>
    [0, 1, 2].map((c) => stridedCopy("split_qkv", qkv, [B, heads, S, headDim], st, c * heads * headDim)),
  ) as [Tensor, Tensor, Tensor];
}

/** The inverse of splitQKV for gradients: dq, dk, dv [B, H, S, hd] → dqkv [B, S, 3·H·hd], three strided writes. */
export function mergeQKV(dq: Tensor, dk: Tensor, dv: Tensor): Tensor {
  const [B, H, S, hd] = dq.shape as [number, number, number, number];
  if (dq.rank !== 4 || [dk, dv].some((t) => t.shape.join() !== dq.shape.join())) {
    throw new ShapeError(
      `mergeQKV: q, k, v must share one [batch, heads, seq, head_dim] shape; got ${[dq, dk, dv].map((t) => fmtShape(t.shape)).join(", ")}.`,
    );
  }
  // One dtype for the three (mixed or pair-splitting 16-bit layouts move in f32, exact).
  const wide = new Set([dq.dtype, dk.dtype, dv.dtype]).size > 1 || (is16(dq) && hd % 2 !== 0);
  const parts = wide
    ? noGrad(() => [dq, dk, dv].map((t) => (t.dtype === "f32" ? t : cast(t, "f32"))))
    : [dq, dk, dv];
  const out = new Tensor(dq.device, [B, S, 3 * H * hd], parts[0]!.dtype);
  // The three thirds tile the output exactly, so no zero fill.
  parts.forEach((t, c) => stridedWrite("merge_qkv", t, out, qkvStrides(S, H, hd), c * H * hd));
  parts.forEach((t, i) => {
    if (t !== [dq, dk, dv][i]) t.dispose();
  });
  return out;
}
