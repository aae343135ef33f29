/**
 * nccl-tests' bandwidth convention (doc/PERFORMANCE.md there): algorithm bandwidth = S / t, where S is the
 * collective's size as the user sees it (an all-reduce's buffer, a reduce-scatter's *input*, an all-gather's
 * *output*); bus bandwidth = algbw × the factor that makes it comparable with the link's peak, whatever the
 * number of ranks — the rate each rank's link must sustain under the optimal (ring) algorithm.
 */
export type BusOp = "allReduce" | "reduceScatter" | "allGather";

/** The bus factor for `n` ranks: 2(n−1)/n for all-reduce, (n−1)/n for reduce-scatter and all-gather. */
export function busFactor(op: BusOp, n: number): number {
  return op === "allReduce" ? (2 * (n - 1)) / n : (n - 1) / n;
}

/** Bus bandwidth in GB/s (10⁹ B/s) of a collective of `bytes` that took `seconds` on `n` ranks. */
export function busBandwidth(op: BusOp, bytes: number, seconds: number, n: number): number {
  return (bytes / seconds / 1e9) * busFactor(op, n);
}
