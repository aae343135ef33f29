/**
 * `vit launch --backend mpi --nproc N -- <command>`: hands the job to mpirun (`mpirun -np N vit <command>`),
 * whose ranks then pick the mpi backend (VIT_DIST_BACKEND=mpi). mpirun owns the job from there: it starts the
 * ranks, ends them all when one fails, and names the rank that failed. Only a convenience — `mpirun -np N
 * ./vit ...` and `srun --mpi=pmix ./vit ...` work as they are.
 */
import { spawn, spawnSync } from "node:child_process";
import { COLLECTIVE_TIMEOUT_ENV, DIST_BACKEND_ENV, mpiUnavailableReason } from "@vit/parallel";
import { UsageError } from "../errors.js";

export async function launchMpi(
  n: number,
  args: string[],
  timeoutSeconds: number | undefined,
): Promise<number> {
  const mpirun = process.env.MPIRUN || "mpirun";
  const version = spawnSync(mpirun, ["--version"], { encoding: "utf8" });
  if (version.error || version.status !== 0)
    throw new UsageError(`vit launch --backend mpi: ${mpirun} is not installed`, {
      hint: "install MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev) and rebuild, or use --backend tcp",
    });
  const why = mpiUnavailableReason();
  if (why)
    throw new UsageError(`vit launch --backend mpi: ${why}`, {
      hint: "rebuild @vit/parallel after installing MPI, or use --backend tcp",
    });
  // Open MPI refuses root without these, and more ranks than cores without --oversubscribe; a convenience
  // launcher on one host should just run.
  const openMpi = /Open MPI/i.test(version.stdout);
  const flags = openMpi
    ? ["--oversubscribe", ...(process.getuid?.() === 0 ? ["--allow-run-as-root"] : [])]
    : [];
  const child = spawn(mpirun, [...flags, "-np", String(n), process.execPath, process.argv[1]!, ...args], {
    env: {
      ...process.env,
      [DIST_BACKEND_ENV]: "mpi",
      ...(timeoutSeconds !== undefined ? { [COLLECTIVE_TIMEOUT_ENV]: String(timeoutSeconds) } : {}),
    },
    stdio: "inherit",
  });
  return new Promise((resolve) => {
    child.on("error", (e) => {
      console.error(`vit launch: could not start ${mpirun} (${e.message}).`);
      resolve(1);
    });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
