/**
 * NeMo's own ViT config must load: a config shaped like NeMo's
 * examples/vision/vision_transformer/conf/megatron_vit_classification_config.yaml (every section and key,
 * Lightning's precision 16 and max_epochs -1, nulls, `???`, ${trainer.precision}, ${.encoder_seq_length},
 * ${multiply:...}) loads with only data (and, to train here, size) overrides, and trains a few steps.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synthetic, writeSyntheticImageFolder } from "@vit/data";
import type { Optimizer } from "@vit/optim";
import { Device } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  halfDtypeOf,
  ConfigError,
  Trainer,
  buildLoader,
  buildModel,
  buildOptimizer,
  configNotes,
  evaluate,
  loadConfig,
  vitConfigOf,
} from "../src/index.js";
import { tinyConfig } from "./helpers.js";

const NEMO_VIT = `
name: megatron_vit_classify
restore_from_path: null

trainer:
  devices: 1
  num_nodes: 1
  accelerator: gpu
  precision: 16
  logger: False
  enable_checkpointing: False
  use_distributed_sampler: False
  max_epochs: -1
  max_steps: 95000
  log_every_n_steps: 10
  val_check_interval: 100
  limit_val_batches: 50
  limit_test_batches: 500
  accumulate_grad_batches: 1
  gradient_clip_val: 1.0
  benchmark: False
  enable_model_summary: False

exp_manager:
  explicit_log_dir: null
  exp_dir: null
  name: megatron_vit_classification
  create_wandb_logger: False
  wandb_logger_kwargs:
    project: null
    name: null
  resume_if_exists: True
  resume_ignore_no_checkpoint: True
  create_checkpoint_callback: True
  checkpoint_callback_params:
    monitor: val_loss
    save_top_k: 10
    mode: min
    always_save_nemo: False
    save_nemo_on_train_end: False
    filename: 'megatron_vit_classification--{val_loss:.2f}-{step}-{consumed_samples}'
    model_parallel_size: \${multiply:\${model.tensor_model_parallel_size}, \${model.pipeline_model_parallel_size}}

model:
  precision: \${trainer.precision}
  micro_batch_size: 256
  global_batch_size: 4096
  tensor_model_parallel_size: 1
  pipeline_model_parallel_size: 1
  virtual_pipeline_model_parallel_size: null
  restore_from_path: null
  vision_pretraining_type: "classify"
  num_classes: 1000
  patch_dim: 16
  img_h: 224
  img_w: 224
  classes_fraction: 1.0
  data_per_class_fraction: 1.0
  num_channels: 3
  drop_path_rate: 0.0
  encoder_seq_length: 196
  max_position_embeddings: \${.encoder_seq_length}
  num_layers: 12
  hidden_size: 768
  ffn_hidden_size: 3072
  num_attention_heads: 12
  init_method_std: 0.02
  use_scaled_init_method: True
  hidden_dropout: 0.1
  attention_dropout: 0.
  kv_channels: null
  apply_query_key_layer_scaling: True
  normalization: layernorm
  layernorm_epsilon: 1e-5
  do_layer_norm_weight_decay: False
  pre_process: True
  post_process: True
  persist_layer_norm: True
  native_amp_init_scale: 4294967296
  native_amp_growth_interval: 1000
  hysteresis: 2
  fp32_residual_connection: False
  fp16_lm_cross_entropy: False
  megatron_amp_O2: False
  grad_allreduce_chunk_size_mb: 125
  grad_div_ar_fusion: True
  masked_softmax_fusion: True
  bias_dropout_add_fusion: True
  seed: 1234
  resume_from_checkpoint: null
  use_cpu_initialization: False
  onnx_safe: False
  apex_transformer_log_level: 30
  gradient_as_bucket_view: True
  gradient_accumulation_fusion: False
  openai_gelu: False
  bias_activation_fusion: False
  megatron_legacy: False
  activations_checkpoint_granularity: null
  activations_checkpoint_method: null
  activations_checkpoint_num_layers: null
  sequence_parallel: False
  data:
    data_path: ???
    num_workers: 2
    dataloader_type: cyclic
    validation_drop_last: True
    data_sharding: False
  nsys_profile:
    enabled: False
    start_step: 10
    end_step: 10
    ranks: [ 0 ]
    gen_shape: False
  optim:
    name: fused_adam
    lr: 5e-4
    weight_decay: 0.1
    betas:
      - 0.9
      - 0.999
    sched:
      name: CosineAnnealing
      warmup_steps: 10000
      constant_steps: 0
      min_lr: 1e-5
`;

let dir: string;
let yaml: string;
let train: string;
let val: string;
let dev: Device;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "vit-nemo-"));
  yaml = join(dir, "megatron_vit_classification_config.yaml");
  writeFileSync(yaml, NEMO_VIT);
  train = join(dir, "train");
  val = join(dir, "val");
  await writeSyntheticImageFolder(train, {
    images: 24,
    classes: 3,
    minSize: 10,
    maxSize: 12,
    format: "png",
    seed: 1,
  });
  await writeSyntheticImageFolder(val, {
    images: 12,
    classes: 3,
    minSize: 10,
    maxSize: 12,
    format: "png",
    seed: 2,
  });
  dev = await Device.create();
});
afterAll(() => dev?.destroy());

const data = () => [`model.data.data_path=[${train}, ${val}]`, "model.data.dataset=image_folder"];

describe("NeMo's megatron_vit_classification_config.yaml", () => {
  it("unchanged, it stops only at the ??? NeMo leaves for the data path, naming the key and the fix", () => {
    expect(() => loadConfig(yaml)).toThrow(ConfigError);
    expect(() => loadConfig(yaml)).toThrow(
      "model.data.data_path is ??? (a value you must give): add model.data.data_path=<value> to the command line",
    );
  });

  it("with the data path given it loads as NeMo reads it", () => {
    const cfg = loadConfig(yaml, data());
    // Lightning: precision 16, max_epochs -1 = unbounded; max_steps bounds the run.
    expect(cfg.trainer.precision).toBe(16);
    expect(cfg.trainer.max_epochs).toBeUndefined();
    expect(cfg.trainer.max_steps).toBe(95000);
    expect(cfg.trainer.seed).toBe(1234); // model.seed is NeMo's seed
    expect(cfg.model.precision).toBe(16); // ${trainer.precision}
    // ${multiply:${model.tensor_model_parallel_size}, ${model.pipeline_model_parallel_size}}
    expect(cfg.exp_manager.checkpoint_callback_params?.model_parallel_size).toBe(1);
    expect(cfg.exp_manager.checkpoint.monitor).toBe("val_loss");
    expect(cfg.exp_manager.exp_dir).toBe("runs"); // null: the default
    expect(cfg.model.data.data_path).toBe(train);
    expect(cfg.model.data.val_path).toBe(val);
    expect(cfg.model.optim.sched).toMatchObject({
      name: "CosineAnnealing",
      warmup_steps: 10000,
      constant_steps: 0,
      min_lr: 1e-5,
    });
    const vit = vitConfigOf(cfg.model);
    expect(vit.max_position_embeddings).toBe(196); // ${.encoder_seq_length}
    expect(vit.kv_channels).toBe(64); // null: hidden / heads
    expect(vit.activation).toBe("gelu"); // openai_gelu: False
    expect(vit.use_scaled_init_method).toBe(true);

    // The start-up summary names each no-effect key once, with its reason.
    const notes = configNotes(cfg);
    const all = notes.join("\n");
    for (const k of [
      "masked_softmax_fusion",
      "persist_layer_norm",
      "bias_dropout_add_fusion",
      "gradient_accumulation_fusion",
      "apply_query_key_layer_scaling",
      "trainer.logger",
      "save_top_k",
    ]) {
      expect(all.split(k).length - 1, k).toBe(1);
    }
    expect(all).toMatch(/model\.apply_query_key_layer_scaling \(same maths here/);
    expect(notes.every((n) => n.startsWith("no effect here: "))).toBe(true);
  });

  it("precision 16 (NeMo's default) selects fp16 autocast with the loss scaler, or is refused without shader-f16", () => {
    const cfg = loadConfig(yaml, [...data(), `exp_manager.explicit_log_dir=${join(dir, "fp16")}`]);
    expect(cfg.trainer.precision).toBe(16);
    expect(halfDtypeOf(cfg)).toBe("f16");
    if (!dev.hasFeature("shader-f16")) {
      expect(() => new Trainer(dev, cfg)).toThrow(/needs the adapter feature shader-f16/);
      return;
    }
    new Trainer(dev, cfg).dispose();
  });

  it("trains a few steps with tiny sizes (data and size overrides; precision bf16, as fp16 would skip its first steps at scale 2^32)", async () => {
    const runDir = join(dir, "run");
    const cfg = loadConfig(yaml, [
      ...data(),
      "model.data.num_workers=0",
      `exp_manager.explicit_log_dir=${runDir}`,
      "trainer.precision=bf16",
      "trainer.max_steps=3",
      "trainer.val_check_interval=2",
      "trainer.log_every_n_steps=1",
      "model.micro_batch_size=4",
      "model.global_batch_size=8",
      "model.num_classes=3",
      "model.img_h=8",
      "model.img_w=8",
      "model.patch_dim=4",
      "model.encoder_seq_length=4",
      "model.num_layers=2",
      "model.hidden_size=16",
      "model.ffn_hidden_size=32",
      "model.num_attention_heads=2",
    ]);
    expect(cfg.model.precision).toBe("bf16"); // follows trainer.precision
    const logs: string[] = [];
    const t = new Trainer(dev, cfg, { log: (m) => logs.push(m) });
    expect(t.accumulation).toBe(2);
    const r = await t.fit();
    t.dispose();
    expect(r.steps).toBe(3);
    expect(r.runDir).toBe(runDir); // explicit_log_dir
    expect(r.checkpoint).toMatch(/step-0000003\.safetensors$/);
    // validation_drop_last with micro-batches of 4: all 12 validation images (the list's second path).
    expect(r.final?.images).toBe(12);
    expect(Number.isFinite(r.final!.loss)).toBe(true);
    const recs = readFileSync(join(runDir, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const trainRecs = recs.filter((x) => x.kind === "train");
    expect(trainRecs.map((x) => x.step)).toEqual([1, 2, 3]);
    for (const x of trainRecs) expect(Number.isFinite(x.loss)).toBe(true);
    expect(recs.filter((x) => x.kind === "val").map((x) => x.step)).toEqual([2, 3]);
    // The summary of no-effect keys came first, once.
    expect(logs.filter((l) => l.includes("masked_softmax_fusion"))).toHaveLength(1);
    expect(logs[0]).toMatch(/^no effect here: /);
  });
});

describe("Lightning's bounds and validation limits", () => {
  it("max_steps and max_epochs both unbounded is refused at load, with the fix", () => {
    expect(() => loadConfig(yaml, [...data(), "trainer.max_steps=-1"])).toThrow(
      "trainer.max_steps: the run has no bound (max_steps and max_epochs are -1/unset, no time limit): set trainer.max_steps=N",
    );
    // A time limit bounds it; the cosine schedule's length then comes from the time plan (time-plan.ts),
    // or, with the plan off (Lightning's behaviour), must be given.
    expect(() =>
      loadConfig(yaml, [...data(), "trainer.max_steps=-1", "trainer.max_time=00:00:01:00"]),
    ).not.toThrow();
    expect(() =>
      loadConfig(yaml, [
        ...data(),
        "trainer.max_steps=-1",
        "trainer.max_time=00:00:01:00",
        "trainer.time_plan=off",
      ]),
    ).toThrow("model.optim.sched.max_steps: CosineAnnealing needs a length");
    const c = loadConfig(yaml, [
      ...data(),
      "trainer.max_steps=null",
      "trainer.max_time=00:01:02:03",
      "model.optim.sched.max_steps=100",
    ]);
    expect(c.trainer.max_time_seconds).toBe(3723);
  });

  it("the first of max_steps and max_epochs ends the run; limit_val_batches evaluates the same first batches", async () => {
    // 64 samples / batch 16 = 4 steps per epoch: max_epochs 1 ends before max_steps 100.
    const cfg = tinyConfig(
      { data: { dataset: "synthetic", synthetic_size: 64, num_workers: 0 } },
      { max_steps: 100, max_epochs: 1, limit_val_batches: 2, val_check_interval: 0.5 },
    );
    const t = new Trainer(dev, cfg);
    const r = await t.fit();
    t.dispose();
    expect(r.steps).toBe(4);
    const recs = readFileSync(join(r.runDir, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const vals = recs.filter((x) => x.kind === "val");
    // val_check_interval 0.5: every 2 steps; the synthetic validation set (64) is one batch of 256, so
    // limit 2 keeps all of it — checked with a smaller batch below.
    expect(vals.map((x) => x.step)).toEqual([2, 4]);
    expect(r.final?.images).toBe(64);

    const small = tinyConfig(
      {
        micro_batch_size: 8,
        data: { dataset: "synthetic", synthetic_size: 64, num_workers: 0, validation_drop_last: true },
      },
      { max_steps: 2, limit_val_batches: 3, val_check_interval: 1 },
    );
    const t2 = new Trainer(dev, small);
    const r2 = await t2.fit();
    t2.dispose();
    const v2 = readFileSync(join(r2.runDir, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((x) => x.kind === "val");
    expect(r2.final?.images).toBe(24); // 3 batches of 8
    expect(v2.map((x) => x.step)).toEqual([1, 2]); // step 1, then the final evaluation
    for (const v of v2) expect(Number.isFinite(v.val_loss)).toBe(true);
  });

  it("a limited evaluation reads the same first batches each time (the loader is rewound)", async () => {
    const cfg = tinyConfig({
      micro_batch_size: 8,
      data: { dataset: "synthetic", synthetic_size: 64, num_workers: 0, validation_drop_last: true },
    });
    const model = buildModel(dev, cfg);
    const loader = await buildLoader(cfg, "test");
    const a = await evaluate(model, loader, 3);
    const b = await evaluate(model, loader, 3);
    const all = await evaluate(model, loader);
    expect(a.images).toBe(24);
    expect(b).toEqual(a); // without the rewind, b scored batches 4–6
    expect(all.images).toBe(64);
    await loader.close();
    model.dispose();
  });
});

describe("model keys that change the maths, wired through the trainer", () => {
  it("classes_fraction / data_per_class_fraction select the training data; validation keeps the same classes", async () => {
    const cfg = tinyConfig({
      classes_fraction: 0.5,
      data_per_class_fraction: 0.5,
      data: { dataset: "synthetic", synthetic_size: 200, num_workers: 0 },
    });
    const trainLoader = await buildLoader(cfg, "train");
    const valLoader = await buildLoader(cfg, "test");
    const tr = trainLoader.dataset;
    const va = valLoader.dataset;
    expect(tr.classes).toEqual(["class0", "class1"]); // ⌊4 × 0.5⌋ classes
    // Independent count from the synthetic labels: per class ⌊n_c / 2⌋ of the training set.
    const base = synthetic({ length: 200, height: 8, width: 8, channels: 1, numClasses: 4, seed: 7 });
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 200; i++) counts[base.label(i)]!++;
    expect(tr.length).toBe(Math.floor(counts[0]! / 2) + Math.floor(counts[1]! / 2));
    const valBase = synthetic({ length: 200, height: 8, width: 8, channels: 1, numClasses: 4, seed: 8 });
    const valCount = Array.from({ length: 200 }, (_, i) => valBase.label(i)).filter((l) => l < 2).length;
    expect(va.length).toBe(valCount); // all validation samples of the kept classes
    await trainLoader.close();
    await valLoader.close();
    expect(() => loadConfig(yaml, [...data(), "model.classes_fraction=0"])).toThrow(
      "model.classes_fraction: classes_fraction must be in (0, 1]",
    );
  });

  it("do_layer_norm_weight_decay: true decays every parameter; false exempts biases and LayerNorm (Megatron)", () => {
    const groups = (over: Record<string, unknown>) => {
      const cfg = tinyConfig(over);
      const model = buildModel(dev, cfg);
      const opt = buildOptimizer(model, cfg) as unknown as Optimizer;
      const g = opt.groups.map((x) => ({ wd: x.weightDecay, names: x.params.map(([n]) => n) }));
      opt.dispose();
      model.dispose();
      return g;
    };
    const all = groups({ do_layer_norm_weight_decay: true });
    expect(all).toHaveLength(1);
    expect(all[0]!.wd).toBe(0.01);
    expect(all[0]!.names).toContain("blocks.0.norm1.weight");
    const megatron = groups({ do_layer_norm_weight_decay: false });
    expect(megatron[0]!.names).toEqual(
      expect.arrayContaining(["pos_embed", "cls_token", "blocks.0.attn.qkv.weight"]),
    );
    expect(megatron[1]!.wd).toBe(0);
    expect(megatron[1]!.names.every((n) => n.endsWith(".bias") || /norm\d?\.weight$/.test(n))).toBe(true);
    // Unset: the optim.no_decay_1d rule (timm's) as before.
    const timm = groups({});
    expect(timm[1]!.names).toEqual(expect.arrayContaining(["pos_embed", "cls_token"]));
  });

  it("refused with the reason: sequence_parallel under TP, pipeline stages, wandb, fp64, gradient accumulation", () => {
    const bad: Array<[string, RegExp]> = [
      [
        "model.sequence_parallel=true model.tensor_model_parallel_size=2",
        /sequence parallelism .* is not implemented; set false/,
      ],
      ["model.pre_process=false", /pipeline parallelism is not implemented, set true/],
      ["model.virtual_pipeline_model_parallel_size=2", /interleaved pipeline parallelism is not implemented/],
      ["exp_manager.create_wandb_logger=true", /Weights & Biases logging is not available/],
      ["trainer.precision=64", /64-bit training is not possible on WebGPU/],
      ["trainer.accumulate_grad_batches=4", /accumulation follows from model.global_batch_size/],
      ["model.megatron_legacy=true", /qkv layout is not supported/],
      ["model.precision=32", /model.precision: 32 differs from trainer.precision 16/],
      ["exp_manager.checkpoint_callback_params.mode=max", /val_loss is minimised here; set mode min/],
      ["model.normalization=rmsnorm", /only 'layernorm' is implemented/],
      ["trainer.limit_val_batches=0", /0 \(no validation\) is not supported/],
    ];
    for (const [o, msg] of bad)
      expect(() => vitConfigOf(loadConfig(yaml, [...data(), ...o.split(" ")]).model), o).toThrow(msg);
    // sequence_parallel with TP = 1 means nothing: accepted and listed.
    expect(configNotes(loadConfig(yaml, [...data(), "model.sequence_parallel=true"])).join()).toMatch(
      /model\.sequence_parallel \(tensor_model_parallel_size is 1\)/,
    );
  });
});
