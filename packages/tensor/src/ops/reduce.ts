/**
 * Reductions over any set of axes (sum, mean, max). The kernel gives each output element one invocation
 * that walks the reduced elements; shapes are uniforms. Reducing the contiguous last axis of many rows
 * (the common case: layernorm, softmax, losses) takes the same path with unit stride.
 */
import { needsGrad, record } from "../autograd.js";
import { requireFloat, sameDevice } from "../checks.js";
import { ShapeError, fmtShape } from "../errors.js";
import {
  REDUCE_COLS_FIELDS,
  REDUCE_ROWS_FIELDS,
  type ReduceKind,
  reduceColsKernel,
  reduceFields,
  reduceKernel,
  reduceRowsFinalKernel,
  reduceRowsKernel,
} from "../kernels/reduce.js";
import { grid1D } from "../kernels/wgsl.js";
import { normAxis, stridesOf } from "../shape.js";
import { Tensor } from "../tensor.js";
import { elementwise } from "./elementwise-kernel.js";

export type { ReduceKind } from "../kernels/reduce.js";

function normAxes(op: string, axes: number | number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = (Array.isArray(axes) ? axes : [axes]).map((a) => normAxis(op, a, rank));
  if (new Set(list).size !== list.length)
    throw new ShapeError(`${op}: repeated axis in ${JSON.stringify(axes)}.`);
  return list.sort((a, b) => a - b);
}

/** Raw reduction kernel (no autograd). Output keeps reduced axes as size 1. */
function runReduce(op: string, x: Tensor, axes: number[], kind: ReduceKind, scale: number): Tensor {
  const device = sameDevice(op, x);
  requireFloat(op, x);
  const rank = x.rank;
  if (x.dtype === "f32" || x.dtype === "f16") {
    // The two layouts every training step reduces: leading axes (bias and broadcast gradients: sum
    // over rows of a [rows, cols] view) and trailing axes (per-row sums). Both get kernels without the
    // per-element index arithmetic of the general one below, whose integer divisions are scalarised
    // on CPU adapters (measured 3-10× slower there).
    const lead = axes.length > 0 && axes.every((a, i) => a === i);
    const trail = axes.length > 0 && axes.every((a, i) => a === rank - axes.length + i);
    const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const reduced = axes.reduce((a, i) => a * x.shape[i]!, 1);
    if (lead && reduced > 0) return reduceRows(op, x, outShape, reduced, x.numel / reduced, kind, scale);
    if (trail && reduced > 0) return reduceCols(op, x, outShape, x.numel / reduced, reduced, kind, scale);
  }
  const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Tensor(device, outShape, x.dtype);
  const strides = stridesOf(x.shape);
  const kept = [...Array(rank).keys()].filter((i) => !axes.includes(i));
  const values: number[] = [out.numel, axes.reduce((a, i) => a * x.shape[i]!, 1), scale];
  for (const d of kept) values.push(x.shape[d]!, strides[d]!);
  for (const d of axes) values.push(x.shape[d]!, strides[d]!);
  device.run({
    name: op,
    kernel: reduceKernel,
    variant: { kind, dtype: x.dtype, kept: kept.length, axes: axes.length },
    buffers: [x.buffer, out.buffer],
    uniforms: { fields: reduceFields(kept.length, axes.length), values },
    workgroups: grid1D(out.numel),
  });
  return out;
}

const ROW_CHUNK = 64;

/**
 * out[c] = scale · reduce_r x[r, c] for x viewed as [rows, cols]. Each invocation reduces a chunk of
 * ROW_CHUNK rows of one column group (vec4 when cols % 4 == 0); a second pass combines the chunks, so
 * even a 128-column bias gradient over 1000+ rows spreads over many invocations.
 */
