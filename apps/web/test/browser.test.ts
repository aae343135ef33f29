/**
 * The page in real Chromium (Debian's /usr/bin/chromium driven by playwright-core; WebGPU on whatever
 * adapter it finds, SwiftShader here): it trains the tiny ViT for 30 steps and its loss falls; a checkpoint
 * it saves scores the same in `vit eval`; a `vit train` checkpoint loaded into it gives the Node model's
 * logits (1e-4) and `vit predict`'s probabilities (1e-4) on the same PNG. Saves a screenshot and the
 * figures to $VIT_TEST_REPORT_DIR (CI artifacts).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeImage, fashionMnist } from "@vit/data";
import { VisionTransformer } from "@vit/model";
import { Device, noGrad, tensor } from "@vit/tensor";
import { type TrainConfig, attentionFnOf, loadCheckpoint, vitConfigOf } from "@vit/trainer";
import { type Browser, type Page, chromium } from "playwright-core";
import { type PreviewServer, build, preview } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const APP = fileURLToPath(new URL("..", import.meta.url));
const CLI = fileURLToPath(new URL("../../cli/dist/main.js", import.meta.url));
const CHROMIUM = process.env.VIT_CHROMIUM ?? "/usr/bin/chromium";
const STEPS = 30;
const EVAL_IMAGES = 256;
const BATCH = 32;

type PageState = {
  state: string;
  adapter: Record<string, unknown> | null;
  history: Array<{
    step: number;
    loss: number;
    batchAccuracy: number;
    imagesPerSecond: number;
    stepsPerSecond: number;
  }>;
  lastEval: { top1: number; loss: number; images: number } | null;
  lastLogits: number[] | null;
  lastTop5: Array<{ index: number; probability: number }> | null;
  predictions: number;
  evaluations: number;
  checkpoint: string | null;
  error: string | null;
};

let work: string;
let server: PreviewServer;
let browser: Browser;
let page: Page;
const figures: Record<string, unknown> = {};

const vitPage = () => page.evaluate(() => (window as unknown as { vitPage: PageState }).vitPage);
async function waitFor(what: string, pred: (s: PageState) => boolean, timeoutMs: number): Promise<PageState> {
  const t0 = Date.now();
  for (;;) {
    const s = await vitPage();
    if (s.error) throw new Error(`the page reported an error while waiting for ${what}: ${s.error}`);
    if (pred(s)) return s;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what} (state ${s.state})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
const vit = (...args: string[]) =>
  execFileSync(process.execPath, [CLI, ...args], { cwd: work, encoding: "utf8" });

describe("apps/web in Chromium", () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: apt-get install -y chromium (tooling/scripts/bootstrap.sh does it as root), or set VIT_CHROMIUM`,
      );
    }
    work = mkdtempSync(join(tmpdir(), "vit-web-test-"));
    // A small data asset keeps the build quick; the page trains and tests on its first images.
    process.env.VIT_WEB_TRAIN_IMAGES = "4096";
    process.env.VIT_WEB_TEST_IMAGES = String(EVAL_IMAGES);
    const outDir = join(work, "dist");
    await build({ root: APP, logLevel: "warn", build: { outDir, emptyOutDir: true } });
    // navigator.gpu exists only in secure contexts: serve over http://127.0.0.1, not file:// or about:blank.
    server = await preview({
      root: APP,
      logLevel: "warn",
      build: { outDir },
      preview: { host: "127.0.0.1", port: 0, strictPort: false },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--enable-unsafe-webgpu",
        "--enable-features=Vulkan",
        "--headless",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
    page.on("console", (m) => {
      if (m.type() === "error") console.error(`[page] ${m.text()}`);
    });
    page.on("pageerror", (e) => console.error(`[page] ${e.message}`));
    await page.goto(server.resolvedUrls!.local[0]!);
    const s = await waitFor("the page to load", (p) => p.state === "ready", 120_000);
    figures.adapter = s.adapter;
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("loads a `vit train` checkpoint and gives the Node model's logits and `vit predict`'s probabilities", async () => {
    const out = JSON.parse(
      vit(
        "train",
        "trainer.max_steps=10",
        "model.optim.sched.warmup_steps=0",
        "model.data.dataset=synthetic",
        "model.data.synthetic_size=128",
        "model.data.train.mean=[0.286]",
        "model.data.train.std=[0.353]",
        `exp_manager.exp_dir=${join(work, "runs")}`,
        "--json",
      )
        .trim()
        .split("\n")
        .pop()!,
    ) as { checkpoint: string };
    // A Fashion-MNIST test image as a grayscale PNG.
    const test = await fashionMnist({ split: "test" });
    const k = 7;
    const img = {
      data: test.pixels.slice(k * 784, (k + 1) * 784),
      width: 28,
      height: 28,
      channels: 1 as const,
    };
    const png = join(work, "test-image.png");
    writeFileSync(png, await encodeImage(img, "png"));

    // The Node model (Dawn) on the same pixels, normalised with the checkpoint's statistics.
    const ck = await loadCheckpoint(out.checkpoint);
    const cfg = ck.meta.config as TrainConfig;
    const device = await Device.create();
    const model = new VisionTransformer(device, vitConfigOf(cfg.model), {
      attentionFn: attentionFnOf(cfg.model),
    });
    model.loadStateDict(ck.model);
    model.eval();
    const [mean, std] = [cfg.model.data.train.mean![0]!, cfg.model.data.train.std![0]!];
    const x = Float32Array.from(img.data, (v) => (v / 255 - mean) / std);
    const nodeLogits = Array.from(
      (await noGrad(() => model.forward(tensor(device, x, [1, 1, 28, 28]))).data()) as Float32Array,
    );
    model.dispose();
    device.destroy();
    const predicted = JSON.parse(vit("predict", "--json", "--checkpoint", out.checkpoint, png)) as Array<{
      topk: Array<{ index: number; probability: number }>;
    }>;

    await page.setInputFiles("#checkpoint-file", out.checkpoint);
    await waitFor("the checkpoint to load", (p) => p.checkpoint !== null && p.state === "ready", 60_000);
    const before = (await vitPage()).predictions;
    await page.setInputFiles("#image-file", png);
    const s = await waitFor("the prediction", (p) => p.predictions > before, 60_000);
    const pageLogits = s.lastLogits!;
    expect(pageLogits).toHaveLength(10);
    const logitDiff = Math.max(...pageLogits.map((v, i) => Math.abs(v - nodeLogits[i]!)));
    expect(logitDiff).toBeLessThanOrEqual(1e-4);
    // Not a trivial match: the logits differ between classes by far more than the tolerance.
    expect(Math.max(...nodeLogits) - Math.min(...nodeLogits)).toBeGreaterThan(1e-2);
    for (const t of predicted[0]!.topk) {
      const mine = s.lastTop5!.find((p) => p.index === t.index);
      expect(mine, `class ${t.index} in the page's top-5`).toBeDefined();
      expect(Math.abs(mine!.probability - t.probability)).toBeLessThanOrEqual(1e-4);
    }
    figures.checkpointLogitMaxAbsDiff = logitDiff;
  }, 300_000);

  it(`trains ${STEPS} steps (the loss falls) and saves a checkpoint that \`vit eval\` scores the same`, async () => {
    await page.click("#reset");
    await page.fill("#steps", String(STEPS));
    await page.fill("#batch", String(BATCH));
    await page.fill("#log-every", "5");
    await page.fill("#warmup", "3");
    await page.fill("#eval-images", String(EVAL_IMAGES));
    const { evaluations } = await vitPage();
    const t0 = Date.now();
    await page.click("#train");
    const s = await waitFor(
      "training and evaluation",
      (p) => p.state === "ready" && p.evaluations > evaluations,
      480_000,
    );
    const wall = (Date.now() - t0) / 1000;
    const h = s.history;
    expect(h[h.length - 1]!.step).toBe(STEPS);
    expect(h[h.length - 1]!.loss).toBeLessThan(h[0]!.loss);
    expect(s.lastEval!.images).toBe(EVAL_IMAGES);
    Object.assign(figures, {
      steps: STEPS,
      lossFirst: h[0]!.loss,
      lossLast: h[h.length - 1]!.loss,
      stepsPerSecond: h.slice(1).reduce((a, r) => a + r.stepsPerSecond, 0) / Math.max(1, h.length - 1),
      imagesPerSecond: h.slice(1).reduce((a, r) => a + r.imagesPerSecond, 0) / Math.max(1, h.length - 1),
      testTop1: s.lastEval!.top1,
      testLoss: s.lastEval!.loss,
      testImages: s.lastEval!.images,
      trainAndEvalWallSeconds: wall,
    });

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#save")]);
    const saved = join(work, "page.safetensors");
    await download.saveAs(saved);
    // vit eval's first batch (256) is the same 256 test images the page evaluated.
    const ev = JSON.parse(
      vit("eval", "--checkpoint", saved, "--max-batches", "1", "--json").trim().split("\n").pop()!,
    ) as { top1: number; loss: number; images: number };
    expect(ev.images).toBe(EVAL_IMAGES);
    expect(Math.abs(ev.top1 - s.lastEval!.top1)).toBeLessThanOrEqual(1 / EVAL_IMAGES);
    expect(Math.abs(ev.loss - s.lastEval!.loss)).toBeLessThan(1e-3);
    figures.cliEvalTop1 = ev.top1;
  }, 600_000);

  it("stops training when Stop is pressed", async () => {
    const { history: before, evaluations } = await vitPage();
    const start = before[before.length - 1]!.step;
    await page.fill("#steps", "1000");
    await page.fill("#log-every", "2");
    await page.click("#train");
    await waitFor("the first record", (p) => p.history.length > before.length, 120_000);
    await page.click("#stop");
    const s = await waitFor(
      "training to stop",
      (p) => p.state === "ready" && p.evaluations > evaluations,
      120_000,
    );
    const end = s.history[s.history.length - 1]!.step;
    expect(end).toBeGreaterThan(start);
    expect(end).toBeLessThan(start + 20);
    expect(Number(await page.textContent("#fig-step"))).toBeLessThan(start + 20);
  }, 300_000);

  it("predicts a drawing and leaves a screenshot", async () => {
    const box = (await page.locator("#pad").boundingBox())!;
    const before = (await vitPage()).predictions;
    await page.mouse.move(box.x + 90, box.y + 60);
    await page.mouse.down();
    for (const [x, y] of [
      [190, 60],
      [200, 230],
      [80, 230],
      [90, 60],
    ] as const)
      await page.mouse.move(box.x + x, box.y + y, { steps: 8 });
    await page.mouse.up();
    const s = await waitFor("the drawing's prediction", (p) => p.predictions > before, 60_000);
    expect(s.lastTop5).toHaveLength(5);
    const dir =
      process.env.VIT_TEST_REPORT_DIR ??
      fileURLToPath(new URL("../../../.cache/test-reports", import.meta.url));
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, "web-screenshot.png"), fullPage: true });
    writeFileSync(join(dir, "web-figures.json"), `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`[web] ${JSON.stringify(figures)}`);
  }, 120_000);
});
