/**
 * ProcessGroup: the collectives every strategy is written against (torch.distributed's, with NCCL's
 * calling convention: every rank calls the same collectives in the same order). All are async — a
 * collective needs the other ranks' values, so it is a synchronisation point by nature.
 *
 * Both backends stage through host memory: a rank reads its tensors back (the device's one sync point),
 * the bytes meet every other rank's at one place (the in-process hub, or rank 0 of the TCP star) where
 * `combine` computes the results in a fixed rank order, and each rank uploads its result. Uploads are
 * recorded in the device's command stream, so work recorded after a collective sees its result.
 */
import { type Tensor, bytesPerElement } from "@vit/tensor";
import { CollectiveError, ParallelConfigError } from "./errors.js";
import {
  type CollectiveDesc,
  type ReduceOp,
  contributionBytes,
  describeCollective,
  validateCollective,
} from "./host-collectives.js";

export type { ReduceOp } from "./host-collectives.js";

export interface ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: "in-process" | "tcp" | "mpi";
  /** Reduces each tensor over all ranks, in place (f32). */
  allReduce(tensors: Tensor[], op?: ReduceOp): Promise<void>;
  /**
   * Reduces `input` (worldSize·n elements) over all ranks and writes chunk `rank` of the result into
   * `output` (n elements) — torch's reduce_scatter_tensor(output, input).
   */
  reduceScatter(output: Tensor, input: Tensor, op?: ReduceOp): Promise<void>;
  /** Writes every rank's `input` (n elements), in rank order, into `output` (worldSize·n elements). */
  allGather(output: Tensor, input: Tensor): Promise<void>;
  /** Overwrites each tensor with root's values. */
  broadcast(tensors: Tensor[], root?: number): Promise<void>;
  barrier(): Promise<void>;
  /** All-reduce of host numbers (metrics, norms), in float64. */
  allReduceValues(values: ArrayLike<number>, op?: ReduceOp): Promise<Float64Array>;
  /**
   * This rank's group of an equal-sized partition of the ranks (every rank passes the same partition);
   * see HostStagedGroup.split.
   */
  split(groups: number[][]): ProcessGroup;
  /** Leaves the group; later collectives on it (or on peers that wait for this rank) reject. */
  destroy(): Promise<void>;
}

/**
 * Consecutive groups of `size` ranks — Megatron's tensor-parallel groups ([0,1], [2,3] for size 2 of 4) —
 * and the strided groups across them — its data-parallel groups ([0,2], [1,3]).
 */
export function tensorAndDataParallelGroups(world: number, size: number): { tp: number[][]; dp: number[][] } {
  if (!(Number.isInteger(size) && size >= 1 && world % size === 0)) {
    throw new ParallelConfigError(`a world of ${world} ranks does not split into groups of ${size}`, {
      hint: `run a multiple of ${size} ranks, or choose a group size that divides ${world}`,
    });
  }
  const tp = Array.from({ length: world / size }, (_, g) =>
    Array.from({ length: size }, (_, i) => g * size + i),
  );
  const dp = Array.from({ length: size }, (_, i) => tp.map((g) => g[i]!));
  return { tp, dp };
}

function fmtShape(t: Tensor): string {
  return `[${t.shape.join(", ")}] ${t.dtype}`;
}

/**
 * The tensor side of both backends; a backend supplies `exchange`, which delivers this rank's
 * contribution to collective number `seq` and resolves with its result.
 */
export abstract class HostStagedGroup implements ProcessGroup {
  abstract readonly rank: number;
  abstract readonly worldSize: number;
  abstract readonly backend: "in-process" | "tcp" | "mpi";
  /** Sequence number of the next collective; assigned when it is called, so calls match by order. */
  private seq = 0;

  protected abstract exchange(seq: number, desc: CollectiveDesc, payload: Uint8Array): Promise<Uint8Array>;
  abstract destroy(): Promise<void>;

  /**
   * This rank's group of a partition of the world into equal-sized groups (torch.distributed.new_group for
   * all groups at once). Its collectives run within the group, but each is one world-level exchange in
   * which every group combines its own members' contributions: every rank must make the same split and
   * call the groups' collectives at the same points, as SPMD training does (all tensor-parallel groups run
   * the same forward; all data-parallel groups reduce the same buckets). The parent owns the connections.
   */
  split(groups: number[][]): ProcessGroup {
    const bad = validateCollective({ kind: "barrier", dtype: "bytes", bytes: 0, groups }, this.worldSize);
    if (bad) throw new CollectiveError(`rank ${this.rank}: split: ${bad}.`, this.rank);
    return new SubGroup(this, groups);
  }

  /** @internal A sub-group's collective, run as a world-level exchange tagged with the partition. */
  exchangePartitioned(desc: CollectiveDesc, payload: Uint8Array): Promise<Uint8Array> {
    return this.collective(desc, () => Promise.resolve(payload));
  }

  /** Runs one collective: checks it, assigns its number, and hands it to the backend. */
  protected collective(desc: CollectiveDesc, payload: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const seq = this.seq++;
    const bad = validateCollective(desc, this.worldSize);
    if (bad) {
      return Promise.reject(
        new CollectiveError(`rank ${this.rank}: ${describeCollective(desc)} #${seq}: ${bad}.`, this.rank),
      );
    }
    return payload().then((p) => {
      const want = contributionBytes(desc, this.rank);
      if (p.byteLength !== want)
        // bug, not user input
        throw new Error(`internal: ${describeCollective(desc)} payload ${p.byteLength} B, expected ${want}`);
      return this.exchange(seq, desc, p);
    });
  }

