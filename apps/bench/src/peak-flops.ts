/**
 * Peak dense FLOP/s of known GPUs per arithmetic type (vendor datasheets; the tensor-core figures halved
 * where the sheet quotes them with 2:4 sparsity), for MFU. Looked up from the WebGPU adapter's device
 * name and description; an unknown adapter gets no MFU and a reason, unless `peak_tflops` is given.
 */

/** f32: plain FMA units; tf32/bf16/f16: tensor cores. */
export type PeakDtype = "f32" | "tf32" | "bf16" | "f16";
export type PeakTable = Record<PeakDtype, number>;

const SXM_H100_H200: PeakTable = { f32: 67, tf32: 495, bf16: 989, f16: 989 };
const NVL: PeakTable = { f32: 60, tf32: 418, bf16: 835, f16: 835 };

// Most specific first: "H200 NVL" must not be read as the SXM part.
const KNOWN: Array<{ gpu: string; match: RegExp; tflops: PeakTable }> = [
  { gpu: "H200 NVL", match: /\bh200[\s_-]*nvl\b/i, tflops: NVL },
  { gpu: "H100 NVL", match: /\bh100[\s_-]*nvl\b/i, tflops: NVL },
  { gpu: "H100 PCIe", match: /\bh100[\s_-]*pcie\b/i, tflops: { f32: 51, tf32: 378, bf16: 756, f16: 756 } },
  { gpu: "H200 SXM", match: /\bh200\b/i, tflops: SXM_H100_H200 },
  { gpu: "H100 SXM", match: /\bh100\b/i, tflops: SXM_H100_H200 },
  { gpu: "A100", match: /\ba100\b/i, tflops: { f32: 19.5, tf32: 156, bf16: 312, f16: 312 } },
];

export type PeakLookup = { gpu: string; tflops: PeakTable } | { reason: string };

/**
 * The peak table for `adapterText` (the adapter's device name and description). `override` is the
 * `peak_tflops` option: one number for every dtype, or `f32:67,bf16:989,...`.
 */
export function lookupPeak(adapterText: string, override?: string): PeakLookup {
  if (override) return { gpu: `peak_tflops=${override}`, tflops: parseOverride(override) };
  const hit = KNOWN.find((k) => k.match.test(adapterText));
  if (hit) return { gpu: hit.gpu, tflops: hit.tflops };
  return {
    reason: `no peak FLOP/s known for "${adapterText.trim()}" (known: ${KNOWN.map((k) => k.gpu).join(", ")}; set peak_tflops=...)`,
  };
}

function parseOverride(s: string): PeakTable {
  const bad = () =>
    new Error(
      `peak_tflops=${s}: give one number (TFLOP/s for every dtype) or dtype:number pairs, e.g. f32:67,bf16:989`,
    );
  if (/^[\d.]+$/.test(s)) {
    const v = Number(s);
    if (!(v > 0)) throw bad();
    return { f32: v, tf32: v, bf16: v, f16: v };
  }
  const out: Partial<PeakTable> = {};
  for (const part of s.split(",")) {
    const [k, v] = part.split(":");
    if (!k || !["f32", "tf32", "bf16", "f16"].includes(k) || !(Number(v) > 0)) throw bad();
    out[k as PeakDtype] = Number(v);
  }
  return { f32: Number.NaN, tf32: Number.NaN, bf16: Number.NaN, f16: Number.NaN, ...out };
}
