/**
 * The NeMo-style training config: `trainer`, `model` (ViT keys + micro/global batch, optim, data),
 * `exp_manager`. Every section is strict, so a misspelt or unknown key is an error naming its full path.
 *
 * NeMo's own megatron_vit_classification_config.yaml loads as written: Lightning's trainer keys and
 * precision strings, exp_manager's keys, and every model key NeMo's ViT reads. A key is either implemented,
 * accepted with no effect here (listed once at start-up by `configNotes`, with the reason), or refused with
 * the reason and the fix. `null` means "unset" everywhere (load.ts drops null values before validation).
 */
import { z } from "zod";

const positiveInt = z.number().int().positive();
/** Keys that only make sense as true (or false) here; the other value is refused with `why`. */
const only = (value: boolean, why: string) =>
  z
    .boolean()
    .refine((v) => v === value, { message: why })
    .optional();
/** A key accepted for NeMo compatibility that changes nothing here (listed by configNotes). */
const noEffectFlag = z.boolean().optional();
/** Lightning's -1 / NeMo's null: no bound. */
const bound = z
  .number()
  .int()
  .refine((v) => v === -1 || v >= 1, { message: "must be ≥ 1, or -1 for no bound" })
  .transform((v) => (v === -1 ? undefined : v))
  .optional();
const fraction = (what: string) =>
  z.number().gt(0, `${what} must be in (0, 1]`).max(1, `${what} must be in (0, 1]`);

export const transformSchema = z
  .object({
    random_resized_crop: z.boolean().default(false),
    crop_scale: z.tuple([z.number(), z.number()]).default([0.08, 1]),
    horizontal_flip: z.boolean().default(false),
    auto_augment: z.boolean().default(false),
    rand_augment: z.boolean().default(false),
    color_jitter: z.number().min(0).default(0),
    /** Pad by this many pixels and crop back at a random offset (CIFAR/Fashion-MNIST style). */
    mean: z.array(z.number()).optional(),
    std: z.array(z.number()).optional(),
  })
  .strict();

export const dataSchema = z
  .object({
    dataset: z
      .enum(["fashion_mnist", "image_folder", "idx", "cifar10", "cifar100", "webdataset", "synthetic"])
      .default("fashion_mnist"),
    /**
     * Folder / file(s) of the data set (not needed for the bundled fashion_mnist or synthetic). NeMo's list
     * form `[train, val]` sets val_path too.
     */
    data_path: z
      .union([
        z.string(),
        z
          .array(z.string())
          .min(1)
          .max(2, "takes [train] or [train, val] (NeMo's form); a third path is not used here"),
      ])
      .optional(),
    val_path: z.string().optional(),
    num_workers: z.number().int().min(0).default(0),
    prefetch: positiveInt.default(2),
    train: transformSchema.default({}),
    mixup_alpha: z.number().min(0).default(0),
    cutmix_alpha: z.number().min(0).default(0),
    /** Synthetic set size (benchmarks). */
    synthetic_size: positiveInt.default(1024),
    /** image_folder: follow symbolic links that lead out of the data folder (links inside it always are). */
    follow_symlinks: z.boolean().default(false),
    /** NeMo: 'cyclic' shuffles the training set every epoch (Megatron's random sampler), 'single' reads it in order. */
    dataloader_type: z.enum(["cyclic", "single"]).default("cyclic"),
    /** NeMo: drop the last partial validation batch. */
    validation_drop_last: z.boolean().default(false),
    /** NeMo's data_sharding (how DDP ranks read the files): no effect, the distributed sampler splits the set. */
    data_sharding: noEffectFlag,
  })
  .strict()
  .transform((d, ctx) => {
    // NeMo's data_path: [train, val] → data_path + val_path.
    if (!Array.isArray(d.data_path)) return { ...d, data_path: d.data_path };
    const [train, val] = d.data_path;
    if (val !== undefined && d.val_path !== undefined && val !== d.val_path) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["val_path"],
        message: `conflicts with data_path's second entry ${val}; give the validation path once`,
      });
    }
    return { ...d, data_path: train, val_path: d.val_path ?? val };
  });

