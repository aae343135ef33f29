/**
 * Data parallelism: 2 ranks (2 Devices in-process), each with half of a batch, give after the bucketed
 * all-reduce the gradients of 1 device with the whole batch, and the same loss curve over a few AdamW
 * steps.
 */
import { AdamW, paramGroupsWeightDecay } from "@vit/optim";
import { Device, crossEntropy, scope, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataParallel, buildBuckets, createInProcessGroups, runRanks } from "../src/index.js";
import { TinyNet, gradsOf, hostRandom, paramsOf, relErr, tinyNet } from "./helpers.js";

let devs: Device[];
beforeAll(async () => {
  devs = [await Device.create({ seed: 1 }), await Device.create({ seed: 2 })];
});
afterAll(() => devs?.forEach((d) => d.destroy()));

const B = 8;
const cfg = tinyNet();
const images = hostRandom(B * 3 * 8 * 8, 42);
const labels = Int32Array.from({ length: B }, (_, i) => (i * 3) % 5);
const per = (B / 2) * 3 * 8 * 8;

describe("bucket layout", () => {
  it("reverse order, ~bucketBytes per bucket, whole parameters, padding to a multiple", () => {
    const model = new TinyNet(devs[0]!, cfg);
    const named = model.namedParameters();
    const buckets = buildBuckets(named, { bucketBytes: 16 * 1024, padTo: 3 });
    expect(buckets.length).toBeGreaterThan(2);
    const flat = buckets.flatMap((b) => b.entries.map((e) => e.name));
    expect(flat).toEqual(named.map(([n]) => n).reverse());
    for (const b of buckets) {
      expect(b.paddedNumel % 3).toBe(0);
      expect(b.paddedNumel - b.numel).toBeLessThan(3);
      // A bucket closes once it reaches the cap; only its last parameter may cross it.
      expect(b.numel - b.entries[b.entries.length - 1]!.numel).toBeLessThan(4096);
    }
    model.dispose();
  });
});

describe("DataParallel (2 ranks in-process)", () => {
  it("broadcastParameters makes the replicas equal; all-reduced half-batch gradients equal the full batch's", async () => {
    const ref = new TinyNet(devs[0]!, cfg);
    const x = tensor(devs[0]!, images, [B, 3, 8, 8]);
    const y = tensor(devs[0]!, labels, [B]);
    scope(() => crossEntropy(ref.forward(x), y).backward());
    const refGrads = await gradsOf(ref);

    const groups = createInProcessGroups(2);
    const models = devs.map((d) => new TinyNet(d, cfg)); // different seeds: different weights
    models[0]!.loadStateDict(ref.stateDict());
    const grads = await runRanks(groups, async (g) => {
      const dev = devs[g.rank]!;
      const model = models[g.rank]!;
      const dp = new DataParallel(g, { bucketBytes: 32 * 1024 }); // several buckets
      await dp.broadcastParameters(model, 0);
      const xs = tensor(dev, images.subarray(g.rank * per, (g.rank + 1) * per), [B / 2, 3, 8, 8]);
      const ys = tensor(dev, labels.subarray((g.rank * B) / 2, ((g.rank + 1) * B) / 2), [B / 2]);
      scope(() => crossEntropy(model.forward(xs), ys).backward());
      await dp.allReduceGradients(model);
      dp.dispose();
      return gradsOf(model);
    });
    const p1 = await paramsOf(models[1]!);
    const p0 = await paramsOf(ref);
    for (const n of Object.keys(p0)) expect(Array.from(p1[n]!)).toEqual(Array.from(p0[n]!));
    let worst = 0;
    for (const [n, g] of Object.entries(refGrads)) {
      expect(Array.from(grads[1]![n]!)).toEqual(Array.from(grads[0]![n]!)); // identical on every rank
      worst = Math.max(worst, relErr(grads[0]![n]!, g));
    }
    console.log(`data parallel: max relative gradient error vs one device: ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);
    for (const m of [ref, ...models]) m.dispose();
  });

  it("a few AdamW steps give the same loss curve as one device with the whole batch", async () => {
    const steps = 5;
    const lr = 5e-3;
    const ref = new TinyNet(devs[0]!, cfg);
    const init = await ref.stateDictHost();
    const refOpt = new AdamW(paramGroupsWeightDecay(ref.namedParameters(), 0.05));
    const x = tensor(devs[0]!, images, [B, 3, 8, 8]);
    const y = tensor(devs[0]!, labels, [B]);
    const refLoss: number[] = [];
    for (let s = 0; s < steps; s++) {
      const l = scope(() => {
        const loss = crossEntropy(ref.forward(x), y);
        loss.backward();
        return loss;
      });
      refOpt.step({ lr, maxGradNorm: 1 });
      refOpt.zeroGrad();
      refLoss.push((await l.data())[0]!);
      l.dispose();
    }

    const groups = createInProcessGroups(2);
    const curves = await runRanks(groups, async (g) => {
      const dev = devs[g.rank]!;
      const model = new TinyNet(dev, cfg);
      model.loadStateDict(init);
      const opt = new AdamW(paramGroupsWeightDecay(model.namedParameters(), 0.05));
      const dp = new DataParallel(g);
      const xs = tensor(dev, images.subarray(g.rank * per, (g.rank + 1) * per), [B / 2, 3, 8, 8]);
      const ys = tensor(dev, labels.subarray((g.rank * B) / 2, ((g.rank + 1) * B) / 2), [B / 2]);
      const curve: number[] = [];
      for (let s = 0; s < steps; s++) {
        const l = scope(() => {
          const loss = crossEntropy(model.forward(xs), ys);
          loss.backward();
          return loss;
        });
        await dp.allReduceGradients(model);
        opt.step({ lr, maxGradNorm: 1 });
        opt.zeroGrad();
        const [mean] = await g.allReduceValues([(await l.data())[0]!], "mean");
        curve.push(mean!);
        l.dispose();
      }
      model.dispose();
      opt.dispose();
      dp.dispose();
      return curve;
    });
    console.log(
      `data parallel loss curve: ${curves[0]!.map((v) => v.toFixed(6)).join(" ")}; one device: ${refLoss.map((v) => v.toFixed(6)).join(" ")}`,
    );
    expect(curves[1]).toEqual(curves[0]);
    expect(refLoss[steps - 1]!).toBeLessThan(refLoss[0]!);
    expect(relErr(curves[0]!, refLoss)).toBeLessThan(1e-4);
    ref.dispose();
    refOpt.dispose();
  });
});
