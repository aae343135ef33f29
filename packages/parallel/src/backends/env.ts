/**
 * torchrun's environment conventions: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. Slurm
 * (SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID) and Open MPI (OMPI_COMM_WORLD_*) rank variables are
 * accepted when RANK/WORLD_SIZE are absent, so `srun` and `mpirun` launch jobs without a wrapper; the
 * rendezvous address still comes from MASTER_ADDR/MASTER_PORT. Two variables of our own: VIT_JOB_TOKEN, the
 * job's secret that every rank must hold (handshake.ts; `vit launch` sets it), and VIT_COLLECTIVE_TIMEOUT,
 * the seconds a collective may take before the job fails (default 300). Under an MPI launcher (mpirun,
 * srun --mpi=pmix) the mpi backend is picked instead when its binding loads; VIT_DIST_BACKEND=mpi|tcp overrides.
 */
import { ParallelConfigError } from "../errors.js";
import type { ProcessGroup } from "../process-group.js";
import { JOB_TOKEN_ENV } from "./handshake.js";
import { MpiProcessGroup, mpiUnavailableReason } from "./mpi.js";
import { TcpProcessGroup } from "./tcp.js";

/** Picks the multi-process backend: "mpi" or "tcp"; unset, the environment decides (distBackend). */
export const DIST_BACKEND_ENV = "VIT_DIST_BACKEND";
/** Variables an MPI launcher sets (mpirun: OMPI_*; srun --mpi=pmix: PMIX_RANK; MPICH/Intel MPI: PMI_RANK). */
const MPI_LAUNCH_VARS = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"];

/** Seconds a collective may wait for the other ranks before the job fails naming the missing rank. */
export const COLLECTIVE_TIMEOUT_ENV = "VIT_COLLECTIVE_TIMEOUT";

export interface DistributedEnv {
  rank: number;
  worldSize: number;
  /** Rank within this host: picks the adapter (VIT_ADAPTER) when a host has several GPUs. */
  localRank: number;
  masterAddr: string;
  masterPort: number;
}

type Env = Record<string, string | undefined>;

function pick(env: Env, names: string[]): { name: string; value: string } | null {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== "") return { name, value };
  }
  return null;
}

function int(v: { name: string; value: string }): number {
  const n = Number(v.value);
  if (!Number.isInteger(n) || n < 0) {
    throw new ParallelConfigError(`${v.name}=${JSON.stringify(v.value)} is not a non-negative integer`, {
      hint: `set ${v.name} to a whole number, or launch with \`vit launch --nproc N -- ...\` which sets it`,
      where: v.name,
    });
  }
  return n;
}

/**
 * Reads the job's layout from the environment. Without WORLD_SIZE (or its Slurm/MPI equivalent) this
 * is a single-process run: rank 0 of 1.
 */
