/**
 * Tensor parallelism (Megatron): TP=2 on two Devices in-process. Logits and the parameter gradients
 * (merged back from the shards) equal the single-device model's; the split layers hold half the
 * parameters per rank; the mappings' forward and backward match plain Linear layers.
 */
import { VisionTransformer } from "@vit/model";
import { type HostTensor, Linear } from "@vit/nn";
import { AdamW, paramGroupsWeightDecay } from "@vit/optim";
import { Device, type Tensor, crossEntropy, mean, scope, square, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ColumnParallelLinear,
  RowParallelLinear,
  TensorParallelViT,
  backwardAsync,
  clipGradNormTensorParallel,
  createInProcessGroups,
  mergeTensorParallelStateDicts,
  runRanks,
  splitTensorParallelStateDict,
  tensorParallelSplitOf,
} from "../src/index.js";
import { hostRandom, maxAbsDiff, relErr, tinyViT } from "./helpers.js";

let devs: Device[];
beforeAll(async () => {
  devs = [await Device.create({ seed: 5 }), await Device.create({ seed: 5 })];
});
afterAll(() => devs?.forEach((d) => d.destroy()));

const f32 = async (t: Tensor) => Float32Array.from((await t.data()) as Float32Array);

async function gradsHost(named: Array<[string, Tensor]>): Promise<Record<string, HostTensor>> {
  const out: Record<string, HostTensor> = {};
  for (const [n, p] of named) out[n] = { dtype: "F32", shape: [...p.shape], data: await f32(p.grad!) };
  return out;
}

describe("state dict split / merge", () => {
  it("splits q, k and v by whole heads, fc1 by rows, proj/fc2 by columns; merge inverts split", async () => {
    const cfg = tinyViT({ num_attention_heads: 4, hidden_size: 8, ffn_hidden_size: 12, num_layers: 1 });
    const m = new VisionTransformer(devs[0]!, cfg);
    const sd = await m.stateDictHost();
    const shards = splitTensorParallelStateDict(sd, cfg, 2);
    expect(tensorParallelSplitOf("blocks.0.attn.qkv.weight")).toBe("qkv");
    expect(tensorParallelSplitOf("blocks.0.attn.proj.bias")).toBe("replicated");
    expect(shards[1]!["blocks.0.attn.qkv.weight"]!.shape).toEqual([12, 8]);
    expect(shards[1]!["blocks.0.attn.proj.weight"]!.shape).toEqual([8, 4]);
    expect(shards[1]!["blocks.0.mlp.fc1.bias"]!.shape).toEqual([6]);
    expect(shards[1]!["blocks.0.mlp.fc2.weight"]!.shape).toEqual([8, 6]);
    // Rank 1's qkv bias: heads 2,3 (hd = 2) of q, then of k, then of v.
    const b = sd["blocks.0.attn.qkv.bias"]!.data as Float32Array;
    const idx = [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23];
    expect(Array.from(shards[1]!["blocks.0.attn.qkv.bias"]!.data as Float32Array)).toEqual(
      idx.map((i) => b[i]!),
    );
    const merged = mergeTensorParallelStateDicts(shards, cfg);
    for (const [k, t] of Object.entries(sd)) {
      expect(merged[k]!.shape).toEqual(t.shape);
      expect(Array.from(merged[k]!.data as Float32Array)).toEqual(Array.from(t.data as Float32Array));
    }
    m.dispose();
  });
});

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

