/** `vit predict --checkpoint C img...`: top-5 classes with names and probabilities per image. */
import { readFile } from "node:fs/promises";
import { F, FASHION_MNIST_MEAN, FASHION_MNIST_STD, decodeImage } from "@vit/data";
import { Device, noGrad, softmax, tensor } from "@vit/tensor";
import { UsageError } from "../errors.js";
import { restoreModel } from "./restore.js";

export async function predictCommand(images: string[], opts: { checkpoint: string; json?: boolean }): Promise<void> {
  if (!images.length) throw new UsageError("vit predict: no images given", { hint: "pass image files after the options" });
  const device = await Device.create();
  const { model, meta, cfg } = await restoreModel(device, opts.checkpoint);
  const c = model.config;
  const classes = meta.classes ?? Array.from({ length: c.num_classes }, (_, i) => String(i));
  const fm = cfg.model.data.dataset === "fashion_mnist";
  const mean = cfg.model.data.train.mean ?? (fm ? [...FASHION_MNIST_MEAN] : c.num_channels === 1 ? [0.5] : [0.485, 0.456, 0.406]);
  const std = cfg.model.data.train.std ?? (fm ? [...FASHION_MNIST_STD] : c.num_channels === 1 ? [0.5] : [0.229, 0.224, 0.225]);
  const plane = c.img_h * c.img_w;
  const batch = new Float32Array(images.length * c.num_channels * plane);
  for (const [i, path] of images.entries()) {
    let img = await decodeImage(new Uint8Array(await readFile(path)), path);
    img = c.num_channels === 1 ? F.toGrayscale(img) : F.toRgb(img);
    img = F.resizeBilinear(img, c.img_w, c.img_h);
    for (let ch = 0; ch < c.num_channels; ch++) {
      for (let p = 0; p < plane; p++) {
        batch[(i * c.num_channels + ch) * plane + p] = (img.data[p * c.num_channels + ch]! / 255 - mean[ch]!) / std[ch]!;
      }
    }
  }
  const probs = noGrad(() => softmax(model.forward(tensor(device, batch, [images.length, c.num_channels, c.img_h, c.img_w]))));
  const host = await probs.data();
  const results = images.map((path, i) => {
    const row = Array.from(host.subarray(i * c.num_classes, (i + 1) * c.num_classes));
    const top = row.map((p, k) => ({ class: classes[k] ?? String(k), index: k, probability: p })).sort((a, b) => b.probability - a.probability).slice(0, 5);
    return { image: path, top5: top };
  });
  if (opts.json) console.log(JSON.stringify(results));
  else {
    for (const r of results) {
      console.log(r.image);
      for (const t of r.top5) console.log(`  ${(100 * t.probability).toFixed(2).padStart(6)}%  ${t.class}`);
    }
  }
  model.dispose();
  device.destroy();
}