export function distributedEnv(env: Env = process.env): DistributedEnv {
  if (distBackend(env) === "mpi") return mpiEnv(env);
  const world = pick(env, ["WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]);
  if (!world) return { rank: 0, worldSize: 1, localRank: 0, masterAddr: "127.0.0.1", masterPort: 29500 };
  const worldSize = int(world);
  const rank = pick(env, ["RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"]);
  const local = pick(env, ["LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK"]);
  const addr = pick(env, ["MASTER_ADDR"]);
  const port = pick(env, ["MASTER_PORT"]);
  const missing = [
    worldSize > 1 && !rank && "RANK",
    worldSize > 1 && !addr && "MASTER_ADDR",
    worldSize > 1 && !port && "MASTER_PORT",
  ].filter(Boolean);
  if (missing.length) {
    throw new ParallelConfigError(
      `${world.name}=${worldSize} but ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} not set`,
      {
        hint:
          "launch with `vit launch --nproc N -- ...` or set torchrun-style variables: RANK, WORLD_SIZE, LOCAL_RANK, " +
          "MASTER_ADDR (rank 0's host) and MASTER_PORT (a free port on it)" +
          (launchedByMpi(env) ? ` (the mpi backend is unavailable: ${mpiUnavailableReason()})` : ""),
      },
    );
  }
  const out: DistributedEnv = {
    rank: rank ? int(rank) : 0,
    worldSize,
    localRank: local ? int(local) : 0,
    masterAddr: addr?.value ?? "127.0.0.1",
    masterPort: port ? int(port) : 29500,
  };
  if (worldSize < 1 || out.rank >= worldSize) {
    throw new ParallelConfigError(`RANK ${out.rank} is outside [0, WORLD_SIZE ${worldSize})`, {
      hint: "give each process a distinct RANK below WORLD_SIZE (as `vit launch` does)",
    });
  }
  return out;
}

/** The collective timeout set by VIT_COLLECTIVE_TIMEOUT (seconds), in ms; undefined when unset. */
export function collectiveTimeoutMs(env: Env = process.env): number | undefined {
  const v = pick(env, [COLLECTIVE_TIMEOUT_ENV]);
  if (!v) return undefined;
  const s = Number(v.value);
  if (!(Number.isFinite(s) && s > 0))
    throw new ParallelConfigError(
      `${v.name}=${JSON.stringify(v.value)} is not a positive number of seconds`,
      {
        hint: `set ${v.name} to the seconds a collective may take (default 300), or unset it`,
      },
    );
  return s * 1000;
}

export interface InitOptions {
  env?: Env;
  /** Overrides VIT_COLLECTIVE_TIMEOUT (default 300 s). */
  timeoutMs?: number;
  connectTimeoutMs?: number;
}

function launchedByMpi(env: Env): boolean {
  return pick(env, MPI_LAUNCH_VARS) !== null;
}

/**
 * The backend a job uses: VIT_DIST_BACKEND when set ("mpi" or "tcp"), else "mpi" when an MPI launcher
 * started this process and the MPI binding loads, else "tcp".
 */
export function distBackend(env: Env = process.env): "mpi" | "tcp" {
  const v = pick(env, [DIST_BACKEND_ENV]);
  if (v) {
    if (v.value === "mpi" || v.value === "tcp") return v.value;
    throw new ParallelConfigError(`${v.name}=${JSON.stringify(v.value)} is not a backend`, {
      hint: `set ${v.name} to mpi or tcp, or unset it to pick from the launcher's environment`,
      where: v.name,
    });
  }
  return launchedByMpi(env) && mpiUnavailableReason() === null ? "mpi" : "tcp";
}

/** Under MPI the layout is the launcher's (ranks from PMI/PMIx; MPI_Init_thread confirms it). */
function mpiEnv(env: Env): DistributedEnv {
  const world = pick(env, ["OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "SLURM_NTASKS", "WORLD_SIZE"]);
  const rank = pick(env, ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID", "RANK"]);
  const local = pick(env, ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "LOCAL_RANK"]);
  return {
    rank: rank ? int(rank) : 0,
    worldSize: world ? int(world) : 1,
    localRank: local ? int(local) : 0,
    masterAddr: "",
    masterPort: 0,
  };
}

/**
 * Joins the job described by the environment (torch.distributed.init_process_group("env://")): over MPI
 * when distBackend says so, else over TCP with torchrun's variables.
 */
export async function initProcessGroup(opts: InitOptions = {}): Promise<ProcessGroup> {
  const env = opts.env ?? process.env;
  const timeoutMs = opts.timeoutMs ?? collectiveTimeoutMs(env);
  if (distBackend(env) === "mpi") return MpiProcessGroup.init(timeoutMs !== undefined ? { timeoutMs } : {});
  const e = distributedEnv(env);
  const token = env[JOB_TOKEN_ENV];
  return TcpProcessGroup.connect({
    rank: e.rank,
    worldSize: e.worldSize,
    masterAddr: e.masterAddr,
    masterPort: e.masterPort,
    ...(token ? { token } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
  });
}
