/**
 * A ViT being trained or used in the page: the model, its optimizer, the training step (the same one the
 * trainer and the bench record: forward, cross-entropy, backward, clipped AdamW step, zero_grad — no
 * readback inside it), evaluation, and checkpoints in the trainer's format, read from and written to
 * Blobs, so that `vit train` checkpoints load here and the page's load in `vit eval` / `vit predict`.
 */
import { VIT_CONFIG_KEYS, type ViTConfig, VisionTransformer, getPreset, parseViTConfig } from "@vit/model";
import { type HostTensor, type SafetensorsSource, readSafetensors, safetensorsBlob } from "@vit/nn";
import { AdamW, type Optimizer, SGD, type ScheduleConfig, lrAt, paramGroupsWeightDecay } from "@vit/optim";
import {
  type Device,
  type Tensor,
  VitError,
  add,
  attentionNaive,
  crossEntropy,
  flashAttention,
  keep,
  noGrad,
  scope,
  tensor,
  zeros,
} from "@vit/tensor";
import type { ModelSection, TrainConfig } from "@vit/trainer";
import { BUILD } from "./build-info.js";
import type { Batch } from "./data-protocol.js";

export interface TrainSettings {
  steps: number;
  lr: number;
  warmup: number;
  batch: number;
  logEvery: number;
}

export interface LogRecord {
  step: number;
  epoch: number;
  /** Mean training loss over the steps since the last record. */
  loss: number;
  /** Top-1 of the record's last batch. */
  batchAccuracy: number;
  imagesPerSecond: number;
  stepsPerSecond: number;
  lr: number;
}

export interface EvalResult {
  top1: number;
  loss: number;
  images: number;
  /** confusion[true][predicted] counts. */
  confusion: number[][];
}

/**
 * The ViT part of a checkpoint's `model:` section: its preset with the ViT keys @vit/model knows
 * (VIT_CONFIG_KEYS); the trainer's own keys (optim, data, batch sizes) are not the model's. Mirrors
 * @vit/trainer's vitConfigOf, which cannot load in a page (its module also builds Node data loaders).
 */
export function vitConfigOfSection(model: ModelSection): ViTConfig {
  const keys = new Set<string>(VIT_CONFIG_KEYS);
  const vitKeys = Object.fromEntries(Object.entries(model).filter(([k]) => keys.has(k)));
  return model.preset ? getPreset(model.preset, vitKeys) : parseViTConfig(vitKeys);
}

function makeOptimizer(model: VisionTransformer, cfg: TrainConfig): Optimizer {
  // As @vit/trainer's buildOptimizer for one device.
  const o = cfg.model.optim;
  const named = model.namedParameters();
  const groups = o.no_decay_1d
    ? paramGroupsWeightDecay(named, o.weight_decay)
    : [{ params: named, weightDecay: o.weight_decay }];
  return o.name === "sgd"
    ? new SGD(groups, { momentum: o.momentum, nesterov: o.nesterov })
    : new AdamW(groups, { betas: o.betas, eps: o.eps, decoupled: o.name !== "adam" });
}

function top1(logits: Float32Array, labels: Int32Array, classes: number, confusion?: number[][]): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[i * classes + k]! > logits[i * classes + best]!) best = k;
    if (best === labels[i]) correct++;
    if (confusion) confusion[labels[i]!]![best]!++;
  }
  return correct;
}

export class Session {
  readonly optimizer: Optimizer;
  step = 0;
  epoch = 0;
  private lastEval: EvalResult | null = null;

  constructor(
    readonly device: Device,
    readonly model: VisionTransformer,
    /** The training config this model was built from (the default job's, or a loaded checkpoint's). */
    readonly config: TrainConfig,
    readonly classes: string[],
  ) {
    this.optimizer = makeOptimizer(model, config);
  }

  /** A fresh model of the default job (conf/fashion_mnist_tiny.yaml), initialised from its seed. */
  static fresh(device: Device): Session {
    const config = structuredClone(BUILD.config);
    device.rng.seed = config.trainer.seed >>> 0;
    device.rng.offset = 0;
    const model = new VisionTransformer(device, BUILD.vit, { attentionFn: attentionNaive });
    return new Session(device, model, config, [...BUILD.classes]);
  }

