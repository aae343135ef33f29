/** The in-process backend: every collective's values, determinism, and failures that reject (never hang). */
import { Device, type Tensor, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CollectiveError,
  CollectiveMismatchError,
  CollectiveTimeoutError,
  combine,
  createInProcessGroups,
  runRanks,
  tensorAndDataParallelGroups,
} from "../src/index.js";

let devs: Device[];
beforeAll(async () => {
  devs = [await Device.create(), await Device.create(), await Device.create()];
});
afterAll(() => devs?.forEach((d) => d.destroy()));

const values = async (t: Tensor) => Array.from((await t.data()) as Float32Array);

describe("sub-groups (split): tensor- and data-parallel groups of a 4-rank world", () => {
  it("run within each group, interleaved on one sequence, with group-relative ranks and roots", async () => {
    const extra = await Device.create();
    try {
      const world = createInProcessGroups(4);
      const { tp, dp } = tensorAndDataParallelGroups(4, 2);
      expect(tp).toEqual([
        [0, 1],
        [2, 3],
      ]);
      expect(dp).toEqual([
        [0, 2],
        [1, 3],
      ]);
      const out = await runRanks(world, async (g) => {
        const dev = g.rank < 3 ? devs[g.rank]! : extra;
        const t = g.split(tp);
        const d = g.split(dp);
        const r = g.rank;
        const a = tensor(dev, [r + 1, 10 * r], [2]);
        await t.allReduce([a], "sum");
        const b = tensor(dev, [r + 1], [1]);
        await d.allReduce([b], "sum");
        const gathered = tensor(dev, [0, 0], [2]);
        await t.allGather(gathered, tensor(dev, [r], [1]));
        const bc = tensor(dev, [r, -r], [2]);
        await d.broadcast([bc], 1); // rank 1 of each data-parallel group: world ranks 2 and 3
        const v = await t.allReduceValues([r], "max");
        return {
          ranks: [t.rank, t.worldSize, d.rank, d.worldSize],
          a: await values(a),
          b: await values(b),
          gathered: await values(gathered),
          bc: await values(bc),
          v: v[0],
        };
      });
      expect(out.map((o) => o.ranks)).toEqual([
        [0, 2, 0, 2],
        [1, 2, 0, 2],
        [0, 2, 1, 2],
        [1, 2, 1, 2],
      ]);
      expect(out.map((o) => o.a)).toEqual([
        [3, 10],
        [3, 10],
        [7, 50],
        [7, 50],
      ]);
      expect(out.map((o) => o.b)).toEqual([[4], [6], [4], [6]]);
      expect(out.map((o) => o.gathered)).toEqual([
        [0, 1],
        [0, 1],
        [2, 3],
        [2, 3],
      ]);
      expect(out.map((o) => o.bc)).toEqual([
        [2, -2],
        [3, -3],
        [2, -2],
        [3, -3],
      ]);
      expect(out.map((o) => o.v)).toEqual([1, 1, 3, 3]);
    } finally {
      extra.destroy();
    }
  });

  it("refuses a split that is not an equal partition, and ranks that split differently", async () => {
    const world = createInProcessGroups(2, { timeoutMs: 2000 });
    expect(() => world[0]!.split([[0], [1, 0]])).toThrow(/not a partition of ranks 0..1/);
    expect(() => world[0]!.split([[0, 1, 2]])).toThrow(CollectiveError);
    const res = await Promise.allSettled(
      world.map((g) => (g.rank === 0 ? g.split([[0, 1]]) : g.split([[1], [0]])).barrier()),
    );
    expect(res.every((r) => r.status === "rejected")).toBe(true);
    expect(String((res[0] as PromiseRejectedResult).reason)).toMatch(/does not match across ranks/);
  });
});

