/** Builds the model, data loaders and optimizer a TrainConfig describes. */
import {
  type AnyDataset,
  DataLoader,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  type TransformSpec,
  autoAugment,
  cifarDataset,
  classSubset,
  colorJitter,
  fashionMnist,
  imageFolder,
  normalize,
  randAugment,
  randomHorizontalFlip,
  randomResizedCrop,
  resizeCenterCrop,
  synthetic,
  webDataset,
} from "@vit/data";
import { type ViTConfig, VisionTransformer, getPreset, parseViTConfig } from "@vit/model";
import type { AttentionFn } from "@vit/nn";
import type { Module } from "@vit/nn";
import {
  AdamW,
  LossScaler,
  type Optimizer,
  SGD,
  isNoDecayMegatron,
  paramGroupsWeightDecay,
} from "@vit/optim";
import { DistributedOptimizer, type ProcessGroup } from "@vit/parallel";
import type { Device } from "@vit/tensor";
import * as T from "@vit/tensor";
import { ConfigError } from "./config/load.js";
import { type DataSection, type ModelSection, type TrainConfig, modelShape } from "./config/schema.js";
import { type TensorParallelViT, buildTensorParallelViT } from "./strategies/tensor-parallel-model.js";

/** The model a Trainer trains: the single-device ViT, or its tensor-parallel twin (async forward). */
export type TrainModel = VisionTransformer | TensorParallelViT;

/** The trainer's keys of `model:` (the schema's); the rest are ViT keys for parseViTConfig. */
const TRAINER_MODEL_KEYS = new Set(Object.keys(modelShape));

/** The ViT part of `model:` (everything that is not a trainer key), resolved against the preset. */
export function vitConfigOf(model: ModelSection): ViTConfig {
  const vitKeys = Object.fromEntries(Object.entries(model).filter(([k]) => !TRAINER_MODEL_KEYS.has(k)));
  try {
    return model.preset ? getPreset(model.preset, vitKeys) : parseViTConfig(vitKeys);
  } catch (e) {
    throw new ConfigError(`model: ${(e as Error).message}`);
  }
}

export function attentionFnOf(model: ModelSection): AttentionFn {
  if (model.attention === "flash") {
    const flash = (T as unknown as { flashAttention?: AttentionFn }).flashAttention;
    if (!flash)
      throw new ConfigError(
        "model.attention=flash: this build of @vit/tensor has no flashAttention; use naive.",
      );
    return flash;
  }
  return T.attentionNaive;
}

/**
 * The model of `cfg`. With model.tensor_model_parallel_size > 1 this is the TensorParallelViT of this rank
 * of `group` (whose size the strategy has checked); its weights are then set by TensorParallelStrategy from
 * a single-device initialisation, so that they do not depend on the parallel layout.
 */
export function buildModel(device: Device, cfg: TrainConfig, group?: ProcessGroup): TrainModel {
  const m = cfg.model;
  const ck =
    m.activations_checkpoint_granularity && m.activations_checkpoint_num_layers > 0
      ? {
          method: m.activations_checkpoint_method ?? "uniform",
          num_layers: m.activations_checkpoint_num_layers,
          granularity: m.activations_checkpoint_granularity,
        }
      : null;
  const half = halfDtypeOf(cfg);
  if (m.megatron_amp_O2 && !half)
    throw new ConfigError("model.megatron_amp_O2 needs half precision", {
      hint: "set trainer.precision=bf16 or 16",
    });
  if (half === "f16" && !device.hasFeature("shader-f16")) {
    throw new ConfigError(
      `trainer.precision=${cfg.trainer.precision} (fp16) needs the adapter feature shader-f16, which ${device.adapter.description || device.adapter.device} lacks`,
      { hint: "use trainer.precision=bf16 or 32" },
    );
  }
  if (half === "f16" && m.tensor_model_parallel_size > 1) {
    throw new ConfigError(
      "trainer.precision=16 with model.tensor_model_parallel_size > 1 is not supported yet (the tensor-parallel clip does not see the loss scale)",
      { hint: "use trainer.precision=bf16 with tensor parallelism" },
    );
  }
  // Lightning's bf16-true: bf16 weights; the optimizer keeps an fp32 master copy (as O2).
  const halfWeights = m.megatron_amp_O2 || cfg.trainer.precision === "bf16-true";
  const vit = vitConfigOf(m);
  const opts = { attentionFn: attentionFnOf(m), checkpointing: ck };
  const model: TrainModel =
    m.tensor_model_parallel_size > 1
      ? buildTensorParallelViT(device, vit, m.tensor_model_parallel_size, group, opts)
      : new VisionTransformer(device, vit, opts);
  if (halfWeights) toMegatronO2(model, half!);
  return model;
}

