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
 */
import { CollectiveError, ParallelConfigError } from "../errors.js";
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
/** native/vit-mpi.c's T_F32_NATIVE: f32 reduced as f32 by MPI. */
const F32_NATIVE = 3;

/** How f32 tensors are reduced: "f64" (default: widened, exact and order-independent) or "f32". */
export const MPI_REDUCE_ENV = "VIT_MPI_REDUCE";

export interface MpiOptions {
  /** Longest a collective may take before the job is aborted (default 300 s; VIT_COLLECTIVE_TIMEOUT). */
  timeoutMs?: number;
  /**
   * How f32 tensors are reduced (VIT_MPI_REDUCE): "f64" (default) widens them, so results are bit-identical
   * to the host reference and the TCP backend, at twice the bytes on the wire; "f32" lets MPI reduce f32 as
   * f32 — half the bytes, rounding in MPI's order (still the same on every rank of Open MPI's algorithms).
   */
  reduce?: "f64" | "f32";
}

/** What every group of this process shares: the binding, the submission queue, the world's state. */
interface MpiProcess {
  mpi: MpiBinding;
  worldRank: number;
  threadLevel: string;
  library: string;
  timeoutMs: number;
  reduceF32: boolean;
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

/** Why the mpi backend cannot run in this process, or null when it can. */
export function mpiUnavailableReason(): string | null {
  return mpiBinding().reason || null;
}

function start(timeoutMs: number, reduce: "f64" | "f32"): MpiProcess {
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
  private seqNo = 0;

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
    const p = start(opts.timeoutMs ?? 300_000, opts.reduce ?? reduceFromEnv());
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
    let handle = -1;
    // MPI_Comm_split is a collective of the parent: it takes its place in the queue like any other. The
    // sub-group's own collectives are submitted after it, so by then `handle` is set.
    this.enqueue(() => {
      const [h, split] = this.p.mpi.split(this.comm(), color, key);
      handle = h;
      return split;
    }).catch((e: unknown) => {
      console.error(
        `vit: rank ${this.p.worldRank}: MPI_Comm_split failed: ${e instanceof Error ? e.message : e}`,
      );
      this.p.mpi.abort(1);
    });
    return new MpiProcessGroup(this.p, () => handle, key, members.length, false);
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
    if (this.p.finalized) {
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
    return this.p.mpi
      .collective(comm, KIND[desc.kind], OP[desc.op ?? "sum"], dtype, root, payload, out)
      .then(
        (r) => r ?? new Uint8Array(0),
        (e: unknown) => {
          throw new CollectiveError(
            `rank ${this.rank}: ${what}: ${e instanceof Error ? e.message : String(e)}`,
            this.rank,
          );
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
   * MPI_Finalize); a sub-group's communicator lives until then.
   */
  async destroy(): Promise<void> {
    if (!this.isWorld || this.p.finalized) return;
    this.p.finalized = true;
    await this.enqueue(() => this.p.mpi.finalize());
  }
}
