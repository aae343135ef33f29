import type { Image } from "@vit/data";
/** The page: wires the data worker, the training session, the chart, prediction and checkpoints. */
import { Device } from "@vit/tensor";
import { BUILD } from "./build-info.js";
import { TrainingChart } from "./chart.js";
import { renderConfusion } from "./confusion.js";
import { DataClient } from "./data-protocol.js";
import { ASSET_NAME } from "./fmnist-format.js";
import { DrawingPad } from "./pad.js";
import { imageFromBlob, imageFromSource, softmax, toInput, top5 } from "./predict.js";
import { type EvalResult, type LogRecord, Session, type TrainSettings } from "./session.js";
import "./style.css";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const num = (id: string) => Number($<HTMLInputElement>(id).value);

/** Read-only figures for automation (the browser test) and the curious: window.vitPage. */
const page = {
  state: "loading" as "loading" | "ready" | "training" | "evaluating" | "error",
  adapter: null as Record<string, unknown> | null,
  history: [] as LogRecord[],
  lastEval: null as Omit<EvalResult, "confusion"> | null,
  lastLogits: null as number[] | null,
  lastTop5: null as Array<{ index: number; name: string; probability: number }> | null,
  predictions: 0,
  evaluations: 0,
  checkpoint: null as string | null,
  error: null as string | null,
};
(window as unknown as { vitPage: typeof page }).vitPage = page;

function setState(s: typeof page.state): void {
  page.state = s;
  document.body.dataset.state = s;
  $("fig-state").textContent = s;
  const busy = s === "training" || s === "evaluating" || s === "loading";
  for (const id of ["train", "reset", "evaluate", "save", "predict-drawing"])
    $<HTMLButtonElement>(id).disabled = busy || s === "error";
  $<HTMLInputElement>("checkpoint-file").disabled = busy;
  $<HTMLButtonElement>("stop").disabled = s !== "training";
}

function fail(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  page.error = msg;
  const el = $("error");
  el.textContent = msg;
  el.hidden = false;
  console.error(e);
}

let device: Device;
let data: DataClient;
let session: Session;
let stopRequested = false;
const chart = new TrainingChart($("chart"));
const pad = new DrawingPad($<HTMLCanvasElement>("pad"));

function settings(): TrainSettings {
  return {
    steps: num("steps"),
    batch: num("batch"),
    lr: num("lr"),
    warmup: num("warmup"),
    logEvery: num("log-every"),
  };
}

async function train(): Promise<void> {
  const s = settings();
  stopRequested = false;
  setState("training");
  const progress = $<HTMLProgressElement>("progress");
  progress.max = s.steps;
  progress.value = 0;
  const first = session.step;
  try {
    await session.train(s, () => data.trainBatch(s.batch), {
      stop: () => stopRequested,
      onStep: (step) => {
        progress.value = step - first;
        $("fig-step").textContent = String(step);
      },
      onLog: (r) => {
        page.history.push(r);
        chart.add(r.step, r.loss, r.batchAccuracy);
        $("fig-loss").textContent = r.loss.toFixed(4);
        $("fig-acc").textContent = `${(100 * r.batchAccuracy).toFixed(1)}%`;
        $("fig-ips").textContent = r.imagesPerSecond.toFixed(1);
        $("fig-sps").textContent = r.stepsPerSecond.toFixed(2);
      },
    });
  } finally {
    setState("ready");
  }
  await evaluate();
}

async function evaluate(): Promise<void> {
  const n = Math.min(num("eval-images"), data.testCount);
  setState("evaluating");
  try {
    const r = await session.evaluate(
      (start, count) => data.testBatch(start, count),
      n,
      256,
      (done) => {
        $("eval-summary").textContent = `Evaluating… ${done} / ${n} test images`;
      },
    );
    page.lastEval = { top1: r.top1, loss: r.loss, images: r.images };
    page.evaluations++;
    $("eval-summary").textContent =
      `Test accuracy ${(100 * r.top1).toFixed(2)}% (loss ${r.loss.toFixed(4)}) on ${r.images} Fashion-MNIST test images after ${session.step} steps.`;
    renderConfusion($<HTMLTableElement>("confusion"), r.confusion, session.classes);
  } finally {
    setState("ready");
  }
}

async function predict(img: Image): Promise<void> {
  const c = session.model.config;
  const { mean, std } = session.normalization();
  const x = toInput(img, c, mean, std);
  const logits = await session.logits(x, 1);
  const probs = softmax(logits);
  const best = top5(probs, session.classes);
  page.lastLogits = [...logits];
  page.lastTop5 = best;
  page.predictions++;
  $("logits").textContent = JSON.stringify([...logits].map((v) => Number(v.toPrecision(7))));
  $("top5").innerHTML = best
    .map(
      (b) =>
        `<li><b>${b.name}</b> ${(100 * b.probability).toFixed(2)}%<span class="bar" style="width:${Math.round(160 * b.probability)}px"></span></li>`,
    )
    .join("");
  drawSeen(x, c.img_w, c.img_h, c.num_channels, mean, std);
}

