/**
 * Multi-process backend over MPI (native/vit-mpi.c): `mpirun -np N vit train ...` or `srun --mpi=pmix`.
 * Rank and world size come from MPI itself. Tensors are staged through host memory exactly as in the other
 * backends (HostStagedGroup: several tensors travel as one fused buffer); the bytes then move with MPI's own
 * collectives (ring / recursive-doubling all-reduce, reduce-scatter, all-gather, broadcast, barrier) instead
 * of the TCP star, and sub-groups are real communicators (MPI_Comm_split).
 *
 * Order: MPI matches collectives by the order each rank issues them, not by a sequence number. A collective's
 * payload is a GPU readback that resolves asynchronously, so calls are submitted to the MPI thread in the
 * order they were *made* (a per-process queue shared by the world and its sub-groups), never in the order
 * their readbacks finished.
 *
 * Failure is never a hang: when a rank exits non-zero (an uncaught error, process.exit(1)) it calls MPI_Abort,
 * and the launcher ends every rank, naming the rank that aborted; a rank that is killed outright is reported by
 * mpirun, which ends the others. A collective that takes longer than VIT_COLLECTIVE_TIMEOUT (default 300 s)
 * aborts the job likewise. MPI errors (MPI_ERRORS_RETURN) reject the collective with a CollectiveError.
 *
 * Sequence check: MPI cannot tell that ranks called different collectives — mismatched calls hang, or pair
 * buffers of different sizes (truncation errors or silently wrong sums). So before each collective, split and
 * destroy the group's ranks all-reduce a 6-number signature of it (its sequence number in the group, kind,
 * op, dtype, root, result bytes; native/vit-mpi.c); if the signatures differ, no rank runs it and every rank
 * rejects with a CollectiveMismatchError naming each rank's call, as the tcp backend does. The check costs one
 * 96-byte all-reduce per collective (`vit-bench comm` measures it); VIT_MPI_CHECK=0 turns it off, on every
 * rank alike (a rank that checks while another does not would pair its check with the other's collective).
 */
import { CollectiveError, CollectiveMismatchError, ParallelConfigError } from "../errors.js";
import {
  type CollectiveDesc,
  type ReduceOp,
  contributionBytes,
  describeCollective,
  resultBytes,
  validateCollective,
} from "../host-collectives.js";
import { HostStagedGroup, type ProcessGroup } from "../process-group.js";
import { type MpiBinding, mpiBinding } from "./mpi-native.js";

const KIND = { allReduce: 0, reduceScatter: 1, allGather: 2, broadcast: 3, barrier: 4 } as const;
const OP: Record<ReduceOp, number> = { sum: 0, mean: 1, max: 2 };
const DTYPE = { f32: 0, f64: 1, bytes: 2 } as const;
/** native/vit-mpi.c's job kinds beyond the collectives: a sub-group's split and its destroy (MPI_Comm_free). */
const K_SPLIT = 5;
const K_FREE = 6;
/** native/vit-mpi.c's T_F32_NATIVE: f32 reduced as f32 by MPI. */
const F32_NATIVE = 3;

/** How f32 tensors are reduced: "f64" (default: widened, exact and order-independent) or "f32". */
export const MPI_REDUCE_ENV = "VIT_MPI_REDUCE";
/** "0" turns the per-collective sequence check off (on every rank alike); default on. */
export const MPI_CHECK_ENV = "VIT_MPI_CHECK";

export interface MpiOptions {
  /** Longest a collective may take before the job is aborted (default 300 s; VIT_COLLECTIVE_TIMEOUT). */
  timeoutMs?: number;
  /**
   * How f32 tensors are reduced (VIT_MPI_REDUCE): "f64" (default) widens them, so results are bit-identical
   * to the host reference and the TCP backend, at twice the bytes on the wire; "f32" lets MPI reduce f32 as
   * f32 — half the bytes, rounding in MPI's order (still the same on every rank of Open MPI's algorithms).
   */
  reduce?: "f64" | "f32";
  /**
   * Check before each collective that every rank of the group calls the same one (VIT_MPI_CHECK, default
   * true): a mismatch then rejects with a CollectiveMismatchError instead of hanging or mixing buffers.
   */
  check?: boolean;
}