/** Megatron O2: the matmul weights live in bf16 (or f16); the optimizer keeps an fp32 master copy of each. */
export function toMegatronO2(model: Module, dtype: "bf16" | "f16" = "bf16"): void {
  model.replaceParameters(
    (name, t) => t.rank === 2 && name.endsWith(".weight"),
    (t) => T.noGrad(() => T.cast(t, dtype)),
  );
}

export function isBf16(cfg: TrainConfig): boolean {
  return halfDtypeOf(cfg) === "bf16";
}

/** The autocast dtype of trainer.precision: "bf16", "f16" (precision 16, with the loss scaler) or null (32). */
export function halfDtypeOf(cfg: TrainConfig): T.AutocastDtype | null {
  const p = String(cfg.trainer.precision);
  if (p === "bf16" || p === "bf16-mixed" || p === "bf16-true") return "bf16";
  if (p === "16" || p === "16-mixed") return "f16";
  return null;
}

/** What the loop needs of an optimizer: the plain ones and the distributed (sharded) one. */
export interface TrainOptimizer {
  step(opts: { lr: number; maxGradNorm?: number; computeNorm?: boolean }): void | Promise<void>;
  zeroGrad(): void;
  lastGradNorm(): Promise<number>;
  stateTensors(): Record<string, T.Tensor>;
  /** Optimizer steps taken (settable: resume restores it). */
  stepCount: number;
  dispose(): void;
}

/** precision 16: the loss scaler with NeMo's settings from the model section (null otherwise). */
export function buildLossScaler(device: Device, cfg: TrainConfig): LossScaler | null {
  if (halfDtypeOf(cfg) !== "f16") return null;
  const m = cfg.model;
  // NeMo's defaults (megatron_vit_classification_config.yaml): 2^32, 1000, 2.
  return new LossScaler(device, {
    initScale: m.native_amp_init_scale ?? 2 ** 32,
    growthInterval: m.native_amp_growth_interval ?? 1000,
    hysteresis: m.hysteresis ?? 2,
  });
}

export function buildOptimizer(
  model: Module,
  cfg: TrainConfig,
  group?: ProcessGroup,
  scaler: LossScaler | null = null,
): TrainOptimizer {
  const o = cfg.model.optim;
  const named = model.namedParameters();
  // NeMo's do_layer_norm_weight_decay, when given, decides: true decays every parameter, false exempts
  // biases and LayerNorm parameters (Megatron's rule). Otherwise optim.no_decay_1d (timm's rule).
  const nemoRule = cfg.model.do_layer_norm_weight_decay;
  const groups =
    nemoRule === false
      ? paramGroupsWeightDecay(named, o.weight_decay, isNoDecayMegatron)
      : nemoRule === undefined && o.no_decay_1d
        ? paramGroupsWeightDecay(named, o.weight_decay)
        : [{ params: named, weightDecay: o.weight_decay }];
  const make = (gs: typeof groups): Optimizer => {
    const opt =
      o.name === "sgd"
        ? new SGD(gs, { momentum: o.momentum, nesterov: o.nesterov })
        : new AdamW(gs, { betas: o.betas, eps: o.eps, decoupled: o.name !== "adam" });
    opt.lossScaler = scaler;
    return opt;
  };
  if (o.name === "distributed_fused_adam" && group && group.worldSize > 1) {
    const d = new DistributedOptimizer(group, groups, make);
    return {
      step: (s) => d.step(s),
      zeroGrad: () => d.zeroGrad(),
      lastGradNorm: async () => d.lastGradNorm(),
      stateTensors: () => d.stateTensors(),
      get stepCount() {
        return d.stepCount;
      },
      set stepCount(n: number) {
        if (d.inner) d.inner.stepCount = n;
      },
      dispose: () => d.inner?.dispose(),
    };
  }
  return make(groups);
}

