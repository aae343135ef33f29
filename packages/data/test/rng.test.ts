import { describe, expect, it } from "vitest";
import { Rng, hashSeed } from "../src/rng.js";

describe("Rng", () => {
  it("is deterministic per seed and differs across seeds", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.nextU32());
    const sb = Array.from({ length: 8 }, () => b.nextU32());
    const sc = Array.from({ length: 8 }, () => c.nextU32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it("derives independent streams from hashed keys", () => {
    expect(hashSeed(1, 2, 3)).toBe(hashSeed(1, 2, 3));
    expect(hashSeed(1, 2, 3)).not.toBe(hashSeed(1, 3, 2));
    expect(hashSeed(0, 2 ** 40)).not.toBe(hashSeed(0, 0));
  });

  it("produces uniform doubles in [0, 1) with the right moments", () => {
    const r = new Rng(7);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    let min = 1;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const v = r.next();
      s += v;
      s2 += v * v;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(s / n).toBeCloseTo(0.5, 2);
    expect(s2 / n - (s / n) ** 2).toBeCloseTo(1 / 12, 2);
  });

  it("int(n) covers every value about equally", () => {
    const r = new Rng(3);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[r.int(6)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });

  it("beta(a, a) has mean 1/2 and variance 1/(4(2a+1))", () => {
    for (const a of [0.4, 1, 2.5]) {
      const r = new Rng(11);
      const n = 40_000;
      let s = 0;
      let s2 = 0;
      let inRange = true;
      for (let i = 0; i < n; i++) {
        const v = r.beta(a, a);
        inRange &&= v >= 0 && v <= 1;
        s += v;
        s2 += v * v;
      }
      expect(inRange).toBe(true);
      const mean = s / n;
      expect(mean).toBeCloseTo(0.5, 1);
      expect(s2 / n - mean * mean).toBeCloseTo(1 / (4 * (2 * a + 1)), 2);
    }
  });

  it("permutation is a permutation and state round-trips", () => {
    const r = new Rng(5);
    const p = Array.from(r.permutation(1000));
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const snap = r.getState();
    const x = [r.nextU32(), r.nextU32()];
    r.setState(snap);
    expect([r.nextU32(), r.nextU32()]).toEqual(x);
  });
});
