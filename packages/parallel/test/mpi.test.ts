/**
 * The mpi backend under a real launcher: `mpirun -np 2` and `-np 4` of test/fixtures/mpi-worker.ts. Each
 * rank checks its collectives bit for bit against combine() (the host reference) over every rank's inputs;
 * DP=2 training is compared with one device; a rank that is killed or raises must end the job non-zero with
 * the failed rank named. Skipped, saying why, where mpirun or the MPI binding is missing (tooling/scripts/
 * bootstrap.sh installs openmpi-bin and libopenmpi-dev when it runs as root).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "tsup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { distBackend, mpiUnavailableReason } from "../src/index.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const bundleDir = join(here, "..", "node_modules", ".vit-parallel-test", `mpi-${process.pid}`);
const nativeBuild = join(here, "..", "native", "build");

/** The built binding (the bundled worker cannot find it relative to itself; VIT_MPI_ADDON points it there). */
function addonPath(): string | null {
  if (!existsSync(nativeBuild)) return null;
  for (const d of readdirSync(nativeBuild)) {
    const p = join(nativeBuild, d, "vit_mpi.node");
    if (d.startsWith(`${process.platform}-${process.arch}-`) && existsSync(p)) return p;
  }
  return null;
}

const skipReason = (() => {
  const v = spawnSync("mpirun", ["--version"], { encoding: "utf8" });
  if (v.error || v.status !== 0)
    return "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)";
  const why = mpiUnavailableReason();
  if (why) return why;
  return addonPath() ? null : "the MPI binding is not built (node scripts/build-native.mjs)";
})();
if (skipReason) console.warn(`mpi.test.ts skipped: ${skipReason}`);

beforeAll(async () => {
  if (skipReason) return;
  await build({
    entry: { "mpi-worker": join(here, "fixtures", "mpi-worker.ts") },
    outDir: bundleDir,
    format: ["esm"],
    target: "node20",
    dts: false,
    sourcemap: false,
    clean: false,
    silent: true,
    config: false,
    external: [/^@vit\//, "webgpu"],
  });
});
afterAll(async () => {
  await rm(bundleDir, { recursive: true, force: true });
});

interface Job {
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  output: string;
  results: Array<Record<string, unknown>>;
}

/** Runs `mpirun -np n node mpi-worker.js mode`; kills it (its own child) after limitMs so a hang fails. */
function mpirun(n: number, mode: string, limitMs = 90_000, extraEnv: NodeJS.ProcessEnv = {}): Promise<Job> {
  const t0 = Date.now();
  const env: NodeJS.ProcessEnv = { ...process.env, VIT_MPI_ADDON: addonPath()!, ...extraEnv };
  for (const k of ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "VIT_DIST_BACKEND"]) delete env[k];
  const child = spawn(
    "mpirun",
    [
      "--allow-run-as-root",
      "--oversubscribe",
      "-np",
      String(n),
      process.execPath,
      join(bundleDir, "mpi-worker.js"),
      mode,
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (d) => {
    output += String(d);
  });
  child.stderr.on("data", (d) => {
    output += String(d);
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const results = output
        .split("\n")
        .filter((l) => l.startsWith("RESULT "))
        .map((l) => JSON.parse(l.slice(7)) as Record<string, unknown>)
        .sort((a, b) => (a.rank as number) - (b.rank as number));
      resolve({ code, signal, seconds: (Date.now() - t0) / 1000, output, results });
    });
  });
}

