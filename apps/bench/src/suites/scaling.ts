import { VisionTransformer, getPreset } from "@vit/model";
import {
  type ProcessGroup,
  TcpProcessGroup,
  createInProcessGroups,
  newJobToken,
  runRanks,
} from "@vit/parallel";
import { Device, randn, tensor } from "@vit/tensor";
import {
  DataParallelStrategy,
  SingleDeviceStrategy,
  parseConfig,
  trainStep,
  trainStepSetup,
} from "@vit/trainer";
/**
 * `scaling` suite: what the parallel strategies cost and save, in one process.
 *   - collective bandwidth: all-reduce of 1 / 16 MiB over 2 ranks, in-process and TCP over loopback
 *     (algorithmic bandwidth: bytes reduced per second per rank);
 *   - data parallel: images/s of the trainer's training step (@vit/trainer's trainStep with its
 *     DataParallelStrategy: forward + backward + gradient all-reduce + clipping + AdamW) on 1 rank and on 2
 *     in-process ranks with the same per-rank batch (weak scaling), and the share of the step spent waiting
 *     in the all-reduce (its first readback also waits for the GPU to finish the backward that was recorded
 *     before it, so this is an upper bound on communication);
 *   - tensor parallel is the comm suite's (`vit-bench comm --set parts=dp`): the trainer's
 *     TensorParallelStrategy needs one process per rank (in-process ranks would interleave their tensor
 *     scopes across the collectives' awaits), and that suite launches one per rank;
 *   - distributed optimizer: AdamW state bytes per rank, replicated vs ZeRO-1 (the trainer's
 *     distributed_fused_adam).
 * Several Devices in one process share one adapter: on a CPU adapter (lavapipe) or a single GPU the
 * ranks compete for the same cores, so these figures measure overheads, not speed-ups.
 *
 * Options: --set preset=tiny --set batch=32 --set steps=5
 */
import { freePort } from "../comm/jobs.js";
import { type BenchCase, type BenchContext, stats } from "../types.js";

/**
 * The run config of the data-parallel and ZeRO cases: the preset without dropout, AdamW (wd 0.05, timm's
 * no-decay rule), clipping at 1, on `devices` ranks.
 */
function trainConfig(
  preset: string,
  devices: number,
  optimizer: "adamw" | "distributed_fused_adam" = "adamw",
) {
  return parseConfig(
    {
      trainer: { devices, max_steps: 1, gradient_clip_val: 1 },
      model: {
        preset,
        hidden_dropout: 0,
        attention_dropout: 0,
        optim: { name: optimizer, lr: 1e-3, weight_decay: 0.05 },
      },
    },
    "bench scaling",
  );
}

/** `g`, with the time each gradient all-reduce waits reported to `onWait` (ms). */
function timedAllReduce(g: ProcessGroup, onWait: (ms: number) => void): ProcessGroup {
  return new Proxy(g, {
    get(target, key) {
      const v = Reflect.get(target, key, target);
      if (key !== "allReduce") return typeof v === "function" ? v.bind(target) : v;
      return async (...args: Parameters<ProcessGroup["allReduce"]>) => {
        const t0 = performance.now();
        try {
          return await target.allReduce(...args);
        } finally {
          onWait(performance.now() - t0);
        }
      };
    },
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

    // Data parallel, weak scaling: same per-rank batch on 1 and 2 ranks; the trainer's strategy and trainStep.
    for (const world of [1, 2]) {
      ctx.log(`data parallel ${preset} b${batch}/rank, ${world} rank(s)`);
      const groups = createInProcessGroups(world);
      const ips: number[] = [];
      const reduceShare: number[] = [];
      await runRanks(groups, async (g) => {
        const dev = devs[g.rank]!;
        let reduceMs = 0;
        const tc = trainConfig(preset, world);
        const strategy =
          world > 1
            ? new DataParallelStrategy(
                timedAllReduce(g, (ms) => {
                  reduceMs += ms;
                }),
                tc,
              )
            : new SingleDeviceStrategy();
        const model = strategy.buildModel(dev, tc);
        model.train();
        const optimizer = strategy.buildOptimizer(model, tc, null);
        await strategy.syncWeights(model);
        const setup = trainStepSetup(dev, tc, { model, optimizer, scaler: null, strategy });
        const x = randn(dev, shape);
        const y = tensor(dev, labels, [batch]);
        for (let r = 0; r < repeats + 1; r++) {
          await dev.sync();
          const t0 = performance.now();
          reduceMs = 0;
          for (let s = 0; s < steps; s++) {
            for (const l of (await trainStep(setup, [{ x, y }], { lr: 1e-3 })).losses) l.dispose();
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
        optimizer.dispose();
        strategy.dispose();
        x.dispose();
        y.dispose();
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

    // Distributed optimizer: AdamW state per rank.
    {
      ctx.log("distributed optimizer state, 2 ranks");
      const groups = createInProcessGroups(2);
      const per = await runRanks(groups, async (g) => {
        const dev = devs[g.rank]!;
        const tc = trainConfig(preset, 2, "distributed_fused_adam");
        const strategy = new DataParallelStrategy(g, tc);
        const model = strategy.buildModel(dev, tc);
        const zero = strategy.buildOptimizer(model, tc, null);
        const bytes = Object.values(zero.stateTensors()).reduce((a, t) => a + t.numel * 4, 0);
        zero.dispose();
        strategy.dispose();
        model.dispose();
        return bytes;
      });
      // AdamW keeps two f32 moments per parameter: the replicated state is 2 × the parameter bytes.
      const full = new VisionTransformer(devs[0]!, cfg);
      const replicated = 2 * full.parameters().reduce((a, p) => a + p.numel * 4, 0);
      full.dispose();
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
