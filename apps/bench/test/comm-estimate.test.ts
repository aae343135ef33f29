/**
 * The paper estimate of docs/distributed.md (src/comm/estimate.ts) and the comm suite's bus-bandwidth
 * factors, against figures computed by hand, and the doc against the generator's current output.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { getPreset } from "@vit/model";
import { describe, expect, it } from "vitest";
import { busBandwidth, busFactor } from "../src/comm/busbw.js";
import {
  GBIT,
  estimateTables,
  parameterCount,
  ringAllReduceSeconds,
  starAllReduceSeconds,
  tpActivationBytes,
} from "../src/comm/estimate.js";

describe("comm estimate", () => {
  it("ViT-B/16 by hand: 87,169,000 parameters; f32 ring at DP 8 on 100 Gb/s 48.81 ms, star 195.26 ms; TP 2 keeps 44,669,416; 481,296,384 activation bytes at b32 bf16", () => {
    const c = getPreset("B/16");
    // cls 8·768, pos 204·768, patch 768·768+768; per layer 2 LNs 4·768, qkv 2304·768+2304, proj 768·768+768,
    // fc1 3072·768+3072, fc2 768·3072+768 (7,087,872 × 12); final LN 2·768, pre-logits 768·768+768, head 768·1000+1000.
    const hand = 6144 + 156_672 + 590_592 + 12 * 7_087_872 + 1536 + 590_592 + 769_000;
    expect(hand).toBe(87_169_000);
    expect(parameterCount(c)).toBe(hand);
    const S = 4 * hand; // f32 gradient bytes
    // 2·7/8 × 348,676,000 B / 12.5e9 B/s
    expect(ringAllReduceSeconds(S, 8, 100 * GBIT)).toBeCloseTo(0.048_814_64, 9);
    expect(starAllReduceSeconds(S, 8, 100 * GBIT)).toBeCloseTo(0.195_258_56, 9);
    // TP 2 splits qkv (w+b), fc1 (w+b), proj.w, fc2.w: 7,083,264 per layer, half of it stays.
    expect(parameterCount(c, 2)).toBe(hand - 12 * (7_083_264 / 2));
    // 4 all-reduces per layer × 12 layers × 32 images × 204 tokens × 768 × 2 B.
    expect(tpActivationBytes(c, 32, 2)).toBe(481_296_384);
  });

  it("bus bandwidth uses nccl-tests' factors: 2(n−1)/n for all-reduce, (n−1)/n for reduce-scatter and all-gather", () => {
    expect(busFactor("allReduce", 4)).toBe(1.5);
    expect(busFactor("reduceScatter", 4)).toBe(0.75);
    expect(busFactor("allGather", 2)).toBe(0.5);
    // 64 MB in 10 ms at 4 ranks: algbw 6.4 GB/s.
    expect(busBandwidth("allReduce", 64e6, 0.01, 4)).toBeCloseTo(9.6, 12);
    expect(busBandwidth("reduceScatter", 64e6, 0.01, 4)).toBeCloseTo(4.8, 12);
  });

  it("docs/distributed.md holds the generator's current tables (regenerate: node apps/bench/dist/comm-estimate.js)", () => {
    const doc = readFileSync(fileURLToPath(new URL("../../../docs/distributed.md", import.meta.url)), "utf8");
    const m =
      /<!-- generated: comm-estimate begin -->\n([\s\S]*?)\n<!-- generated: comm-estimate end -->/.exec(doc);
    expect(m, "the generated block's markers").not.toBeNull();
    expect(m![1]).toBe(estimateTables());
  });
});
