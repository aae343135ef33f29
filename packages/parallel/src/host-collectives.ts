/**
 * The arithmetic of every collective, on host arrays. Both backends funnel each collective through
 * one place (the in-process hub, or rank 0 of the TCP star) that holds every rank's contribution and
 * calls `combine`; reductions run in rank order 0..n-1 in float64 and round once, so the result is
 * deterministic and bit-identical on every rank, whatever order the contributions arrived in.
 */

export type ReduceOp = "sum" | "mean" | "max";
export type CollectiveKind = "allReduce" | "reduceScatter" | "allGather" | "broadcast" | "barrier";
/** Element type of a payload: reductions need f32/f64; gathers and broadcasts move raw bytes. */
export type PayloadType = "f32" | "f64" | "bytes";

/** What a rank asks for; every rank must pass an equal descriptor at the same sequence number. */
export interface CollectiveDesc {
  kind: CollectiveKind;
  op?: ReduceOp;
  root?: number;
  dtype: PayloadType;
  /**
   * Bytes each rank contributes (allGather: its shard; reduceScatter: the full input; broadcast: the
   * size of the root's buffer — other ranks contribute nothing but must agree on the size).
   */
  bytes: number;
  /**
   * Sub-groups (ProcessGroup.split): a partition of the world's ranks into equal-sized groups; the
   * collective then runs within each group independently, `root` and result order relative to the group.
   * Every rank takes part in the one world-level exchange, which keeps all groups on one sequence.
   */
  groups?: number[][];
}

/** The position of `rank` within its group of d.groups (its rank, when d has no groups). */
export function groupIndex(d: CollectiveDesc, rank: number): number {
  if (!d.groups) return rank;
  for (const members of d.groups) {
    const index = members.indexOf(rank);
    if (index >= 0) return index;
  }
  // bug, not user input: validateCollective checked the groups first
  throw new Error(`rank ${rank} is in none of the collective's groups ${JSON.stringify(d.groups)}`);
}

export function describeCollective(d: CollectiveDesc): string {
  const extra = [
    d.op,
    d.root !== undefined ? `root ${d.root}` : undefined,
    `${d.dtype}`,
    `${d.bytes} B`,
    d.groups ? `groups ${JSON.stringify(d.groups)}` : undefined,
  ].filter(Boolean);
  return `${d.kind}(${extra.join(", ")})`;
}

export function sameCollective(a: CollectiveDesc, b: CollectiveDesc): boolean {
  return (
    a.kind === b.kind &&
    a.op === b.op &&
    a.root === b.root &&
    a.dtype === b.dtype &&
    a.bytes === b.bytes &&
    JSON.stringify(a.groups ?? null) === JSON.stringify(b.groups ?? null)
  );
}

/** Bytes rank `rank` must contribute for `d` (non-root ranks of a broadcast send nothing). */
export function contributionBytes(d: CollectiveDesc, rank: number): number {
  if (d.kind === "barrier") return 0;
  if (d.kind === "broadcast") return groupIndex(d, rank) === d.root ? d.bytes : 0;
  return d.bytes;
}

/** Bytes rank `rank` receives as the result of `d` in a world of `world` ranks. */
export function resultBytes(d: CollectiveDesc, world: number): number {
  const size = d.groups?.[0]?.length ?? world;
  switch (d.kind) {
    case "barrier":
      return 0;
    case "allGather":
      return d.bytes * size;
    case "reduceScatter":
      return d.bytes / size;
    default:
      return d.bytes;
  }
}

function elementBytes(t: PayloadType): number {
  return t === "f64" ? 8 : t === "f32" ? 4 : 1;
}

/** A typed view of `u8`, copied first when its offset is not aligned (frames from a socket are not). */
function floats(u8: Uint8Array, t: "f32" | "f64"): Float32Array | Float64Array {
  const size = elementBytes(t);
  const src = u8.byteOffset % size === 0 ? u8 : u8.slice();
  return t === "f32"
    ? new Float32Array(src.buffer, src.byteOffset, src.byteLength / 4)
    : new Float64Array(src.buffer, src.byteOffset, src.byteLength / 8);
}

