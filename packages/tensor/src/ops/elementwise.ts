/**
 * Element-wise ops: unary math, binary ops with NumPy broadcasting, and scalar ops. One kernel template
 * serves them all: the op contributes a WGSL expression; shapes and broadcast strides are uniforms, so a
 * new shape never compiles a new pipeline. Backward passes that need f'(x) use fused "grad" binary ops
 * (one dispatch for g·f'(x)).
 */
import { needsGrad, record } from "../autograd.js";
import { ShapeError, fmtShape } from "../errors.js";
import { requireFloat, sameDevice } from "../io.js";
import { type UniformType, declareBindings, grid1D, main1D, wgslType } from "../kernels/wgsl.js";
import { MAX_RANK, broadcastShapes, broadcastStrides, sameShape } from "../shape.js";
import { Tensor } from "../tensor.js";
import { sumTo } from "./reduce.js";

export const MATH_WGSL = `
fn erf_(x: f32) -> f32 {
  // Abramowitz & Stegun 7.1.26, |error| < 1.5e-7.
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return select(-y, y, x >= 0.0);
}
fn tanh_(x: f32) -> f32 { return tanh(clamp(x, -15.0, 15.0)); }
fn gelu_erf(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_(x * 0.7071067811865476)); }
fn gelu_erf_grad(x: f32) -> f32 {
  return 0.5 * (1.0 + erf_(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x);
}
fn gelu_tanh(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh_(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
fn gelu_tanh_grad(x: f32) -> f32 {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  let th = tanh_(u);
  return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * 0.7978845608028654 * (1.0 + 0.134145 * x * x);
}
fn sigmoid_(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
`;

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
  for (const t of inputs) requireFloat(op, t);
  let outShape: number[] = [...inputs[0]!.shape];
  for (const t of inputs.slice(1)) outShape = broadcastShapes(op, outShape, t.shape);
  if (shape) outShape = broadcastShapes(op, outShape, shape);
  if (outShape.length > MAX_RANK) {
    throw new ShapeError(
      `${op}: rank ${outShape.length} exceeds the supported ${MAX_RANK}; reshape to fewer dims.`,
    );
  }
  const out = new Tensor(device, outShape, outDtype);
  const plain = inputs.every((t) => sameShape(t.shape, outShape));
  if (vectorizable(inputs, outShape, outDtype)) {
    runVec4(op, inputs, expr, scalar, out, plain);
    return out;
  }
  const rank = outShape.length;
  const fields: Array<[string, UniformType]> = [
    ["n", "u32"],
    ["s", "f32"],
  ];
  const values: number[] = [out.numel, scalar];
  if (!plain) {
    for (let d = 0; d < rank; d++) {
      fields.push([`o${d}`, "u32"]);
      values.push(outShape[d]!);
    }
    inputs.forEach((t, k) => {
      const st = broadcastStrides(t.shape, outShape);
      for (let d = 0; d < rank; d++) {
        fields.push([`s${k}_${d}`, "u32"]);
        values.push(st[d]!);
      }
    });
  }
  const names = ["a", "b", "c"];
  const dtypes = inputs.map((t) => t.dtype).join(",");
  const f16 = dtypes.includes("f16") || outDtype === "f16";
  device.run({
    name: op,
    key: `ew|${op}|${expr}|${dtypes}|${outDtype}|${plain ? "plain" : `r${rank}`}`,
    code: () => {
      const loads = inputs.map((t, k) => {
        if (plain) return `let ${names[k]} = f32(in${k}[idx]);`;
        return `let ${names[k]} = f32(in${k}[off${k}]);`;
      });
      let index = "";
      if (!plain) {
        index = inputs.map((_, k) => `var off${k} = 0u;`).join(" ") + "\n  var rem = idx;\n";
        for (let d = rank - 1; d >= 0; d--) {
          index += `  { let c = rem % P.o${d}; rem = rem / P.o${d}; ${inputs.map((_, k) => `off${k} += c * P.s${k}_${d};`).join(" ")} }\n`;
        }
      }
      return `${f16 ? "enable f16;" : ""}
${declareBindings(
  [
    ...inputs.map((t, k) => ({ name: `in${k}`, type: wgslType(t.dtype), access: "read" as const })),
    { name: "out", type: wgslType(outDtype), access: "read_write" },
  ],
  fields,
)}
${MATH_WGSL}
${main1D()}
  if (idx >= P.n) { return; }
  let s = P.s;
  ${index}
  ${loads.join("\n  ")}
  out[idx] = ${wgslType(outDtype)}(${expr});
}`;
    },
    buffers: [...inputs.map((t) => t.buffer), out.buffer],
    uniforms: { fields, values },
    workgroups: grid1D(out.numel),
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

const VEC_PER_INVOCATION = 4;
const VEC_WG = 64;

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
  const fields: Array<[string, UniformType]> = [
    ["n4", "u32"],
    ["s", "f32"],
    ["inv", "u32"],
  ];
  const values: number[] = [n4, scalar, invocations];
  if (!plain) {
    // Coordinates in vec4 units: the last dimension counts groups of 4.
    for (let d = 0; d < rank; d++) {
      fields.push([`o${d}`, "u32"]);
      values.push(d === rank - 1 ? outShape[d]! / 4 : outShape[d]!);
    }
    inputs.forEach((t, k) => {
      const st = broadcastStrides(t.shape, outShape);
      for (let d = 0; d < rank; d++) {
        fields.push([`s${k}_${d}`, "u32"]);
        // Spanning inputs are indexed in vec4s (their strides are multiples of 4 but the last one).
        values.push(spans[k] ? (d === rank - 1 ? 1 : st[d]! / 4) : d === rank - 1 ? 0 : st[d]!);
      }
    });
  }
  const names = ["a", "b", "c"];
  const dtypes = inputs.map((t) => t.dtype).join(",");
  const f16 = dtypes.includes("f16") || out.dtype === "f16";
  const to = wgslType(out.dtype);
  device.run({
    name: op,
    key: `ew4|${op}|${expr}|${dtypes}|${out.dtype}|${plain ? "plain" : `r${rank}|${spans.map(Number).join("")}`}`,
    code: () => {
      let index = "";
      if (!plain) {
        index = `${inputs.map((_, k) => `var off${k} = 0u;`).join(" ")} var rem = i;\n`;
        for (let d = rank - 1; d >= 0; d--) {
          index += `      { let c = rem % P.o${d}; rem = rem / P.o${d}; ${inputs.map((_, k) => `off${k} += c * P.s${k}_${d};`).join(" ")} }\n`;
        }
      }
      const loads = inputs.map((t, k) => {
        const at = plain ? "i" : `off${k}`;
        return spans[k] ? `let v${k} = vec4f(in${k}[${at}]);` : `let v${k} = vec4f(f32(in${k}[${at}]));`;
      });
      const arg = (k: number, c: string) => (k < inputs.length ? `v${k}.${c}` : "0.0");
      const comp = (c: string) => `op(${arg(0, c)}, ${arg(1, c)}, ${arg(2, c)}, P.s)`;
      return `${f16 ? "enable f16;" : ""}
${declareBindings(
  [
    ...inputs.map((t, k) => ({
      name: `in${k}`,
      type: spans[k] ? `vec4<${wgslType(t.dtype)}>` : wgslType(t.dtype),
      access: "read" as const,
    })),
    { name: "out", type: `vec4<${to}>`, access: "read_write" },
  ],
  fields,
)}
${MATH_WGSL}
fn op(${names.map((x) => `${x}: f32`).join(", ")}, s: f32) -> f32 { return ${expr}; }
@compute @workgroup_size(${VEC_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * ${VEC_WG}u;
  for (var j = 0u; j < ${VEC_PER_INVOCATION}u; j++) {
    let i = idx + j * P.inv;
    if (i < P.n4) {
      ${index}
      ${loads.join("\n      ")}
      out[i] = vec4<${to}>(vec4f(${comp("x")}, ${comp("y")}, ${comp("z")}, ${comp("w")}));
    }
  }
}`;
    },
    buffers: [...inputs.map((t) => t.buffer), out.buffer],
    uniforms: { fields, values },
    workgroups: grid1D(invocations, VEC_WG),
  });
}

// ---- unary ----

type UnaryGrad = (x: Tensor, y: Tensor, g: Tensor) => Tensor;

function unary(op: string, expr: string, grad: UnaryGrad) {
  return (x: Tensor): Tensor => {
    const y = elementwise(op, [x], expr);
    if (needsGrad(x)) record(y, { name: op, inputs: [x], backward: (g) => [grad(x, y, g)] });
    return y;
  };
}

export const neg = unary("neg", "-a", (_x, _y, g) => elementwise("neg", [g], "-a"));
export const exp = unary("exp", "exp(a)", (_x, y, g) => elementwise("mul", [g, y], "a * b"));
export const log = unary("log", "log(a)", (x, _y, g) => elementwise("div", [g, x], "a / b"));
export const sqrt = unary("sqrt", "sqrt(a)", (_x, y, g) => elementwise("sqrt_grad", [g, y], "0.5 * a / b"));
export const rsqrt = unary("rsqrt", "inverseSqrt(a)", (_x, y, g) =>
  elementwise("rsqrt_grad", [g, y], "-0.5 * a * b * b * b"),
);
export const tanh = unary("tanh", "tanh_(a)", (_x, y, g) =>
  elementwise("tanh_grad", [g, y], "a * (1.0 - b * b)"),
);
export const sigmoid = unary("sigmoid", "sigmoid_(a)", (_x, y, g) =>
  elementwise("sigmoid_grad", [g, y], "a * b * (1.0 - b)"),
);
export const relu = unary("relu", "max(a, 0.0)", (x, _y, g) =>
  elementwise("relu_grad", [g, x], "select(0.0, a, b > 0.0)"),
);
export const abs = unary("abs", "abs(a)", (x, _y, g) => elementwise("abs_grad", [g, x], "a * sign(b)"));
export const square = unary("square", "a * a", (x, _y, g) =>
  elementwise("square_grad", [g, x], "2.0 * a * b"),
);
export const reciprocal = unary("reciprocal", "1.0 / a", (_x, y, g) =>
  elementwise("reciprocal_grad", [g, y], "-a * b * b"),
);
/** GELU with the exact erf (Megatron/NeMo, timm default). */
export const gelu = unary("gelu", "gelu_erf(a)", (x, _y, g) =>
  elementwise("gelu_grad", [g, x], "a * gelu_erf_grad(b)"),
);
/** GELU with the tanh approximation. */
export const geluTanh = unary("gelu_tanh", "gelu_tanh(a)", (x, _y, g) =>
  elementwise("gelu_tanh_grad", [g, x], "a * gelu_tanh_grad(b)"),
);

// ---- scalar ----

export function addScalar(x: Tensor, s: number): Tensor {
  const y = elementwise("add_scalar", [x], "a + s", s);
  if (needsGrad(x)) record(y, { name: "add_scalar", inputs: [x], backward: (g) => [g] });
  return y;
}

export function mulScalar(x: Tensor, s: number): Tensor {
  const y = elementwise("mul_scalar", [x], "a * s", s);
  if (needsGrad(x))
    record(y, {
      name: "mul_scalar",
      inputs: [x],
      backward: (g) => [elementwise("mul_scalar", [g], "a * s", s)],
    });
  return y;
}

/** x^p for a scalar exponent p. */
export function powScalar(x: Tensor, p: number): Tensor {
  const y = elementwise("pow_scalar", [x], "pow(a, s)", p);
  if (needsGrad(x)) {
    record(y, {
      name: "pow_scalar",
      inputs: [x],
      backward: (g) => [elementwise("pow_scalar_grad", [g, x], "a * s * pow(b, s - 1.0)", p)],
    });
  }
  return y;
}

export function clone(x: Tensor): Tensor {
  return elementwise("clone", [x], "a");
}

/** Broadcasts `x` to `shape` (a copy, as torch's expand(...).contiguous()). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const y = elementwise("expand", [x], "a", 0, x.dtype, shape);
  if (needsGrad(x)) record(y, { name: "expand", inputs: [x], backward: (g) => [gradTo(g, x.shape)] });
  return y;
}

// ---- binary ----

export function add(a: Tensor, b: Tensor): Tensor {
  const y = elementwise("add", [a, b], "a + b");
  if (needsGrad(a, b)) {
    record(y, {
      name: "add",
      inputs: [a, b],
      backward: (g) => [
        a.requiresGrad ? gradTo(g, a.shape) : null,
        b.requiresGrad ? gradTo(g, b.shape) : null,
      ],
    });
  }
  return y;
}

export function sub(a: Tensor, b: Tensor): Tensor {
  const y = elementwise("sub", [a, b], "a - b");
  if (needsGrad(a, b)) {
    record(y, {
      name: "sub",
      inputs: [a, b],
      backward: (g) => [
        a.requiresGrad ? gradTo(g, a.shape) : null,
        b.requiresGrad ? reduceOwned(elementwise("neg", [g], "-a"), b.shape) : null,
      ],
    });
  }
  return y;
}

export function mul(a: Tensor, b: Tensor): Tensor {
  const y = elementwise("mul", [a, b], "a * b");
  if (needsGrad(a, b)) {
    record(y, {
      name: "mul",
      inputs: [a, b],
      backward: (g) => [
        a.requiresGrad ? productGrad(g, b, a.shape, "a * b") : null,
        b.requiresGrad ? productGrad(g, a, b.shape, "a * b") : null,
      ],
    });
  }
  return y;
}

export function div(a: Tensor, b: Tensor): Tensor {
  const y = elementwise("div", [a, b], "a / b");
  if (needsGrad(a, b)) {
    record(y, {
      name: "div",
      inputs: [a, b],
      backward: (g) => [
        a.requiresGrad ? productGrad(g, b, a.shape, "a / b") : null,
        b.requiresGrad
          ? reduceOwned(elementwise("div_grad_b", [g, a, b], "-a * b / (c * c)"), b.shape)
          : null,
      ],
    });
  }
  return y;
}

/** Element-wise maximum; the gradient goes to `a` where a >= b, else to `b`. */
export function maximum(a: Tensor, b: Tensor): Tensor {
  const y = elementwise("maximum", [a, b], "max(a, b)");
  if (needsGrad(a, b)) {
    record(y, {
      name: "maximum",
      inputs: [a, b],
      backward: (g) => [
        a.requiresGrad
          ? reduceOwned(elementwise("max_grad_a", [g, a, b], "select(0.0, a, b >= c)"), a.shape)
          : null,
        b.requiresGrad
          ? reduceOwned(elementwise("max_grad_b", [g, a, b], "select(a, 0.0, b >= c)"), b.shape)
          : null,
      ],
    });
  }
  return y;
}

/** g ⊙ other, summed down to `shape` (the gradient of a product w.r.t. one factor). */
function productGrad(g: Tensor, other: Tensor, shape: readonly number[], expr: string): Tensor {
  return reduceOwned(elementwise("mul_grad", [g, other], expr), shape);
}

/**
 * The incoming gradient reduced to `shape`; returns `g` itself when no reduction is needed (autograd
 * handles a node returning its incoming gradient, or one tensor for two inputs, without copying).
 */
export function gradTo(g: Tensor, shape: readonly number[]): Tensor {
  return sameShape(g.shape, shape) ? g : sumTo(g, shape);
}

/** Sums the temporary `t` down to `shape`, disposing it when a new tensor results. */
function reduceOwned(t: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(t.shape, shape)) return t;
  const r = sumTo(t, shape);
  t.dispose();
  return r;
}

export function checkSameShape(op: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new ShapeError(`${op}: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} must be equal.`);
  }
}
