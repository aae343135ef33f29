/**
 * The one element-wise kernel template and the WGSL math helpers it shares with fused epilogues. Kept apart
 * from the differentiable ops (elementwise.ts) so that reduce.ts can run it while elementwise.ts uses
 * reduce.ts's sumTo for broadcast gradients, without an import cycle between the two.
 */
import { ShapeError, fmtShape } from "../errors.js";
import { requireFloat, sameDevice } from "../checks.js";
import {
  BF16_HELPERS,
  type UniformType,
  declareBindings,
  grid1D,
  main1D,
  wgslType,
} from "../kernels/wgsl.js";
import { MAX_RANK, broadcastShapes, broadcastStrides, sameShape } from "../shape.js";
import type { Tensor } from "../tensor.js";

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
  // bf16 is packed two per u32 word: an invocation then writes one whole word (two elements).
  const bf16Out = outDtype === "bf16";
  const load = (k: number, at: string) =>
    inputs[k]!.dtype === "bf16" ? `bf16_load(in${k}[(${at}) >> 1u], ${at})` : `f32(in${k}[${at}])`;
  device.run({
    name: op,
    key: `ew|${op}|${expr}|${dtypes}|${outDtype}|${plain ? "plain" : `r${rank}`}`,
    code: () => {
      const loads = inputs.map((_, k) => `let ${names[k]} = ${load(k, plain ? "i" : `off${k}`)};`);
      let index = "";
      if (!plain) {
        index = inputs.map((_, k) => `var off${k} = 0u;`).join(" ") + "\n  var rem = i;\n";
        for (let d = rank - 1; d >= 0; d--) {
          index += `  { let c = rem % P.o${d}; rem = rem / P.o${d}; ${inputs.map((_, k) => `off${k} += c * P.s${k}_${d};`).join(" ")} }\n`;
        }
      }
      const store = bf16Out
        ? `let i0 = idx * 2u;
  if (i0 >= P.n) { return; }
  var hi = 0u;
  if (i0 + 1u < P.n) { hi = f32_to_bf16_bits(value(i0 + 1u)); }
  out[idx] = f32_to_bf16_bits(value(i0)) | (hi << 16u);`
        : `if (idx >= P.n) { return; }
  out[idx] = ${wgslType(outDtype)}(value(idx));`;
      return `${f16 ? "enable f16;" : ""}
${declareBindings(
  [
    ...inputs.map((t, k) => ({ name: `in${k}`, type: wgslType(t.dtype), access: "read" as const })),
    { name: "out", type: wgslType(outDtype), access: "read_write" },
  ],
  fields,
)}
${MATH_WGSL}
${BF16_HELPERS}
fn value(i: u32) -> f32 {
  let s = P.s;
  ${index}
  ${loads.join("\n  ")}
  return ${expr};
}
${main1D()}
  ${store}
}`;
    },
    buffers: [...inputs.map((t) => t.buffer), out.buffer],
    uniforms: { fields, values },
    workgroups: grid1D(bf16Out ? Math.ceil(out.numel / 2) : out.numel),
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