/** What every group of this process shares: the binding, the submission queue, the world's state. */
interface MpiProcess {
  mpi: MpiBinding;
  worldRank: number;
  threadLevel: string;
  library: string;
  timeoutMs: number;
  reduceF32: boolean;
  check: boolean;
  /** Resolves when every collective made before the next one has been submitted to the MPI thread. */
  tail: Promise<unknown>;
  finalized: boolean;
}

let proc: MpiProcess | null = null;

function reduceFromEnv(): "f64" | "f32" {
  const v = process.env[MPI_REDUCE_ENV];
  if (v === undefined || v === "" || v === "f64" || v === "f32") return v === "f32" ? "f32" : "f64";
  throw new ParallelConfigError(`${MPI_REDUCE_ENV}=${JSON.stringify(v)} is not f64 or f32`, {
    hint: `set ${MPI_REDUCE_ENV}=f32 to reduce f32 gradients as f32 (half the bytes), f64 (the default) for exact sums`,
    where: MPI_REDUCE_ENV,
  });
}

function checkFromEnv(): boolean {
  const v = process.env[MPI_CHECK_ENV];
  if (v === undefined || v === "" || v === "1") return true;
  if (v === "0") return false;
  throw new ParallelConfigError(`${MPI_CHECK_ENV}=${JSON.stringify(v)} is not 0 or 1`, {
    hint: `set ${MPI_CHECK_ENV}=0 on every rank to skip the per-collective sequence check, or leave it unset`,
    where: MPI_CHECK_ENV,
  });
}

const KIND_NAME = ["allReduce", "reduceScatter", "allGather", "broadcast", "barrier"] as const;
const OP_NAME = ["sum", "mean", "max"] as const;
const DTYPE_NAME = ["f32", "f64", "bytes", "f32"] as const;

/** A rank's call, from its signature [seq, kind, op, dtype, root, out bytes], as describeCollective writes it. */
function describeSignature(sig: number[], size: number): string {
  const [seq, kind, op, dtype, root, out] = sig as [number, number, number, number, number, number];
  if (kind === K_SPLIT) return `split(${root} groups of ${out}) #${seq}`;
  if (kind === K_FREE) return `destroy() #${seq}`;
  const k = KIND_NAME[kind];
  if (!k) return `an unknown call (${sig.join(", ")})`;
  const desc: CollectiveDesc = {
    kind: k,
    ...(k === "allReduce" || k === "reduceScatter" ? { op: OP_NAME[op] ?? "sum" } : {}),
    ...(k === "broadcast" ? { root } : {}),
    dtype: DTYPE_NAME[dtype] ?? "bytes",
    bytes: k === "allGather" ? out / size : k === "reduceScatter" ? out * size : out,
  };
  return `${describeCollective(desc)}${dtype === F32_NATIVE ? " reduced as f32" : ""} #${seq}`;
}

/** The message of a failed sequence check: which ranks called what (ranks within the group). */
function mismatchMessage(
  signatures: number[],
  size: number,
  world: boolean,
): { text: string; failed: number } {
  const calls = new Map<string, number[]>();
  for (let r = 0; r < size; r++) {
    const d = describeSignature(signatures.slice(r * 6, r * 6 + 6), size);
    calls.set(d, [...(calls.get(d) ?? []), r]);
  }
  const parts = [...calls].map(
    ([d, rs]) => `${rs.length > 1 ? "ranks" : "rank"} ${rs.join(", ")} called ${d}`,
  );
  const first = [...calls.values()][1]?.[0] ?? 0;
  return {
    text:
      `collectives do not match across the ${world ? "" : "sub-group's "}ranks: ${parts.join("; ")}. ` +
      "Every rank must issue the same collectives in the same order",
    failed: first,
  };
}

/** Why the mpi backend cannot run in this process, or null when it can. */
export function mpiUnavailableReason(): string | null {
  return mpiBinding().reason || null;
}

