/**
 * `train` suite: the main job (conf/fashion_mnist_tiny.yaml on bundled Fashion-MNIST) measured against
 * PyTorch training the same model and recipe on the same split, in the same run on the same machine.
 * Reports final test top-1 and training images/s for both, and both accuracy-vs-time curves in `extra`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fashionMnist } from "@vit/data";
import { Device } from "@vit/tensor";
import { Trainer, loadConfig } from "@vit/trainer";
import type { BenchCase, BenchContext } from "../types.js";

function findTorchPython(): string | null {
  for (const py of [process.env.VIT_BENCH_PYTHON, "python3", "/usr/bin/python3"].filter((p): p is string => !!p)) {
    const r = spawnSync(py, ["-c", "import torch, torchvision"], { stdio: "ignore" });
    if (r.status === 0) return py;
  }
  return null;
}

function configPath(): string {
  const candidates = [
    join(process.cwd(), "conf/fashion_mnist_tiny.yaml"),
    new URL("../../../conf/fashion_mnist_tiny.yaml", import.meta.url).pathname,
    new URL("../../conf/fashion_mnist_tiny.yaml", import.meta.url).pathname,
  ];
  return candidates.find(existsSync) ?? candidates[0]!;
}

export async function trainSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const epochs = ctx.quick ? 1 : 3;
  const overrides = [`trainer.max_epochs=${epochs}`, "trainer.max_time_seconds=0", `exp_manager.exp_dir=${join(ctx.workDir, "runs")}`];
  if (ctx.quick) overrides.push("trainer.max_steps=100");
  const cfg = loadConfig(configPath(), overrides);
  const device = await Device.create({ seed: cfg.trainer.seed });
  const curve: Array<{ seconds: number; top1: number }> = [];
  const trainer = new Trainer(device, cfg, {
    onLog: (r) => {
      if (r.kind === "val") curve.push({ seconds: r.elapsed_s as number, top1: r.val_top1 as number });
      ctx.log(JSON.stringify(r));
    },
  });
  const res = await trainer.fit();
  trainer.dispose();
  device.destroy();
  const ours: BenchCase = {
    suite: "train",
    name: `fashion_mnist_tiny ${epochs} epoch(s): test top-1 (%)`,
    unit: "% top-1",
    median: 100 * res.final!.top1,
    min: 100 * res.final!.top1,
    max: 100 * res.final!.top1,
    repeats: 1,
    extra: { wall_seconds: res.wallSeconds, images_per_second: res.imagesPerSecond, curve: JSON.stringify(curve) },
  };
  const speed: BenchCase = {
    suite: "train",
    name: "fashion_mnist_tiny training throughput",
    unit: "images/s",
    median: res.imagesPerSecond,
    min: res.imagesPerSecond,
    max: res.imagesPerSecond,
    repeats: 1,
  };
  const py = findTorchPython();
  if (py) {
    const dir = join(ctx.workDir, "fmnist-raw");
    mkdirSync(dir, { recursive: true });
    for (const split of ["train", "test"] as const) {
      const ds = await fashionMnist({ split });
      writeFileSync(join(dir, `${split}-images.u8`), ds.pixels);
      writeFileSync(join(dir, `${split}-labels.i32`), new Uint8Array(Int32Array.from(ds.labels).buffer));
    }
    // dist/main.js is one level below the app root, src/suites/train.ts two.
    const script = ["../peers/torch_fashion_mnist.py", "../../peers/torch_fashion_mnist.py"]
      .map((rel) => new URL(rel, import.meta.url).pathname)
      .find(existsSync)!;
    const args = [script, "--data", dir, "--epochs", String(epochs), ...(ctx.quick ? ["--max-seconds", "20"] : [])];
    ctx.log(`peer: ${py} ${args.join(" ")}`);
    const out = execFileSync(py, args, { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" }, maxBuffer: 1 << 24 });
    const lines = out.trim().split("\n").map((l) => JSON.parse(l) as { epoch: number; seconds: number; top1: number; images_per_second: number });
    const last = lines[lines.length - 1]!;
    ours.peer = { name: "PyTorch 1.13 CPU (OpenBLAS, 1 thread)", median: 100 * last.top1, note: JSON.stringify(lines) };
    ours.ratio = ours.median / ours.peer.median;
    const ips = lines.reduce((a, l) => a + l.images_per_second, 0) / lines.length;
    speed.peer = { name: "PyTorch 1.13 CPU (OpenBLAS, 1 thread)", median: ips };
    speed.ratio = speed.median / ips;
  }
  return [ours, speed];
}
