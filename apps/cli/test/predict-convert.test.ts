/**
 * `vit predict` (evaluation preprocessing, folders, batches, top-k, CSV/JSON/table) and the Hugging Face
 * round trip of `vit convert` (config.json written and read back, a `--to vit` file accepted by predict,
 * eval and finetune), on one tiny trained checkpoint.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeImage } from "@vit/data";
import { loadSafetensors, toFloat32Array } from "@vit/nn";
import { beforeAll, describe, expect, it } from "vitest";
import { vit } from "./helpers.js";

// One class token and a linear head, so that Hugging Face's ViT can hold it.
const CONFIG = `
name: pc
trainer: { max_steps: 4, log_every_n_steps: 2, seed: 5 }
model:
  img_h: 16
  img_w: 16
  num_channels: 3
  patch_dim: 4
  hidden_size: 32
  ffn_hidden_size: 64
  num_attention_heads: 2
  num_layers: 2
  num_classes: 5
  class_token_length: 1
  head_type: linear
  hidden_dropout: 0.0
  micro_batch_size: 16
  optim: { name: adamw, lr: 0.01 }
  data: { dataset: synthetic, synthetic_size: 64 }
exp_manager: { exp_dir: runs, name: pc }
`;

type Top = { rank: number; index: number; class: string; probability: number };
type Pred = { image: string; topk: Top[] };

/** Seeded pixels, `w`×`h` RGB. */
function pixels(w: number, h: number, seed: number): Uint8Array {
  let s = seed;
  return new Uint8Array(w * h * 3).map(() => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s >>> 24;
  });
}

async function png(path: string, data: Uint8Array, w: number, h: number): Promise<void> {
  writeFileSync(path, await encodeImage({ data, width: w, height: h, channels: 3 }, "png"));
}

let dir = "";
let checkpoint = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "vit-predict-"));
  writeFileSync(join(dir, "pc.yaml"), CONFIG);
  const tr = await vit(["train", "-c", "pc.yaml", "--json"], dir);
  expect(tr.code, tr.stderr).toBe(0);
  checkpoint = JSON.parse(tr.stdout.trim().split("\n").pop()!).checkpoint;
  // center.png is the middle 16 columns of wide.png (48×16): what the evaluation's resize (shorter side
  // already 16) and centre crop make of it. A stretch to 16×16 would mix in the other columns.
  const center = pixels(16, 16, 1);
  const wide = pixels(48, 16, 2);
  for (let y = 0; y < 16; y++) wide.set(center.subarray(y * 48, y * 48 + 48), (y * 48 + 16) * 3);
  mkdirSync(join(dir, "imgs", "sub"), { recursive: true });
  await png(join(dir, "imgs", "center.png"), center, 16, 16);
  await png(join(dir, "imgs", "wide.png"), wide, 48, 16);
  await png(join(dir, "imgs", "sub", "odd.png"), pixels(20, 12, 3), 20, 12);
}, 120_000);