export const schedSchema = z.discriminatedUnion("name", [
  z
    .object({
      name: z.literal("CosineAnnealing"),
      warmup_steps: z.number().int().min(0).optional(),
      warmup_ratio: z.number().min(0).max(1).optional(),
      /** NeMo: hold min_lr for the last constant_steps steps (the cosine ends constant_steps earlier). */
      constant_steps: z.number().int().min(0).optional(),
      min_lr: z.number().min(0).default(0),
      /** Defaults to trainer.max_steps. */
      max_steps: positiveInt.optional(),
    })
    .strict(),
  z.object({ name: z.literal("Constant"), warmup_steps: z.number().int().min(0).optional() }).strict(),
  z
    .object({
      name: z.literal("StepLR"),
      step_size: positiveInt,
      gamma: z.number().positive().default(0.1),
      warmup_steps: z.number().int().min(0).optional(),
    })
    .strict(),
]);

export const optimSchema = z
  .object({
    /** distributed_fused_adam: AdamW with its state sharded across data-parallel ranks (ZeRO-1). */
    name: z.enum(["adamw", "adam", "fused_adam", "distributed_fused_adam", "sgd"]).default("adamw"),
    lr: z.number().positive(),
    betas: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).default([0.9, 0.999]),
    eps: z.number().positive().default(1e-8),
    weight_decay: z.number().min(0).default(0),
    momentum: z.number().min(0).max(1).default(0.9),
    nesterov: z.boolean().default(false),
    /** Exclude biases, norms, pos_embed and class tokens from weight decay (timm's rule). */
    no_decay_1d: z.boolean().default(true),
    sched: schedSchema.default({ name: "Constant" }),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.sched.name === "CosineAnnealing" && o.sched.min_lr > o.lr) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["sched", "min_lr"],
        message: `${o.sched.min_lr} is above lr ${o.lr} (NeMo refuses this too); set min_lr ≤ lr`,
      });
    }
  });

/**
 * The trainer-level keys of `model:`. Everything else in `model:` is a ViT key, validated by @vit/model's
 * parseViTConfig (which names unknown keys). Keys typed noEffectFlag are accepted and listed by configNotes.
 */
export const modelShape = {
  /** A preset to start from (tiny, small, B/16, ...); the ViT keys below override it. */
  preset: z.string().optional(),
  micro_batch_size: positiveInt.default(64),
  global_batch_size: positiveInt.optional(),
  label_smoothing: z.number().min(0).lt(1).default(0),
  attention: z.enum(["naive", "flash"]).default("naive"),
  activations_checkpoint_granularity: z.enum(["full", "selective"]).nullable().default(null),
  activations_checkpoint_method: z.enum(["uniform", "block"]).nullable().default(null),
  activations_checkpoint_num_layers: z.number().int().min(0).default(1),
  /**
   * Megatron tensor parallelism: each encoder layer's attention heads and MLP columns are split over this
   * many ranks (one process each, under `vit launch`). trainer.devices × num_nodes must equal it.
   */
  tensor_model_parallel_size: positiveInt.default(1),
  /** Accepted for NeMo configs; only 1 (no pipeline parallelism). */
  pipeline_model_parallel_size: z
    .number()
    .int()
    .refine((v) => v === 1, {
      message:
        "pipeline parallelism is not implemented; set 1 and use tensor_model_parallel_size and/or activation checkpointing for large ViTs",
    })
    .default(1),
  virtual_pipeline_model_parallel_size: z
    .number()
    .int()
    .refine((v) => v === 1, { message: "interleaved pipeline parallelism is not implemented; set null" })
    .optional(),
  /** Fine-tuning: initialise from this checkpoint / timm / HF / NeMo safetensors file. */
  restore_from_path: z.string().optional(),
  /** NeMo: resume training from this checkpoint (vit's step-N.safetensors). */
  resume_from_checkpoint: z.string().optional(),
  /** NeMo's model.precision (written ${trainer.precision}); must agree with trainer.precision. */
  precision: z.union([z.number(), z.string()]).optional(),
  /** Megatron O2: bf16 weights with an fp32 master copy in the optimizer (needs bf16 precision). */
  megatron_amp_O2: z.boolean().default(false),
  /** NeMo: a deterministic subset of the training classes / of each class's samples (Megatron's ImageFolder). */
  classes_fraction: fraction("classes_fraction").default(1),
  data_per_class_fraction: fraction("data_per_class_fraction").default(1),
  /** NeMo: true puts every parameter under weight decay; false exempts biases and LayerNorm parameters. */
  do_layer_norm_weight_decay: z.boolean().optional(),
  /** NeMo: Megatron's sequence parallelism (memory only). With TP = 1 it means nothing; with TP > 1 it is refused. */
  sequence_parallel: z.boolean().optional(),
  pre_process: only(
    true,
    "false builds a pipeline stage without the embeddings; pipeline parallelism is not implemented, set true",
  ),
  post_process: only(
    true,
    "false builds a pipeline stage without the head; pipeline parallelism is not implemented, set true",
  ),
  megatron_legacy: only(
    false,
    "the pre-Megatron-core qkv layout is not supported; set false (vit reads NeMo weights in the current layout)",
  ),
  // No effect on WebGPU: CUDA kernel switches (this project's WGSL kernels are fixed).
  masked_softmax_fusion: noEffectFlag,
  bias_dropout_add_fusion: noEffectFlag,
  bias_activation_fusion: noEffectFlag,
  gradient_accumulation_fusion: noEffectFlag,
  persist_layer_norm: noEffectFlag,
  grad_div_ar_fusion: noEffectFlag,
  // No effect: same maths here.
  apply_query_key_layer_scaling: noEffectFlag,
  fp32_residual_connection: noEffectFlag,
  fp16_lm_cross_entropy: noEffectFlag,
  use_cpu_initialization: noEffectFlag,
  gradient_as_bucket_view: noEffectFlag,
  onnx_safe: noEffectFlag,
  apex_transformer_log_level: z.number().int().optional(),
  grad_allreduce_chunk_size_mb: z.number().positive().optional(),
  // fp16's dynamic loss scaler (trainer.precision=16).
  native_amp_init_scale: z.number().positive().optional(),
  native_amp_growth_interval: positiveInt.optional(),
  hysteresis: positiveInt.optional(),
  /** NeMo's Nsight Systems profiling section: CUDA only, no effect. */
  nsys_profile: z.record(z.unknown()).optional(),
  optim: optimSchema,
  data: dataSchema.default({}),
};

