/**
 * What a `vit train` run is about to do, printed before the first step: model size, data set and sizes,
 * steps and epochs, device, precision and parallel layout — all from the built Trainer, so it is what will
 * run, not what the YAML file says.
 */
import { join, resolve } from "node:path";
import { countParameters } from "@vit/model";
import type { Device } from "@vit/tensor";
import { type Trainer, halfDtypeOf, vitConfigOf } from "@vit/trainer";

/** 86,567,656 → "86.6M", 19,525 → "19.5K". */
export function humanCount(n: number): string {
  for (const [div, unit] of [
    [1e9, "B"],
    [1e6, "M"],
    [1e3, "K"],
  ] as const) {
    if (n >= div) return `${(n / div).toFixed(1)}${unit}`;
  }
  return String(n);
}

export async function describeRun(trainer: Trainer, device: Device): Promise<string[]> {
  const cfg = trainer.cfg;
  const m = cfg.model;
  const t = cfg.trainer;
  const vit = vitConfigOf(m);
  const params = countParameters(vit).total;
  const { train, val } = await trainer.loaders();
  const size = (n: number | undefined) => (n === undefined ? "?" : n.toLocaleString("en"));
  const global = m.micro_batch_size * trainer.dataParallelSize * trainer.accumulation;
  const split = [
    ...(trainer.accumulation > 1 ? [`${trainer.accumulation} accumulated`] : []),
    ...(trainer.dataParallelSize > 1 ? [`${trainer.dataParallelSize} ranks`] : []),
  ];
  const maxSteps = trainer.maxSteps(train);
  const perEpoch = Math.floor((train.length ?? 0) / trainer.accumulation);
  const epochs = perEpoch ? maxSteps / perEpoch : Number.NaN;
  const steps = t.max_steps
    ? `${maxSteps.toLocaleString("en")} steps${perEpoch ? ` (${epochs < 10 ? epochs.toFixed(2) : epochs.toFixed(0)} epochs of ${perEpoch.toLocaleString("en")})` : ""}`
    : `${t.max_epochs} epochs × ${perEpoch.toLocaleString("en")} steps = ${maxSteps.toLocaleString("en")} steps`;
  const half = halfDtypeOf(cfg);
  const halfName = half === "f16" ? "fp16" : "bf16";
  const scaler = half === "f16" ? ", dynamic loss scaling" : "";
  const precision = half
    ? m.megatron_amp_O2 || cfg.trainer.precision === "bf16-true"
      ? `${halfName} weights, fp32 masters (O2)${scaler}`
      : `${halfName} matmuls, fp32 weights${scaler}`
    : "fp32";
  const dp = trainer.dataParallelSize;
  const layout =
    trainer.worldSize === 1
      ? "1 device"
      : `${trainer.worldSize} ranks: data ${dp} × tensor ${trainer.tp}${m.optim.name === "distributed_fused_adam" ? ", distributed optimizer" : ""}`;
  const a = device.adapter;
  return [
    // The version folder is chosen when training starts (and printed then): name the experiment's folder here.
    `run    ${cfg.name} → ${resolve(cfg.exp_manager.explicit_log_dir ?? join(cfg.exp_manager.exp_dir, cfg.exp_manager.name))}`,
    `model  ${m.preset ? `${m.preset}: ` : ""}${humanCount(params)} params, ${vit.num_layers} layers × ${vit.hidden_size} ` +
      `(${vit.num_attention_heads} heads), patch ${vit.patch_dim}, ${vit.num_classes} classes`,
    `data   ${m.data.dataset} at ${vit.img_h}×${vit.img_w}×${vit.num_channels}: ${size(train.dataset.length)} train / ` +
      `${size(val.dataset.length)} test images, batch ${global}${split.length ? ` (micro ${[m.micro_batch_size, ...split].join(" × ")})` : ""}`,
    `steps  ${steps}, ${m.optim.name} lr ${m.optim.lr} ${m.optim.sched.name}${t.max_time_seconds ? `, max ${t.max_time_seconds} s` : ""}`,
    `device ${a.description || a.device} (${a.backend})`,
    `setup  ${precision}, attention ${m.attention}, ${layout}`,
  ];
}