describe("TensorParallelViT, TP = 2", () => {
  const cfg = tinyViT({ style: "nemo", head_type: "mlp_tanh", class_token_length: 2, num_layers: 2 });
  const B = 4;
  const images = hostRandom(B * 3 * 8 * 8, 3);
  const labels = Int32Array.from({ length: B }, (_, i) => i % 5);

  it("logits and merged gradients equal the single-device model's; split layers hold half per rank", async () => {
    const ref = new VisionTransformer(devs[0]!, cfg);
    const x = tensor(devs[0]!, images, [B, 3, 8, 8]);
    const y = tensor(devs[0]!, labels, [B]);
    const logits = scope(() => {
      const l = ref.forward(x);
      crossEntropy(l, y).backward();
      return l;
    });
    const refLogits = await f32(logits);
    const refGrads = await gradsHost(ref.namedParameters());
    const shards = splitTensorParallelStateDict(await ref.stateDictHost(), cfg, 2);

    // Memory: parameters of one rank's model vs the full model, on a device holding nothing else.
    const live = () => devs[1]!.memoryStats().liveBytes;
    const before = live();
    const full = new VisionTransformer(devs[1]!, cfg);
    const fullBytes = live() - before;
    const sizes = (m: { namedParameters(): Array<[string, Tensor]> }, split: boolean) =>
      m
        .namedParameters()
        .filter(([n]) => (tensorParallelSplitOf(n) !== "replicated") === split)
        .reduce((a, [, p]) => a + p.numel * 4, 0);
    const fullSplit = sizes(full, true);
    const fullBlocks = full
      .namedParameters()
      .filter(([n]) => n.startsWith("blocks."))
      .reduce((a, [, p]) => a + p.numel * 4, 0);
    full.dispose();

    const groups = createInProcessGroups(2);
    const res = await runRanks(groups, async (g) => {
      const dev = devs[g.rank]!;
      const b0 = dev.memoryStats().liveBytes;
      const model = new TensorParallelViT(dev, cfg, g);
      const modelBytes = dev.memoryStats().liveBytes - b0;
      model.loadStateDict(shards[g.rank]!);
      const xs = tensor(dev, images, [B, 3, 8, 8]);
      const ys = tensor(dev, labels, [B]);
      const out = await model.forward(xs);
      await backwardAsync(crossEntropy(out, ys));
      const blocks = model
        .namedParameters()
        .filter(([n]) => n.startsWith("blocks."))
        .reduce((a, [, p]) => a + p.numel * 4, 0);
      return {
        logits: await f32(out),
        grads: await gradsHost(model.namedParameters()),
        split: sizes(model, true),
        blocks,
        modelBytes,
      };
    });

    for (const r of res) expect(relErr(r.logits, refLogits)).toBeLessThan(1e-5);
    let replicatedDiff = 0;
    const merged = mergeTensorParallelStateDicts(
      res.map((r) => r.grads),
      cfg,
      (_, d) => {
        replicatedDiff = Math.max(replicatedDiff, d);
      },
    );
    let worst = 0;
    let worstName = "";
    for (const [n, g] of Object.entries(refGrads)) {
      const e = relErr(merged[n]!.data as Float32Array, g.data as Float32Array);
      if (e > worst) [worst, worstName] = [e, n];
    }
    const logitErr = Math.max(...res.map((r) => relErr(r.logits, refLogits)));
    console.log(
      `tensor parallel: logits rel. err ${logitErr.toExponential(2)}; worst gradient rel. err ${worst.toExponential(2)} (${worstName}); ` +
        `replicated grads differ across ranks by ≤ ${replicatedDiff}; per rank: split-layer params ${res[0]!.split} B of ${fullSplit} B ` +
        `(${(res[0]!.split / fullSplit).toFixed(3)}), encoder blocks ${res[0]!.blocks} B of ${fullBlocks} B (${(res[0]!.blocks / fullBlocks).toFixed(3)}), ` +
        `allocator live bytes of the whole model ${res[0]!.modelBytes} of ${fullBytes} (${(res[0]!.modelBytes / fullBytes).toFixed(3)})`,
    );
    expect(worst).toBeLessThan(1e-4);
    expect(replicatedDiff).toBe(0);
    for (const r of res) {
      expect(r.split * 2).toBe(fullSplit);
      expect(r.blocks / fullBlocks).toBeLessThan(0.52);
    }
    ref.dispose();
  });

  it("with dropout on, ranks agree on replicated values (default stream) and differ in attention masks (per-rank stream)", async () => {
    const dcfg = { ...cfg, hidden_dropout: 0.2, attention_dropout: 0.2 };
    const ref = new VisionTransformer(devs[0]!, dcfg);
    const shards = splitTensorParallelStateDict(await ref.stateDictHost(), dcfg, 2);
    ref.dispose();
    const groups = createInProcessGroups(2);
    const res = await runRanks(groups, async (g) => {
      const dev = devs[g.rank]!;
      dev.rng.seed = 77;
      dev.rng.offset = 0;
      const model = new TensorParallelViT(dev, dcfg, g);
      model.loadStateDict(shards[g.rank]!);
      const out = await model.forward(tensor(dev, images, [B, 3, 8, 8]));
      await backwardAsync(crossEntropy(out, tensor(dev, labels, [B])));
      return {
        logits: await f32(out),
        grads: await gradsHost(model.namedParameters()),
        seed: model.rng.seed,
      };
    });
    expect(Array.from(res[1]!.logits)).toEqual(Array.from(res[0]!.logits));
    expect(res[0]!.seed).not.toBe(res[1]!.seed);
    let replicatedDiff = 0;
    mergeTensorParallelStateDicts(
      res.map((r) => r.grads),
      dcfg,
      (_, d) => {
        replicatedDiff = Math.max(replicatedDiff, d);
      },
    );
    expect(replicatedDiff).toBe(0);
  });

  it("kv_channels ≠ hidden/heads and drop path: logits and merged gradients equal the single-device model's", async () => {
    // Drop-path masks act on the replicated hidden state and come from the default stream, drawn in the
    // single-device order: with the same (seed, offset) every rank drops the same samples as one device.
    const kcfg = tinyViT({
      style: "nemo",
      class_token_length: 2,
      num_layers: 3,
      kv_channels: 6,
      drop_path_rate: 0.6,
    });
    const ref = new VisionTransformer(devs[0]!, kcfg);
    const refSd = await ref.stateDictHost();
    devs[0]!.rng.offset = 500;
    const x = tensor(devs[0]!, images, [B, 3, 8, 8]);
    const logits = scope(() => {
      const l = ref.forward(x);
      crossEntropy(l, tensor(devs[0]!, labels, [B])).backward();
      return l;
    });
    const refLogits = await f32(logits);
    const refGrads = await gradsHost(ref.namedParameters());
    // Without drop path the logits differ: the masks did drop something.
    ref.eval();
    const evalLogits = await f32(ref.forward(x));
    expect(relErr(evalLogits, refLogits)).toBeGreaterThan(1e-4); // well above the 1e-5 agreement below
    const shards = splitTensorParallelStateDict(refSd, kcfg, 2);
    expect(shards[0]!["blocks.0.attn.qkv.weight"]!.shape).toEqual([3 * 2 * 6, 32]); // 2 of 4 heads × 6, for q, k, v
    expect(shards[0]!["blocks.0.attn.proj.weight"]!.shape).toEqual([32, 12]);
    const groups = createInProcessGroups(2);
    const res = await runRanks(groups, async (g) => {
      const dev = devs[g.rank]!;
      const model = new TensorParallelViT(dev, kcfg, g);
      model.loadStateDict(shards[g.rank]!);
      dev.rng.offset = 500;
      const out = await model.forward(tensor(dev, images, [B, 3, 8, 8]));
      await backwardAsync(crossEntropy(out, tensor(dev, labels, [B])));
      return { logits: await f32(out), grads: await gradsHost(model.namedParameters()) };
    });
    for (const r of res) expect(relErr(r.logits, refLogits)).toBeLessThan(1e-5);
    const merged = mergeTensorParallelStateDicts(
      res.map((r) => r.grads),
      kcfg,
    );
    for (const [n, g] of Object.entries(refGrads)) {
      expect(relErr(merged[n]!.data as Float32Array, g.data as Float32Array), n).toBeLessThan(1e-4);
    }
    ref.dispose();
  });

  it("trains like the single-device model: loss curve and parameters over 3 AdamW steps with global-norm clipping; no tensor leaks", async () => {
    const steps = 3;
    const lr = 5e-3;
    const ref = new VisionTransformer(devs[0]!, cfg);
    const init = await ref.stateDictHost();
    const refOpt = new AdamW(paramGroupsWeightDecay(ref.namedParameters(), 0.05));
    const x = tensor(devs[0]!, images, [B, 3, 8, 8]);
    const y = tensor(devs[0]!, labels, [B]);
    const refLoss: number[] = [];
    const refNorm: number[] = [];
    for (let s = 0; s < steps; s++) {
      const l = scope(() => {
        const loss = crossEntropy(ref.forward(x), y);
        loss.backward();
        return loss;
      });
      refOpt.step({ lr, maxGradNorm: 0.5 });
      refOpt.zeroGrad();
      refLoss.push((await l.data())[0]!);
      refNorm.push(await refOpt.lastGradNorm());
      l.dispose();
    }
    const refParams = Object.fromEntries(
      Object.entries(await ref.stateDictHost()).map(([k, t]) => [k, t.data as Float32Array]),
    );

    const shards = splitTensorParallelStateDict(init, cfg, 2);
    const groups = createInProcessGroups(2);
    const ranks = groups.map((g) => {
      const dev = devs[g.rank]!;
      const model = new TensorParallelViT(dev, cfg, g);
      model.loadStateDict(shards[g.rank]!);
      const opt = new AdamW(paramGroupsWeightDecay(model.namedParameters(), 0.05));
      return { model, opt, x: tensor(dev, images, [B, 3, 8, 8]), y: tensor(dev, labels, [B]) };
    });
    const live0 = devs.map((d) => d.liveTensors);
    const curve: number[] = [];
    const norms: number[] = [];
    for (let s = 0; s < steps; s++) {
      // The ranks interleave at every await and @vit/tensor's scope stack is process-wide, so one scope
      // wraps the whole lockstep step (never one per rank across an await).
      const losses = await scope(() =>
        runRanks(groups, async (g) => {
          const r = ranks[g.rank]!;
          const loss = crossEntropy(await r.model.forward(r.x), r.y);
          await backwardAsync(loss);
          return (await loss.data())[0]!;
        }),
      );
      const n = await runRanks(groups, async (g) => {
        const r = ranks[g.rank]!;
        const norm = await clipGradNormTensorParallel(g, r.model, 0.5);
        r.opt.step({ lr, maxGradNorm: 0 });
        r.opt.zeroGrad();
        return norm;
      });
      expect(losses[1]).toBe(losses[0]);
      expect(n[1]).toBe(n[0]);
      curve.push(losses[0]!);
      norms.push(n[0]!);
    }
    // Only the optimizer state (2 tensors per parameter, created at the first step) was added.
    devs.forEach((d, i) => expect(d.liveTensors - live0[i]!).toBe(2 * ranks[i]!.model.parameters().length));
    const merged = mergeTensorParallelStateDicts(
      await Promise.all(ranks.map((r) => r.model.stateDictHost())),
      cfg,
    );
    // Adam normalises each gradient element by its own magnitude, so elements whose gradient is at the
    // level of rounding noise (the attention key bias, whose true gradient is zero since softmax ignores
    // a shift of every score; biases early in training) move by noise-sized steps: compare absolutely.
    let worst = 0;
    let worstName = "";
    for (const [k, v] of Object.entries(refParams)) {
      const e = maxAbsDiff(merged[k]!.data as Float32Array, v);
      if (e > worst) [worst, worstName] = [e, k];
    }
    const lossErr = relErr(curve, refLoss);
    const normErr = relErr(norms, refNorm);
    console.log(
      `tensor-parallel training: loss ${curve.map((v) => v.toFixed(6)).join(" ")} vs ${refLoss.map((v) => v.toFixed(6)).join(" ")} ` +
        `(rel. ${lossErr.toExponential(2)}); grad norm rel. ${normErr.toExponential(2)}; max |Δparam| after ${steps} steps at lr ${lr}: ${worst.toExponential(2)} (${worstName})`,
    );
    expect(lossErr).toBeLessThan(1e-5);
    expect(normErr).toBeLessThan(1e-5);
    expect(worst).toBeLessThan(2e-5);
    ref.dispose();
    refOpt.dispose();
  });
});
