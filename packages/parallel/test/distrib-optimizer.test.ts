/**
 * The distributed optimizer (ZeRO-1) against the replicated data-parallel run: the same parameters after
 * N steps (AdamW with clipping, SGD with momentum), and about 1/worldSize of the optimizer state per rank.
 */
import type { HostTensor } from "@vit/nn";
import { AdamW, type Optimizer, type ParamGroup, SGD, paramGroupsWeightDecay } from "@vit/optim";
import { Device, crossEntropy, scope, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataParallel, DistributedOptimizer, createInProcessGroups, runRanks } from "../src/index.js";
import { TinyNet, hostRandom, maxAbsDiff, paramsOf, tinyNet } from "./helpers.js";

let devs: Device[];
let init: Record<string, HostTensor>;
beforeAll(async () => {
  devs = [await Device.create({ seed: 3 }), await Device.create({ seed: 3 })];
  const m = new TinyNet(devs[0]!, cfg);
  init = await m.stateDictHost();
  m.dispose();
});
afterAll(() => devs?.forEach((d) => d.destroy()));

const B = 8;
const cfg = tinyNet();
const images = hostRandom(B * 3 * 8 * 8, 17);
const labels = Int32Array.from({ length: B }, (_, i) => (i * 2) % 5);
const per = (B / 2) * 3 * 8 * 8;

type Make = (g: ParamGroup[]) => Optimizer;

/** N steps on 2 ranks; `sharded` picks ZeRO-1 or all-reduce + replicated optimizer. */
async function train(sharded: boolean, make: Make, steps: number, maxGradNorm: number) {
  const groups = createInProcessGroups(2);
  return runRanks(groups, async (g) => {
    const dev = devs[g.rank]!;
    const model = new TinyNet(dev, cfg);
    model.loadStateDict(init);
    const groupsWd = paramGroupsWeightDecay(model.namedParameters(), 0.1);
    const xs = tensor(dev, images.subarray(g.rank * per, (g.rank + 1) * per), [B / 2, 3, 8, 8]);
    const ys = tensor(dev, labels.subarray((g.rank * B) / 2, ((g.rank + 1) * B) / 2), [B / 2]);
    const liveBefore = dev.memoryStats().liveBytes;
    // Small buckets: several all-reduces and broadcasts per step.
    const zero = sharded ? new DistributedOptimizer(g, groupsWd, make, { bucketBytes: 24 * 1024 }) : null;
    const opt = sharded ? null : make(groupsWd);
    const dp = new DataParallel(g, { bucketBytes: 24 * 1024 });
    const norms: number[] = [];
    for (let s = 0; s < steps; s++) {
      scope(() => crossEntropy(model.forward(xs), ys).backward());
      const lr = 1e-2 * (1 - s / steps);
      if (zero) {
        await zero.step({ lr, maxGradNorm });
        zero.zeroGrad();
        norms.push(await zero.lastGradNorm());
      } else {
        await dp.allReduceGradients(model);
        opt!.step({ lr, maxGradNorm, computeNorm: true });
        norms.push(await opt!.lastGradNorm());
        opt!.zeroGrad();
      }
    }
    const stateBytes = zero
      ? zero.stateBytes()
      : Object.values(opt!.stateTensors()).reduce((a, t) => a + t.numel * 4, 0);
    const liveAfter = dev.memoryStats().liveBytes;
    const params = await paramsOf(model);
    zero?.dispose();
    opt?.dispose();
    dp.dispose();
    model.dispose();
    return {
      params,
      norms,
      stateBytes,
      extraLive: liveAfter - liveBefore,
      owned: zero?.ownedParameters() ?? [],
    };
  });
}

describe("DistributedOptimizer (ZeRO-1), 2 ranks", () => {
  // Without clipping the arithmetic is the same as the replicated run's, element for element: equal
  // bits. With clipping the global norm is summed in another order (per rank, then over ranks, in float64),
  // so the clip coefficient differs in the last bits; Adam then normalises the pure-rounding-noise
  // gradients of directions whose true gradient is zero (the attention key bias: softmax ignores a
  // shift of every score) into updates of a few 1e-6 after 4 steps at lr 1e-2.
  const cases: Array<[string, Make, number, number]> = [
    ["AdamW, no clipping", (g) => new AdamW(g), 0, 0],
    ["AdamW, clipping at 0.5", (g) => new AdamW(g), 0.5, 2e-5],
    ["SGD momentum 0.9, clipping at 0.5", (g) => new SGD(g, { momentum: 0.9 }), 0.5, 1e-6],
  ];
  for (const [name, make, clip, tol] of cases) {
    it(`${name}: same parameters as the replicated run after 4 steps, ~1/2 the state per rank`, async () => {
      const rep = await train(false, make, 4, clip);
      const zero = await train(true, make, 4, clip);
      let worst = 0;
      for (const [n, p] of Object.entries(rep[0]!.params)) {
        worst = Math.max(worst, maxAbsDiff(zero[0]!.params[n]!, p));
        expect(Array.from(zero[1]!.params[n]!)).toEqual(Array.from(zero[0]!.params[n]!)); // every rank holds the whole model
      }
      const normErr = Math.max(
        ...zero[0]!.norms.map((v, i) => Math.abs(v - rep[0]!.norms[i]!) / rep[0]!.norms[i]!),
      );
      const ratio = zero.map((z) => z.stateBytes / rep[0]!.stateBytes);
      console.log(
        `ZeRO-1 ${name}: max |Δparam| vs replicated ${worst.toExponential(2)}, grad-norm rel. diff ${normErr.toExponential(2)}; ` +
          `optimizer state per rank ${zero.map((z) => z.stateBytes).join(" / ")} B vs replicated ${rep[0]!.stateBytes} B ` +
          `(${ratio.map((r) => r.toFixed(3)).join(" / ")}); allocator bytes added by training: ${zero.map((z) => z.extraLive).join(" / ")} ` +
          `(sharded) vs ${rep.map((r) => r.extraLive).join(" / ")} (replicated)`,
      );
      expect(worst).toBeLessThanOrEqual(tol);
      expect(normErr).toBeLessThan(1e-5);
      // Every parameter is owned by exactly one rank, and the state adds up to the replicated state.
      const owned = zero.flatMap((z) => z.owned);
      expect(new Set(owned).size).toBe(owned.length);
      expect(owned.length).toBe(Object.keys(rep[0]!.params).length);
      expect(zero[0]!.stateBytes + zero[1]!.stateBytes).toBe(rep[0]!.stateBytes);
      for (const r of ratio) expect(Math.abs(r - 0.5)).toBeLessThan(0.02);
      // The allocator agrees: what training added to each device shrinks by about half the state.
      for (const r of [0, 1])
        expect(rep[r]!.extraLive - zero[r]!.extraLive).toBeGreaterThan(0.45 * rep[0]!.stateBytes);
    });
  }
});
