/**
 * Fused LayerNorm over the last axis. Forward saves per-row mean and 1/σ (not x̂) so backward needs no
 * recomputation of the statistics; backward is two kernels: dx per row, dγ/dβ per column.
 */
import { needsGrad, record } from "../autograd.js";
import { ShapeError } from "../errors.js";
import { requireFloat, sameDevice } from "../io.js";
import { declareBindings, grid1D, main1D } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";

const FIELDS = [["rows", "u32"], ["d", "u32"], ["eps", "f32"]] as const;

export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const device = sameDevice("layer_norm", x, ...(weight ? [weight] : []), ...(bias ? [bias] : []));
  requireFloat("layer_norm", x, ["f32"]);
  const d = x.shape[x.rank - 1]!;
  for (const [n, t] of [["weight", weight], ["bias", bias]] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== d || t.dtype !== "f32")) {
      throw new ShapeError(`layer_norm: ${n} ${t.describe()} must be [${d}] f32 to normalise ${x.describe()} over its last axis.`);
    }
  }
  const rows = x.numel / d;
  const y = new Tensor(device, x.shape, "f32");
  const stats = new Tensor(device, [rows, 2], "f32");
  const w = weight ?? null;
  const b = bias ?? null;
  const binds = [
    { name: "x", type: "f32", access: "read" as const },
    ...(w ? [{ name: "w", type: "f32", access: "read" as const }] : []),
    ...(b ? [{ name: "b", type: "f32", access: "read" as const }] : []),
    { name: "y", type: "f32", access: "read_write" as const },
    { name: "st", type: "f32", access: "read_write" as const },
  ];
  device.run({
    name: "layer_norm",
    key: `layer_norm|${!!w}|${!!b}`,
    code: () => `${declareBindings(binds, FIELDS)}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let base = idx * P.d;
  var mean = 0.0;
  for (var j = 0u; j < P.d; j++) { mean += x[base + j]; }
  mean = mean / f32(P.d);
  var v = 0.0;
  for (var j = 0u; j < P.d; j++) { let c = x[base + j] - mean; v += c * c; }
  let rstd = inverseSqrt(v / f32(P.d) + P.eps);
  for (var j = 0u; j < P.d; j++) {
    y[base + j] = (x[base + j] - mean) * rstd${w ? " * w[j]" : ""}${b ? " + b[j]" : ""};
  }
  st[idx * 2u] = mean;
  st[idx * 2u + 1u] = rstd;
}`,
    buffers: [x.buffer, ...(w ? [w.buffer] : []), ...(b ? [b.buffer] : []), y.buffer, stats.buffer],
    uniforms: { fields: FIELDS, values: [rows, d, eps] },
    workgroups: grid1D(rows, 64),
  });
  if (needsGrad(x, w, b)) {
    record(y, {
      name: "layer_norm",
      inputs: [x, w, b],
      backward: (g) => {
        const dx = new Tensor(device, x.shape, "f32");
        device.run({
          name: "layer_norm_backward",
          key: `layer_norm_backward|${!!w}`,
          code: () => `${declareBindings(
            [
              { name: "x", type: "f32", access: "read" },
              { name: "g", type: "f32", access: "read" },
              { name: "st", type: "f32", access: "read" },
              ...(w ? [{ name: "w", type: "f32", access: "read" as const }] : []),
              { name: "dx", type: "f32", access: "read_write" },
            ],
            FIELDS,
          )}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let base = idx * P.d;
  let mean = st[idx * 2u]; let rstd = st[idx * 2u + 1u];
  var s1 = 0.0; var s2 = 0.0;
  for (var j = 0u; j < P.d; j++) {
    let gw = g[base + j]${w ? " * w[j]" : ""};
    s1 += gw; s2 += gw * (x[base + j] - mean) * rstd;
  }
  s1 = s1 / f32(P.d); s2 = s2 / f32(P.d);
  for (var j = 0u; j < P.d; j++) {
    let gw = g[base + j]${w ? " * w[j]" : ""};
    dx[base + j] = rstd * (gw - s1 - (x[base + j] - mean) * rstd * s2);
  }
}`,
          buffers: [x.buffer, g.buffer, stats.buffer, ...(w ? [w.buffer] : []), dx.buffer],
          uniforms: { fields: FIELDS, values: [rows, d, eps] },
          workgroups: grid1D(rows, 64),
        });
        let dw: Tensor | null = null;
        let db: Tensor | null = null;
        if (w?.requiresGrad || b?.requiresGrad) {
          dw = new Tensor(device, [d], "f32");
          db = new Tensor(device, [d], "f32");
          device.run({
            name: "layer_norm_backward_params",
            key: "layer_norm_backward_params",
            code: () => `${declareBindings(
              [
                { name: "x", type: "f32", access: "read" },
                { name: "g", type: "f32", access: "read" },
                { name: "st", type: "f32", access: "read" },
                { name: "dw", type: "f32", access: "read_write" },
                { name: "db", type: "f32", access: "read_write" },
              ],
              FIELDS,
            )}
${main1D(64)}
  if (idx >= P.d) { return; }
  var sw = 0.0; var sb = 0.0;
  for (var r = 0u; r < P.rows; r++) {
    let gv = g[r * P.d + idx];
    sw += gv * (x[r * P.d + idx] - st[r * 2u]) * st[r * 2u + 1u];
    sb += gv;
  }
  dw[idx] = sw; db[idx] = sb;
}`,
            buffers: [x.buffer, g.buffer, stats.buffer, dw.buffer, db.buffer],
            uniforms: { fields: FIELDS, values: [rows, d, eps] },
            workgroups: grid1D(d, 64),
          });
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
        return [dx, dw, db];
      },
    });
  } else {
    stats.dispose();
  }
  return y;
}