describe("vit predict", () => {
  it("resizes and centre-crops like evaluation: a wide image predicts as its centre", async () => {
    const r = await vit(
      ["predict", "--checkpoint", checkpoint, "--json", "imgs/center.png", "imgs/wide.png"],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    const [c, w] = JSON.parse(r.stdout) as Pred[];
    expect(c!.topk).toHaveLength(5);
    expect(w!.topk.map((t) => t.index)).toEqual(c!.topk.map((t) => t.index));
    w!.topk.forEach((t, i) => expect(t.probability).toBeCloseTo(c!.topk[i]!.probability, 6));
    // Sanity: the crop is not the whole picture (the sides differ), so a stretch would not have matched.
    const total = c!.topk.reduce((a, t) => a + t.probability, 0);
    expect(total).toBeGreaterThan(0.999);
    expect(total).toBeLessThan(1.001);
  });

  it("a folder in batches, top-k as CSV, the same numbers as one batch; and the default table", async () => {
    const csv = await vit(
      ["predict", "--checkpoint", checkpoint, "imgs", "--topk", "3", "--batch-size", "2", "--format", "csv"],
      dir,
    );
    expect(csv.code, csv.stderr).toBe(0);
    const [header, ...rows] = csv.stdout.trim().split("\n");
    expect(header).toBe("image,rank,class_index,class,probability");
    const cells = rows.map((r) => r.split(","));
    // Three images found (sub-folder included, sorted), three ranks each.
    expect(cells.map((c) => `${c[0]}#${c[1]}`)).toEqual(
      ["imgs/center.png", "imgs/sub/odd.png", "imgs/wide.png"].flatMap((f) =>
        [1, 2, 3].map((k) => `${f}#${k}`),
      ),
    );
    const json = await vit(
      ["predict", "--checkpoint", checkpoint, "imgs", "--batch-size", "32", "--json"],
      dir,
    );
    const all = JSON.parse(json.stdout) as Pred[];
    cells.forEach(([image, rank, index, cls, p]) => {
      const want = all.find((x) => x.image === image)!.topk[Number(rank) - 1]!;
      expect([Number(index), cls]).toEqual([want.index, want.class]);
      expect(Number(p)).toBeCloseTo(want.probability, 5);
    });
    const table = await vit(["predict", "--checkpoint", checkpoint, "imgs/sub/odd.png", "--topk", "2"], dir);
    expect(table.stdout.trim().split("\n")).toEqual([
      "imgs/sub/odd.png",
      expect.stringMatching(/^ {3}1 +\d+\.\d\d% {2}\S+$/),
      expect.stringMatching(/^ {3}2 +\d+\.\d\d% {2}\S+$/),
    ]);
    const bad = await vit(["predict", "--checkpoint", checkpoint, "imgs", "--format", "xml"], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(
      /^vit: predict: --format must be table, csv or json \(got "xml"\)\.$/,
    );
  });
});

describe("vit convert: Hugging Face round trip", () => {
  it("--to hf writes config.json; HF → vit reads it (no --preset); predict, eval and finetune take the result", async () => {
    mkdirSync(join(dir, "hf"));
    const toHf = await vit(["convert", checkpoint, "hf/model.safetensors", "--to", "hf"], dir);
    expect(toHf.code, toHf.stderr).toBe(0);
    const hf = JSON.parse(readFileSync(join(dir, "hf", "config.json"), "utf8"));
    expect(hf).toMatchObject({
      architectures: ["ViTForImageClassification"],
      model_type: "vit",
      hidden_size: 32,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      intermediate_size: 64,
      hidden_act: "gelu",
      layer_norm_eps: 1e-5,
      image_size: 16,
      patch_size: 4,
      num_channels: 3,
      qkv_bias: true,
      num_labels: 5,
    });
    expect(Object.keys(hf.id2label)).toEqual(["0", "1", "2", "3", "4"]);

    const back = await vit(["convert", "hf/model.safetensors", "back.safetensors", "--to", "vit"], dir);
    expect(back.code, back.stderr).toBe(0);
    // The same weights as the checkpoint, bit for bit, in the checkpoint's names.
    const a = await loadSafetensors(checkpoint);
    const b = await loadSafetensors(join(dir, "back.safetensors"));
    const keys = Object.keys(a).filter((k) => k.startsWith("model."));
    expect(Object.keys(b).sort()).toEqual(keys.sort());
    for (const k of keys) expect(toFloat32Array(b[k]!), k).toEqual(toFloat32Array(a[k]!));

    const pr = await vit(["predict", "--checkpoint", "back.safetensors", "--json", "imgs/center.png"], dir);
    expect(pr.code, pr.stderr).toBe(0);
    const p = JSON.parse(pr.stdout) as Pred[];
    // Class names came through config.json's id2label.
    expect(p[0]!.topk.map((t) => t.class).sort()).toEqual(Object.values(hf.id2label).sort());

    const noData = await vit(["eval", "--checkpoint", "back.safetensors"], dir);
    expect(noData.code).toBe(1);
    expect(noData.stderr).toMatch(/names no data set to evaluate on; pass --data <ImageFolder root>/);
    const ev = await vit(["eval", "--checkpoint", "back.safetensors", "--data", "imgs", "--json"], dir);
    expect(ev.code, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout.trim().split("\n").pop()!).images).toBe(1); // imgs/sub/odd.png, class "sub"

    // finetune --from the HF folder reads config.json: its LN eps (1e-5) differs from the model asked for.
    const ft = await vit(
      [
        "finetune",
        "--from",
        "hf/model.safetensors",
        "-c",
        "pc.yaml",
        "model.layernorm_epsilon=1e-6",
        "--dry-run",
      ],
      dir,
    );
    expect(ft.code, ft.stderr).toBe(0);
    expect(ft.stderr).toMatch(/loaded hf weights from hf\/model.safetensors/);
    expect(ft.stderr).toMatch(/trained with layernorm_epsilon 0.00001, this model uses 0.000001/);
  });
});
