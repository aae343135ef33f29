/**
 * Launching a multi-process job of this CLI for the comm suite, the way a user would: `mpirun -np N` for the
 * mpi backend, N processes with torchrun's variables (and a job token, as `vit launch` sets) for tcp. Each
 * process re-runs this CLI as a worker (VIT_BENCH_COMM_WORKER); the job's output is returned.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { newJobToken } from "@vit/parallel";
import { VitError } from "@vit/tensor";

export const WORKER_ENV = "VIT_BENCH_COMM_WORKER";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    c.stdout.on("data", (d) => {
      out += String(d);
    });
    c.stderr.on("data", (d) => {
      out += String(d);
    });
    c.on("error", (e) => resolve({ code: 1, out: e.message }));
    c.on("close", (code) => resolve({ code, out }));
  });
}

/** The environment of a worker job: this process's, without a surrounding job's rank variables. */
export function workerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, [WORKER_ENV]: "1", ...extra };
  for (const k of ["RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "VIT_DIST_BACKEND"])
    delete env[k];
  return env;
}

/** Runs an `n`-rank job of the worker on `backend`; throws with the tail of its output when a rank fails. */
export async function job(backend: "mpi" | "tcp", n: number, env: NodeJS.ProcessEnv): Promise<string> {
  const self = [process.execPath, process.argv[1]!];
  if (backend === "mpi") {
    const flags = ["--oversubscribe", ...(process.getuid?.() === 0 ? ["--allow-run-as-root"] : [])];
    const r = await run("mpirun", [...flags, "-np", String(n), ...self], { ...env, VIT_DIST_BACKEND: "mpi" });
    if (r.code !== 0) throw new VitError(`mpirun exited with ${r.code}: ${r.out.trim().slice(-500)}`);
    return r.out;
  }
  const port = String(await freePort());
  const token = newJobToken();
  const ranks = await Promise.all(
    Array.from({ length: n }, (_, rank) =>
      run(self[0]!, self.slice(1), {
        ...env,
        VIT_DIST_BACKEND: "tcp",
        RANK: String(rank),
        WORLD_SIZE: String(n),
        LOCAL_RANK: String(rank),
        MASTER_ADDR: "127.0.0.1",
        MASTER_PORT: port,
        VIT_JOB_TOKEN: token,
      }),
    ),
  );
  const bad = ranks.findIndex((r) => r.code !== 0);
  if (bad >= 0)
    throw new VitError(
      `tcp rank ${bad} exited with ${ranks[bad]!.code}: ${ranks[bad]!.out.trim().slice(-500)}`,
    );
  return ranks.map((r) => r.out).join("\n");
}

/** The `TAG <json>` lines a job printed, parsed. */
export function records<T>(out: string, tag: string): T[] {
  return out
    .split("\n")
    .filter((l) => l.startsWith(`${tag} `))
    .map((l) => JSON.parse(l.slice(tag.length + 1)) as T);
}
