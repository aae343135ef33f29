/** index_select along one axis of x viewed as [outer, dim, inner], and its deterministic scatter-add. */
import { defineKernel } from "./kernel.js";
import { declareBindings, main1D } from "./wgsl.js";

export const INDEX_SELECT_FIELDS = [
  ["n", "u32"],
  ["inner", "u32"],
  ["k", "u32"],
  ["dim", "u32"],
] as const;

export interface IndexSelectVariant {
  /** WGSL element type of x and out (f32 or i32). */
  type: string;
}

export const indexSelectKernel = defineKernel(
  "index_select",
  ({ type }: IndexSelectVariant) => `${declareBindings(
    [
      { name: "x", type, access: "read" },
      { name: "ix", type: "i32", access: "read" },
      { name: "out", type, access: "read_write" },
    ],
    INDEX_SELECT_FIELDS,
  )}
${main1D()}
  if (idx >= P.n) { return; }
  let i = idx % P.inner; let j = (idx / P.inner) % P.k; let o = idx / (P.inner * P.k);
  let r = u32(clamp(ix[j], 0, i32(P.dim) - 1));
  out[idx] = x[(o * P.dim + r) * P.inner + i];
}`,
);

export const indexSelectBackwardKernel = defineKernel(
  "index_select_backward",
  (_: Record<string, never>) => `${declareBindings(
    [
      { name: "g", type: "f32", access: "read" },
      { name: "ix", type: "i32", access: "read" },
      { name: "dx", type: "f32", access: "read_write" },
    ],
    INDEX_SELECT_FIELDS,
  )}
${main1D()}
  if (idx >= P.n) { return; }
  // Deterministic scatter-add: each dx element gathers every output position that selected it.
  let i = idx % P.inner; let r = (idx / P.inner) % P.dim; let o = idx / (P.inner * P.dim);
  var acc = 0.0;
  for (var j = 0u; j < P.k; j++) {
    if (u32(ix[j]) == r) { acc += g[(o * P.k + j) * P.inner + i]; }
  }
  dx[idx] = acc;
}`,
);
