/**
 * The NeMo-style training config: `trainer`, `model` (ViT keys + micro/global batch, optim, data),
 * `exp_manager`. Every section is strict, so a misspelt or unknown key is an error naming its full path.
 */
import { z } from "zod";

const positiveInt = z.number().int().positive();

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
    /** Folder / file(s) of the data set (not needed for the bundled fashion_mnist or synthetic). */
    data_path: z.string().optional(),
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
  })
  .strict();

export const schedSchema = z.discriminatedUnion("name", [
  z
    .object({
      name: z.literal("CosineAnnealing"),
      warmup_steps: z.number().int().min(0).optional(),
      warmup_ratio: z.number().min(0).max(1).optional(),
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
  .strict();

export const modelSchema = z
  .object({
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
    /** precision 16: NeMo's dynamic loss scaler (initial scale, good steps before it doubles, overflows before it halves). */
    native_amp_init_scale: z
      .number()
      .positive()
      .default(2 ** 32),
    native_amp_growth_interval: positiveInt.default(1000),
    hysteresis: positiveInt.default(2),
    /** Fine-tuning: initialise from this checkpoint / timm / HF / NeMo safetensors file. */
    restore_from_path: z.string().optional(),
    optim: optimSchema,
    data: dataSchema.default({}),
  })
  // The ViT keys (hidden_size, num_layers, ...) pass through to @vit/model's parseViTConfig, which
  // reports unknown ones by name.
  .passthrough();

export const trainerSchema = z
  .object({
    devices: positiveInt.default(1),
    num_nodes: positiveInt.default(1),
    /**
     * 32; "bf16" (matmuls in bf16 storage precision; with model.megatron_amp_O2 also bf16 weights); 16 (fp16
     * mixed precision with NeMo's dynamic loss scaler; needs the adapter's shader-f16).
     */
    precision: z
      .union([
        z.literal(32),
        z.literal("32"),
        z.literal("bf16"),
        z.literal("bf16-mixed"),
        z.literal(16),
        z.literal("16"),
        z.literal("16-mixed"),
      ])
      .default(32),
    max_steps: z.number().int().positive().nullable().optional(),
    max_epochs: z.number().int().positive().nullable().optional(),
    /** Validate every N optimizer steps (0: at the end of each epoch). */
    val_check_interval: z.number().int().min(0).default(0),
    log_every_n_steps: positiveInt.default(50),
    gradient_clip_val: z.number().min(0).default(0),
    seed: z.number().int().default(1234),
    /** Stop after this many seconds of training (0: no limit); the run still evaluates and saves. */
    max_time_seconds: z.number().min(0).default(0),
  })
  .strict();

export const expManagerSchema = z
  .object({
    exp_dir: z.string().default("runs"),
    name: z.string().default("vit"),
    resume_if_exists: z.boolean().default(false),
    checkpoint: z
      .object({
        every_n_steps: z.number().int().min(0).default(0),
        keep_last: z.number().int().min(1).default(2),
        save_best: z.boolean().default(true),
        monitor: z.enum(["val_top1", "val_loss"]).default("val_top1"),
      })
      .strict()
      .default({}),
  })
  .strict();

export const configSchema = z
  .object({
    name: z.string().default("vit"),
    trainer: trainerSchema.default({}),
    model: modelSchema,
    exp_manager: expManagerSchema.default({}),
  })
  .strict();

export type TrainConfig = z.infer<typeof configSchema>;
export type ModelSection = z.infer<typeof modelSchema>;
export type DataSection = z.infer<typeof dataSchema>;
export type OptimSection = z.infer<typeof optimSchema>;