function reduce(d: CollectiveDesc, inputs: Uint8Array[]): Uint8Array {
  // bug, not user input: validateCollective checked the dtype first
  if (d.dtype === "bytes") throw new Error(`${describeCollective(d)}: reductions need f32 or f64 payloads.`);
  const arrays = inputs.map((u) => floats(u, d.dtype as "f32" | "f64"));
  const n = arrays[0]?.length ?? 0;
  const acc = new Float64Array(n);
  const op = d.op ?? "sum";
  if (op === "max") {
    acc.set(arrays[0]!);
    for (let r = 1; r < arrays.length; r++) {
      const a = arrays[r]!;
      for (let i = 0; i < n; i++) if (a[i]! > acc[i]! || Number.isNaN(a[i]!)) acc[i] = a[i]!;
    }
  } else {
    for (const a of arrays) for (let i = 0; i < n; i++) acc[i] = acc[i]! + a[i]!;
    if (op === "mean") {
      const inv = arrays.length;
      for (let i = 0; i < n; i++) acc[i] = acc[i]! / inv;
    }
  }
  const out = d.dtype === "f32" ? Float32Array.from(acc) : acc;
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Every rank's result, given every rank's contribution in rank order. Results may share memory (an
 * all-reduce hands every rank the same array); callers copy before mutating.
 */
export function combine(d: CollectiveDesc, inputs: Uint8Array[]): Uint8Array[] {
  if (d.groups) {
    const outs: Uint8Array[] = new Array(inputs.length);
    const { groups, ...plain } = d;
    for (const members of groups) {
      const sub = combine(
        plain,
        members.map((r) => inputs[r]!),
      );
      members.forEach((r, i) => {
        outs[r] = sub[i]!;
      });
    }
    return outs;
  }
  const world = inputs.length;
  switch (d.kind) {
    case "barrier":
      return inputs.map(() => new Uint8Array(0));
    case "broadcast": {
      const src = inputs[d.root ?? 0]!;
      return inputs.map(() => src);
    }
    case "allGather": {
      const out = new Uint8Array(d.bytes * world);
      inputs.forEach((u, r) => out.set(u, r * d.bytes));
      return inputs.map(() => out);
    }
    case "allReduce": {
      const out = reduce(d, inputs);
      return inputs.map(() => out);
    }
    case "reduceScatter": {
      const out = reduce(d, inputs);
      const chunk = d.bytes / world;
      return inputs.map((_, r) => out.subarray(r * chunk, (r + 1) * chunk));
    }
  }
}

/** Checks that a descriptor is well formed for a group of `world` ranks (before anything is sent). */
export function validateCollective(d: CollectiveDesc, world: number): string | null {
  if (d.groups) {
    const size = d.groups[0]?.length ?? 0;
    const seen = d.groups.flat();
    if (
      size === 0 ||
      d.groups.some((g) => g.length !== size) ||
      seen.length !== world ||
      new Set(seen).size !== world ||
      seen.some((r) => !Number.isInteger(r) || r < 0 || r >= world)
    ) {
      return `groups ${JSON.stringify(d.groups)} are not a partition of ranks 0..${world - 1} into equal-sized groups`;
    }
    const { groups, ...plain } = d;
    return validateCollective(plain, size);
  }
  const el = elementBytes(d.dtype);
  if (d.bytes % el) return `${d.bytes} bytes is not a whole number of ${d.dtype} elements`;
  if ((d.kind === "allReduce" || d.kind === "reduceScatter") && d.dtype === "bytes")
    return "reductions need f32 or f64 data";
  if (d.kind === "reduceScatter" && (d.bytes / el) % world) {
    return `the input's ${d.bytes / el} elements do not split evenly over ${world} ranks (pad it to a multiple of ${world})`;
  }
  if (d.kind === "broadcast" && !(Number.isInteger(d.root) && d.root! >= 0 && d.root! < world)) {
    return `root ${d.root} is not a rank of a group of ${world}`;
  }
  return null;
}