async function dataset(
  m: ModelSection,
  split: "train" | "test",
  vit: ViTConfig,
  seed: number,
): Promise<AnyDataset> {
  const ds = await source(m.data, split, vit, seed);
  // NeMo's classes_fraction / data_per_class_fraction select the training data. NeMo leaves the validation
  // folder whole, which scores the model on classes it never trained on; here validation keeps the same
  // classes (all of their samples).
  const classesFraction = m.classes_fraction;
  const perClassFraction = split === "train" ? m.data_per_class_fraction : 1;
  if (classesFraction === 1 && perClassFraction === 1) return ds;
  if (ds.kind === "iterable") {
    throw new ConfigError(
      `model.classes_fraction / data_per_class_fraction need a random-access data set; "${m.data.dataset}" is a stream ` +
        "(its per-class counts are unknown until read): set both to 1, or use an image folder.",
    );
  }
  return classSubset(ds, { classesFraction, perClassFraction });
}

async function source(
  d: DataSection,
  split: "train" | "test",
  vit: ViTConfig,
  seed: number,
): Promise<AnyDataset> {
  const need = (p: string | undefined, what: string) => {
    if (!p) throw new ConfigError(`model.data.${what} is required for data set "${d.dataset}".`);
    return p;
  };
  const path = split === "train" ? d.data_path : (d.val_path ?? d.data_path);
  switch (d.dataset) {
    case "fashion_mnist":
      return fashionMnist({ split });
    case "synthetic":
      return synthetic({
        length: d.synthetic_size,
        height: vit.img_h,
        width: vit.img_w,
        channels: vit.num_channels as 1 | 3,
        numClasses: vit.num_classes,
        seed: seed + (split === "train" ? 0 : 1),
      });
    case "image_folder":
      return imageFolder(need(path, split === "train" ? "data_path" : "val_path"), {
        followLinks: d.follow_symlinks,
      });
    case "idx":
      throw new ConfigError(
        'model.data.dataset "idx" needs images/labels file pairs: use the @vit/data API (idxDataset) directly for now.',
      );
    case "cifar10":
    case "cifar100":
      return cifarDataset({
        files: need(path, "data_path").split(","),
        variant: d.dataset === "cifar10" ? "cifar10" : "cifar100",
      });
    case "webdataset":
      return webDataset({ shards: need(path, "data_path").split(","), numClasses: vit.num_classes });
  }
}

/**
 * Which data the "test" split (validation and final metrics) really is: the data set's own test split, a
 * held-out model.data.val_path, or, for folders and files without one, the training data itself.
 */
export function evalSplitOf(d: DataSection): "test" | "train" {
  if (d.dataset === "fashion_mnist" || d.dataset === "synthetic") return "test";
  return d.val_path ? "test" : "train";
}

/** Labels the model has no output for would be scored against garbage: refuse before any work. */
function checkClasses(ds: AnyDataset, d: DataSection, split: "train" | "test", numClasses: number): void {
  const n = ds.classes.length;
  if (n <= numClasses) return;
  const folder = d.dataset === "image_folder" ? "class folders" : "classes";
  const names = ds.classes.slice(0, 8).join(", ") + (n > 8 ? ", …" : "");
  const where = split === "train" ? (d.data_path ?? d.dataset) : (d.val_path ?? d.data_path ?? d.dataset);
  throw new ConfigError(
    `${where} has ${n} ${folder} (${names}) but the model has model.num_classes=${numClasses}: labels ${numClasses}..${n - 1} ` +
      `have no output. Use data with at most ${numClasses} classes (those the model was trained on), or train/finetune with model.num_classes=${n}.`,
  );
}

