/**
 * `scaling` suite: what the parallel strategies cost and save, in one process.
 *   - collective bandwidth: all-reduce of 1 / 16 MiB over 2 ranks, in-process and TCP over loopback
 *     (algorithmic bandwidth: bytes reduced per second per rank);
 *   - data parallel: images/s of a training step (forward + backward + gradient all-reduce + AdamW) on
 *     1 rank and on 2 in-process ranks with the same per-rank batch (weak scaling), and the share of the
 *     step spent waiting in the all-reduce (its first readback also waits for the GPU to finish the
 *     backward that was recorded before it, so this is an upper bound on communication);
 *   - tensor parallel: images/s of forward + backward at TP 1 and 2, and parameter bytes per rank;
 *   - distributed optimizer: AdamW state bytes per rank, replicated vs ZeRO-1.
 * Several Devices in one process share one adapter: on a CPU adapter (lavapipe) or a single GPU the
 * ranks compete for the same cores, so these figures measure overheads, not speed-ups.
 *
 * Written against public entry points only, with the BenchCase/BenchContext shapes of apps/bench, so it
 * can move to apps/bench/src/suites/scaling.ts unchanged apart from the two type imports.
 * Options: --set preset=tiny --set batch=32 --set steps=5
 */
import { createServer } from "node:net";
import { VisionTransformer, getPreset } from "@vit/model";
import { AdamW, paramGroupsWeightDecay } from "@vit/optim";
import {
  DataParallel,
  DistributedOptimizer,
  type ProcessGroup,
  TcpProcessGroup,
  TensorParallelViT,
  backwardAsync,
  createInProcessGroups,
  newJobToken,
  runRanks,
  splitTensorParallelStateDict,
} from "@vit/parallel";
import { Device, crossEntropy, randn, scope, tensor } from "@vit/tensor";

/** apps/bench/src/types.ts's shapes (structural copies; import them from there once moved). */
import type { BenchCase, BenchContext } from "../types.js";

function stats(v: number[]): { median: number; min: number; max: number } {
  const s = [...v].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s[s.length - 1]! };
}

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

async function allReduceBandwidth(
  groups: ProcessGroup[],
  devs: Device[],
  mib: number,
  repeats: number,
): Promise<number[]> {
  const n = (mib * 2 ** 20) / 4;
  const ts = devs.map((d) => randn(d, [n]));
  const out: number[] = [];
  for (let i = 0; i < repeats + 1; i++) {
    await Promise.all(devs.map((d) => d.sync()));
    const t0 = performance.now();
    await runRanks(groups, (g) => g.allReduce([ts[g.rank]!], "sum"));
    await Promise.all(devs.map((d) => d.sync()));
    const s = (performance.now() - t0) / 1000;
    if (i > 0) out.push((n * 4) / s / 1e9);
  }
  for (const t of ts) t.dispose();
  return out;
}

