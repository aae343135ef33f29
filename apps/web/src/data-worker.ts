/**
 * The page's data loader, off the main thread: fetches and unpacks the Fashion-MNIST asset, then builds
 * normalised NCHW float batches on request — a seeded shuffle per epoch and, for training, the default
 * job's random horizontal flip (@vit/data's hflip on the 8-bit image, as its loader does). Buffers are
 * transferred, not copied.
 */
import { F, type Image, Rng } from "@vit/data";
import type { Batch, WorkerReply, WorkerRequest } from "./data-protocol.js";
import type { Split, WebDataset } from "./fmnist-format.js";
import { fetchAsset } from "./fmnist-format.js";

let data: WebDataset | null = null;
let lut = new Float32Array(256);
let seed = 0;
let flip = false;
let perm: Int32Array | null = null;
let epoch = 0;
let cursor = 0;

function post(msg: WorkerReply, transfer: Transferable[] = []): void {
  (self as unknown as Worker).postMessage(msg, transfer);
}

/** Images idx of `s` (after an optional flip) as normalised CHW floats: (v / 255 - mean) / std. */
function batchOf(s: Split, idx: ArrayLike<number>, flips: (i: number) => boolean): Batch {
  const d = data!;
  const per = d.height * d.width * d.channels;
  const plane = d.height * d.width;
  const images = new Float32Array(idx.length * per);
  const labels = new Int32Array(idx.length);
  for (let b = 0; b < idx.length; b++) {
    const k = idx[b]!;
    let img: Image = {
      data: s.pixels.subarray(k * per, (k + 1) * per),
      width: d.width,
      height: d.height,
      channels: d.channels,
    };
    if (flips(k)) img = F.hflip(img);
    for (let c = 0; c < d.channels; c++) {
      const out = (b * d.channels + c) * plane;
      for (let p = 0; p < plane; p++) images[out + p] = lut[img.data[p * d.channels + c]!]!;
    }
    labels[b] = s.labels[k]!;
  }
  return { images, labels, shape: [idx.length, d.channels, d.height, d.width] };
}

function nextTrainIndices(n: number): { idx: Int32Array; epoch: number } {
  const d = data!;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (!perm || cursor >= perm.length) {
      if (perm) epoch++;
      perm = Rng.derive(seed, 0x5348, epoch).permutation(d.train.count);
      cursor = 0;
    }
    out[i] = perm[cursor++]!;
  }
  return { idx: out, epoch };
}

self.onmessage = async (ev: MessageEvent<WorkerRequest>) => {
  const m = ev.data;
  try {
    switch (m.type) {
      case "init": {
        data = await fetchAsset(m.url);
        seed = m.seed >>> 0;
        flip = m.flip;
        const c = data.channels;
        // One table per channel would be needed for RGB statistics; this data set is grayscale.
        lut = Float32Array.from({ length: 256 }, (_, v) => (v / 255 - m.mean[0]!) / m.std[0]!);
        if (c !== 1) throw new Error(`the page's normalisation handles 1 channel, the asset has ${c}`); // bug, not user input
        post({ type: "ready", id: m.id, train: data.train.count, test: data.test.count });
        break;
      }
      case "reset":
        perm = null;
        epoch = 0;
        cursor = 0;
        post({ type: "done", id: m.id });
        break;
      case "train": {
        const { idx, epoch: e } = nextTrainIndices(m.batch);
        const b = batchOf(data!.train, idx, (k) => flip && Rng.derive(seed, 0x464c, e, k).next() < 0.5);
        post({ type: "batch", id: m.id, batch: b, epoch: e }, [b.images.buffer, b.labels.buffer]);
        break;
      }
      case "test": {
        const n = Math.max(0, Math.min(m.count, data!.test.count - m.start));
        const idx = Int32Array.from({ length: n }, (_, i) => m.start + i);
        const b = batchOf(data!.test, idx, () => false);
        post({ type: "batch", id: m.id, batch: b, epoch: 0 }, [b.images.buffer, b.labels.buffer]);
        break;
      }
    }
  } catch (e) {
    post({ type: "error", id: m.id, message: (e as Error).message });
  }
};
