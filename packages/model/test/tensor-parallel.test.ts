/**
 * The tensor-parallel ViT (Megatron): TP=2 on two Devices in-process. Logits and the parameter gradients
 * (merged back from the shards) equal the single-device model's; the split layers hold half the
 * parameters per rank; training matches over a few steps. The split rule comes from the layers'
 * declarations (tensorParallelLayout).
 */
import type { HostTensor } from "@vit/nn";
import { AdamW, paramGroupsWeightDecay } from "@vit/optim";
import {
  type TensorParallelLayout,
  backwardAsync,
  clipGradNormTensorParallel,
  createInProcessGroups,
  mergeTensorParallelStateDicts,
  runRanks,
  splitTensorParallelStateDict,
  tensorParallelLayout,
} from "@vit/parallel";
import { Device, type Tensor, crossEntropy, scope, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TensorParallelViT, type ViTConfig, VisionTransformer } from "../src/index.js";
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

/** The split rule of `cfg`'s TP=2 ViT, read from a model's layers (built and dropped; the RNG is kept). */
async function layoutOf(cfg: ViTConfig): Promise<TensorParallelLayout> {
  const dev = devs[0]!;
  const at = { ...dev.rng };
  const groups = createInProcessGroups(2);
  const m = new TensorParallelViT(dev, cfg, groups[0]!);
  const layout = tensorParallelLayout(m);
  m.dispose();
  Object.assign(dev.rng, at);
  await Promise.all(groups.map((g) => g.destroy()));
  return layout;
}

describe("state dict split / merge", () => {
  it("splits q, k and v by whole heads, fc1 by rows, proj/fc2 by columns; merge inverts split", async () => {
    const cfg = tinyViT({ num_attention_heads: 4, hidden_size: 8, ffn_hidden_size: 12, num_layers: 1 });
    const m = new VisionTransformer(devs[0]!, cfg);
    const sd = await m.stateDictHost();
    const layout = await layoutOf(cfg);
    const shards = splitTensorParallelStateDict(sd, layout, 2);
    expect(layout.get("blocks.0.attn.qkv.weight")).toEqual({ dim: 0, stride: 3 }); // q|k|v, by whole heads
    expect(layout.has("blocks.0.attn.proj.bias")).toBe(false); // replicated
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
    const merged = mergeTensorParallelStateDicts(shards, layout);
    for (const [k, t] of Object.entries(sd)) {
      expect(merged[k]!.shape).toEqual(t.shape);
      expect(Array.from(merged[k]!.data as Float32Array)).toEqual(Array.from(t.data as Float32Array));
    }
    m.dispose();
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
    const layout = await layoutOf(cfg);
    const shards = splitTensorParallelStateDict(await ref.stateDictHost(), layout, 2);

    // Memory: parameters of one rank's model vs the full model, on a device holding nothing else.
    const live = () => devs[1]!.memoryStats().liveBytes;
    const before = live();
    const full = new VisionTransformer(devs[1]!, cfg);
    const fullBytes = live() - before;
    const sizes = (m: { namedParameters(): Array<[string, Tensor]> }, split: boolean) =>
      m
        .namedParameters()
        .filter(([n]) => layout.has(n) === split)
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
      layout,
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
    const layout = await layoutOf(dcfg);
    const shards = splitTensorParallelStateDict(await ref.stateDictHost(), layout, 2);
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
      layout,
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
    const layout = await layoutOf(kcfg);
    const shards = splitTensorParallelStateDict(refSd, layout, 2);
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
      layout,
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

    const layout = await layoutOf(cfg);
    const shards = splitTensorParallelStateDict(init, layout, 2);
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
      ranks[0]!.model,
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
