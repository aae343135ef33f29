/** One measured case of a benchmark suite. Figures are medians over repeats after warm-up. */
export interface BenchCase {
  suite: string;
  name: string;
  /** Stable identifier of the case across runs and adapters (checks and comparisons key on it). */
  id?: string;
  /** Unit of `median`/`min`/`max`, e.g. "GFLOP/s", "images/s", "GB/s". Higher is better. */
  unit: string;
  median: number;
  min: number;
  max: number;
  repeats: number;
  /** The same case measured in the same run by a peer (tfjs, PyTorch, torchvision), when available. */
  peer?: { name: string; median: number; note?: string };
  /** Further peers of the same case (e.g. tfjs beside PyTorch), each with ours/peer. */
  morePeers?: Array<{ name: string; median: number; ratio: number; note?: string }>;
  /** ours / peer (higher is better for us). */
  ratio?: number;
  /** Free-form extra figures (peak bytes, dispatch counts, worker count...). */
  extra?: Record<string, number | string>;
  /**
   * Why the case has no figure (the adapter lacks a feature, the path is not implemented, the time
   * budget ran out); median/min/max are then NaN (null in the JSON report).
   */
  skipped?: string;
  /** The case threw for another reason than a missing feature (a bug): the message; figures NaN. */
  failed?: string;
}

/** A case without figures: not run (`skipped`, with the reason) or broken (`failed`, with the error). */
export function unmeasuredCase(
  c: { suite: string; name: string; unit: string; id?: string },
  why: { skipped: string } | { failed: string },
): BenchCase {
  return { ...c, median: Number.NaN, min: Number.NaN, max: Number.NaN, repeats: 0, ...why };
}

export interface BenchContext {
  /** Fewer repeats / smaller sizes, for smoke runs. */
  quick: boolean;
  /** Free-form options from the command line (--set key=value), e.g. preset, batch, steps. */
  options?: Record<string, string>;
  /** Report-level facts a suite learned (adapter, peer versions); merged into the JSON report. */
  meta?: Record<string, unknown>;
  /** Scratch directory the suite may write into. */
  workDir: string;
  log: (msg: string) => void;
}

export type Suite = (ctx: BenchContext) => Promise<BenchCase[]>;

/** Summary statistics of repeated measurements. */
export function stats(values: number[]): { median: number; min: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}
