/** `vit eval --checkpoint C [--data D]`: top-1/top-5/loss on the test split (or an image folder). */
import { Device } from "@vit/tensor";
import { buildLoader, evaluate } from "@vit/trainer";
import { Progress } from "../progress.js";
import { UsageError } from "../errors.js";
import { restoreModel } from "./restore.js";

export async function evalCommand(opts: {
  checkpoint: string;
  data?: string;
  json?: boolean;
  maxBatches?: string;
}): Promise<void> {
  const t0 = performance.now();
  const device = await Device.create();
  const { model, cfg } = await restoreModel(device, opts.checkpoint);
  if (opts.data) {
    cfg.model.data = {
      ...cfg.model.data,
      dataset: "image_folder",
      data_path: opts.data,
      val_path: opts.data,
    };
  } else if (
    cfg.model.data.dataset === "image_folder" &&
    !cfg.model.data.val_path &&
    !cfg.model.data.data_path
  ) {
    // Converted weights (vit convert --to vit) know no data set of their own.
    throw new UsageError(
      `eval: ${opts.checkpoint} names no data set to evaluate on; pass --data <ImageFolder root>.`,
    );
  }
  const loader = await buildLoader(cfg, "test");
  const progress = new Progress(!opts.json);
  const r = await evaluate(
    model,
    loader,
    opts.maxBatches ? Number(opts.maxBatches) : Number.POSITIVE_INFINITY,
    (done, total) => progress.evalStep(done, total),
  );
  progress.stop();
  await loader.close();
  const wall = (performance.now() - t0) / 1000;
  const out = {
    top1: r.top1,
    top5: r.top5,
    loss: r.loss,
    images: r.images,
    images_per_second: r.images / wall,
    wall_seconds: wall,
    checkpoint: opts.checkpoint,
  };
  if (opts.json) console.log(JSON.stringify(out));
  else
    console.log(
      `top-1 ${(100 * r.top1).toFixed(2)}%  top-5 ${(100 * r.top5).toFixed(2)}%  loss ${r.loss.toFixed(4)}  (${r.images} images, ${wall.toFixed(1)} s)`,
    );
  model.dispose();
  device.destroy();
}
