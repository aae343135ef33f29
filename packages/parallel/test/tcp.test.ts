/**
 * The TCP backend on 127.0.0.1: several ranks in this process over loopback, and real worker processes
 * launched with torchrun's variables (one of which crashes). Failures must reject, naming the rank.
 */
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Device, type Tensor, tensor } from "@vit/tensor";
import { build } from "tsup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CollectiveError,
  CollectiveMismatchError,
  CollectiveTimeoutError,
  type ProcessGroup,
  type TcpOptions,
  TcpProcessGroup,
  createInProcessGroups,
  distributedEnv,
  initProcessGroup,
  runRanks,
} from "../src/index.js";

const here = fileURLToPath(new URL(".", import.meta.url));
// Under the package's node_modules so the bundle's bare @vit/* imports resolve; per run, so parallel runs don't clash.
const bundleDir = join(here, "..", "node_modules", ".vit-parallel-test", `run-${process.pid}`);
let dev: Device;
/** The job's secret; every rank of these jobs holds it (tcp-trust.test.ts covers strangers). */
const TOKEN = randomBytes(32).toString("hex");

beforeAll(async () => {
  dev = await Device.create();
  await build({
    entry: { "tcp-worker": join(here, "fixtures", "tcp-worker.ts") },
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
  dev?.destroy();
  await rm(bundleDir, { recursive: true, force: true });
});

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

async function loopbackGroup(world: number, opts: Partial<TcpOptions> = {}): Promise<TcpProcessGroup[]> {
  const port = await freePort();
  return Promise.all(
    Array.from({ length: world }, (_, rank) =>
      TcpProcessGroup.connect({
        rank,
        worldSize: world,
        masterAddr: "127.0.0.1",
        masterPort: port,
        connectTimeoutMs: 10_000,
        token: TOKEN,
        ...opts,
      }),
    ),
  );
}

const values = async (t: Tensor) => Array.from((await t.data()) as Float32Array);

describe("TCP backend, ranks in one process over loopback", () => {
  it("rendezvous, then every collective gives the same values as in-process", async () => {
    const groups = await loopbackGroup(3);
    try {
      const out = await runRanks(groups, async (g) => {
        const r = g.rank;
        const a = tensor(dev, [r + 1, 10 * (r + 1)], [2]);
        await g.allReduce([a], "sum");
        const rsIn = tensor(
          dev,
          [0, 1, 2, 3, 4, 5].map((v) => v + 100 * r),
          [6],
        );
        const rsOut = tensor(dev, [0, 0], [2]);
        await g.reduceScatter(rsOut, rsIn, "mean");
        const ag = tensor(dev, new Array(6).fill(0), [6]);
        await g.allGather(ag, tensor(dev, [r, -r], [2]));
        const bc = tensor(dev, [r, r], [2]);
        await g.broadcast([bc], 1);
        // A payload much larger than a socket chunk: frames must reassemble.
        const n = 300_000;
        const big = tensor(
          dev,
          Float32Array.from({ length: n }, (_, i) => (i % 97) * (r + 1)),
          [n],
        );
        await g.allReduce([big], "mean");
        const bv = (await big.data()) as Float32Array;
        await g.barrier();
        const vals = await g.allReduceValues([r, 2], "max");
        return {
          a: await values(a),
          rs: await values(rsOut),
          ag: await values(ag),
          bc: await values(bc),
          big: [bv[1], bv[96], bv[n - 1]],
          vals: [...vals],
        };
      });
      out.forEach((o, r) => {
        expect(o.a).toEqual([6, 60]);
        expect(o.rs).toEqual([2 * r + 100, 2 * r + 1 + 100]);
        expect(o.ag).toEqual([0, -0, 1, -1, 2, -2]);
        expect(o.bc).toEqual([1, 1]);
        expect(o.big).toEqual([2, 96 * 2, ((300_000 - 1) % 97) * 2]);
        expect(o.vals).toEqual([2, 2]);
      });
    } finally {
      await Promise.all(groups.map((g) => g.destroy()));
    }
  });

  it("a rank that never enters the collective times out on every rank, naming it", async () => {
    const groups = await loopbackGroup(3, { timeoutMs: 300 });
    try {
      const t0 = performance.now();
      const [e0, e2] = await Promise.all([
        groups[0]!.allReduceValues([1]).catch((e) => e),
        groups[2]!.allReduceValues([1]).catch((e) => e),
      ]);
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(e0).toBeInstanceOf(CollectiveTimeoutError);
      expect(e0.message).toMatch(/rank 0: allReduce.*timed out after 300 ms waiting for rank\(s\) 1/);
      expect(e2).toBeInstanceOf(CollectiveTimeoutError);
      expect(e2.rank).toBe(2);
      expect(e2.failedRank).toBe(1);
      // The group is unusable afterwards: later collectives reject at once.
      await expect(groups[0]!.barrier()).rejects.toThrow(/waiting for rank\(s\) 1/);
    } finally {
      await Promise.all(groups.map((g) => g.destroy()));
    }
  });

  it("a collective that differs across ranks is reported as a mismatch", async () => {
    const groups = await loopbackGroup(2);
    try {
      const [e0, e1] = await Promise.all([
        groups[0]!.allReduceValues([1, 2]).catch((e) => e),
        groups[1]!.barrier().catch((e) => e),
      ]);
      expect(e0).toBeInstanceOf(CollectiveMismatchError);
      expect(e0.message).toContain(
        "rank 0 called allReduce(sum, f64, 16 B) but rank 1 called barrier(bytes, 0 B)",
      );
      expect(e1).toBeInstanceOf(CollectiveError);
      expect(e1.message).toContain("does not match");
    } finally {
      await Promise.all(groups.map((g) => g.destroy()));
    }
  });

  it("a rendezvous that misses a rank fails on time, naming it, and a rank without a master gives up", async () => {
    const port = await freePort();
    const base = {
      worldSize: 3,
      masterAddr: "127.0.0.1",
      masterPort: port,
      connectTimeoutMs: 600,
      token: TOKEN,
    };
    const [e0, e1] = await Promise.all([
      TcpProcessGroup.connect({ ...base, rank: 0 }).catch((e) => e),
      TcpProcessGroup.connect({ ...base, rank: 1 }).catch((e) => e),
    ]);
    expect(e0).toBeInstanceOf(CollectiveTimeoutError);
    expect(e0.message).toMatch(/rank\(s\) 2 did not join \(2 of 3 present\)/);
    expect(e1).toBeInstanceOf(CollectiveError);
    expect(e1.message).toMatch(/rank 1: the rendezvous failed: .*rank\(s\) 2 did not join/);
    const nobody = await freePort(); // no rank 0 listens there
    const lone = await TcpProcessGroup.connect({
      ...base,
      masterPort: nobody,
      rank: 2,
      connectTimeoutMs: 300,
    }).catch((e) => e);
    expect(lone).toBeInstanceOf(CollectiveTimeoutError);
    expect(lone.message).toMatch(
      /rank 2: could not join the rendezvous at 127\.0\.0\.1:\d+ within 300 ms \(ECONNREFUSED\)/,
    );
  });

  it("sub-group collectives give the in-process values (every result size passes the payload checks)", async () => {
    const work = (groups: ProcessGroup[]) =>
      runRanks(groups, async (g) => {
        const tp = g.split([
          [0, 1],
          [2, 3],
        ]);
        const dp = g.split([
          [0, 2],
          [1, 3],
        ]);
        const r = g.rank;
        const ag = tensor(dev, [0, 0, 0, 0], [4]);
        await tp.allGather(ag, tensor(dev, [r, r + 0.5], [2]));
        const rs = tensor(dev, [0, 0], [2]);
        await dp.reduceScatter(rs, tensor(dev, [r, 1, 2, 3 * r], [4]), "sum");
        const bc = tensor(dev, [r, r], [2]);
        await tp.broadcast([bc], 1);
        const v = await dp.allReduceValues([r], "sum");
        return [...(await values(ag)), ...(await values(rs)), ...(await values(bc)), ...v];
      });
    const groups = await loopbackGroup(4);
    try {
      const tcp = await work(groups);
      expect(tcp).toEqual(await work(createInProcessGroups(4)));
      // Rank 2: tp group [2, 3] gathers [2, 2.5, 3, 3.5]; dp group [0, 2] sums [0,1,2,0] + [2,1,2,6], keeps
      // chunk 1 = [4, 6]; tp broadcast from its rank 1 (world rank 3); dp sum 0 + 2.
      expect(tcp[2]).toEqual([2, 2.5, 3, 3.5, 4, 6, 3, 3, 2]);
    } finally {
      await Promise.all(groups.map((g) => g.destroy()));
    }
  });

  it("world size 1 needs no network", async () => {
    const g = await initProcessGroup({ env: {} });
    expect([g.rank, g.worldSize]).toEqual([0, 1]);
    const t = tensor(dev, [1, 2], [2]);
    await g.allReduce([t], "mean");
    expect(await values(t)).toEqual([1, 2]);
    await g.destroy();
  });
});

describe("torchrun environment", () => {
  it("reads RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT, Slurm's variables, and says what is missing", () => {
    expect(
      distributedEnv({
        RANK: "3",
        WORLD_SIZE: "4",
        LOCAL_RANK: "1",
        MASTER_ADDR: "10.0.0.1",
        MASTER_PORT: "29501",
      }),
    ).toEqual({
      rank: 3,
      worldSize: 4,
      localRank: 1,
      masterAddr: "10.0.0.1",
      masterPort: 29501,
    });
    expect(
      distributedEnv({
        SLURM_PROCID: "1",
        SLURM_NTASKS: "2",
        SLURM_LOCALID: "1",
        MASTER_ADDR: "h",
        MASTER_PORT: "1",
      }),
    ).toMatchObject({
      rank: 1,
      worldSize: 2,
      localRank: 1,
    });
    expect(distributedEnv({})).toMatchObject({ rank: 0, worldSize: 1 });
    expect(distributedEnv({ WORLD_SIZE: "1" })).toMatchObject({ rank: 0, worldSize: 1 });
    expect(() => distributedEnv({ WORLD_SIZE: "2", RANK: "0" })).toThrow(
      /MASTER_ADDR, MASTER_PORT are not set/,
    );
    expect(() => distributedEnv({ WORLD_SIZE: "2", RANK: "2", MASTER_ADDR: "h", MASTER_PORT: "1" })).toThrow(
      /outside \[0, WORLD_SIZE 2\)/,
    );
    expect(() => distributedEnv({ WORLD_SIZE: "two", RANK: "0" })).toThrow(
      /WORLD_SIZE="two" is not a non-negative integer/,
    );
  });
});

interface WorkerReport {
  ok: boolean;
  rank: number;
  mean?: number[];
  gathered?: number;
  sum?: number;
  name?: string;
  message?: string;
  failedRank?: number;
}

function launch(rank: number, world: number, port: number, extra: Record<string, string> = {}) {
  const child = fork(join(bundleDir, "tcp-worker.js"), [], {
    env: {
      ...process.env,
      RANK: String(rank),
      WORLD_SIZE: String(world),
      LOCAL_RANK: String(rank),
      MASTER_ADDR: "127.0.0.1",
      MASTER_PORT: String(port),
      VIT_JOB_TOKEN: TOKEN,
      ...extra,
    },
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  const report = new Promise<WorkerReport | null>((resolve) => {
    child.on("message", (m) => resolve(m as WorkerReport));
    child.on("exit", () => resolve(null));
  });
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { rank, child, report, exit, stderr: () => stderr };
}

/** Rank 0's rendezvous, failing at once (with the worker's stderr) if a worker dies before it joins. */
async function joinAsRankZero(port: number, workers: Array<ReturnType<typeof launch>>) {
  const group = initProcessGroup({
    env: {
      RANK: "0",
      WORLD_SIZE: "3",
      MASTER_ADDR: "127.0.0.1",
      MASTER_PORT: String(port),
      VIT_JOB_TOKEN: TOKEN,
    },
    connectTimeoutMs: 30_000,
    timeoutMs: 30_000,
  });
  const early = workers.map((w) =>
    w.exit.then((code) => {
      throw new Error(
        `worker rank ${w.rank} exited (${code}) before the rendezvous completed:\n${w.stderr()}`,
      );
    }),
  );
  return Promise.race([group, ...early]);
}

describe("TCP backend across processes (torchrun-style launch)", () => {
  it("3 processes, each with its own Device: all-reduce and all-gather agree", async () => {
    const port = await freePort();
    const workers = [1, 2].map((r) => launch(r, 3, port));
    const g = await joinAsRankZero(port, workers);
    try {
      await g.barrier();
      const n = 1000;
      const t = tensor(
        dev,
        Float32Array.from({ length: n }, (_, i) => i),
        [n],
      );
      await g.allReduce([t], "mean");
      const out = tensor(dev, new Float32Array(3 * n), [3 * n]);
      await g.allGather(out, t);
      const [sum] = await g.allReduceValues([0], "sum");
      const mean = (await t.data()) as Float32Array;
      // mean over ranks of (rank+1)·i = 2i.
      expect([mean[0], mean[1], mean[999]]).toEqual([0, 2, 1998]);
      expect(sum).toBe(3);
      const reports = await Promise.all(workers.map((w) => w.report));
      reports.forEach((rep, i) => {
        expect(rep, workers[i]!.stderr()).toMatchObject({
          ok: true,
          rank: i + 1,
          mean: [0, 2, 1998],
          gathered: 3000,
          sum: 3,
        });
      });
      expect(await Promise.all(workers.map((w) => w.exit))).toEqual([0, 0]);
    } finally {
      await g.destroy();
      for (const w of workers) w.child.kill();
    }
  });

  it("a process that dies mid-job makes the survivors reject promptly, naming it", async () => {
    const port = await freePort();
    const workers = [1, 2].map((r) => launch(r, 3, port, { VIT_TEST_CRASH_RANK: "2" }));
    const g = await joinAsRankZero(port, workers);
    try {
      await g.barrier();
      const t0 = performance.now();
      const e0 = await g.allReduce([tensor(dev, [1], [1])]).catch((e) => e);
      expect(performance.now() - t0).toBeLessThan(10_000);
      expect(e0).toBeInstanceOf(CollectiveError);
      expect(e0.failedRank).toBe(2);
      expect(e0.message).toMatch(/rank 0: rank 2 disconnected \(.*\); it crashed or was killed/);
      const [r1, r2] = await Promise.all(workers.map((w) => w.report));
      expect(r2).toBeNull(); // it exited without reporting
      expect(r1).toMatchObject({ ok: false, rank: 1, name: "CollectiveError", failedRank: 2 });
      expect(r1!.message).toMatch(/rank 1: rank 2 disconnected/);
      expect(await workers[1]!.exit).toBe(3);
    } finally {
      await g.destroy();
      for (const w of workers) w.child.kill();
    }
  });
});