function reduceRows(
  op: string,
  x: Tensor,
  outShape: number[],
  rows: number,
  cols: number,
  kind: ReduceKind,
  scale: number,
): Tensor {
  const device = x.device;
  const out = new Tensor(device, outShape, x.dtype);
  // Chunks of ≥ ROW_CHUNK rows, and at most ~4096 of them so the combining pass stays short (a full
  // reduction of a large tensor is one column of many rows).
  const chunkRows = Math.max(ROW_CHUNK, Math.ceil(rows / 4096));
  const chunks = Math.ceil(rows / chunkRows);
  const vec = cols % 4 === 0;
  const w = vec ? 4 : 1;
  const groups = cols / w;
  const values = [rows, groups, chunks, chunkRows, scale];
  const partial = chunks > 1 ? new Tensor(device, [chunks, cols], "f32") : null;
  device.run({
    name: op,
    kernel: reduceRowsKernel,
    variant: { kind, dtype: x.dtype, vec, partial: !!partial },
    buffers: [x.buffer, (partial ?? out).buffer],
    uniforms: { fields: REDUCE_ROWS_FIELDS, values },
    workgroups: grid1D(groups * chunks, 64),
  });
  if (partial) {
    device.run({
      name: op,
      kernel: reduceRowsFinalKernel,
      variant: { kind, dtype: x.dtype, vec },
      buffers: [partial.buffer, out.buffer],
      uniforms: { fields: REDUCE_ROWS_FIELDS, values },
      workgroups: grid1D(groups, 64),
    });
    partial.dispose();
  }
  return out;
}

/** out[r] = scale · reduce_c x[r, c] for x viewed as [rows, cols]: one invocation per row, vec4 loads. */
function reduceCols(
  op: string,
  x: Tensor,
  outShape: number[],
  rows: number,
  cols: number,
  kind: ReduceKind,
  scale: number,
): Tensor {
  const device = x.device;
  const out = new Tensor(device, outShape, x.dtype);
  const vec = cols % 4 === 0;
  device.run({
    name: op,
    kernel: reduceColsKernel,
    variant: { kind, dtype: x.dtype, vec },
    buffers: [x.buffer, out.buffer],
    uniforms: { fields: REDUCE_COLS_FIELDS, values: [rows, cols, scale] },
    workgroups: grid1D(rows, 64),
  });
  return out;
}

function finish(t: Tensor, x: Tensor, axes: number[], keepdim: boolean): Tensor {
  if (keepdim) return t;
  const shape = x.shape.filter((_, i) => !axes.includes(i));
  const v = t.view(shape);
  t.dispose();
  return v;
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | number[], keepdim = false): Tensor {
  const ax = normAxes("sum", axes, x.rank);
  const r = finish(runReduce("sum", x, ax, "sum", 1), x, ax, keepdim);
  if (needsGrad(x))
    record(r, { name: "sum", inputs: [x], backward: (g) => [broadcastTo(g, x.shape, ax, 1)] });
  return r;
}

/** Mean over `axes` (all when omitted). */
export function mean(x: Tensor, axes?: number | number[], keepdim = false): Tensor {
  const ax = normAxes("mean", axes, x.rank);
  const m = ax.reduce((a, i) => a * x.shape[i]!, 1);
  const r = finish(runReduce("mean", x, ax, "sum", 1 / m), x, ax, keepdim);
  if (needsGrad(x))
    record(r, { name: "mean", inputs: [x], backward: (g) => [broadcastTo(g, x.shape, ax, 1 / m)] });
  return r;
}

/** Max over `axes`. The gradient flows to every element equal to the max. */
export function max(x: Tensor, axes?: number | number[], keepdim = false): Tensor {
  const ax = normAxes("max", axes, x.rank);
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const r = finish(runReduce("max", x, ax, "max", 1), x, ax, keepdim);
  if (needsGrad(x)) {
    record(r, {
      name: "max",
      inputs: [x],
      backward: (g) => {
        const m = r.view(keptShape);
        const gk = g.view(keptShape);
        const dx = elementwise("max_backward", [x, m, gk], "select(0.0, c, a == b)");
        gk.dispose();
        m.dispose();
        return [dx];
      },
    });
  }
  return r;
}

/** Broadcasts a reduced gradient (axes of size 1 or removed) back to `shape`, times `scale`. */
function broadcastTo(g: Tensor, shape: readonly number[], axes: number[], scale: number): Tensor {
  const gk = g.view(shape.map((d, i) => (axes.includes(i) ? 1 : d)));
  const out = elementwise("expand", [gk], "a * s", scale, g.dtype, shape);
  gk.dispose();
  return out;
}

/** Sums `g` down to `shape` (undoing broadcasting): leading extra dims and dims where shape has 1. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  const lead = g.rank - shape.length;
  if (lead < 0)
    throw new ShapeError(`sumTo: cannot reduce ${fmtShape(g.shape)} to the larger ${fmtShape(shape)}.`);
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  if (!axes.length) {
    const c = elementwise("clone", [g], "a");
    if (c.rank === shape.length) return c;
    const v = c.view(shape);
    c.dispose();
    return v;
  }
  const r = runReduce("sum_to", g, axes, "sum", 1);
  const v = r.view(shape);
  r.dispose();
  return v;
}