/** What the model sees: its normalised input mapped back to pixels, enlarged. */
function drawSeen(x: Float32Array, w: number, h: number, ch: number, mean: number[], std: number[]): void {
  const small = new OffscreenCanvas(w, h);
  const id = new ImageData(w, h);
  for (let p = 0; p < w * h; p++) {
    for (let k = 0; k < 3; k++) {
      const c = ch === 1 ? 0 : k;
      id.data[p * 4 + k] = Math.round((x[c * w * h + p]! * std[c]! + mean[c]!) * 255);
    }
    id.data[p * 4 + 3] = 255;
  }
  small.getContext("2d")!.putImageData(id, 0, 0);
  const seen = $<HTMLCanvasElement>("seen").getContext("2d")!;
  seen.imageSmoothingEnabled = false;
  seen.drawImage(small, 0, 0, 112, 112);
}

async function loadCheckpoint(file: File): Promise<void> {
  setState("loading");
  try {
    const next = await Session.fromCheckpoint(device, file, file.name);
    session.dispose();
    session = next;
    page.checkpoint = file.name;
    page.history = [];
    chart.clear();
    const c = session.model.config;
    const misfit = session.fitsPageData();
    $("checkpoint-status").textContent =
      `Loaded ${file.name}: step ${session.step}, ${c.num_layers} layers, hidden ${c.hidden_size}, ${c.img_h}x${c.img_w}x${c.num_channels}.` +
      (misfit ? ` Prediction only: ${misfit}.` : " Train to continue from it.");
    $("fig-step").textContent = String(session.step);
  } finally {
    setState("ready");
  }
}

async function saveCheckpoint(): Promise<void> {
  const blob = await session.checkpointBlob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `vit-web-step-${String(session.step).padStart(7, "0")}.safetensors`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  $("checkpoint-status").textContent =
    `Saved ${a.download} (${(blob.size / 1e6).toFixed(2)} MB). Score it with: vit eval --checkpoint ${a.download}`;
}

function wire(): void {
  const guard = (fn: () => Promise<void>) => () => void fn().catch(fail);
  $("train").addEventListener("click", guard(train));
  $("stop").addEventListener("click", () => {
    stopRequested = true;
  });
  $("evaluate").addEventListener("click", guard(evaluate));
  $("reset").addEventListener("click", () => {
    session.dispose();
    session = Session.fresh(device);
    page.history = [];
    chart.clear();
    $("fig-step").textContent = "0";
  });
  $("save").addEventListener("click", guard(saveCheckpoint));
  $<HTMLInputElement>("checkpoint-file").addEventListener("change", (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) void loadCheckpoint(f).catch(fail);
  });
  const predictFile = (f: File) => void imageFromBlob(f).then(predict).catch(fail);
  $<HTMLInputElement>("image-file").addEventListener("change", (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) predictFile(f);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    const f = ev.dataTransfer?.files[0];
    if (f) predictFile(f);
  });
  const predictPad = () =>
    predict(imageFromSource(pad.canvas, pad.canvas.width, pad.canvas.height)).catch(fail);
  $("predict-drawing").addEventListener("click", () => void predictPad());
  pad.onStroke = () => {
    if (page.state === "ready") void predictPad();
  };
  $("clear-pad").addEventListener("click", () => pad.clear());
}

async function start(): Promise<void> {
  setState("loading");
  wire();
  device = await Device.create();
  const a = device.adapter;
  page.adapter = { ...a, limits: undefined };
  const f16 = a.features.includes("shader-f16");
  $("adapter").textContent =
    `WebGPU adapter: ${a.description || a.architecture || a.vendor || "unknown"} (${a.vendor}${a.isFallbackAdapter ? ", software" : ""}) · ` +
    `subgroups ${a.features.includes("subgroups") ? "yes" : "no"} · shader-f16 ${f16 ? "yes" : "no (f32 kernels)"}`;
  data = DataClient.start();
  await data.init({
    url: new URL(ASSET_NAME, document.baseURI).href,
    seed: BUILD.config.trainer.seed,
    mean: BUILD.mean,
    std: BUILD.std,
    flip: BUILD.config.model.data.train.horizontal_flip,
  });
  $("data-status").textContent =
    `Fashion-MNIST in a Web Worker: ${data.trainCount.toLocaleString()} training and ${data.testCount.toLocaleString()} test images. ` +
    `Model: the default job's tiny ViT (${BUILD.vit.num_layers} layers, hidden ${BUILD.vit.hidden_size}, patch ${BUILD.vit.patch_dim}), AdamW, cosine schedule.`;
  $<HTMLInputElement>("eval-images").max = String(data.testCount);
  session = Session.fresh(device);
  setState("ready");
}

start().catch((e) => {
  setState("error");
  fail(e);
});
