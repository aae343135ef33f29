/**
 * End-to-end: the built `vit` binary trains a tiny model on a synthetic set, evaluates and predicts
 * from its checkpoint, converts it to timm names and fine-tunes from the converted file at a new
 * resolution. Also: `vit model`, `vit info --json`, and clean errors for bad input.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeImage } from "@vit/data";
import { loadSafetensors, readSafetensorsHeader, saveSafetensors, toFloat32Array } from "@vit/nn";
import { loadConfig } from "@vit/trainer";
import { describe, expect, it } from "vitest";
import { CONFIG, lastJson, vit } from "./helpers.js";

type Weights = Awaited<ReturnType<typeof loadSafetensors>>;

/** Largest |a − b| over `keys`, each relative to the tensor's largest |a| (at least 1e-3); shapes must match. */
function maxRelDiff(a: Weights, b: Weights, keys: string[]): number {
  let worst = 0;
  for (const k of keys) {
    expect(b[k]!.shape, k).toEqual(a[k]!.shape);
    const x = toFloat32Array(a[k]!);
    const y = toFloat32Array(b[k]!);
    const scale = Math.max(1e-3, ...Array.from(x, Math.abs));
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / scale);
  }
  return worst;
}

describe("vit CLI", () => {
  it("train → eval → predict → convert → finetune", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-cli-"));
    writeFileSync(join(dir, "smoke.yaml"), CONFIG);
    const tr = await vit(["train", "--config", "smoke.yaml", "--json"], dir);
    expect(tr.code, tr.stderr).toBe(0);
    const t = lastJson(tr.stdout);
    for (const k of ["top1", "top5", "loss", "images_per_second", "wall_seconds", "checkpoint"])
      expect(t).toHaveProperty(k);
    expect(t.top5).toBeGreaterThanOrEqual(t.top1);
    // The resolved config beside the metrics (NeMo's hparams.yaml): the file's keys, defaults filled in.
    const hp = loadConfig(join(t.run_dir, "hparams.yaml"));
    expect(hp.trainer).toMatchObject({ max_steps: 8, log_every_n_steps: 4, seed: 3, precision: 32 });
    expect(hp.model).toMatchObject({ hidden_size: 32, num_layers: 2, class_token_length: 2, layernorm_epsilon: 1e-5 });
    expect(existsSync(join(t.run_dir, "metrics.jsonl"))).toBe(true);

    const ev = await vit(["eval", "--checkpoint", t.checkpoint, "--json"], dir);
    expect(ev.code, ev.stderr).toBe(0);
    const e = lastJson(ev.stdout);
    // Same weights, same test split: the same accuracy as the trainer's final evaluation.
    expect(e.top1).toBeCloseTo(t.top1, 6);
    expect(e.loss).toBeCloseTo(t.loss, 4);

    const img = join(dir, "x.png");
    const px = new Uint8Array(20 * 12 * 3).map((_, i) => (i * 37) % 256);
    writeFileSync(img, await encodeImage({ data: px, width: 20, height: 12, channels: 3 }, "png"));
    const pr = await vit(["predict", "--checkpoint", t.checkpoint, "--json", img], dir);
    expect(pr.code, pr.stderr).toBe(0);
    const p = lastJson(pr.stdout);
    expect(p[0].topk).toHaveLength(5);
    const total = p[0].topk.reduce((a: number, x: { probability: number }) => a + x.probability, 0);
    expect(total).toBeLessThanOrEqual(1.0001);

    const cv = await vit(["convert", t.checkpoint, join(dir, "timm.safetensors"), "--to", "timm"], dir);
    expect(cv.code, cv.stderr).toBe(0);
    const ft = await vit(
      [
        "finetune",
        "--from",
        join(dir, "timm.safetensors"),
        "--config",
        "smoke.yaml",
        "model.img_h=24",
        "model.img_w=24",
        "model.num_classes=3",
        "exp_manager.name=ft",
        "trainer.max_steps=2",
        "--json",
      ],
      dir,
    );
    expect(ft.code, ft.stderr).toBe(0);
    expect(ft.stderr).toMatch(/resampled position embeddings 4×4 → 6×6 \(bilinear\)/);
    expect(ft.stderr).toMatch(/new linear head for 3 classes/);
  });

  it("launch: 2 data-parallel ranks with the distributed optimizer train, save per-rank shards and resume", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-cli-"));
    writeFileSync(join(dir, "smoke.yaml"), CONFIG);
    const args = [
      "--config",
      "smoke.yaml",
      "trainer.devices=2",
      "trainer.max_steps=4",
      "model.optim.name=distributed_fused_adam",
      "--json",
    ];
    const r = await vit(["launch", "--nproc", "2", "--", "train", ...args], dir);
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r.stdout);
    expect(out.steps).toBe(4);
    expect(existsSync(out.checkpoint.replace(/\.safetensors$/, ".rank-1.safetensors"))).toBe(true);
    const resumed = await vit(
      [
        "launch",
        "--nproc",
        "2",
        "--",
        "train",
        ...args.slice(0, -1),
        "trainer.max_steps=6",
        "--resume",
        out.checkpoint,
        "--json",
      ],
      dir,
    );
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(lastJson(resumed.stdout).steps).toBe(6);
    // A rank count that does not match the config is refused with the fix.
    const bad = await vit(
      ["launch", "--nproc", "2", "--", "train", "--config", "smoke.yaml", "trainer.max_steps=2"],
      dir,
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/trainer.devices × trainer.num_nodes = 1, but 2 rank\(s\) are running/);
  });

  it("launch: tensor parallel (TP=2) reproduces the single-device run, saves merged weights and resumes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-cli-"));
    writeFileSync(join(dir, "smoke.yaml"), CONFIG);
    // Clipping on, so that the tensor-parallel global norm (shards summed over ranks) is exercised too.
    const common = [
      "--config",
      "smoke.yaml",
      "trainer.max_steps=6",
      "trainer.log_every_n_steps=1",
      "trainer.gradient_clip_val=0.5",
    ];
    const tpArgs = ["trainer.devices=2", "model.tensor_model_parallel_size=2"];
    const one = await vit(["train", ...common, "exp_manager.name=one", "--json"], dir);
    expect(one.code, one.stderr).toBe(0);
    const tp = await vit(
      ["launch", "--nproc", "2", "--", "train", ...common, ...tpArgs, "exp_manager.name=tp", "--json"],
      dir,
    );
    expect(tp.code, tp.stderr).toBe(0);
    const a = lastJson(one.stdout);
    const b = lastJson(tp.stdout);

    // Same initial weights (the single-device initialisation, split), same batches, dropout 0: the same run
    // up to float rounding (row-parallel layers sum two partial products instead of one).
    const train = (runDir: string) =>
      readFileSync(join(runDir, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
        .filter((r) => r.kind === "train");
    const [ra, rb] = [train(a.run_dir), train(b.run_dir)];
    expect(rb.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (let i = 0; i < ra.length; i++) {
      expect(Math.abs(rb[i].loss - ra[i].loss) / ra[i].loss, `loss at step ${i + 1}`).toBeLessThan(1e-5);
      expect(
        Math.abs(rb[i].grad_norm - ra[i].grad_norm) / ra[i].grad_norm,
        `grad norm at step ${i + 1}`,
      ).toBeLessThan(1e-4);
    }
    expect(b.top1).toBeCloseTo(a.top1, 6);
    expect(b.loss).toBeCloseTo(a.loss, 4);

    // Rank 0 saved single-device weights (merged shards); rank 1 its own optimizer state beside them.
    const wa = await loadSafetensors(a.checkpoint);
    const wb = await loadSafetensors(b.checkpoint);
    const modelKeys = Object.keys(wa).filter((k) => k.startsWith("model."));
    expect(
      Object.keys(wb)
        .filter((k) => k.startsWith("model."))
        .sort(),
    ).toEqual(modelKeys.sort());
    expect(maxRelDiff(wa, wb, modelKeys)).toBeLessThan(1e-4);
    expect(existsSync(b.checkpoint.replace(/\.safetensors$/, ".rank-1.safetensors"))).toBe(true);
    // The merged file is an ordinary checkpoint: single-device eval reproduces the final evaluation.
    const ev = await vit(["eval", "--checkpoint", b.checkpoint, "--json"], dir);
    expect(ev.code, ev.stderr).toBe(0);
    expect(lastJson(ev.stdout).top1).toBeCloseTo(b.top1, 6);

    // Tensor × data parallel: 4 ranks = 2 tensor-parallel groups of 2, each a data-parallel replica taking
    // half of every global batch of 16 — the same optimisation again.
    const tpdp = await vit(
      [
        "launch",
        "--nproc",
        "4",
        "--",
        "train",
        ...common,
        "trainer.devices=4",
        "model.tensor_model_parallel_size=2",
        "model.micro_batch_size=8",
        "model.global_batch_size=16",
        "exp_manager.name=tpdp",
        "--json",
      ],
      dir,
    );
    expect(tpdp.code, tpdp.stderr).toBe(0);
    const c = lastJson(tpdp.stdout);
    expect(c.loss).toBeCloseTo(a.loss, 4);
    // Logged losses are averaged over the replicas, so they are the global batch's loss again.
    train(c.run_dir).forEach((r, i) => {
      expect(Math.abs(r.loss - ra[i].loss) / ra[i].loss, `TP×DP loss at step ${i + 1}`).toBeLessThan(1e-5);
      expect(
        Math.abs(r.grad_norm - ra[i].grad_norm) / ra[i].grad_norm,
        `TP×DP grad norm at step ${i + 1}`,
      ).toBeLessThan(1e-4);
    });
    const wc = await loadSafetensors(c.checkpoint);
    // Two half-batch gradients averaged round differently from one batch's, and Adam divides by √v, which
    // magnifies that for parameters with tiny gradients: 1.5e-4 measured.
    expect(maxRelDiff(wa, wc, modelKeys)).toBeLessThan(1e-3);

    // Activation checkpointing inside the tensor-parallel layers, with dropout on: the recomputation replays
    // the same masks (device and model-parallel streams), so the run is bit-identical to the plain one.
    const drop = [...common, ...tpArgs, "model.hidden_dropout=0.1", "model.attention_dropout=0.1"];
    const ckArgs = [
      "model.activations_checkpoint_granularity=full",
      "model.activations_checkpoint_method=uniform",
    ];
    const plainDrop = await vit(
      ["launch", "--nproc", "2", "--", "train", ...drop, "exp_manager.name=drop", "--json"],
      dir,
    );
    const ckDrop = await vit(
      ["launch", "--nproc", "2", "--", "train", ...drop, ...ckArgs, "exp_manager.name=dropck", "--json"],
      dir,
    );
    expect(plainDrop.code, plainDrop.stderr).toBe(0);
    expect(ckDrop.code, ckDrop.stderr).toBe(0);
    const [drops, dropsCk] = [
      train(lastJson(plainDrop.stdout).run_dir),
      train(lastJson(ckDrop.stdout).run_dir),
    ];
    expect(dropsCk.map((r) => [r.loss, r.grad_norm])).toEqual(drops.map((r) => [r.loss, r.grad_norm]));
    expect(drops[1].loss).not.toBe(ra[1].loss); // dropout was on (step 1 is ln 5: the head starts at zero)

    // Resume continues both runs alike.
    const more = ["trainer.max_steps=8", "--json"];
    const oneR = await vit(
      ["train", ...common, "exp_manager.name=one", ...more, "--resume", a.checkpoint],
      dir,
    );
    const tpR = await vit(
      [
        "launch",
        "--nproc",
        "2",
        "--",
        "train",
        ...common,
        ...tpArgs,
        "exp_manager.name=tp",
        ...more,
        "--resume",
        b.checkpoint,
      ],
      dir,
    );
    expect(oneR.code, oneR.stderr).toBe(0);
    expect(tpR.code, tpR.stderr).toBe(0);
    expect(lastJson(tpR.stdout).steps).toBe(8);
    expect(lastJson(tpR.stdout).loss).toBeCloseTo(lastJson(oneR.stdout).loss, 4);

    // Layouts that cannot work are refused with the fix.
    const ranks = await vit(
      ["train", "--config", "smoke.yaml", "model.tensor_model_parallel_size=2", "trainer.max_steps=1"],
      dir,
    );
    expect(ranks.code).not.toBe(0);
    expect(ranks.stderr).toMatch(/tensor_model_parallel_size=2 needs a multiple of 2 ranks/);
    const pp = await vit(["train", "--config", "smoke.yaml", "model.pipeline_model_parallel_size=2"], dir);
    expect(pp.code).toBe(1);
    expect(pp.stderr).toMatch(/pipeline_model_parallel_size.*pipeline parallelism is not implemented/);
  });

  it("never reports a number it did not measure: training-data metrics, tied or NaN logits, bad labels and dtypes, a tiny data set", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-cli-"));
    writeFileSync(join(dir, "smoke.yaml"), CONFIG);
    /** root/c0..c{n-1}, `per` 16×16 PNGs each. */
    const folder = async (name: string, classes: number, per: number) => {
      for (let c = 0; c < classes; c++) {
        mkdirSync(join(dir, name, `c${c}`), { recursive: true });
        for (let i = 0; i < per; i++) {
          const px = new Uint8Array(16 * 16 * 3).map((_, j) => (j * (c + 3) + i * 29) % 256);
          const png = await encodeImage({ data: px, width: 16, height: 16, channels: 3 }, "png");
          writeFileSync(join(dir, name, `c${c}`, `${i}.png`), png);
        }
      }
      return join(dir, name);
    };
    const two = await folder("two", 2, 4);
    const seven = await folder("seven", 7, 1);
    const oneLine = (r: { code: number; stderr: string }, re: RegExp) => {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    };

    // No validation path: the "test" metrics are the training data's, and the run says so.
    const tr = await vit(
      [
        "train",
        "--config",
        "smoke.yaml",
        "model.data.dataset=image_folder",
        `model.data.data_path=${two}`,
        "model.micro_batch_size=4",
        "trainer.max_steps=1",
        "--json",
      ],
      dir,
    );
    expect(tr.code, tr.stderr).toBe(0);
    expect(tr.stderr).toMatch(/warning: model.data.val_path is not set.*TRAINING data/);
    const t = lastJson(tr.stdout);
    expect(t.eval_on).toBe("train");
    expect(JSON.parse(readFileSync(join(t.run_dir, "result.json"), "utf8")).evalOn).toBe("train");

    // Rewrites the checkpoint's model tensors (same metadata) into a new file.
    const meta = (await readSafetensorsHeader(t.checkpoint)).metadata;
    const variant = async (name: string, edit: (sd: Weights) => void) => {
      const sd = await loadSafetensors(t.checkpoint);
      edit(sd);
      const path = join(dir, `${name}.safetensors`);
      await saveSafetensors(path, sd, meta);
      return path;
    };

    // Constant logits (a zero head): every class ties with the label, which is then not in the top 1.
    const zero = await variant("zero-head", (sd) => {
      for (const k of ["model.head.weight", "model.head.bias"]) (sd[k]!.data as Float32Array).fill(0);
    });
    const ez = await vit(["eval", "--checkpoint", zero, "--json"], dir);
    expect(ez.code, ez.stderr).toBe(0);
    expect(lastJson(ez.stdout).top1).toBe(0);

    // NaN weights: no score at all, but one line saying why.
    const nan = await variant("nan", (sd) => {
      for (const [k, v] of Object.entries(sd))
        if (k.startsWith("model.")) (v.data as Float32Array).fill(Number.NaN);
    });
    oneLine(
      await vit(["eval", "--checkpoint", nan, "--json"], dir),
      /vit: evaluation: the model's logits are NaN or infinite for 8 of 8 images, so no score is reported/,
    );

    // F32 bytes labelled I32 are not loaded as integers converted to floats.
    const relabelled = await variant("relabelled", (sd) => {
      const w = sd["model.head.weight"]!;
      sd["model.head.weight"] = {
        dtype: "I32",
        shape: w.shape,
        data: new Int32Array((w.data as Float32Array).buffer),
      };
    });
    oneLine(
      await vit(["eval", "--checkpoint", relabelled], dir),
      /vit: .*head\.weight is stored as I32, but the model's f32 tensor needs F32\/F16\/BF16\/F64/,
    );

    // A folder with more classes than the model has outputs.
    oneLine(
      await vit(["eval", "--checkpoint", t.checkpoint, "--data", seven], dir),
      /has 7 class folders \(c0, c1, c2, c3, c4, c5, c6\) but the model has model.num_classes=5: labels 5..6 have no output/,
    );

    // Fewer samples than one micro-batch: refused at once (it used to loop forever).
    oneLine(
      await vit(
        ["train", "--config", "smoke.yaml", "model.data.synthetic_size=5", "exp_manager.name=tiny"],
        dir,
        90_000,
      ),
      /the training set has 5 samples, fewer than model.micro_batch_size=16.*Lower model.micro_batch_size to at most 5/,
    );
  });

  it("model --preset prints counts without a GPU; bad input gives one clear line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-cli-"));
    const m = await vit(["model", "--preset", "B/16", "--json"], dir);
    expect(lastJson(m.stdout).parameters.backbone).toBe(85_809_408);
    const bad = await vit(["train", "--config", "nope.yaml"], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^vit: cannot read config nope\.yaml/);
    expect(bad.stderr).not.toMatch(/at .*\.js:\d+/);
    const badKey = await vit(["model", "--preset", "B/16", "hidden_sise=3"], dir);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/hidden_sise/);
    // NeMo's precision 16 parses, and is refused when training starts, with the reason and the fix.
    writeFileSync(join(dir, "smoke.yaml"), CONFIG);
    // stderr lines of ours (Dawn prints adapter-limit warnings of its own on some drivers).
    const ours = (s: string) =>
      s
        .trim()
        .split("\n")
        .filter((l) => !l.startsWith("Warning: "));
    for (const o of ["trainer.precision=64", "model.optim.lr=.inf", "__proto__.polluted=1"]) {
      const r = await vit(["train", "--config", "smoke.yaml", o], dir);
      expect(r.code, o).toBe(1);
      expect(ours(r.stderr), o).toHaveLength(1);
    }
    // Keys with no effect here are listed once at start.
    const notes = await vit(
      [
        "train",
        "--config",
        "smoke.yaml",
        "trainer.max_steps=1",
        "model.masked_softmax_fusion=true",
        "model.apply_query_key_layer_scaling=true",
        "--json",
      ],
      dir,
    );
    expect(notes.code).toBe(0);
    expect(
      notes.stderr.match(/no effect here: model\.masked_softmax_fusion \(CUDA kernel switches/g),
    ).toHaveLength(1);
    expect(notes.stderr).toMatch(/no effect here: model\.apply_query_key_layer_scaling \(same maths here/);
  });

  it("info --json reports the adapter", async () => {
    const r = await vit(["info", "--json"], tmpdir());
    const j = lastJson(r.stdout);
    expect(j.adapter.backend).toBeTruthy();
    expect(j.features).toHaveProperty("shader-f16");
  });
});