describe("backend choice (distBackend)", () => {
  it("VIT_DIST_BACKEND overrides; an MPI launcher's variables pick mpi only when the binding loads; a bad value is refused", () => {
    expect(distBackend({})).toBe("tcp");
    expect(distBackend({ VIT_DIST_BACKEND: "tcp", OMPI_COMM_WORLD_SIZE: "2" })).toBe("tcp");
    expect(distBackend({ VIT_DIST_BACKEND: "mpi" })).toBe("mpi");
    for (const v of ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"])
      expect(distBackend({ [v]: "1" })).toBe(mpiUnavailableReason() === null ? "mpi" : "tcp");
    expect(() => distBackend({ VIT_DIST_BACKEND: "nccl" })).toThrow(
      'VIT_DIST_BACKEND="nccl" is not a backend',
    );
  });
});

describe.skipIf(skipReason !== null)("mpi backend under mpirun", () => {
  for (const n of [2, 4]) {
    it(`-np ${n}: every collective (fused all-reduce sum/mean/max, reduce-scatter, all-gather, broadcast, host values, TP/DP sub-groups via MPI_Comm_split) equals the host reference bit for bit`, async () => {
      const job = await mpirun(n, "collectives");
      expect(job.code, job.output).toBe(0);
      expect(job.results.map((r) => r.rank)).toEqual([...Array(n).keys()]);
      for (const r of job.results) {
        expect(r.backend).toBe("mpi"); // picked from mpirun's environment
        expect(r.bad, `rank ${r.rank}`).toEqual([]);
        expect(r.tp).toBe(n >= 4 ? 2 : 1);
        expect(r.dp).toBe(n >= 4 ? n / 2 : n);
      }
    });
  }

  it("-np 4, VIT_MPI_REDUCE=f32: f32 reduced as f32 by MPI is within f32 rounding of the exact sums, max exact, the same bits on every rank", async () => {
    const job = await mpirun(4, "f32", 90_000, { VIT_MPI_REDUCE: "f32" });
    expect(job.code, job.output).toBe(0);
    const rs = job.results as Array<{ relErrs: Record<string, number>; hash: string }>;
    expect(rs).toHaveLength(4);
    console.log(`mpi f32 reductions, rel. error vs exact: ${JSON.stringify(rs[0]!.relErrs)}`);
    for (const r of rs) {
      expect(r.hash).toBe(rs[0]!.hash);
      expect(r.relErrs["allReduce max"]).toBe(0);
      for (const [k, e] of Object.entries(r.relErrs)) expect(e, k).toBeLessThan(1e-6);
    }
    // The default widens to f64 and is exact (collectives test); this path must actually round differently
    // somewhere, or it is not reducing in f32.
    expect(Math.max(...rs.map((r) => r.relErrs["allReduce sum"]!))).toBeGreaterThan(0);
  });

  it("-np 2: DP=2 AdamW gives one device's loss curve; ZeRO-1 shards the optimizer state and matches the replicated run", async () => {
    const job = await mpirun(2, "train", 180_000);
    expect(job.code, job.output).toBe(0);
    const [r0, r1] = job.results as Array<{
      curve: number[];
      refLoss: number[];
      paramHash: number;
      zeroVsRep: number;
      zeroState: number;
      repState: number;
    }>;
    console.log(
      `mpi DP=2 loss curve: ${r0!.curve.map((v) => v.toFixed(6)).join(" ")}; one device: ${r0!.refLoss.map((v) => v.toFixed(6)).join(" ")}`,
    );
    expect(r1!.curve).toEqual(r0!.curve);
    expect(r1!.paramHash).toBe(r0!.paramHash); // the replicas stay identical
    expect(r0!.refLoss.at(-1)!).toBeLessThan(r0!.refLoss[0]!);
    expect(
      Math.max(...r0!.curve.map((v, i) => Math.abs(v - r0!.refLoss[i]!) / Math.abs(r0!.refLoss[i]!))),
    ).toBeLessThan(1e-4);
    // Without clipping ZeRO-1's arithmetic is the replicated run's, element for element.
    expect(r0!.zeroVsRep).toBe(0);
    expect(r0!.zeroState + r1!.zeroState).toBe(r0!.repState);
    for (const r of [r0!, r1!]) expect(Math.abs(r.zeroState / r.repState - 0.5)).toBeLessThan(0.02);
  }, 200_000);

  it("-np 2: mismatched collectives (kind, size, sequence number) reject on every rank with a CollectiveMismatchError naming each rank's call, and never run", async () => {
    const job = await mpirun(2, "mismatch", 60_000);
    expect(job.code, job.output).toBe(0);
    type Out = { name: string; message: string } | null;
    const rs = job.results as Array<{ kind: Out; size: Out; after: number[]; local: Out; seq: Out }>;
    expect(rs).toHaveLength(2);
    for (const [rank, r] of rs.entries()) {
      for (const o of [r.kind, r.size, r.seq])
        expect(o?.name, JSON.stringify(o)).toBe("CollectiveMismatchError");
      expect(r.kind!.message).toContain(
        `rank ${rank}: collectives do not match across the ranks: rank 0 called allReduce(sum, f64, 16 B) #0; rank 1 called barrier(bytes, 0 B) #0.`,
      );
      expect(r.size!.message).toContain(
        "rank 0 called allReduce(sum, f64, 8 B) #1; rank 1 called allReduce(sum, f64, 24 B) #1.",
      );
      // Neither mismatched call ran, so the next matching one pairs correctly: 1 + 2.
      expect(r.after).toEqual([3]);
      expect(r.seq!.message).toContain(
        "rank 0 called allReduce(sum, f64, 8 B) #3; rank 1 called allReduce(sum, f64, 8 B) #4.",
      );
    }
    expect(rs[1]!.local!.message).toContain("root 7 is not a rank of a group of 2");
  });

  it("-np 2: destroying a sub-group frees its communicator (1100 split/destroy cycles, over the 1023 that fit open at once), and the destroyed group refuses collectives", async () => {
    const job = await mpirun(2, "subgroups", 60_000);
    expect(job.code, job.output).toBe(0);
    const rs = job.results as Array<{
      before: number;
      after: number;
      sums: number;
      destroyed: { name: string; message: string } | null;
    }>;
    expect(rs).toHaveLength(2);
    for (const r of rs) {
      expect(r.before).toBe(1); // MPI_COMM_WORLD
      expect(r.after).toBe(1);
      expect(r.sums).toBe(11 * 3); // every 100th cycle's all-reduce of rank + 1 in the sub-group
      expect(r.destroyed?.message).toMatch(/barrier\(bytes, 0 B\) #\d+: the group was destroyed/);
    }
  });

  it("-np 2: a rank that stays alive but skips a collective ends the job via VIT_COLLECTIVE_TIMEOUT, naming the collective", async () => {
    const job = await mpirun(2, "stall", 60_000, { VIT_COLLECTIVE_TIMEOUT: "2" });
    expect(job.signal, `mpirun was still running after 60 s:\n${job.output}`).toBeNull();
    expect(job.code).not.toBe(0);
    expect(job.output).toMatch(
      /vit: rank 0: allReduce\(sum, f64, 8 B\) #\d+ did not complete within 2000 ms/,
    );
    expect(job.output).toContain("aborting the MPI job");
  });

  for (const mode of ["crash", "raise"] as const) {
    it(`-np 2: a rank that ${mode === "crash" ? "is SIGKILLed" : "throws"} ends the job non-zero within 60 s, naming rank 1`, async () => {
      const job = await mpirun(2, mode, 60_000);
      expect(job.signal, `mpirun was still running after 60 s:\n${job.output}`).toBeNull();
      expect(job.code).not.toBe(0);
      if (mode === "crash") expect(job.output).toMatch(/process rank 1 .*exited on signal 9/);
      else {
        expect(job.output).toContain("vit: rank 1 failed: Error: rank 1 raises on purpose");
        // Our own line (mpirun's "MPI_ABORT was invoked" banner is not always printed before it exits).
        expect(job.output).toContain("vit: rank 1 is exiting with code 1; aborting the MPI job (MPI_Abort).");
      }
    });
  }
});
