/**
 * Megatron's tensor-parallel core: TP=2 on two Devices in-process. The mappings' forward and backward
 * match plain Linear layers; the split rule of state dicts and of the clipped norm is what the layers
 * declare, whatever their parents call them. (The tensor-parallel ViT is tested in @vit/model.)
 */
import { type HostTensor, Linear, Module } from "@vit/nn";
import { Device, type Tensor, add, mean, scope, square, sum, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ColumnParallelLinear,
  type ProcessGroup,
  RowParallelLinear,
  backwardAsync,
  clipGradNormTensorParallel,
  createInProcessGroups,
  mergeTensorParallelStateDicts,
  runRanks,
  splitTensorParallelStateDict,
  tensorParallelLayout,
} from "../src/index.js";
import { hostRandom, relErr } from "./helpers.js";

let devs: Device[];
beforeAll(async () => {
  devs = [await Device.create({ seed: 5 }), await Device.create({ seed: 5 })];
});
afterAll(() => devs?.forEach((d) => d.destroy()));

const f32 = async (t: Tensor) => Float32Array.from((await t.data()) as Float32Array);

describe("parallel linear layers and the four mappings", () => {
  it("Column(gatherOutput) → Row(scatter input) equals Linear → Linear, forward and backward", async () => {
    const [I, H, O] = [6, 8, 4];
    const l1 = new Linear(devs[0]!, I, H);
    const l2 = new Linear(devs[0]!, H, O);
    const xh = hostRandom(3 * I, 9);
    const x = tensor(devs[0]!, xh, [3, I], { requiresGrad: true });
    const out = scope(() => {
      const o = l2.forward(l1.forward(x));
      mean(square(o)).backward();
      return o;
    });
    const ref = {
      out: await f32(out),
      dx: await f32(x.grad!),
      w1: await f32(l1.weight.grad!),
      w2: await f32(l2.weight.grad!),
    };
    const w1 = await f32(l1.weight);
    const b1 = await f32(l1.bias!);
    const w2 = await f32(l2.weight);
    const b2 = await f32(l2.bias!);

    const groups = createInProcessGroups(2);
    const res = await runRanks(groups, async (g) => {
      const dev = devs[g.rank]!;
      const r = g.rank;
      const c = new ColumnParallelLinear(dev, g, I, H, { gatherOutput: true });
      const row = new RowParallelLinear(dev, g, H, O, { inputIsParallel: false });
      c.loadStateDict({
        weight: { dtype: "F32", shape: [H / 2, I], data: w1.slice(r * (H / 2) * I, (r + 1) * (H / 2) * I) },
        bias: { dtype: "F32", shape: [H / 2], data: b1.slice(r * (H / 2), (r + 1) * (H / 2)) },
      });
      const w2r = new Float32Array(O * (H / 2));
      for (let o = 0; o < O; o++)
        w2r.set(w2.subarray(o * H + r * (H / 2), o * H + (r + 1) * (H / 2)), o * (H / 2));
      row.loadStateDict({
        weight: { dtype: "F32", shape: [O, H / 2], data: w2r },
        bias: { dtype: "F32", shape: [O], data: b2 },
      });
      const xr = tensor(dev, xh, [3, I], { requiresGrad: true });
      const y = await row.forward(await c.forward(xr));
      await backwardAsync(mean(square(y)));
      return {
        out: await f32(y),
        dx: await f32(xr.grad!),
        w1: await f32(c.weight.grad!),
        w2: await f32(row.weight.grad!),
      };
    });
    for (const [r, o] of res.entries()) {
      expect(relErr(o.out, ref.out)).toBeLessThan(1e-6);
      expect(relErr(o.dx, ref.dx)).toBeLessThan(1e-6);
      expect(relErr(o.w1, ref.w1.slice(r * (H / 2) * I, (r + 1) * (H / 2) * I))).toBeLessThan(1e-6);
      const w2g = new Float32Array(O * (H / 2));
      for (let i = 0; i < O; i++)
        w2g.set(ref.w2.subarray(i * H + r * (H / 2), i * H + (r + 1) * (H / 2)), i * (H / 2));
      expect(relErr(o.w2, w2g)).toBeLessThan(1e-6);
    }
  });

  it("the synchronous backward() refuses a graph with collectives, pointing to backwardAsync", async () => {
    const [g0, g1] = createInProcessGroups(2);
    const c = new ColumnParallelLinear(devs[0]!, g0!, 4, 4);
    const x = tensor(devs[0]!, [1, 2, 3, 4], [1, 4], { requiresGrad: true });
    const y = await c.forward(x);
    expect(() => mean(y).backward()).toThrow(/copy_to_tensor_parallel_region: .*await backwardAsync\(loss\)/);
    await g1!.destroy();
  });
});