describe("in-process collectives (3 ranks, one Device each)", () => {
  it("allReduce sum / mean / max, reduceScatter, allGather, broadcast, barrier, allReduceValues", async () => {
    const groups = createInProcessGroups(3);
    const out = await runRanks(groups, async (g) => {
      const dev = devs[g.rank]!;
      const r = g.rank;
      const a = tensor(dev, [r + 1, 10 * (r + 1), -r], [3]);
      const b = tensor(dev, [r, r * r], [2]);
      await g.allReduce([a, b], "sum");
      const m = tensor(dev, [r, 2 * r], [2]);
      await g.allReduce([m], "mean");
      const mx = tensor(dev, [r, 1 - r], [2]);
      await g.allReduce([mx], "max");
      const rsIn = tensor(
        dev,
        [0, 1, 2, 3, 4, 5].map((v) => v + 100 * r),
        [6],
      );
      const rsOut = tensor(dev, [0, 0], [2]);
      await g.reduceScatter(rsOut, rsIn, "sum");
      const agIn = tensor(dev, [r, r + 0.5], [2]);
      const agOut = tensor(dev, new Array(6).fill(0), [6]);
      await g.allGather(agOut, agIn);
      const bc = tensor(dev, [r, r, r, r], [2, 2]);
      const bi = tensor(dev, Int32Array.from([r * 7]), [1]);
      await g.broadcast([bc, bi], 2);
      await g.barrier();
      const vals = await g.allReduceValues([r, 1e-20 * (r + 1)], "sum");
      return {
        a: await values(a),
        b: await values(b),
        m: await values(m),
        mx: await values(mx),
        rs: await values(rsOut),
        ag: await values(agOut),
        bc: await values(bc),
        bi: Array.from((await bi.data()) as Int32Array),
        vals: Array.from(vals),
      };
    });
    out.forEach((o, r) => {
      expect(o.a).toEqual([6, 60, -3]);
      expect(o.b).toEqual([3, 5]);
      expect(o.m).toEqual([1, 2]);
      expect(o.mx).toEqual([2, 1]);
      // Chunk r of Σ_ranks (v + 100·rank) = 3·v + 300.
      expect(o.rs).toEqual([3 * (2 * r) + 300, 3 * (2 * r + 1) + 300]);
      expect(o.ag).toEqual([0, 0.5, 1, 1.5, 2, 2.5]);
      expect(o.bc).toEqual([2, 2, 2, 2]);
      expect(o.bi).toEqual([14]);
      expect(o.vals[0]).toBe(3);
      expect(o.vals[1]).toBeCloseTo(6e-20, 30);
    });
  });

  it("reductions are deterministic and identical on every rank, whatever the arrival order", () => {
    const desc = { kind: "allReduce" as const, op: "sum" as const, dtype: "f32" as const, bytes: 4 * 3 };
    const parts = [
      Float32Array.of(1e8, 1, -1e8),
      Float32Array.of(1, 1e-8, 3),
      Float32Array.of(-1e8, 0.5, 1e8),
    ];
    const bytes = parts.map((p) => new Uint8Array(p.buffer));
    const outs = combine(desc, bytes).map((u) => Array.from(new Float32Array(u.slice().buffer)));
    // Float64 accumulation in rank order, rounded once: 1e8 + 1 − 1e8 = 1 exactly (f32 would lose it).
    expect(outs[0]).toEqual([1, Math.fround(1.5 + 1e-8), 3]);
    expect(outs[1]).toEqual(outs[0]);
    expect(outs[2]).toEqual(outs[0]);
  });

  it("ranks that disagree on a collective get a CollectiveMismatchError naming both calls", async () => {
    const [g0, g1] = createInProcessGroups(2);
    const dev = devs[0]!;
    const p0 = g0!.allReduce([tensor(dev, [1, 2], [2])]).catch((e) => e);
    const p1 = g1!.allReduce([tensor(dev, [1, 2, 3], [3])]).catch((e) => e);
    const [e0, e1] = await Promise.all([p0, p1]);
    for (const e of [e0, e1]) {
      expect(e).toBeInstanceOf(CollectiveMismatchError);
      expect(e.message).toMatch(/collective #0 does not match/);
      expect(e.message).toMatch(/8 B.*12 B|12 B.*8 B/);
    }
  });

  it("a rank that never arrives makes the others time out, naming it", async () => {
    const [g0, , g2] = createInProcessGroups(3, { timeoutMs: 200 });
    const dev = devs[0]!;
    const t0 = performance.now();
    const [e0, e2] = await Promise.all([
      g0!.allReduce([tensor(dev, [1], [1])]).catch((e) => e),
      g2!.allReduce([tensor(dev, [1], [1])]).catch((e) => e),
    ]);
    expect(performance.now() - t0).toBeLessThan(5000);
    for (const [e, r] of [
      [e0, 0],
      [e2, 2],
    ] as const) {
      expect(e).toBeInstanceOf(CollectiveTimeoutError);
      expect(e.rank).toBe(r);
      expect(e.failedRank).toBe(1);
      expect(e.message).toContain("waiting for rank(s) 1");
    }
  });

  it("a rank that throws aborts the others at once (runRanks), naming it", async () => {
    const groups = createInProcessGroups(3, { timeoutMs: 60_000 });
    const seen: unknown[] = [];
    const t0 = performance.now();
    const err = await runRanks(groups, async (g) => {
      if (g.rank === 1) throw new Error("out of memory on rank 1");
      try {
        await g.barrier();
      } catch (e) {
        seen.push(e);
        throw e;
      }
    }).catch((e) => e);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(err.message).toBe("out of memory on rank 1");
    expect(seen).toHaveLength(2);
    for (const e of seen) {
      expect(e).toBeInstanceOf(CollectiveError);
      expect((e as CollectiveError).failedRank).toBe(1);
      expect((e as Error).message).toContain("rank 1 failed: out of memory on rank 1");
    }
  });

  it("rejects malformed calls before communicating", async () => {
    const [g0] = createInProcessGroups(2);
    const dev = devs[0]!;
    await expect(g0!.reduceScatter(tensor(dev, [0], [1]), tensor(dev, [1, 2, 3], [3]))).rejects.toThrow(
      /worldSize \(2\)/,
    );
    await expect(g0!.allReduce([tensor(dev, Int32Array.of(1), [1])])).rejects.toThrow(/reduces f32 tensors/);
    await expect(g0!.broadcast([tensor(dev, [1], [1])], 5)).rejects.toThrow(/root 5 is not a rank/);
  });
});
