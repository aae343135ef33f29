/**
 * Reductions over any set of axes (sum, mean, max). The kernel gives each output element one invocation
 * that walks the reduced elements; shapes are uniforms. Reducing the contiguous last axis of many rows
 * (the common case: layernorm, softmax, losses) takes the same path with unit stride.
 */
import { needsGrad, record } from "../autograd.js";
import { ShapeError, fmtShape } from "../errors.js";
import { requireFloat, sameDevice } from "../io.js";
import { declareBindings, grid1D, main1D, type UniformType, wgslType } from "../kernels/wgsl.js";
import { normAxis, stridesOf } from "../shape.js";
import { Tensor } from "../tensor.js";
import { elementwise } from "./elementwise.js";

export type ReduceKind = "sum" | "max";

function normAxes(op: string, axes: number | number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = (Array.isArray(axes) ? axes : [axes]).map((a) => normAxis(op, a, rank));
  if (new Set(list).size !== list.length) throw new ShapeError(`${op}: repeated axis in ${JSON.stringify(axes)}.`);
  return list.sort((a, b) => a - b);
}

/** Raw reduction kernel (no autograd). Output keeps reduced axes as size 1. */
function reduceKernel(op: string, x: Tensor, axes: number[], kind: ReduceKind, scale: number): Tensor {
  const device = sameDevice(op, x);
  requireFloat(op, x);
  const rank = x.rank;
  const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Tensor(device, outShape, x.dtype);
  const strides = stridesOf(x.shape);
  const kept = [...Array(rank).keys()].filter((i) => !axes.includes(i));
  const fields: Array<[string, UniformType]> = [["n", "u32"], ["m", "u32"], ["scale", "f32"]];
  const values: number[] = [out.numel, axes.reduce((a, i) => a * x.shape[i]!, 1), scale];
  kept.forEach((d, k) => {
    fields.push([`ko${k}`, "u32"], [`ks${k}`, "u32"]);
    values.push(x.shape[d]!, strides[d]!);
  });
  axes.forEach((d, k) => {
    fields.push([`ro${k}`, "u32"], [`rs${k}`, "u32"]);
    values.push(x.shape[d]!, strides[d]!);
  });
  const ty = wgslType(x.dtype);
  device.run({
    name: op,
    key: `reduce|${kind}|${x.dtype}|${kept.length}|${axes.length}`,
    code: () => {
      let base = "var base = 0u; var rem = idx;\n";
      for (let k = kept.length - 1; k >= 0; k--) base += `  { let c = rem % P.ko${k}; rem = rem / P.ko${k}; base += c * P.ks${k}; }\n`;
      let inner = "var off = base; var r = j;\n";
      for (let k = axes.length - 1; k >= 0; k--) inner += `    { let c = r % P.ro${k}; r = r / P.ro${k}; off += c * P.rs${k}; }\n`;
      const init = kind === "sum" ? "0.0" : "-3.402823e38";
      const acc = kind === "sum" ? "acc = acc + v;" : "acc = max(acc, v);";
      return `${x.dtype === "f16" ? "enable f16;" : ""}
${declareBindings([{ name: "x", type: ty, access: "read" }, { name: "out", type: ty, access: "read_write" }], fields)}
${main1D()}
  if (idx >= P.n) { return; }
  ${base}
  var acc: f32 = ${init};
  for (var j = 0u; j < P.m; j++) {
    ${inner}
    let v = f32(x[off]);
    ${acc}
  }
  out[idx] = ${ty}(acc * P.scale);
}`;
    },
    buffers: [x.buffer, out.buffer],
    uniforms: { fields, values },
    workgroups: grid1D(out.numel),
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
  const r = finish(reduceKernel("sum", x, ax, "sum", 1), x, ax, keepdim);
  if (needsGrad(x)) record(r, { name: "sum", inputs: [x], backward: (g) => [broadcastTo(g, x.shape, ax, 1)] });
  return r;
}

/** Mean over `axes` (all when omitted). */
export function mean(x: Tensor, axes?: number | number[], keepdim = false): Tensor {
  const ax = normAxes("mean", axes, x.rank);
  const m = ax.reduce((a, i) => a * x.shape[i]!, 1);
  const r = finish(reduceKernel("mean", x, ax, "sum", 1 / m), x, ax, keepdim);
  if (needsGrad(x)) record(r, { name: "mean", inputs: [x], backward: (g) => [broadcastTo(g, x.shape, ax, 1 / m)] });
  return r;
}

/** Max over `axes`. The gradient flows to every element equal to the max. */
export function max(x: Tensor, axes?: number | number[], keepdim = false): Tensor {
  const ax = normAxes("max", axes, x.rank);
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const r = finish(reduceKernel("max", x, ax, "max", 1), x, ax, keepdim);
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
  if (lead < 0) throw new ShapeError(`sumTo: cannot reduce ${fmtShape(g.shape)} to the larger ${fmtShape(shape)}.`);
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
  const r = reduceKernel("sum_to", g, axes, "sum", 1);
  const v = r.view(shape);
  r.dispose();
  return v;
}
