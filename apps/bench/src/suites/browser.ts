/**
 * `browser` suite: our training step in a real browser against the same step in Node, and against
 * tfjs-backend-webgpu in the same page. Debian's Chromium (/usr/bin/chromium, driven by playwright-core, no
 * browser download) loads dist/browser-page.js (the step suite's measureSteps, bundled with the packages'
 * `browser` exports) from http://127.0.0.1 (navigator.gpu needs a secure context). Without a GPU, Chromium's
 * adapter is SwiftShader; Node then runs the step twice: on SwiftShader too — Dawn pointed at Chromium's own
 * SwiftShader Vulkan driver (VK_DRIVER_FILES, in a child process) — so that the ratio compares browser and
 * Node on the same adapter, and on its default adapter (lavapipe here).
 *
 * Options: --set batch=64 steps=3 repeats=3 chromium=/usr/bin/chromium
 *          swiftshader_icd=/usr/lib/chromium/vk_swiftshader_icd.json
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Device, VitError } from "@vit/tensor";
import type { PageResult, PageSpec } from "../browser/page.js";
import { type StepFigures, type StepSpec, measureSteps } from "../step-runner.js";
import { type BenchCase, type BenchContext, stats } from "../types.js";

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--headless",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

function adapterName(a: Record<string, unknown>): string {
  return String(a.description || a.architecture || a.vendor || "unknown adapter");
}

async function inBrowser(ctx: BenchContext, chromiumPath: string, spec: PageSpec): Promise<PageResult> {
  const { chromium } = await import("playwright-core");
  const bundle = readFileSync(fileURLToPath(new URL("./browser-page.js", import.meta.url)));
  const html =
    '<!doctype html><meta charset="utf-8"><title>vit-bench browser</title><script type="module" src="/page.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === "/page.js") {
      res.setHeader("Content-Type", "text/javascript");
      res.end(bundle);
    } else {
      res.setHeader("Content-Type", "text/html");
      res.end(html);
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => ctx.log(`browser page: ${e.message}`));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => "runBench" in globalThis, null, { timeout: 60_000 });
    return await page.evaluate(
      (s) => (globalThis as unknown as { runBench: (s: PageSpec) => Promise<PageResult> }).runBench(s),
      spec,
    );
  } finally {
    await browser.close();
    server.close();
  }
}

/** This suite's Node half in a child process whose Dawn sees only the given Vulkan driver. */
function nodeOnDriver(
  ctx: BenchContext,
  icd: string,
  spec: StepSpec,
): { adapter: string; figures: StepFigures } {
  const out = join(ctx.workDir, "browser-node-child.json");
  const sets = Object.entries({
    ...ctx.options,
    node_only: "1",
    batch: spec.batch,
    steps: spec.steps,
    repeats: spec.repeats,
    warmup: spec.warmup,
  }).map(([k, v]) => `${k}=${v}`);
  execFileSync(process.execPath, [process.argv[1]!, "browser", "--out", out, "--set", ...sets], {
    env: { ...process.env, VK_DRIVER_FILES: icd },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const child = JSON.parse(readFileSync(out, "utf8")) as {
    meta: { nodeStep: { adapter: string; figures: StepFigures } };
  };
  return child.meta.nodeStep;
}

export async function browserSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const o = ctx.options ?? {};
  const spec: StepSpec = {
    preset: "tiny",
    batch: Number(o.batch ?? 64),
    steps: Number(o.steps ?? (ctx.quick ? 2 : 3)),
    repeats: Number(o.repeats ?? (ctx.quick ? 1 : 3)),
    warmup: Number(o.warmup ?? (ctx.quick ? 1 : 2)),
  };
  const nodeStep = async () => {
    const device = await Device.create({ seed: 1 });
    const adapter = `${device.adapter.description || device.adapter.device} (${device.adapter.backend})`;
    const figures = await measureSteps(device, spec);
    device.destroy();
    return { adapter, figures };
  };
  if (o.node_only) {
    // The child of nodeOnDriver: report through meta, no cases.
    ctx.meta ??= {};
    ctx.meta.nodeStep = await nodeStep();
    return [];
  }
  const chromiumPath = o.chromium ?? process.env.VIT_CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(chromiumPath)) {
    throw new VitError(
      `browser suite: ${chromiumPath} is missing; apt-get install chromium (as root) or --set chromium=PATH`,
    );
  }
  const label = `tiny ViT b${spec.batch} f32 fwd+bwd+AdamW`;
  ctx.log(`browser: ${label} in Chromium (ours, then tfjs-backend-webgpu in the same page)`);
  const page = await inBrowser(ctx, chromiumPath, {
    ...spec,
    tfSteps: Number(o.tf_steps ?? 2),
    tfRepeats: Number(o.tf_repeats ?? (ctx.quick ? 1 : 2)),
  });
  if (page.tfjsError) ctx.log(`browser: tfjs peer failed: ${page.tfjsError}`);
  const browserAdapter = adapterName(page.adapter);
  ctx.log("browser: Node, default adapter");
  const nodeDefault = await nodeStep();
  const icd = o.swiftshader_icd ?? "/usr/lib/chromium/vk_swiftshader_icd.json";
  let nodeSame: { adapter: string; figures: StepFigures } | null = null;
  if (page.adapter.architecture === "swiftshader" && existsSync(icd)) {
    ctx.log(`browser: Node on Chromium's SwiftShader (${icd})`);
    nodeSame = nodeOnDriver(ctx, icd, spec);
  }
  const ours = stats(page.ours.imagesPerSecond);
  const base = {
    suite: "browser",
    unit: "images/s",
    ...ours,
    repeats: spec.repeats,
    extra: {
      browser_adapter: browserAdapter,
      browser_features: String((page.adapter.features as string[]).join(" ")),
      dispatches_per_step: page.ours.dispatchesPerStep,
      js_record_ms_per_step: Number(page.ours.recordMsPerStep.toFixed(2)),
      peak_MiB: Number((page.ours.peakBytes / 2 ** 20).toFixed(1)),
    },
  };
  const cases: BenchCase[] = [];
  const node = nodeSame ?? nodeDefault;
  const nodeMedian = stats(node.figures.imagesPerSecond).median;
  const defMedian = stats(nodeDefault.figures.imagesPerSecond).median;
  cases.push({
    ...base,
    name: `${label}, Chromium vs Node`,
    peer: { name: `Node (Dawn) on ${node.adapter}`, median: nodeMedian },
    ratio: ours.median / nodeMedian,
    ...(nodeSame
      ? {
          morePeers: [
            {
              name: `Node (Dawn) on ${nodeDefault.adapter}`,
              median: defMedian,
              ratio: ours.median / defMedian,
            },
          ],
        }
      : {}),
  });
  if (page.tfjs) {
    const t = stats(page.tfjs);
    cases.push({
      ...base,
      name: `${label}, Chromium: ours vs tfjs`,
      peer: { name: "tfjs-backend-webgpu in the same page", median: t.median },
      ratio: ours.median / t.median,
    });
  }
  ctx.meta ??= {};
  ctx.meta.browser = {
    adapter: page.adapter,
    nodeSameAdapter: nodeSame?.adapter ?? null,
    nodeDefaultAdapter: nodeDefault.adapter,
  };
  return cases;
}