describe("the split rule is declared by the layers, not read from names", () => {
  // Names chosen to defeat a rule over names: the split layers are "up"/"down", and a replicated Linear
  // sits at "mlp.fc1", where the ViT keeps a column-parallel one.
  const [D, F, B] = [4, 8, 3];
  class Holder extends Module {
    readonly fc1: Linear;
    constructor(dev: Device) {
      super();
      this.fc1 = this.registerModule("fc1", new Linear(dev, D, D));
    }
  }
  class Ref extends Module {
    readonly up: Linear;
    readonly down: Linear;
    readonly mlp: Holder;
    constructor(dev: Device) {
      super();
      this.up = this.registerModule("up", new Linear(dev, D, F));
      this.down = this.registerModule("down", new Linear(dev, F, D));
      this.mlp = this.registerModule("mlp", new Holder(dev));
    }
    forward(x: Tensor): Tensor {
      return add(this.down.forward(this.up.forward(x)), this.mlp.fc1.forward(x));
    }
  }
  class Split extends Module {
    readonly up: ColumnParallelLinear;
    readonly down: RowParallelLinear;
    readonly mlp: Holder;
    constructor(dev: Device, g: ProcessGroup) {
      super();
      this.up = this.registerModule("up", new ColumnParallelLinear(dev, g, D, F));
      this.down = this.registerModule("down", new RowParallelLinear(dev, g, F, D));
      this.mlp = this.registerModule("mlp", new Holder(dev));
    }
    async forward(x: Tensor): Promise<Tensor> {
      return add(await this.down.forward(await this.up.forward(x)), this.mlp.fc1.forward(x));
    }
  }

  it("renamed split layers shard, merge and count in the clipped norm as the single-device module says", async () => {
    const ref = new Ref(devs[0]!);
    const xh = hostRandom(B * D, 4);
    const out = scope(() => {
      const o = ref.forward(tensor(devs[0]!, xh, [B, D]));
      sum(square(o)).backward();
      return o;
    });
    const refOut = await f32(out);
    const refGrads: Record<string, HostTensor> = {};
    let sq = 0;
    for (const [n, p] of ref.namedParameters()) {
      const g = await f32(p.grad!);
      refGrads[n] = { dtype: "F32", shape: [...p.shape], data: g };
      for (const v of g) sq += v * v;
    }
    const full = await ref.stateDictHost();
    const groups = createInProcessGroups(2);
    const res = await runRanks(groups, async (g) => {
      const m = new Split(devs[g.rank]!, g);
      // Strict load: a parameter split that the layer did not declare (or the reverse) has the wrong shape.
      m.loadStateDict(splitTensorParallelStateDict(full, m, 2)[g.rank]!);
      const y = await m.forward(tensor(devs[g.rank]!, xh, [B, D]));
      await backwardAsync(sum(square(y)));
      const grads: Record<string, HostTensor> = {};
      for (const [n, p] of m.namedParameters())
        grads[n] = { dtype: "F32", shape: [...p.shape], data: await f32(p.grad!) };
      return {
        out: await f32(y),
        grads,
        norm: await clipGradNormTensorParallel(g, m, 0),
        layout: tensorParallelLayout(m),
      };
    });
    expect([...res[0]!.layout]).toEqual([
      ["up.weight", { dim: 0, stride: 1 }],
      ["up.bias", { dim: 0, stride: 1 }],
      ["down.weight", { dim: 1, stride: 1 }],
    ]);
    const merged = mergeTensorParallelStateDicts(
      res.map((r) => r.grads),
      res[0]!.layout,
    );
    for (const r of res) {
      expect(relErr(r.out, refOut)).toBeLessThan(1e-6);
      expect(r.norm).toBeCloseTo(Math.sqrt(sq), 5);
    }
    for (const [n, g] of Object.entries(refGrads)) {
      expect(merged[n]!.shape, n).toEqual(g.shape);
      expect(relErr(merged[n]!.data as Float32Array, g.data as Float32Array), n).toBeLessThan(1e-6);
    }
    ref.dispose();
  });
});
