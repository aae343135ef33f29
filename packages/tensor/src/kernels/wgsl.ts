/**
 * Small helpers shared by every kernel generator: binding declarations, the uniform struct (every field
 * 4 bytes, packed in declaration order by ../uniforms.ts), and the 1-D grid that lets element-wise
 * kernels exceed the 65,535-workgroup limit of one dimension.
 */
import type { DType } from "../dtype.js";

export type UniformType = "u32" | "i32" | "f32";
export type UniformFields = ReadonlyArray<readonly [name: string, type: UniformType]>;

export interface BindingDecl {
  name: string;
  /** WGSL element type of the array (f32, i32, u32, f16). bf16 is bound as u32 words. */
  type: string;
  access: "read" | "read_write";
}

/** The WGSL array element type a tensor of `dtype` is bound as. */
export function wgslType(dtype: DType): string {
  switch (dtype) {
    case "f32":
      return "f32";
    case "f16":
      return "f16";
    case "bf16":
      return "u32";
    case "i32":
      return "i32";
    case "u32":
      return "u32";
  }
}

/** Binding declarations: storage buffers in order, then the uniform block (if any) last. */
export function declareBindings(bindings: readonly BindingDecl[], uniforms?: UniformFields): string {
  const lines = bindings.map(
    (b, i) => `@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: array<${b.type}>;`,
  );
  if (uniforms?.length) {
    lines.unshift(`struct Params { ${uniforms.map(([n, t]) => `${n}: ${t},`).join(" ")} }`);
    lines.push(`@group(0) @binding(${bindings.length}) var<uniform> P: Params;`);
  }
  return lines.join("\n");
}

export const WG1D = 256;
const MAX_DIM = 65535;

/** Workgroup counts covering `n` invocations of a 1-D kernel with WG1D threads each. */
export function grid1D(n: number, wg = WG1D): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / wg));
  if (groups <= MAX_DIM) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_DIM);
  return [Math.ceil(groups / y), y, 1];
}

/** Entry point header + flat index for kernels dispatched with grid1D. */
export function main1D(wg = WG1D): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * ${wg}u;`;
}

/** WGSL to read element `i` of a bf16-packed u32 array as f32, and to pack f32 pairs back. */
export const BF16_HELPERS = `
fn bf16_load(w: u32, i: u32) -> f32 { return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u)); }
fn f32_to_bf16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu) != 0u) { return 0x7fc0u; }
  return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}`;
