/**
 * `comm` suite: all-reduce bus bandwidth of the multi-process backends, MPI vs TCP, at 2 ranks for
 * 1–64 MB (NCCL-tests' convention: algorithm bandwidth = bytes / time; bus bandwidth = algbw × 2(N−1)/N, the
 * per-link rate a ring would need). Each backend runs as a real job: `mpirun -np 2` for mpi, two processes
 * with torchrun's variables for tcp, both re-running this CLI as a worker (VIT_BENCH_COMM_WORKER). The
 * payload is host float64 (`allReduceValues`), so the figures are the transports' and reductions', without
 * GPU readbacks. Options: --set sizes=1,4,16,64 (MB) --set ranks=2.
 */
import { VitError } from "@vit/tensor";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { initProcessGroup, mpiUnavailableReason, newJobToken } from "@vit/parallel";
import { type BenchCase, type BenchContext, stats, unmeasuredCase } from "../types.js";

const WORKER_ENV = "VIT_BENCH_COMM_WORKER";

/** Runs in each rank of the job: prints one `COMM <json>` line per size from rank 0. */
export async function commWorker(): Promise<void> {
  const sizes = (process.env.VIT_BENCH_COMM_SIZES ?? "1,4,16,64").split(",").map(Number);
  const repeats = Number(process.env.VIT_BENCH_COMM_REPEATS ?? 5);
  const g = await initProcessGroup();
  for (const mb of sizes) {
    const v = new Float64Array((mb * 1e6) / 8).fill(g.rank + 1);
    const secs: number[] = [];
    for (let r = 0; r < repeats + 1; r++) {
      await g.barrier();
      const t0 = performance.now();
      await g.allReduceValues(v, "sum");
      if (r > 0) secs.push((performance.now() - t0) / 1000);
    }
    if (g.rank === 0)
      console.log(`COMM ${JSON.stringify({ backend: g.backend, mb, world: g.worldSize, secs })}`);
  }
  await g.destroy();
}

function freePort(): Promise<number> {
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

async function job(backend: "mpi" | "tcp", n: number, env: NodeJS.ProcessEnv): Promise<string> {
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
    throw new VitError(`tcp rank ${bad} exited with ${ranks[bad]!.code}: ${ranks[bad]!.out.trim().slice(-500)}`);
  return ranks.map((r) => r.out).join("\n");
}

export async function commSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const sizes = ctx.options?.sizes ?? (ctx.quick ? "1,4" : "1,4,16,64");
  const n = Number(ctx.options?.ranks ?? 2);
  const repeats = ctx.quick ? 2 : 5;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [WORKER_ENV]: "1",
    VIT_BENCH_COMM_SIZES: sizes,
    VIT_BENCH_COMM_REPEATS: String(repeats),
  };
  for (const k of ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"]) delete env[k];
  const cases: BenchCase[] = [];
  const mpiMissing =
    mpiUnavailableReason() ??
    (spawnSync("mpirun", ["--version"]).status === 0 ? null : "mpirun is not installed");
  for (const backend of ["mpi", "tcp"] as const) {
    const name = (mb: number) => `all-reduce ${mb} MB f64, ${n} ranks, ${backend}`;
    const all = sizes.split(",").map(Number);
    if (backend === "mpi" && mpiMissing) {
      for (const mb of all)
        cases.push(unmeasuredCase({ suite: "comm", name: name(mb), unit: "GB/s" }, { skipped: mpiMissing }));
      continue;
    }
    ctx.log(`all-reduce ${sizes} MB, ${n} ranks, ${backend}`);
    try {
      const out = await job(backend, n, env);
      for (const line of out.split("\n").filter((l) => l.startsWith("COMM "))) {
        const r = JSON.parse(line.slice(5)) as { mb: number; world: number; secs: number[] };
        const bus = r.secs.map((s) => ((r.mb * 1e6) / s / 1e9) * ((2 * (r.world - 1)) / r.world));
        const t = stats(r.secs);
        cases.push({
          suite: "comm",
          name: name(r.mb),
          unit: "GB/s",
          ...stats(bus),
          repeats: r.secs.length,
          extra: { median_ms: Number((t.median * 1000).toFixed(2)), measure: "bus bandwidth" },
        });
      }
    } catch (e) {
      for (const mb of all)
        cases.push(
          unmeasuredCase({ suite: "comm", name: name(mb), unit: "GB/s" }, { failed: (e as Error).message }),
        );
    }
  }
  return cases;
}

/** True when this process is a rank of a comm job (main.ts then runs commWorker instead of the CLI). */
export const isCommWorker = () => process.env[WORKER_ENV] === "1";
