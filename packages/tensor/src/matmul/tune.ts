/**
 * One-time matmul autotune: times each candidate kernel/tile of this adapter on a representative product
 * per shape class and records the fastest in the on-disk cache (config.ts), which every
 * later process on the same adapter reads at its first matmul. Run it from a benchmark or setup step
 * (`vit-bench kernels --autotune`), never inside training: it takes seconds.
 */
import type { Device } from "../device.js";
import { rand } from "../io.js";
import {
  type MatmulTuning,
  type ShapeClass,
  fixedSubgroupSize,
  isCpuAdapter,
  resetTuning,
  saveTuning,
  tableTuning,
} from "./config.js";
import { matmulKernel } from "./run.js";
import { setMatmulKernelOverride, setMatmulTuningOverride } from "./select.js";
import { probeSubgroupMatrix } from "./subgroup.js";

type Candidate = Omit<MatmulTuning, "source">;

/** Representative products: [M, N, K, transA, transB]. */
const PROBES: Record<ShapeClass, Array<[number, number, number, boolean, boolean]>> = {
  large: [
    [1088, 384, 128, false, true],
    [512, 128, 1088, true, false],
  ],
  small: [[128, 128, 64, false, true]],
};

function candidates(device: Device): Candidate[] {
  const base = tableTuning(device);
  const out: Candidate[] = [];
  const sg = fixedSubgroupSize(device);
  if (isCpuAdapter(device.adapter)) {
    if (sg)
      for (const rows of [16, 24, 32, 48]) if (rows % sg === 0) out.push({ ...base, kind: "texture", rows });
    out.push({ ...base, kind: "generic" });
  } else {
    for (const tk of [16, 32]) out.push({ ...base, kind: "tiled", tk });
    if (device.hasFeature("chromium-experimental-subgroup-matrix")) {
      for (const [tm, tn] of [
        [2, 2],
        [4, 2],
        [2, 4],
      ] as const)
        out.push({ ...base, kind: "subgroup-matrix", tm, tn });
    }
    out.push({ ...base, kind: "generic" });
  }
  return out;
}

async function timeOne(
  device: Device,
  c: Candidate,
  shapes: Array<[number, number, number, boolean, boolean]>,
): Promise<number> {
  setMatmulKernelOverride(c.kind);
  setMatmulTuningOverride(c);
  let total = 0;
  try {
    for (const [M, N, K, ta, tb] of shapes) {
      const a = rand(device, ta ? [K, M] : [M, K]);
      const b = rand(device, tb ? [N, K] : [K, N]);
      const run = (n: number) => {
        for (let i = 0; i < n; i++) matmulKernel(a, b, { transA: ta, transB: tb }).dispose();
      };
      run(2); // compile + warm
      await device.sync();
      const t0 = performance.now();
      run(5);
      await device.sync();
      total += (performance.now() - t0) / (2 * M * N * K);
      a.dispose();
      b.dispose();
    }
  } finally {
    setMatmulKernelOverride(null);
    setMatmulTuningOverride(null);
  }
  return total;
}

export interface AutotuneResult {
  results: Partial<Record<ShapeClass, Candidate>>;
  /** Where the cache was written (Node), or undefined. */
  path?: string;
  log: string[];
}

/** Times every candidate on this device, keeps the fastest per shape class, writes the cache. */
export async function autotuneMatmul(device: Device): Promise<AutotuneResult> {
  if (device.hasFeature("chromium-experimental-subgroup-matrix")) await probeSubgroupMatrix(device);
  const results: Partial<Record<ShapeClass, Candidate>> = {};
  const log: string[] = [];
  for (const cls of ["large", "small"] as ShapeClass[]) {
    let best: { c: Candidate; t: number } | null = null;
    for (const c of candidates(device)) {
      const t = await timeOne(device, c, PROBES[cls]);
      log.push(
        `${cls}: ${c.kind}${c.kind === "texture" ? ` rows=${c.rows}` : c.kind === "tiled" ? ` tk=${c.tk}` : c.kind === "subgroup-matrix" ? ` ${c.tm}x${c.tn}` : ""} ${(1e-6 / t).toFixed(1)} GFLOP/s`,
      );
      if (!best || t < best.t) best = { c, t };
    }
    if (best) results[cls] = best.c;
  }
  const path = saveTuning(device, results);
  resetTuning(device);
  return { results, path, log };
}