export const modelSchema = z
  .object(modelShape)
  // The ViT keys (hidden_size, num_layers, ...) pass through to @vit/model's parseViTConfig, which
  // reports unknown ones by name.
  .passthrough();

/** Lightning's precision values → 32, 16 (fp16 + loss scaling), "bf16" (autocast), "bf16-true" (bf16 weights). */
const PRECISIONS: Record<string, 32 | 16 | "bf16" | "bf16-true"> = {
  "32": 32,
  "32-true": 32,
  "16": 16,
  "16-mixed": 16,
  bf16: "bf16",
  "bf16-mixed": "bf16",
  "bf16-true": "bf16-true",
};
export type Precision = (typeof PRECISIONS)[string];

export const precisionSchema = z.union([z.number(), z.string()]).transform((v, ctx): Precision => {
  const p = PRECISIONS[String(v)];
  if (p !== undefined) return p;
  ctx.addIssue({
    code: z.ZodIssueCode.custom,
    message: String(v).startsWith("64")
      ? "64-bit training is not possible on WebGPU (no f64 arithmetic); use 32"
      : `${JSON.stringify(v)} is not a precision here; use 32, bf16 (bf16-mixed), bf16-true or 16 (16-mixed)`,
  });
  return z.NEVER;
});

/** Lightning's max_time: "DD:HH:MM:SS" or {days, hours, minutes, seconds} → seconds. */
const maxTimeSchema = z
  .union([
    z.string().regex(/^\d+:\d{1,2}:\d{1,2}:\d{1,2}$/, 'write "DD:HH:MM:SS", e.g. "00:03:50:00"'),
    z
      .object({
        days: z.number().min(0).optional(),
        hours: z.number().min(0).optional(),
        minutes: z.number().min(0).optional(),
        seconds: z.number().min(0).optional(),
      })
      .strict(),
  ])
  .transform((v) => {
    if (typeof v === "string") {
      const [d, h, m, s] = v.split(":").map(Number) as [number, number, number, number];
      return ((d * 24 + h) * 60 + m) * 60 + s;
    }
    return (((v.days ?? 0) * 24 + (v.hours ?? 0)) * 60 + (v.minutes ?? 0)) * 60 + (v.seconds ?? 0);
  });

