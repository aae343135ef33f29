/**
 * Fused LayerNorm over the last axis. Forward saves per-row mean and 1/σ (not x̂) so backward needs no
 * recomputation of the statistics; backward is two kernels: dx per row, dγ/dβ per column.
 *
 * Mixed precision as Apex's MixedFusedLayerNorm (NeMo O2): x may be f16/bf16 and is kept for backward in
 * that type; statistics, γ, β and the arithmetic stay f32; y comes out in the autocast type under
 * autocast (it feeds a half matmul, which would round it anyway), else in x's type. Gradients are f32.
 */
import { autocastDtype } from "../autocast.js";
import { needsGrad, noGrad, record } from "../autograd.js";
import { requireFloat, sameDevice } from "../checks.js";
import type { DType } from "../dtype.js";
import { ShapeError } from "../errors.js";
import {
  LN_FIELDS,
  LN_PARAM_CHUNK,
  LN_PARAM_FIELDS,
  layerNormBackwardKernel,
  layerNormKernel,
  layerNormParamsFinalKernel,
  layerNormParamsKernel,
} from "../kernels/layernorm.js";
import { grid1D } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";
import { cast } from "./cast.js";

export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const device = sameDevice("layer_norm", x, ...(weight ? [weight] : []), ...(bias ? [bias] : []));
  requireFloat("layer_norm", x, ["f32", "f16", "bf16"]);
  const d = x.shape[x.rank - 1]!;
  const outDtype: DType = autocastDtype() ?? x.dtype;
  // vec4 loads when d % 4 == 0 (every ViT width): a quarter of the per-lane load loops on CPU adapters.
  const vec = d % 4 === 0;
  if (!vec && (x.dtype === "bf16" || outDtype === "bf16")) {
    // Packed bf16 rows need whole vec4s: an odd width goes through f32 (exact widening, one rounding).
    const y32 = layerNorm(x.dtype === "bf16" ? cast(x, "f32") : x, weight, bias, eps);
    return outDtype === "bf16" ? cast(y32, "bf16") : y32;
  }
  for (const [n, t] of [
    ["weight", weight],
    ["bias", bias],
  ] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== d || t.dtype !== "f32")) {
      throw new ShapeError(
        `layer_norm: ${n} ${t.describe()} must be [${d}] f32 to normalise ${x.describe()} over its last axis.`,
      );
    }
  }
  const rows = x.numel / d;
  const y = new Tensor(device, x.shape, outDtype);
  const stats = new Tensor(device, [rows, 2], "f32");
  const w = weight ?? null;
  const b = bias ?? null;
  device.run({
    name: "layer_norm",
    kernel: layerNormKernel,
    variant: { weight: !!w, bias: !!b, vec, x: x.dtype, y: outDtype },
    buffers: [x.buffer, ...(w ? [w.buffer] : []), ...(b ? [b.buffer] : []), y.buffer, stats.buffer],
    uniforms: { fields: LN_FIELDS, values: [rows, d, eps] },
    workgroups: grid1D(rows, 64),
  });
  if (needsGrad(x, w, b)) {
    record(y, {
      name: "layer_norm",
      inputs: [x, w, b],
      backward: (g16) => {
        const g = g16.dtype === "f32" ? g16 : noGrad(() => cast(g16, "f32"));
        const dx = new Tensor(device, x.shape, "f32");
        device.run({
          name: "layer_norm_backward",
          kernel: layerNormBackwardKernel,
          variant: { weight: !!w, vec, x: x.dtype },
          buffers: [x.buffer, g.buffer, stats.buffer, ...(w ? [w.buffer] : []), dx.buffer],
          uniforms: { fields: LN_FIELDS, values: [rows, d, eps] },
          workgroups: grid1D(rows, 64),
        });
        let dw: Tensor | null = null;
        let db: Tensor | null = null;
        if (w?.requiresGrad || b?.requiresGrad) {
          dw = new Tensor(device, [d], "f32");
          db = new Tensor(device, [d], "f32");
          layerNormParamGrads(x, g, stats, dw, db, rows, d, vec);
          if (!w?.requiresGrad) {
            dw.dispose();
            dw = null;
          }
          if (!b?.requiresGrad) {
            db.dispose();
            db = null;
          }
        }
        stats.dispose();
        if (g !== g16) g.dispose();
        return [dx, dw, db];
      },
    });
  } else {
    stats.dispose();
  }
  return y;
}

/**
 * dγ[j] = Σ_r g·x̂, dβ[j] = Σ_r g over all rows. One invocation per (chunk of LN_PARAM_CHUNK rows, column
 * group) writes partial sums, a second pass adds the chunks: a 128-wide layer over 1000+ rows would
 * otherwise be 32-128 invocations each walking every row.
 */
function layerNormParamGrads(
  x: Tensor,
  g: Tensor,
  stats: Tensor,
  dw: Tensor,
  db: Tensor,
  rows: number,
  d: number,
  vec: boolean,
): void {
  const device = x.device;
  const groups = vec ? d / 4 : d;
  const chunks = Math.ceil(rows / LN_PARAM_CHUNK);
  const values = [rows, groups, chunks];
  const partial = new Tensor(device, [2, chunks, groups * (vec ? 4 : 1)], "f32");
  device.run({
    name: "layer_norm_backward_params",
    kernel: layerNormParamsKernel,
    variant: { vec, x: x.dtype },
    buffers: [x.buffer, g.buffer, stats.buffer, partial.buffer],
    uniforms: { fields: LN_PARAM_FIELDS, values },
    workgroups: grid1D(groups * chunks, 64),
  });
  device.run({
    name: "layer_norm_backward_params",
    kernel: layerNormParamsFinalKernel,
    variant: { vec },
    buffers: [partial.buffer, dw.buffer, db.buffer],
    uniforms: { fields: LN_PARAM_FIELDS, values },
    workgroups: grid1D(groups, 64),
  });
  partial.dispose();
}
