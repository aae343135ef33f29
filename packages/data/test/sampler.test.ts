import { describe, expect, it } from "vitest";
import { DistributedSampler, RandomSampler, SequentialSampler } from "../src/sampler.js";

const sorted = (a: Iterable<number>) => [...a].sort((x, y) => x - y);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("RandomSampler", () => {
  it("permutes every index once, differently per epoch and seed, identically for the same (seed, epoch)", () => {
    const s = new RandomSampler(100, 3);
    const e0 = Array.from(s.indices(0));
    expect(sorted(e0)).toEqual(range(100));
    expect(Array.from(s.indices(0))).toEqual(e0);
    expect(Array.from(s.indices(1))).not.toEqual(e0);
    expect(Array.from(new RandomSampler(100, 4).indices(0))).not.toEqual(e0);
  });

  it("SequentialSampler is 0..n-1", () => {
    expect(Array.from(new SequentialSampler(4).indices())).toEqual([0, 1, 2, 3]);
  });
});

describe("DistributedSampler (torch semantics)", () => {
  it("pads by wrapping to the head: N=10, world 3 without shuffle", () => {
    const ranks = [0, 1, 2].map((r) =>
      Array.from(new DistributedSampler(10, { rank: r, worldSize: 3, shuffle: false }).indices(0)),
    );
    // torch: indices = [0..9] + [0, 1]; rank r takes positions r, r+3, r+6, r+9.
    expect(ranks).toEqual([
      [0, 3, 6, 9],
      [1, 4, 7, 0],
      [2, 5, 8, 1],
    ]);
  });

  it("dropLast truncates to floor(N / world) per rank", () => {
    const ranks = [0, 1, 2].map((r) =>
      Array.from(
        new DistributedSampler(10, { rank: r, worldSize: 3, shuffle: false, dropLast: true }).indices(0),
      ),
    );
    expect(ranks).toEqual([
      [0, 3, 6],
      [1, 4, 7],
      [2, 5, 8],
    ]);
  });

  it("repeats the list when padding exceeds N (N=2, world 5)", () => {
    const ranks = [0, 1, 2, 3, 4].map((r) =>
      Array.from(new DistributedSampler(2, { rank: r, worldSize: 5, shuffle: false }).indices(0)),
    );
    expect(ranks).toEqual([[0], [1], [0], [1], [0]]);
  });

  it.each([
    [1000, 4],
    [1001, 4],
    [37, 8],
  ])(
    "shuffled shards of N=%i over %i ranks are equal-sized, disjoint before padding and cover the epoch",
    (n, world) => {
      for (const epoch of [0, 5]) {
        const shards = range(world).map((r) =>
          Array.from(new DistributedSampler(n, { rank: r, worldSize: world, seed: 9 }).indices(epoch)),
        );
        const per = Math.ceil(n / world);
        for (const s of shards) expect(s).toHaveLength(per);
        const all = shards.flat();
        expect(new Set(all).size).toBe(n); // every sample appears
        expect(all.length - n).toBe(per * world - n); // duplicates are exactly the padding
        // Interleaving the shards back gives one permutation followed by its head.
        const interleaved = range(per * world).map((p) => shards[p % world]![Math.floor(p / world)]!);
        expect(sorted(interleaved.slice(0, n))).toEqual(range(n));
        expect(interleaved.slice(n)).toEqual(interleaved.slice(0, per * world - n));
      }
    },
  );

  it("uses the same permutation on every rank and a new one per epoch", () => {
    const a = new DistributedSampler(50, { rank: 0, worldSize: 2, seed: 1 });
    expect(Array.from(a.indices(0))).not.toEqual(Array.from(a.indices(1)));
    expect(Array.from(a.indices(3))).toEqual(
      Array.from(new DistributedSampler(50, { rank: 0, worldSize: 2, seed: 1 }).indices(3)),
    );
  });

  it("validates rank and world size", () => {
    expect(() => new DistributedSampler(10, { rank: 2, worldSize: 2 })).toThrow(/rank/);
    expect(() => new DistributedSampler(10, { rank: 0, worldSize: 0 })).toThrow(/rank/);
  });
});