  private requireF32(what: string, ts: Tensor[]): void {
    for (const t of ts) {
      if (t.dtype !== "f32") {
        throw new CollectiveError(
          `rank ${this.rank}: ${what} reduces f32 tensors; got ${fmtShape(t)}. Cast it first.`,
          this.rank,
        );
      }
    }
  }

  async allReduce(tensors: Tensor[], op: ReduceOp = "sum"): Promise<void> {
    this.requireF32("allReduce", tensors);
    const total = tensors.reduce((a, t) => a + t.numel * 4, 0);
    const out = await this.collective({ kind: "allReduce", op, dtype: "f32", bytes: total }, () =>
      readAll(tensors, total),
    );
    writeAll(tensors, out);
  }

  async reduceScatter(output: Tensor, input: Tensor, op: ReduceOp = "sum"): Promise<void> {
    this.requireF32("reduceScatter", [output, input]);
    if (input.numel !== output.numel * this.worldSize) {
      throw new CollectiveError(
        `rank ${this.rank}: reduceScatter input ${fmtShape(input)} must have worldSize (${this.worldSize}) × the output's ` +
          `${output.numel} elements.`,
        this.rank,
      );
    }
    const out = await this.collective(
      { kind: "reduceScatter", op, dtype: "f32", bytes: input.numel * 4 },
      () => readAll([input], input.numel * 4),
    );
    writeAll([output], out);
  }

  async allGather(output: Tensor, input: Tensor): Promise<void> {
    const el = bytesPerElement(input.dtype);
    if (el !== 4 || output.dtype !== input.dtype) {
      throw new CollectiveError(
        `rank ${this.rank}: allGather moves 4-byte elements of one dtype; got input ${fmtShape(input)}, output ${fmtShape(output)}.`,
        this.rank,
      );
    }
    if (output.numel !== input.numel * this.worldSize) {
      throw new CollectiveError(
        `rank ${this.rank}: allGather output ${fmtShape(output)} must have worldSize (${this.worldSize}) × the input's ` +
          `${input.numel} elements.`,
        this.rank,
      );
    }
    const out = await this.collective({ kind: "allGather", dtype: "bytes", bytes: input.numel * 4 }, () =>
      readAll([input], input.numel * 4),
    );
    writeAll([output], out);
  }

  async broadcast(tensors: Tensor[], root = 0): Promise<void> {
    const total = tensors.reduce((a, t) => a + byteSize(t), 0);
    const out = await this.collective({ kind: "broadcast", root, dtype: "bytes", bytes: total }, () =>
      this.rank === root ? readAll(tensors, total) : Promise.resolve(new Uint8Array(0)),
    );
    if (this.rank !== root) writeAll(tensors, out);
  }

  async barrier(): Promise<void> {
    await this.collective({ kind: "barrier", dtype: "bytes", bytes: 0 }, () =>
      Promise.resolve(new Uint8Array(0)),
    );
  }

  async allReduceValues(values: ArrayLike<number>, op: ReduceOp = "sum"): Promise<Float64Array> {
    const v = Float64Array.from(values);
    const out = await this.collective({ kind: "allReduce", op, dtype: "f64", bytes: v.byteLength }, () =>
      Promise.resolve(new Uint8Array(v.buffer)),
    );
    return new Float64Array(out.slice().buffer);
  }
}

/** Bytes a tensor's values occupy (16-bit dtypes pack two per word). */
function byteSize(t: Tensor): number {
  return Math.ceil((t.numel * bytesPerElement(t.dtype)) / 4) * 4;
}

/** Reads the tensors back and concatenates their bytes (one readback per tensor, all in flight at once). */
async function readAll(tensors: Tensor[], total: number): Promise<Uint8Array> {
  const parts = await Promise.all(tensors.map((t) => t.device.read(t.buffer, byteSize(t), "collective")));
  if (parts.length === 1) return new Uint8Array(parts[0]!);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), at);
    at += p.byteLength;
  }
  return out;
}

/** Uploads consecutive slices of `data` into the tensors (recorded after everything already queued). */
function writeAll(tensors: Tensor[], data: Uint8Array): void {
  let at = 0;
  for (const t of tensors) {
    const n = byteSize(t);
    if (n > 0) t.device.upload(t.buffer, data.subarray(at, at + n));
    at += n;
  }
}

/** One group of a HostStagedGroup.split: ranks and sizes relative to the group, exchanges through the parent. */
class SubGroup extends HostStagedGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: ProcessGroup["backend"];

  constructor(
    private readonly parent: HostStagedGroup,
    private readonly groups: number[][],
  ) {
    super();
    const members = groups.find((g) => g.includes(parent.rank))!;
    this.rank = members.indexOf(parent.rank);
    this.worldSize = members.length;
    this.backend = parent.backend;
  }

  protected exchange(_seq: number, desc: CollectiveDesc, payload: Uint8Array): Promise<Uint8Array> {
    return this.parent.exchangePartitioned({ ...desc, groups: this.groups }, payload);
  }

  async destroy(): Promise<void> {}
}