function start(timeoutMs: number, reduce: "f64" | "f32", check: boolean): MpiProcess {
  if (proc) return proc;
  const { binding, reason } = mpiBinding();
  if (!binding) {
    throw new ParallelConfigError(`the mpi backend is unavailable: ${reason}`, {
      hint: "install MPI and rebuild @vit/parallel, or use the tcp backend (VIT_DIST_BACKEND=tcp with `vit launch`)",
    });
  }
  const info = binding.init();
  const p: MpiProcess = {
    mpi: binding,
    worldRank: info.rank,
    threadLevel: info.threadLevel,
    library: info.library,
    timeoutMs,
    reduceF32: reduce === "f32",
    check,
    tail: Promise.resolve(),
    finalized: false,
  };
  // A rank that leaves without finalizing must not leave the others waiting in a collective: a failing
  // exit aborts the whole job (the launcher names this rank), a clean one finalizes.
  // Node emits 'exit' before it prints a fatal error, and MPI_Abort ends the process, so the error is
  // remembered here and printed before aborting.
  let fatal: unknown;
  process.on("uncaughtExceptionMonitor", (e) => {
    fatal = e;
  });
  process.on("exit", (code) => {
    if (p.finalized) return;
    if (code === 0) {
      p.finalized = true;
      p.mpi.finalizeSync();
      return;
    }
    if (fatal !== undefined)
      console.error(
        `vit: rank ${p.worldRank} failed: ${fatal instanceof Error ? (fatal.stack ?? fatal.message) : String(fatal)}`,
      );
    console.error(`vit: rank ${p.worldRank} is exiting with code ${code}; aborting the MPI job (MPI_Abort).`);
    p.mpi.abort(code);
  });
  proc = p;
  return p;
}

export class MpiProcessGroup extends HostStagedGroup {
  readonly backend = "mpi" as const;
  /** Sequence number of the group's next collective, split or destroy (the sequence check compares it). */
  private seqNo = 0;
  private destroyed = false;

  private constructor(
    private readonly p: MpiProcess,
    /** The communicator's handle; a sub-group's is known once its split has been submitted. */
    private readonly comm: () => number,
    readonly rank: number,
    readonly worldSize: number,
    private readonly isWorld: boolean,
  ) {
    super();
  }

  /** MPI_COMM_WORLD of this process (MPI_Init_thread on first use). */
  static init(opts: MpiOptions = {}): MpiProcessGroup {
    const p = start(opts.timeoutMs ?? 300_000, opts.reduce ?? reduceFromEnv(), opts.check ?? checkFromEnv());
    if (p.finalized)
      throw new ParallelConfigError("MPI was finalized in this process; it cannot be joined again");
    const info = p.mpi.init();
    return new MpiProcessGroup(p, () => 0, info.rank, info.size, true);
  }

  /** The MPI library and the thread level it provided (e.g. "Open MPI v4.1.4", "multiple"). */
  get library(): { library: string; threadLevel: string } {
    return { library: this.p.library, threadLevel: this.p.threadLevel };
  }

  /** A real communicator per group (MPI_Comm_split, color = group, key = position in it). */
  override split(groups: number[][]): ProcessGroup {
    const bad = validateCollective({ kind: "barrier", dtype: "bytes", bytes: 0, groups }, this.worldSize);
    if (bad) throw new CollectiveError(`rank ${this.rank}: split: ${bad}.`, this.rank);
    const color = groups.findIndex((g) => g.includes(this.rank));
    const members = groups[color]!;
    const key = members.indexOf(this.rank);
    const sig = this.signature(this.seqNo++, K_SPLIT, 0, 0, groups.length, members.length);
    let handle = -1;
    // MPI_Comm_split is a collective of the parent: it takes its place in the queue like any other. The
    // sub-group's own collectives are submitted after it, so by then `handle` is set.
    // split() returns at once, so a failure (a mismatch included) cannot reject to its caller: it ends the job.
    this.enqueue(() => {
      const [h, split] = this.p.mpi.split(this.comm(), color, key, sig);
      handle = h;
      return split;
    }).catch((e: unknown) => {
      console.error(`vit: rank ${this.p.worldRank}: split failed: ${this.failure(e, "split").message}`);
      this.p.mpi.abort(1);
    });
    return new MpiProcessGroup(this.p, () => handle, key, members.length, false);
  }

  /** The sequence check's signature of a call, or undefined when the check is off. */
  private signature(
    seq: number,
    kind: number,
    op: number,
    dtype: number,
    root: number,
    outBytes: number,
  ): number[] | undefined {
    return this.p.check ? [seq, kind, op, dtype, root, outBytes] : undefined;
  }