  /** A vit checkpoint (from `vit train`, or saved by this page): model, optimizer state, step. */
  static async fromCheckpoint(device: Device, source: SafetensorsSource, name?: string): Promise<Session> {
    const { tensors, metadata } = await readSafetensors(source, name);
    const label = name ?? "checkpoint";
    if (!metadata.vit) {
      throw new VitError(
        `${label} is a safetensors file but not a vit checkpoint (no "vit" metadata); save one with \`vit train\`.`,
      );
    }
    const meta = JSON.parse(metadata.vit) as {
      config: TrainConfig;
      step?: number;
      epoch?: number;
      optimizerSteps?: number;
      classes?: string[];
    };
    const cfg = meta.config;
    const vit = vitConfigOfSection(cfg.model);
    const attentionFn = cfg.model.attention === "flash" ? flashAttention : attentionNaive;
    const model = new VisionTransformer(device, vit, { attentionFn });
    const weights: Record<string, HostTensor> = {};
    const optim: Record<string, HostTensor> = {};
    for (const [k, t] of Object.entries(tensors)) {
      if (k.startsWith("model.")) weights[k.slice(6)] = t;
      else if (k.startsWith("optim.")) optim[k.slice(6)] = t;
    }
    model.loadStateDict(weights);
    const classes = meta.classes ?? Array.from({ length: vit.num_classes }, (_, i) => String(i));
    const s = new Session(device, model, cfg, classes);
    s.step = meta.step ?? 0;
    s.epoch = meta.epoch ?? 0;
    // Continue training where it stopped when the optimizer state matches (as the trainer's resume).
    const own = s.optimizer.stateTensors();
    if (Object.keys(own).every((k) => optim[k]?.data.length === own[k]!.numel)) {
      for (const [k, t] of Object.entries(own)) device.upload(t.buffer, optim[k]!.data as Float32Array);
      s.optimizer.stepCount = meta.optimizerSteps ?? 0;
    }
    return s;
  }

  /** Input normalisation, by the rule `vit predict` applies to this checkpoint's config. */
  normalization(): { mean: number[]; std: number[] } {
    const d = this.config.model.data;
    const fm = d.dataset === "fashion_mnist";
    const ch = this.model.config.num_channels;
    const mean = d.train.mean ?? (fm ? BUILD.mean : ch === 1 ? [0.5] : [0.485, 0.456, 0.406]);
    const std = d.train.std ?? (fm ? BUILD.std : ch === 1 ? [0.5] : [0.229, 0.224, 0.225]);
    return { mean, std };
  }

  /** Whether the page's Fashion-MNIST batches fit this model. */
  fitsPageData(): string | null {
    const c = this.model.config;
    if (c.img_h !== 28 || c.img_w !== 28 || c.num_channels !== 1 || c.num_classes !== 10) {
      return `this model takes ${c.img_h}x${c.img_w}x${c.num_channels} images and ${c.num_classes} classes; the page's data is 28x28x1 with 10`;
    }
    return null;
  }

  /** The schedule of the config, stretched over `s.steps` steps with the page's warm-up. */
  private schedule(s: TrainSettings): ScheduleConfig {
    const sched = this.config.model.optim.sched;
    if (sched.name === "CosineAnnealing") {
      return { name: "CosineAnnealing", max_steps: s.steps, min_lr: sched.min_lr, warmup_steps: s.warmup };
    }
    return { ...sched, warmup_steps: s.warmup } as ScheduleConfig;
  }

