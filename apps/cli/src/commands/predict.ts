/**
 * `vit predict --checkpoint C (file | folder)... [--topk K] [--batch-size B] [--format table|csv|json]`: the
 * top-K classes of every image, with names and probabilities. Images are decoded, resized, centre-cropped
 * and normalised by @vit/data's loader with the checkpoint's evaluation pipeline (trainer's evalTransforms),
 * so a prediction sees exactly what evaluation sees; folders are searched recursively.
 */
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { DataLoader, IMAGE_EXTENSIONS, ImageFolderDataset } from "@vit/data";
import { Device, noGrad, softmax, tensor } from "@vit/tensor";
import { evalTransforms } from "@vit/trainer";
import { UsageError } from "../errors.js";
import { restoreModel } from "./restore.js";

export interface PredictOptions {
  checkpoint: string;
  json?: boolean;
  format?: string;
  topk?: string;
  batchSize?: string;
}

interface Prediction {
  image: string;
  topk: Array<{ rank: number; index: number; class: string; probability: number }>;
}

const FORMATS = ["table", "csv", "json"] as const;

function positiveInt(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`predict: ${flag} must be a positive integer (got "${value}").`);
  return n;
}

/** The image files named by `inputs`: files as given, folders searched recursively (sorted). */
export function listImages(inputs: string[]): string[] {
  const exts = new Set<string>(IMAGE_EXTENSIONS);
  const out: string[] = [];
  for (const input of inputs) {
    let isDir: boolean;
    try {
      isDir = statSync(input).isDirectory();
    } catch {
      throw new UsageError(`predict: ${input} does not exist; give image files or folders of images.`);
    }
    if (!isDir) {
      out.push(input);
      continue;
    }
    const found = (readdirSync(input, { recursive: true }) as string[])
      .filter((f) => exts.has(extname(f).slice(1).toLowerCase()))
      .sort()
      .map((f) => join(input, f));
    if (!found.length) {
      throw new UsageError(`predict: no images (${[...exts].join(", ")}) in folder ${input}.`);
    }
    out.push(...found);
  }
  return out;
}

/** A CSV field, quoted when it holds a comma, quote or line break (RFC 4180). */
function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function print(rows: Prediction[], format: (typeof FORMATS)[number], first: boolean): void {
  if (format === "csv") {
    if (first) console.log("image,rank,class_index,class,probability");
    for (const r of rows) {
      for (const t of r.topk)
        console.log(
          [csvField(r.image), t.rank, t.index, csvField(t.class), t.probability.toPrecision(6)].join(","),
        );
    }
  } else if (format === "table") {
    for (const r of rows) {
      console.log(r.image);
      for (const t of r.topk)
        console.log(
          `  ${String(t.rank).padStart(2)}  ${(100 * t.probability).toFixed(2).padStart(6)}%  ${t.class}`,
        );
    }
  }
}

export async function predictCommand(inputs: string[], opts: PredictOptions): Promise<void> {
  const format = (opts.json ? "json" : (opts.format ?? "table")) as (typeof FORMATS)[number];
  if (!FORMATS.includes(format))
    throw new UsageError(`predict: --format must be table, csv or json (got "${opts.format}").`);
  const batchSize = positiveInt(opts.batchSize, 32, "--batch-size");
  const k = positiveInt(opts.topk, 5, "--topk");
  if (!inputs.length)
    throw new UsageError("predict: give one or more image files or folders after the options.");
  const files = listImages(inputs);
  const device = await Device.create();
  const { model, meta, cfg } = await restoreModel(device, opts.checkpoint);
  const c = model.config;
  const classes = meta.classes ?? Array.from({ length: c.num_classes }, (_, i) => String(i));
  const topk = Math.min(k, c.num_classes);
  const loader = new DataLoader(
    new ImageFolderDataset("vit predict", classes, files, new Int32Array(files.length)),
    {
      batchSize,
      transforms: evalTransforms(cfg, { anySize: true }),
      channels: c.num_channels as 1 | 3,
      numWorkers: 0,
    },
  );
  const all: Prediction[] = [];
  let done = 0;
  for await (const batch of loader) {
    const images = batch.images instanceof Float32Array ? batch.images : Float32Array.from(batch.images);
    const probs = noGrad(() => softmax(model.forward(tensor(device, images, batch.shape))));
    const host = (await probs.data()) as Float32Array;
    probs.dispose();
    const rows = Array.from({ length: batch.labels.length }, (_, i): Prediction => {
      const row = host.subarray(i * c.num_classes, (i + 1) * c.num_classes);
      const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!);
      return {
        image: files[done + i]!,
        topk: order.slice(0, topk).map((index, r) => ({
          rank: r + 1,
          index,
          class: classes[index] ?? String(index),
          probability: row[index]!,
        })),
      };
    });
    print(rows, format, done === 0);
    if (format === "json") all.push(...rows);
    done += rows.length;
  }
  await loader.close();
  if (format === "json") console.log(JSON.stringify(all));
  model.dispose();
  device.destroy();
}
