/**
 * `step` suite: images/s of one training step (forward + backward + AdamW) of a ViT preset, f32, with
 * the torchvision-like config (timm style, 1 class token; default: `tiny`, 28×28×1, patch 7, width 128,
 * 4 layers, 4 heads, MLP 512, batch 64), beside PyTorch CPU (one BLAS thread) training the same model.
 * Also: peak GPU memory, dispatches and new bind groups per step, µs of JS per dispatch, the same step
 * with dawn.node's spin polling instead of timer polling, and the step's GPU time per op (profiled
 * separately with timestamp queries). Then the same step in bf16 (precision bf16 + Megatron O2) and fp16
 * (precision 16 + O2 + NeMo's loss scaler; skipped with the reason on an adapter without shader-f16), each
 * as a ratio to the f32 step measured in the same run.
 *
 * Options: --set preset=tiny --set batch=64 --set steps=10
 */
import { Device } from "@vit/tensor";
import { TINY, tfjsVitStep } from "../peers/tfjs-vit.js";
import { runTorch } from "../peers/torch.js";
import { type StepSpec, measureSteps, profileStep } from "../step-runner.js";
import { type BenchCase, type BenchContext, stats } from "../types.js";

export async function stepSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const preset = ctx.options?.preset ?? "tiny";
  const batch = Number(ctx.options?.batch ?? 64);
  const spec: StepSpec = {
    preset,
    batch,
    steps: Number(ctx.options?.steps ?? (ctx.quick ? 3 : 8)),
    repeats: ctx.quick ? 2 : 5,
    warmup: 3,
  };
  const label = `${preset} ViT b${batch} f32 fwd+bwd+AdamW`;
  const cases: BenchCase[] = [];
  const figures: Record<string, Awaited<ReturnType<typeof measureSteps>>> = {};
  for (const mode of ["timer", "spin"] as const) {
    ctx.log(`step ${label}, ${mode} polling`);
    const device = await Device.create({ pollMode: mode, seed: 1 });
    figures[mode] = await measureSteps(device, spec);
    if (mode === "timer") {
      const prof = await profileStep(device, { ...spec, steps: 1 });
      const total = prof.reduce((a, e) => a + e.ms, 0);
      ctx.meta ??= {};
      ctx.meta.stepProfile = {
        note: "GPU time of one step per op (timestamp queries; one pass per dispatch, so slower than the real step)",
        totalMs: Number(total.toFixed(1)),
        ops: prof.slice(0, 25).map((e) => ({ name: e.name, count: e.count, ms: Number(e.ms.toFixed(2)) })),
      };
    }
    device.destroy();
  }
  const timer = figures.timer!;
  const spin = figures.spin!;
  const torch = runTorch({
    op: "step",
    device: "cpu",
    preset,
    batch,
    steps: spec.steps,
    repeats: spec.repeats,
  });
  if (torch?.error) ctx.log(torch.error);
  const ours = stats(timer.imagesPerSecond);
  const main: BenchCase = {
    suite: "step",
    name: label,
    unit: "images/s",
    ...ours,
    repeats: spec.repeats,
    extra: {
      peak_MiB: Number((timer.peakBytes / 2 ** 20).toFixed(1)),
      params: timer.params,
      dispatches_per_step: timer.dispatchesPerStep,
      new_bind_groups_per_step: Number(timer.bindGroupsPerStep.toFixed(2)),
      js_record_ms_per_step: Number(timer.recordMsPerStep.toFixed(2)),
      js_us_per_dispatch: Number(((timer.recordMsPerStep * 1000) / timer.dispatchesPerStep).toFixed(1)),
      poll: "timer",
    },
  };
  if (torch?.images_per_second) {
    main.peer = { name: "PyTorch CPU 1 thread (torchvision ViT)", median: torch.images_per_second[0] };
    main.ratio = ours.median / torch.images_per_second[0];
  }
  cases.push(main);
  const s = stats(spin.imagesPerSecond);
  cases.push({
    suite: "step",
    name: `${label}, spin polling`,
    unit: "images/s",
    ...s,
    repeats: spec.repeats,
    peer: { name: "same step, timer polling", median: ours.median },
    ratio: s.median / ours.median,
    extra: { poll: "spin" },
  });
  // Half precision beside f32 (issue 15): the same step built by @vit/trainer as `vit train` builds it.
  {
    const device = await Device.create({ seed: 1 });
    for (const [name, precision] of [
      ["bf16 (precision=bf16, megatron_amp_O2)", "bf16"],
      ["fp16 (precision=16, megatron_amp_O2, loss scaler)", 16],
    ] as const) {
      const rowName = `${preset} ViT b${batch} ${name} fwd+bwd+AdamW`;
      if (precision === 16 && !device.hasFeature("shader-f16")) {
        ctx.log(`step: ${rowName} skipped: the adapter lacks shader-f16`);
        continue;
      }
      ctx.log(`step ${rowName}`);
      const f = await measureSteps(device, { ...spec, precision, megatronO2: true });
      const h = stats(f.imagesPerSecond);
      cases.push({
        suite: "step",
        name: rowName,
        unit: "images/s",
        ...h,
        repeats: spec.repeats,
        peer: { name: "same step in f32 (this run)", median: ours.median },
        ratio: h.median / ours.median,
        extra: { peak_MiB: Number((f.peakBytes / 2 ** 20).toFixed(1)), dispatches_per_step: f.dispatchesPerStep },
      });
    }
    device.destroy();
  }
  // tfjs trains the same tiny ViT on the same adapter (only for the tiny preset it is written for).
  if (preset === "tiny") {
    ctx.log("step: tfjs-backend-webgpu peer (same tiny ViT, tf.train.adam)");
    const tfIps = await tfjsVitStep({ ...TINY, batch }, Math.max(2, Math.round(spec.steps / 2)), ctx.quick ? 1 : 3, ctx.log);
    if (tfIps) {
      const t = stats(tfIps);
      cases.push({
        suite: "step",
        name: `${label} vs tfjs`,
        unit: "images/s",
        ...ours,
        repeats: spec.repeats,
        peer: { name: "tfjs-backend-webgpu (same adapter)", median: t.median },
        ratio: ours.median / t.median,
      });
    }
  }
  return cases;
}