  /**
   * Trains for `s.steps` optimizer steps (or until `stop()` says so). Reads back only at log records
   * (every `s.logEvery` steps): the running loss sum and the last batch's logits.
   */
  async train(
    s: TrainSettings,
    nextBatch: () => Promise<{ batch: Batch; epoch: number }>,
    hooks: { onLog: (r: LogRecord) => void; onStep?: (step: number) => void; stop: () => boolean },
  ): Promise<void> {
    if (s.steps < 1 || s.batch < 1 || s.logEvery < 1)
      throw new VitError("steps, batch and log interval must be at least 1");
    const misfit = this.fitsPageData();
    if (misfit) throw new VitError(`cannot train on the page's data: ${misfit}`);
    const device = this.device;
    const model = this.model;
    model.train();
    const sched = this.schedule(s);
    const clip = this.config.trainer.gradient_clip_val;
    const smoothing = this.config.model.label_smoothing;
    const start = this.step;
    let running: Tensor = keep(zeros(device, [1]));
    let count = 0;
    let t0 = performance.now();
    let images = 0;
    let pending = nextBatch();
    for (let i = 0; i < s.steps && !hooks.stop(); i++) {
      const { batch, epoch } = await pending;
      // The worker builds the next batch while the GPU runs this step.
      if (i + 1 < s.steps) pending = nextBatch();
      this.epoch = epoch;
      const lr = lrAt(this.step - start, s.lr, sched);
      const logNow = (i + 1) % s.logEvery === 0 || i + 1 === s.steps;
      let logits: Tensor | null = null;
      scope(() => {
        const x = tensor(device, batch.images, batch.shape);
        const y = tensor(device, batch.labels, [batch.labels.length]);
        const out = model.forward(x);
        const loss = crossEntropy(out, y, { labelSmoothing: smoothing });
        loss.backward();
        const next = noGrad(() => add(running, loss));
        running.dispose();
        running = keep(next);
        if (logNow) logits = keep(out);
      });
      this.optimizer.step({ lr, maxGradNorm: clip });
      this.optimizer.zeroGrad();
      this.step++;
      count++;
      images += batch.labels.length;
      await device.throttle();
      hooks.onStep?.(this.step);
      if (logNow) {
        const loss = (await running.data())[0]! / count;
        const host = (await logits!.data()) as Float32Array;
        (logits as Tensor | null)?.dispose();
        const dt = (performance.now() - t0) / 1000;
        if (!Number.isFinite(loss))
          throw new VitError(`training loss became ${loss} at step ${this.step}; lower the learning rate`);
        hooks.onLog({
          step: this.step,
          epoch,
          loss,
          batchAccuracy: top1(host, batch.labels, this.model.config.num_classes) / batch.labels.length,
          imagesPerSecond: images / dt,
          stepsPerSecond: count / dt,
          lr,
        });
        running.dispose();
        running = keep(zeros(device, [1]));
        count = 0;
        images = 0;
        t0 = performance.now();
      }
    }
    running.dispose();
    this.config.trainer.max_steps = this.step;
    this.config.model.optim.lr = s.lr;
  }

  /** Logits of a normalised NCHW batch (eval mode, no autograd). */
  async logits(images: Float32Array, n: number): Promise<Float32Array> {
    const c = this.model.config;
    this.model.eval();
    const out = noGrad(() =>
      this.model.forward(tensor(this.device, images, [n, c.num_channels, c.img_h, c.img_w])),
    );
    const host = Float32Array.from((await out.data()) as Float32Array);
    out.dispose();
    return host;
  }

  /** Top-1, loss and the confusion matrix over `count` test images, `batch` at a time. */
  async evaluate(
    testBatch: (start: number, count: number) => Promise<Batch>,
    count: number,
    batch = 256,
    onProgress?: (done: number) => void,
  ): Promise<EvalResult> {
    const k = this.model.config.num_classes;
    const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    let correct = 0;
    let lossSum = 0;
    let seen = 0;
    this.model.eval();
    for (let start = 0; start < count; start += batch) {
      const b = await testBatch(start, Math.min(batch, count - start));
      if (!b.labels.length) break;
      const [logits, loss] = noGrad(() => {
        const out = this.model.forward(tensor(this.device, b.images, b.shape));
        return [out, crossEntropy(out, tensor(this.device, b.labels, [b.labels.length]))];
      });
      const host = (await logits.data()) as Float32Array;
      lossSum += (await loss.data())[0]! * b.labels.length;
      logits.dispose();
      loss.dispose();
      correct += top1(host, b.labels, k, confusion);
      seen += b.labels.length;
      onProgress?.(seen);
    }
    this.lastEval = { top1: correct / seen, loss: lossSum / seen, images: seen, confusion };
    return this.lastEval;
  }

  /** A vit checkpoint (model.*, optim.*, "vit" metadata) that `vit eval` and `vit predict` accept. */
  async checkpointBlob(): Promise<Blob> {
    const tensors: Record<string, HostTensor> = {};
    for (const [k, t] of Object.entries(await this.model.stateDictHost())) tensors[`model.${k}`] = t;
    for (const [k, t] of Object.entries(this.optimizer.stateTensors())) {
      tensors[`optim.${k}`] = {
        dtype: "F32",
        shape: [...t.shape],
        data: Float32Array.from((await t.data()) as Float32Array),
      };
    }
    const e = this.lastEval;
    const meta = {
      format: BUILD.checkpointFormat,
      step: this.step,
      epoch: this.epoch,
      optimizerSteps: this.optimizer.stepCount,
      rng: { ...this.device.rng },
      // The page's own loader (a Web Worker), not @vit/data's: there is no position to resume from.
      loader: null,
      config: this.config,
      metrics: e ? { val_top1: e.top1, val_loss: e.loss } : {},
      classes: this.classes,
      saved_by: "apps/web",
    };
    return safetensorsBlob(tensors, { vit: JSON.stringify(meta) });
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