  /** The error a rejected job becomes: a CollectiveMismatchError when the sequence check failed. */
  private failure(e: unknown, what: string): CollectiveError {
    const sigs = (e as { signatures?: number[] }).signatures;
    if (sigs) {
      const m = mismatchMessage(sigs, this.worldSize, this.isWorld);
      return new CollectiveMismatchError(`rank ${this.rank}: ${m.text}`, this.rank, m.failed);
    }
    return new CollectiveError(
      `rank ${this.rank}: ${what}: ${e instanceof Error ? e.message : String(e)}`,
      this.rank,
    );
  }

  /** Submits `submit` to the MPI thread after every collective made before it; resolves with its result. */
  private enqueue<T>(submit: () => Promise<T>, input: Promise<unknown> = Promise.resolve()): Promise<T> {
    const gate = Promise.all([this.p.tail, input]).then(() => ({ result: submit() }));
    this.p.tail = gate.catch(() => {});
    return gate.then((g) => g.result);
  }

  protected override collective(
    desc: CollectiveDesc,
    payload: () => Promise<Uint8Array>,
  ): Promise<Uint8Array> {
    const seq = this.seqNo++;
    const bad = validateCollective(desc, this.worldSize);
    if (bad) {
      return Promise.reject(
        new CollectiveError(`rank ${this.rank}: ${describeCollective(desc)} #${seq}: ${bad}.`, this.rank),
      );
    }
    if (this.p.finalized || this.destroyed) {
      return Promise.reject(
        new CollectiveError(
          `rank ${this.rank}: ${describeCollective(desc)} #${seq}: the group was destroyed.`,
          this.rank,
        ),
      );
    }
    const data = payload().then((p) => {
      const want = contributionBytes(desc, this.rank);
      if (p.byteLength !== want)
        // bug, not user input
        throw new Error(`internal: ${describeCollective(desc)} payload ${p.byteLength} B, expected ${want}`);
      return p;
    });
    let bytes: Uint8Array | undefined;
    const input = data.then((p) => {
      bytes = p;
    });
    return this.enqueue(() => this.run(seq, desc, bytes!), input);
  }

  private run(seq: number, desc: CollectiveDesc, payload: Uint8Array): Promise<Uint8Array> {
    const comm = this.comm();
    const out = resultBytes(desc, this.worldSize);
    const what = `${describeCollective(desc)} #${seq}`;
    const timer = setTimeout(() => {
      console.error(
        `vit: rank ${this.p.worldRank}: ${what} did not complete within ${this.p.timeoutMs} ms ` +
          "(another rank is stuck or calls different collectives); aborting the MPI job.",
      );
      this.p.mpi.abort(1);
    }, this.p.timeoutMs);
    timer.unref();
    const root = desc.root ?? 0;
    const dtype = desc.dtype === "f32" && this.p.reduceF32 ? F32_NATIVE : DTYPE[desc.dtype];
    const kind = KIND[desc.kind];
    const op = OP[desc.op ?? "sum"];
    const sig = this.signature(seq, kind, op, dtype, root, out);
    return this.p.mpi
      .collective(comm, kind, op, dtype, root, payload, out, sig)
      .then(
        (r) => r ?? new Uint8Array(0),
        (e: unknown) => {
          throw this.failure(e, what);
        },
      )
      .finally(() => clearTimeout(timer));
  }

  protected exchange(): Promise<Uint8Array> {
    // bug, not user input: collective() is overridden and never calls exchange
    throw new Error("internal: MpiProcessGroup.exchange");
  }

  /**
   * The world group finalizes MPI after every collective already made (every rank must destroy it, as with
   * MPI_Finalize). A sub-group frees its communicator (MPI_Comm_free, after its collectives already made;
   * every member must destroy it); later collectives on it reject.
   */
  async destroy(): Promise<void> {
    if (this.p.finalized || this.destroyed) return;
    this.destroyed = true;
    if (this.isWorld) {
      this.p.finalized = true;
      await this.enqueue(() => this.p.mpi.finalize());
      return;
    }
    const sig = this.signature(this.seqNo++, K_FREE, 0, 0, 0, 0);
    await this.enqueue(() => this.p.mpi.free(this.comm(), sig)).catch((e: unknown) => {
      throw this.failure(e, "destroy (MPI_Comm_free)");
    });
  }

  /** @internal Communicators this process has open, MPI_COMM_WORLD included (tests: destroy frees them). */
  openCommunicators(): number {
    return this.p.mpi.openComms();
  }
}
