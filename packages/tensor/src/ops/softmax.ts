/** Numerically stable softmax over the last axis, and its backward: dx = y ⊙ (g − Σ g⊙y). */
import { needsGrad, record } from "../autograd.js";
import { requireFloat, sameDevice } from "../checks.js";
import { declareBindings, grid1D, main1D, wgslType } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";
import { ShapeError } from "../errors.js";

const FIELDS = [["rows", "u32"], ["d", "u32"]] as const;

export function softmax(x: Tensor): Tensor {
  const device = sameDevice("softmax", x);
  requireFloat("softmax", x);
  if (x.rank < 1) throw new ShapeError("softmax: needs at least one dimension.");
  const d = x.shape[x.rank - 1]!;
  const rows = x.numel / Math.max(1, d);
  const y = new Tensor(device, x.shape, x.dtype);
  const ty = wgslType(x.dtype);
  const f16 = x.dtype === "f16" ? "enable f16;" : "";
  device.run({
    name: "softmax",
    key: `softmax|${x.dtype}`,
    code: () => `${f16}
${declareBindings([{ name: "x", type: ty, access: "read" }, { name: "y", type: ty, access: "read_write" }], FIELDS)}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let base = idx * P.d;
  var m = -3.402823e38;
  for (var j = 0u; j < P.d; j++) { m = max(m, f32(x[base + j])); }
  var s = 0.0;
  for (var j = 0u; j < P.d; j++) { s += exp(f32(x[base + j]) - m); }
  let inv = 1.0 / s;
  for (var j = 0u; j < P.d; j++) { y[base + j] = ${ty}(exp(f32(x[base + j]) - m) * inv); }
}`,
    buffers: [x.buffer, y.buffer],
    uniforms: { fields: FIELDS, values: [rows, d] },
    workgroups: grid1D(rows, 64),
  });
  if (needsGrad(x)) {
    record(y, {
      name: "softmax",
      inputs: [x],
      backward: (g) => {
        const dx = new Tensor(device, x.shape, x.dtype);
        device.run({
          name: "softmax_backward",
          key: `softmax_backward|${x.dtype}`,
          code: () => `${f16}
${declareBindings([{ name: "y", type: ty, access: "read" }, { name: "g", type: ty, access: "read" }, { name: "dx", type: ty, access: "read_write" }], FIELDS)}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let base = idx * P.d;
  var dot = 0.0;
  for (var j = 0u; j < P.d; j++) { dot += f32(g[base + j]) * f32(y[base + j]); }
  for (var j = 0u; j < P.d; j++) { dx[base + j] = ${ty}(f32(y[base + j]) * (f32(g[base + j]) - dot)); }
}`,
          buffers: [y.buffer, g.buffer, dx.buffer],
          uniforms: { fields: FIELDS, values: [rows, d] },
          workgroups: grid1D(rows, 64),
        });
        return [dx];
      },
    });
  }
  return y;
}