export const trainerSchema = z
  .object({
    devices: positiveInt.default(1),
    num_nodes: positiveInt.default(1),
    /** Lightning: always the WebGPU adapter here (gpu/cuda/auto/cpu/webgpu accepted, no effect). */
    accelerator: z.enum(["gpu", "cuda", "auto", "cpu", "webgpu"]).optional(),
    /**
     * 32 / 32-true; bf16 / bf16-mixed (matmuls in bf16 storage precision; with model.megatron_amp_O2 also
     * bf16 weights); bf16-true (bf16 weights with an fp32 master copy, as O2); 16 / 16-mixed (fp16 with a
     * dynamic loss scaler; accepted here, refused when training starts until the step supports it).
     */
    precision: precisionSchema.default(32),
    /** -1 (Lightning) or null: no bound; then max_epochs or the time limit bounds the run. */
    max_steps: bound,
    max_epochs: bound,
    /**
     * Lightning: with epoch-end validation (val_check_interval 0), validate after every Nth epoch only; the
     * run's final evaluation happens regardless.
     */
    check_val_every_n_epoch: positiveInt.default(1),
    /** Lightning's max_time ("DD:HH:MM:SS"): as max_time_seconds (the smaller one wins when both are set). */
    max_time: maxTimeSchema.optional(),
    /**
     * Validate every N optimizer steps (0: at the end of each epoch); a fraction in (0, 1) validates that
     * fraction of an epoch apart (Lightning's float form). 1 means every step.
     */
    val_check_interval: z
      .number()
      .min(0)
      .refine((v) => v < 1 || Number.isInteger(v), {
        message: "must be an integer number of steps, or a fraction in (0, 1)",
      })
      .default(0),
    /**
     * Lightning: validate on this many batches (an integer ≥ 2) or this fraction of them (in (0, 1]; 1.0
     * is the whole set, the default).
     */
    limit_val_batches: z
      .number()
      .gt(
        0,
        "0 (no validation) is not supported: the run ends with an evaluation; use a fraction in (0, 1] or a batch count ≥ 2",
      )
      .refine((v) => v <= 1 || Number.isInteger(v), {
        message: "must be a batch count (integer) or a fraction in (0, 1]",
      })
      .optional(),
    limit_test_batches: z.number().min(0).optional(),
    /** Lightning: gradient accumulation here follows from model.global_batch_size, as in NeMo. */
    accumulate_grad_batches: z
      .number()
      .refine((v) => v === 1, {
        message:
          "must be 1: accumulation follows from model.global_batch_size / (micro_batch_size × data-parallel size), as in NeMo; set global_batch_size",
      })
      .optional(),
    log_every_n_steps: positiveInt.default(50),
    gradient_clip_val: z.number().min(0).default(0),
    seed: z.number().int().default(1234),
    /** Stop after this many seconds of training (0: no limit); the run still evaluates and saves. */
    max_time_seconds: z.number().min(0).default(0),
    /**
     * How a time limit meets a length-based schedule (CosineAnnealing without its own max_steps): `auto`
     * plans the schedule over the steps the budget allows (measured once per host and config, then cached,
     * so runs on one host are identical), `measure` re-measures, `off` stops at the limit as Lightning does.
     */
    time_plan: z.enum(["auto", "measure", "off"]).default("auto"),
    // Lightning switches vit has its own answer to (listed by configNotes).
    logger: noEffectFlag,
    enable_checkpointing: noEffectFlag,
    use_distributed_sampler: noEffectFlag,
    replace_sampler_ddp: noEffectFlag,
    benchmark: noEffectFlag,
    enable_model_summary: noEffectFlag,
    enable_progress_bar: noEffectFlag,
  })
  .strict()
  .transform(({ max_time, ...t }) => {
    const times = [t.max_time_seconds, max_time ?? 0].filter((s) => s > 0);
    return {
      ...t,
      max_time_seconds: times.length ? Math.min(...times) : 0,
      ...(max_time !== undefined ? { max_time } : {}),
    };
  });

const monitorSchema = z.enum(["val_top1", "val_loss"]);