export async function scalingSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const preset = ctx.options?.preset ?? "tiny";
  const batch = Number(ctx.options?.batch ?? 32);
  const steps = Number(ctx.options?.steps ?? (ctx.quick ? 2 : 5));
  const repeats = ctx.quick ? 2 : 5;
  const cases: BenchCase[] = [];
  const devs = [await Device.create({ seed: 1 }), await Device.create({ seed: 1 })];
  try {
    // Collective bandwidth.
    for (const backend of ["in-process", "tcp"] as const) {
      let groups: ProcessGroup[];
      if (backend === "in-process") groups = createInProcessGroups(2);
      else {
        const port = await freePort();
        const token = newJobToken();
        groups = await Promise.all(
          [0, 1].map((rank) =>
            TcpProcessGroup.connect({ rank, worldSize: 2, masterAddr: "127.0.0.1", masterPort: port, token }),
          ),
        );
      }
      for (const mib of ctx.quick ? [1] : [1, 16]) {
        ctx.log(`all-reduce ${mib} MiB, 2 ranks, ${backend}`);
        const v = await allReduceBandwidth(groups, devs, mib, repeats);
        cases.push({
          suite: "scaling",
          name: `all-reduce ${mib} MiB f32, 2 ranks, ${backend}`,
          unit: "GB/s",
          ...stats(v),
          repeats,
        });
      }
      await Promise.all(groups.map((g) => g.destroy()));
    }

    const cfg = getPreset(preset, { hidden_dropout: 0, attention_dropout: 0 });
    const shape = [batch, cfg.num_channels, cfg.img_h, cfg.img_w];
    const labels = Int32Array.from({ length: batch }, (_, i) => i % cfg.num_classes);

    // Data parallel, weak scaling: same per-rank batch on 1 and 2 ranks.
    for (const world of [1, 2]) {
      ctx.log(`data parallel ${preset} b${batch}/rank, ${world} rank(s)`);
      const groups = createInProcessGroups(world);
      const ips: number[] = [];
      const reduceShare: number[] = [];
      await runRanks(groups, async (g) => {
        const dev = devs[g.rank]!;
        const model = new VisionTransformer(dev, cfg);
        const opt = new AdamW(paramGroupsWeightDecay(model.namedParameters(), 0.05));
        const dp = new DataParallel(g);
        await dp.broadcastParameters(model);
        const x = randn(dev, shape);
        const y = tensor(dev, labels, [batch]);
        for (let r = 0; r < repeats + 1; r++) {
          await dev.sync();
          const t0 = performance.now();
          let reduceMs = 0;
          for (let s = 0; s < steps; s++) {
            scope(() => crossEntropy(model.forward(x), y).backward());
            const t1 = performance.now();
            await dp.allReduceGradients(model);
            reduceMs += performance.now() - t1;
            opt.step({ lr: 1e-3, maxGradNorm: 1 });
            opt.zeroGrad();
            await dev.throttle();
          }
          await g.barrier();
          await dev.sync();
          const ms = performance.now() - t0;
          if (r > 0 && g.rank === 0) {
            ips.push((world * batch * steps) / (ms / 1000));
            reduceShare.push(reduceMs / ms);
          }
        }
        model.dispose();
        opt.dispose();
        dp.dispose();
      });
      cases.push({
        suite: "scaling",
        name: `data parallel ${preset} b${batch}/rank, ${world} in-process rank(s)`,
        unit: "images/s",
        ...stats(ips),
        repeats,
        extra: { allreduce_wait_share: Number(stats(reduceShare).median.toFixed(3)) },
      });
    }

    // Tensor parallel: forward + backward of the same batch at TP 1 and 2.
    const full = new VisionTransformer(devs[0]!, cfg);
    const sd = await full.stateDictHost();
    const fullBytes = full.parameters().reduce((a, p) => a + p.numel * 4, 0);
    full.dispose();
    for (const tp of [1, 2]) {
      if (cfg.num_attention_heads % tp) continue;
      ctx.log(`tensor parallel ${preset} b${batch}, TP ${tp}`);
      const groups = createInProcessGroups(tp);
      const shards = splitTensorParallelStateDict(sd, cfg, tp);
      const ranks = groups.map((g) => {
        const dev = devs[g.rank]!;
        const model = new TensorParallelViT(dev, cfg, g);
        model.loadStateDict(shards[g.rank]!);
        return { model, x: randn(dev, shape), y: tensor(dev, labels, [batch]) };
      });
      const bytes = ranks[0]!.model.parameters().reduce((a, p) => a + p.numel * 4, 0);
      const ips: number[] = [];
      for (let r = 0; r < repeats + 1; r++) {
        await Promise.all(devs.map((d) => d.sync()));
        const t0 = performance.now();
        for (let s = 0; s < steps; s++) {
          // The ranks interleave at every await: one scope wraps the whole lockstep step.
          await scope(() =>
            runRanks(groups, async (g) => {
              const k = ranks[g.rank]!;
              await backwardAsync(crossEntropy(await k.model.forward(k.x), k.y));
            }),
          );
          for (const k of ranks) {
            for (const p of k.model.parameters()) {
              p.grad?.dispose();
              p.grad = null;
            }
          }
        }
        await Promise.all(devs.map((d) => d.sync()));
        if (r > 0) ips.push((batch * steps) / ((performance.now() - t0) / 1000));
      }
      for (const k of ranks) {
        k.model.dispose();
        k.x.dispose();
        k.y.dispose();
      }
      cases.push({
        suite: "scaling",
        name: `tensor parallel ${preset} b${batch} fwd+bwd, TP ${tp}`,
        unit: "images/s",
        ...stats(ips),
        repeats,
        extra: {
          param_MiB_per_rank: Number((bytes / 2 ** 20).toFixed(2)),
          param_share: Number((bytes / fullBytes).toFixed(3)),
        },
      });
    }

    // Distributed optimizer: AdamW state per rank.
    {
      ctx.log("distributed optimizer state, 2 ranks");
      const groups = createInProcessGroups(2);
      const per = await runRanks(groups, async (g) => {
        const dev = devs[g.rank]!;
        const model = new VisionTransformer(dev, cfg);
        const zero = new DistributedOptimizer(
          g,
          paramGroupsWeightDecay(model.namedParameters(), 0.05),
          (pg) => new AdamW(pg),
        );
        const bytes = zero.stateBytes();
        zero.dispose();
        model.dispose();
        return bytes;
      });
      const replicated = 2 * fullBytes;
      cases.push({
        suite: "scaling",
        name: `ZeRO-1 AdamW state per rank, ${preset}, 2 ranks`,
        unit: "MiB",
        ...stats(per.map((b) => b / 2 ** 20)),
        repeats: 1,
        extra: {
          replicated_MiB: Number((replicated / 2 ** 20).toFixed(2)),
          share: Number((Math.max(...per) / replicated).toFixed(3)),
        },
      });
    }
  } finally {
    for (const d of devs) d.destroy();
  }
  return cases;
}
