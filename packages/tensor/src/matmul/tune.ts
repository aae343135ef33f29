/**
 * One-time matmul autotune: times each candidate kernel/tile of this adapter on a representative product
 * per shape class and records the fastest in the on-disk cache (config.ts), which every later process on
 * the same adapter and host CPU reads at its first matmul. `vit train` runs it once per host before its
 * first run (ensureMatmulTuning; a few seconds), `vit-bench kernels --set autotune=1` on demand; never
 * inside a training step.
 */
import type { Device } from "../device.js";
import { rand } from "../io.js";
import {
  type MatmulTuning,
  type ShapeClass,
  autotuneCachePath,
  fixedSubgroupSize,
  hasCachedTuning,
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

/** Seconds per FLOP of candidate `c` over `shapes`: one timed block of four products per shape. */
async function timeOnce(
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
      run(1); // compiled on the first round, warm after
      await device.sync();
      const t0 = performance.now();
      run(4);
      await device.sync();
      total += (performance.now() - t0) / 4000 / (2 * M * N * K);
      a.dispose();
      b.dispose();
    }
  } finally {
    setMatmulKernelOverride(null);
    setMatmulTuningOverride(null);
  }
  return total;
}

/**
 * The fastest round of each candidate, the candidates taking turns within every round: a host whose speed
 * drifts (noisy neighbours on a shared machine) then slows every candidate alike, where timing one
 * candidate's rounds back to back let a slow minute decide: that picked 16-row tiles on an AVX2 host where
 * 32 rows ran the tiny ViT's step 1.03-1.3x faster in three paired runs; in turns it picked 48 rows, which
 * ran the step as fast as 32 (0.95-1.17x in three paired runs).
 */
async function timeInTurns(
  device: Device,
  cands: Candidate[],
  shapes: Array<[number, number, number, boolean, boolean]>,
  rounds = 5,
): Promise<number[]> {
  const best = cands.map(() => Number.POSITIVE_INFINITY);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < cands.length; i++)
      best[i] = Math.min(best[i]!, await timeOnce(device, cands[i]!, shapes));
  }
  return best;
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
    const cands = candidates(device);
    const times = await timeInTurns(device, cands, PROBES[cls]);
    let best = 0;
    for (let i = 0; i < cands.length; i++) {
      const c = cands[i]!;
      // Mean seconds per FLOP over the probes → GFLOP/s for the log.
      const t = times[i]! / PROBES[cls].length;
      log.push(
        `${cls}: ${c.kind}${c.kind === "texture" ? ` rows=${c.rows}` : c.kind === "tiled" ? ` tk=${c.tk}` : c.kind === "subgroup-matrix" ? ` ${c.tm}x${c.tn}` : ""} ${(1e-9 / t).toFixed(1)} GFLOP/s`,
      );
      if (times[i]! < times[best]!) best = i;
    }
    if (cands.length) results[cls] = cands[best]!;
  }
  const path = saveTuning(device, results);
  resetTuning(device);
  return { results, path, log };
}

/**
 * Tunes this device once per host: a no-op when the cache already holds its tuning, outside Node (no
 * cache to keep it), with VIT_AUTOTUNE=0, or when `VIT_MATMUL` forces a kernel. Returns the autotune's
 * result when it ran.
 */
export async function ensureMatmulTuning(device: Device): Promise<AutotuneResult | null> {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (!env || env.VIT_AUTOTUNE === "0" || env.VIT_MATMUL || !autotuneCachePath()) return null;
  if (hasCachedTuning(device)) return null;
  return autotuneMatmul(device);
}