export const expManagerSchema = z
  .object({
    /** NeMo: write the run here exactly (no exp_dir/name). */
    explicit_log_dir: z.string().optional(),
    exp_dir: z.string().default("runs"),
    name: z.string().default("vit"),
    resume_if_exists: z.boolean().default(false),
    /** NeMo: with resume_if_exists and no checkpoint yet, start afresh (true) or stop with an error (false). */
    resume_ignore_no_checkpoint: z.boolean().default(true),
    /** NeMo: false saves no checkpoints at all. */
    create_checkpoint_callback: z.boolean().default(true),
    create_wandb_logger: z
      .boolean()
      .refine((v) => !v, {
        message:
          "Weights & Biases logging is not available (no network at run time); set false — metrics go to <run dir>/metrics.jsonl, metrics.csv and curves.svg",
      })
      .optional(),
    wandb_logger_kwargs: z.record(z.unknown()).optional(),
    create_tensorboard_logger: noEffectFlag,
    /** NeMo's ModelCheckpoint parameters, mapped onto `checkpoint`. */
    checkpoint_callback_params: z
      .object({
        monitor: monitorSchema.optional(),
        mode: z.enum(["min", "max"]).optional(),
        every_n_train_steps: z.number().int().min(0).optional(),
        save_top_k: z.number().int().min(-1).optional(),
        save_last: noEffectFlag,
        always_save_nemo: noEffectFlag,
        save_nemo_on_train_end: noEffectFlag,
        save_best_model: noEffectFlag,
        filename: z.string().optional(),
        model_parallel_size: positiveInt.optional(),
      })
      .strict()
      .optional(),
    checkpoint: z
      .object({
        every_n_steps: z.number().int().min(0).optional(),
        keep_last: z.number().int().min(1).default(2),
        save_best: z.boolean().default(true),
        monitor: monitorSchema.optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .transform((e, ctx) => {
    const p = e.checkpoint_callback_params ?? {};
    const pick = <K extends "monitor" | "every_n_steps">(key: K, nemoKey: string, nemo: unknown) => {
      const ours = e.checkpoint[key];
      if (ours !== undefined && nemo !== undefined && ours !== nemo) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["checkpoint", key],
          message: `${ours} conflicts with checkpoint_callback_params.${nemoKey} ${nemo}; set one of them`,
        });
      }
      return ours ?? nemo;
    };
    const monitor = (pick("monitor", "monitor", p.monitor) ?? "val_top1") as z.infer<typeof monitorSchema>;
    const mode = monitor === "val_loss" ? "min" : "max";
    if (p.mode !== undefined && p.mode !== mode) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["checkpoint_callback_params", "mode"],
        message: `${monitor} is ${mode === "min" ? "minimised" : "maximised"} here; set mode ${mode}`,
      });
    }
    const every = (pick("every_n_steps", "every_n_train_steps", p.every_n_train_steps) ?? 0) as number;
    return { ...e, checkpoint: { ...e.checkpoint, monitor, every_n_steps: every } };
  });

export const configSchema = z
  .object({
    name: z.string().default("vit"),
    trainer: trainerSchema.default({}),
    model: modelSchema,
    exp_manager: expManagerSchema.default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const t = c.trainer;
    if (t.max_steps === undefined && t.max_epochs === undefined && !(t.max_time_seconds > 0)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["trainer", "max_steps"],
        message:
          "the run has no bound (max_steps and max_epochs are -1/unset, no time limit): set trainer.max_steps=N, trainer.max_epochs=N or trainer.max_time_seconds=S",
      });
    }
    const s = c.model.optim.sched;
    if (
      s.name === "CosineAnnealing" &&
      s.max_steps === undefined &&
      t.max_steps === undefined &&
      t.max_epochs === undefined &&
      // A time limit with time_plan auto/measure gives the schedule its length (time-plan.ts).
      (t.time_plan === "off" || !(t.max_time_seconds > 0))
    ) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["model", "optim", "sched", "max_steps"],
        message:
          "CosineAnnealing needs a length and the run has none: set model.optim.sched.max_steps, or trainer.max_time_seconds with trainer.time_plan=auto",
      });
    }
    if (c.model.precision !== undefined) {
      const r = precisionSchema.safeParse(c.model.precision);
      if (!r.success || r.data !== t.precision) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["model", "precision"],
          message: `${JSON.stringify(c.model.precision)} differs from trainer.precision ${JSON.stringify(t.precision)}; NeMo writes \${trainer.precision} here`,
        });
      }
    }
    if (c.model.sequence_parallel && c.model.tensor_model_parallel_size > 1) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["model", "sequence_parallel"],
        message:
          "Megatron's sequence parallelism (LayerNorm and dropout activations split along the sequence across tensor-parallel ranks) is not implemented; set false (it saves memory only, the maths is the same)",
      });
    }
  });

export type TrainConfig = z.infer<typeof configSchema>;
export type ModelSection = z.infer<typeof modelSchema>;
export type DataSection = z.infer<typeof dataSchema>;
export type OptimSection = z.infer<typeof optimSchema>;
