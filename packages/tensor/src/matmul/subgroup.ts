import { layoutEntries, parseBindings } from "../bind-layout.js";
/**
 * When the subgroup-matrix matmul may run on a device. The feature cannot be exercised on the machines
 * this project is developed and tested on (lavapipe has no cooperative matrices), so the kernel is never
 * trusted blind: the first matmul on an adapter that advertises the feature starts an asynchronous probe
 * that compiles the kernel (createComputePipelineAsync, so a shader the local Dawn rejects cannot poison
 * the shared command encoder) in each builtin spelling, runs one product and compares it with a float64
 * reference. Until the probe has passed, and forever if it fails, matmul uses the tiled kernel.
 */
import type { Device, SubgroupMatrixConfig } from "../device.js";
import { FeatureError } from "../errors.js";
import { tensor } from "../io.js";
import { Tensor } from "../tensor.js";
import { fixedSubgroupSize } from "./config.js";
import type { EpilogueSpec } from "./kernels/epilogue.js";
import {
  SGMAT_FIELDS,
  type SubgroupMatrixShape,
  type SubgroupMatrixSyntax,
  type SubgroupMatrixVariant,
  subgroupMatrixKernel,
} from "./kernels/subgroup-matrix.js";

export interface SubgroupMatrixChoice {
  shape: SubgroupMatrixShape;
  sg: number;
  syntax: SubgroupMatrixSyntax;
}

type State =
  | { status: "probing" }
  | { status: "failed"; reason: string }
  | { status: "ok"; choices: SubgroupMatrixChoice[] };

const states = new WeakMap<Device, State>();

/** Block shapes usable by the kernel: f16 or f32 inputs, f32 (preferred) or same-type results. */
function usableShapes(configs: SubgroupMatrixConfig[]): SubgroupMatrixShape[] {
  const out: SubgroupMatrixShape[] = [];
  for (const c of configs) {
    const comp = c.componentType;
    const res = c.resultComponentType;
    if (
      (comp === "f16" || comp === "f32") &&
      (res === "f32" || res === comp) &&
      c.M % 4 === 0 &&
      c.N % 4 === 0
    ) {
      out.push({ component: comp, result: res as "f16" | "f32", M: c.M, N: c.N, K: c.K });
    }
  }
  // Prefer f32 accumulation.
  return out.sort((a, b) => (a.result === "f32" ? 0 : 1) - (b.result === "f32" ? 0 : 1));
}

/** The probed subgroup-matrix setup for this product, or null (then the tiled kernel runs). */
export function subgroupMatrixFor(
  device: Device,
  p: { M: number; N: number; K: number },
  dtype: "f32" | "f16",
): SubgroupMatrixChoice | null {
  if (!device.hasFeature("chromium-experimental-subgroup-matrix")) return null;
  const state = states.get(device);
  if (!state) {
    void probeSubgroupMatrix(device);
    return null;
  }
  if (state.status !== "ok") return null;
  for (const c of state.choices) {
    const s = c.shape;
    if (s.component === dtype && p.M % s.M === 0 && p.N % s.N === 0 && p.K % s.K === 0) return c;
  }
  return null;
}

/** Status of the probe on `device` (for reports). */
export function subgroupMatrixStatus(device: Device): string {
  if (!device.hasFeature("chromium-experimental-subgroup-matrix")) return "unavailable";
  const s = states.get(device);
  if (!s) return "not probed";
  if (s.status === "ok")
    return `ok (${s.choices.map((c) => `${c.shape.component}>${c.shape.result} ${c.shape.M}x${c.shape.N}x${c.shape.K} ${c.syntax}`).join(", ")})`;
  return s.status === "failed" ? `failed: ${s.reason}` : "probing";
}