function meanStd(d: DataSection, channels: number): { mean: number[]; std: number[] } {
  if (d.train.mean && d.train.std) return { mean: d.train.mean, std: d.train.std };
  if (d.dataset === "fashion_mnist") return { mean: [...FASHION_MNIST_MEAN], std: [...FASHION_MNIST_STD] };
  return channels === 1
    ? { mean: [0.5], std: [0.5] }
    : { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
}

/** Data sets whose images all have the model's size already (no resize in their pipelines). */
function fixedSize(d: DataSection): boolean {
  return d.dataset === "fashion_mnist" || d.dataset === "synthetic" || d.dataset.startsWith("cifar");
}

/**
 * The evaluation pipeline of `cfg`: Resize(img / 0.875) + CenterCrop(img) + Normalize for image folders
 * and shards, Normalize alone for the fixed-size sets. `anySize` (prediction on arbitrary files) resizes for
 * the fixed-size sets too, with crop fraction 1 so that an image of the set's own size is left as it is.
 */
export function evalTransforms(cfg: TrainConfig, opts: { anySize?: boolean } = {}): TransformSpec[] {
  const d = cfg.model.data;
  const vit = vitConfigOf(cfg.model);
  const { mean, std } = meanStd(d, vit.num_channels);
  const resizeSpecs = !fixedSize(d)
    ? resizeCenterCrop(vit.img_h)
    : opts.anySize
      ? resizeCenterCrop(vit.img_h, { cropFraction: 1 })
      : [];
  return [...resizeSpecs, normalize(mean, std)];
}

export async function buildLoader(
  cfg: TrainConfig,
  split: "train" | "test",
  rank = 0,
  worldSize = 1,
): Promise<DataLoader> {
  const d = cfg.model.data;
  const vit = vitConfigOf(cfg.model);
  const ds = await dataset(cfg.model, split, vit, cfg.trainer.seed);
  checkClasses(ds, d, split, vit.num_classes);
  const train = split === "train";
  const t = d.train;
  const specs: TransformSpec[] = [];
  if (train) {
    if (t.random_resized_crop) specs.push(randomResizedCrop(vit.img_h, { scale: t.crop_scale }));
    else if (!fixedSize(d)) specs.push(...resizeCenterCrop(vit.img_h));
    if (t.horizontal_flip) specs.push(randomHorizontalFlip());
    if (t.auto_augment) specs.push(autoAugment());
    if (t.rand_augment) specs.push(randAugment());
    if (t.color_jitter > 0)
      specs.push(
        colorJitter({ brightness: t.color_jitter, contrast: t.color_jitter, saturation: t.color_jitter }),
      );
    const { mean, std } = meanStd(d, vit.num_channels);
    specs.push(normalize(mean, std));
  } else specs.push(...evalTransforms(cfg));
  const mix = train && (d.mixup_alpha > 0 || d.cutmix_alpha > 0);
  return new DataLoader(ds, {
    // Validation reads larger batches (forward only), except under NeMo's validation_drop_last, which drops
    // the last partial micro-batch as NeMo does.
    batchSize:
      train || d.validation_drop_last
        ? cfg.model.micro_batch_size
        : Math.max(cfg.model.micro_batch_size, 256),
    // NeMo's dataloader_type: 'cyclic' reshuffles every epoch, 'single' reads in order.
    shuffle: train && d.dataloader_type === "cyclic",
    seed: cfg.trainer.seed,
    dropLast: train || d.validation_drop_last,
    transforms: specs,
    numWorkers: d.num_workers,
    prefetch: d.prefetch,
    channels: vit.num_channels as 1 | 3,
    ...(mix ? { mixup: { mixupAlpha: d.mixup_alpha, cutmixAlpha: d.cutmix_alpha } } : {}),
    ...(worldSize > 1 ? { distributed: { rank, worldSize } } : {}),
  });
}