/** Compiles and checks the kernel on `device`; resolves to the status string. Safe to call repeatedly. */
export async function probeSubgroupMatrix(device: Device): Promise<string> {
  const existing = states.get(device);
  if (existing && existing.status !== "probing") return subgroupMatrixStatus(device);
  if (existing) {
    while (states.get(device)?.status === "probing") await new Promise((r) => setTimeout(r, 10));
    return subgroupMatrixStatus(device);
  }
  states.set(device, { status: "probing" });
  const sg: number = device.adapter.subgroupMaxSize ?? fixedSubgroupSize(device) ?? 0;
  const shapes = usableShapes(device.adapter.subgroupMatrixConfigs ?? []);
  const choices: SubgroupMatrixChoice[] = [];
  const reasons: string[] = [];
  if (!sg) reasons.push("unknown subgroup size");
  for (const shape of sg ? shapes : []) {
    if (shape.component === "f16" && !device.hasFeature("shader-f16")) continue;
    for (const syntax of ["template", "bool"] as const) {
      try {
        if (await checkOne(device, { shape, sg, syntax })) {
          choices.push({ shape, sg, syntax });
          break;
        }
        reasons.push(`${shape.component} ${syntax}: wrong result`);
      } catch (e) {
        reasons.push(`${shape.component} ${syntax}: ${(e as Error).message.split("\n")[0]}`);
      }
    }
  }
  states.set(
    device,
    choices.length
      ? { status: "ok", choices }
      : { status: "failed", reason: reasons.join("; ") || "no usable config" },
  );
  return subgroupMatrixStatus(device);
}

async function checkOne(device: Device, c: SubgroupMatrixChoice): Promise<boolean> {
  const epilogue: EpilogueSpec = {
    bias: false,
    activation: "none",
    residual: false,
    savePre: false,
    dtype: c.shape.component,
    vec: true,
  };
  const v: SubgroupMatrixVariant = {
    transA: false,
    transB: true,
    shape: c.shape,
    tm: 2,
    tn: 2,
    sg: c.sg,
    syntax: c.syntax,
    epilogue,
  };
  const code = subgroupMatrixKernel.wgsl(v);
  const kinds = parseBindings(code);
  if (!kinds) return false;
  const module = device.gpu.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === "error");
  // Caught by the probe above: the reason it falls back to the tiled kernel.
  if (errors.length) throw new FeatureError(errors.map((m) => m.message).join(" "));
  const layout = device.gpu.createPipelineLayout({
    bindGroupLayouts: [device.gpu.createBindGroupLayout({ entries: layoutEntries(kinds) })],
  });
  await device.gpu.createComputePipelineAsync({ layout, compute: { module, entryPoint: "main" } });
  // One product, M = N = K = 2 blocks · tiles, against float64.
  const M = c.shape.M * 4;
  const N = c.shape.N * 4;
  const K = c.shape.K * 4;
  const av = Float32Array.from({ length: M * K }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
  const bv = Float32Array.from({ length: N * K }, (_, i) => ((i * 5) % 11) / 11 - 0.5);
  const dtype = c.shape.component;
  const a = tensor(device, av, [M, K], { dtype });
  const b = tensor(device, bv, [N, K], { dtype });
  const out = new Tensor(device, [M, N], dtype);
  device.run({
    name: "matmul_probe",
    kernel: subgroupMatrixKernel,
    variant: v,
    buffers: [a.buffer, b.buffer, out.buffer],
    uniforms: { fields: SGMAT_FIELDS, values: [M, N, K, 0, 0, M * N, 1] },
    workgroups: [Math.ceil(N / (2 * c.shape.N)), Math.ceil(M / (2 * c.shape.M)), 1],
  });
  const got = await out.data();
  a.dispose();
  b.dispose();
  out.dispose();
  let err = 0;
  let scale = 0;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let ref = 0;
      for (let k = 0; k < K; k++) ref += av[m * K + k]! * bv[n * K + k]!;
      err = Math.max(err, Math.abs(got[m * N + n]! - ref));
      scale = Math.max(scale, Math.abs(ref));
    }
  }
  return err <= (dtype === "f16" ? 2e-2 : 1e-4) * Math.max(1, scale);
}
