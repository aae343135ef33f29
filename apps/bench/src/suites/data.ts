/**
 * "data" suite: input-pipeline throughput on an ImageNet-like folder of JPEGs (224–500 px per side).
 * Measures images/s of decode + RandomResizedCrop(224) + horizontal flip + normalize through @vit/data's
 * DataLoader with 1 and 2 worker threads, and — when a Python with torchvision is available — the same
 * pipeline through torchvision's ImageFolder + DataLoader (PIL) on the same files with the same worker counts.
 * Ours runs twice per worker count: with the native libjpeg-turbo box decoder (the default when it is built)
 * and with sharp for every file (VIT_DATA_JPEG_ADDON=off, the fallback where no C compiler was available).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DataLoader, T, imageFolder, jpegDecoderInfo, writeSyntheticImageFolder } from "@vit/data";
import { type BenchCase, type BenchContext, stats } from "../types.js";

const WORKER_COUNTS = [1, 2] as const;
type Decoder = "native" | "sharp";
const BATCH_SIZE = 32;
const CLASSES = 4;

interface PeerReport {
  torch: string;
  torchvision: string;
  images: number;
  results: Record<string, number[]>;
}

function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The first Python that can import torchvision: $VIT_BENCH_PYTHON, python3 on PATH, then the system one. */
async function findTorchvisionPython(): Promise<string | null> {
  const candidates = [process.env.VIT_BENCH_PYTHON, "python3", "/usr/bin/python3"].filter(
    (c): c is string => !!c,
  );
  for (const py of [...new Set(candidates)]) {
    if ((await run(py, ["-c", "import torchvision"], 60_000)).code === 0) return py;
  }
  return null;
}

/** The peer script sits in apps/bench/peers, reached from src/suites (tests) or dist (bundled CLI). */
function peerScript(): string | null {
  for (const rel of ["../peers/torchvision_data.py", "../../peers/torchvision_data.py"]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return null;
}

/**
 * Images/s per timed epoch, and CPU milliseconds per image over those epochs. process.cpuUsage() counts every
 * thread of this process (main, workers, libuv's and libvips' threads), so on a shared machine the CPU figure
 * is the loader's own cost where images/s also reflects what other processes took.
 */
async function measureOurs(
  ds: Awaited<ReturnType<typeof imageFolder>>,
  numWorkers: number,
  decoder: Decoder,
  warmup: number,
  epochs: number,
): Promise<{ rates: number[]; cpuMs: number[] }> {
  const transforms = [T.randomResizedCrop(224), T.randomHorizontalFlip(), T.normalize()];
  // Workers pick their decoder from the environment they start with (the pool starts on first use).
  const saved = process.env.VIT_DATA_JPEG_ADDON;
  if (decoder === "sharp") process.env.VIT_DATA_JPEG_ADDON = "off";
  const loader = new DataLoader(ds, { batchSize: BATCH_SIZE, shuffle: true, numWorkers, transforms });
  const rates: number[] = [];
  const cpuMs: number[] = [];
  try {
    for (let epoch = 0; epoch < warmup + epochs; epoch++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      let n = 0;
      for await (const batch of loader) n += batch.shape[0];
      if (epoch >= warmup) {
        const c = process.cpuUsage(c0);
        rates.push(n / ((performance.now() - t0) / 1000));
        cpuMs.push((c.user + c.system) / 1000 / n);
      }
    }
  } finally {
    await loader.close();
    if (saved === undefined) Reflect.deleteProperty(process.env, "VIT_DATA_JPEG_ADDON");
    else process.env.VIT_DATA_JPEG_ADDON = saved;
  }
  return { rates, cpuMs };
}

async function measurePeer(
  python: string,
  script: string,
  root: string,
  numWorkers: number,
  warmup: number,
  epochs: number,
): Promise<{ report: PeerReport | null; error: string }> {
  const args = [
    script,
    ...["--root", root, "--workers", String(numWorkers), "--batch-size", String(BATCH_SIZE)],
    ...["--repeats", String(epochs), "--warmup", String(warmup)],
  ];
  const r = await run(python, args, 15 * 60_000);
  const last = r.stdout.trim().split("\n").pop() ?? "";
  try {
    if (r.code === 0) return { report: JSON.parse(last) as PeerReport, error: "" };
  } catch {
    // fall through to the error report
  }
  return {
    report: null,
    error: `torchvision peer failed (exit ${r.code}): ${r.stderr.trim().split("\n").pop() ?? ""}`,
  };
}

export async function dataSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const images = ctx.quick ? 128 : 512;
  // Ours and the peer alternate in rounds (ours 1 worker, peer 1 worker, ours 2 workers, ...) so that load
  // from anything else on the machine drifts into both sides alike; they never run at the same time.
  const rounds = ctx.quick ? 1 : 3;
  const epochsPerRound = 2;
  const warmup = 1;
  const root = join(ctx.workDir, `data-jpegs-${images}`);
  if (!existsSync(root)) {
    ctx.log(`data: writing ${images} JPEGs (224–500 px, ${CLASSES} classes) to ${root}`);
    await writeSyntheticImageFolder(root, { images, classes: CLASSES, minSize: 224, maxSize: 500, seed: 0 });
  }
  const ds = await imageFolder(root);

  const script = peerScript();
  const python = script ? await findTorchvisionPython() : null;
  let peerNote = "";
  if (!script) peerNote = "peer script apps/bench/peers/torchvision_data.py not found";
  else if (!python) peerNote = "no Python with torchvision (set VIT_BENCH_PYTHON)";
  else ctx.log(`data: torchvision peer runs with ${python}`);

  const jpeg = jpegDecoderInfo();
  const decoders: Decoder[] = jpeg.reason ? ["sharp"] : ["native", "sharp"];
  ctx.log(`data: JPEG decoder ${jpeg.name}${jpeg.reason ? ` (${jpeg.reason})` : ""}`);
  const key = (d: Decoder, w: number) => `${d}/${w}`;
  const keys = decoders.flatMap((d) => WORKER_COUNTS.map((w) => key(d, w)));
  const ours = new Map<string, number[]>(keys.map((k) => [k, []]));
  const oursCpu = new Map<string, number[]>(keys.map((k) => [k, []]));
  const peer = new Map<number, number[]>(WORKER_COUNTS.map((w) => [w, []]));
  let peerName = "";
  for (let round = 0; round < rounds; round++) {
    for (const w of WORKER_COUNTS) {
      for (const d of decoders) {
        const { rates: r, cpuMs } = await measureOurs(ds, w, d, warmup, epochsPerRound);
        ours.get(key(d, w))!.push(...r);
        oursCpu.get(key(d, w))!.push(...cpuMs);
        ctx.log(
          `data: round ${round} @vit/data (${d}) ${w} worker(s): ${r.map((x) => x.toFixed(0)).join(", ")} ` +
            `images/s (CPU ${cpuMs.map((x) => x.toFixed(2)).join(", ")} ms/image)`,
        );
      }
      if (python && script && !peerNote) {
        const p = await measurePeer(python, script, root, w, warmup, epochsPerRound);
        if (!p.report) {
          peerNote = p.error;
          ctx.log(`data: ${p.error}`);
          continue;
        }
        const rates = p.report.results[String(w)] ?? [];
        peer.get(w)!.push(...rates);
        peerName = `torchvision ${p.report.torchvision} (PIL, torch ${p.report.torch})`;
        ctx.log(
          `data: round ${round} torchvision ${w} worker(s): ${rates.map((x) => x.toFixed(0)).join(", ")} images/s`,
        );
      }
    }
  }

  return decoders.flatMap((d) =>
    WORKER_COUNTS.map((numWorkers) => {
      const rates = ours.get(key(d, numWorkers))!;
      const s = stats(rates);
      const decoderName = d === "native" ? jpeg.name : "sharp (libvips), the fallback";
      const c: BenchCase = {
        suite: "data",
        name:
          `ImageFolder JPEG decode+RandomResizedCrop(224)+flip+normalize, ${numWorkers} worker${numWorkers > 1 ? "s" : ""}` +
          (d === "sharp" ? ", sharp decoder" : ""),
        unit: "images/s",
        ...s,
        repeats: rates.length,
        extra: {
          workers: numWorkers,
          images,
          batchSize: BATCH_SIZE,
          imageSides: "224-500",
          decoder: decoderName,
          cpuMsPerImage: Number(stats(oursCpu.get(key(d, numWorkers))!).median.toFixed(3)),
          ...(peerNote ? { peer: peerNote } : {}),
        },
      };
      const peerRates = peer.get(numWorkers)!;
      if (peerRates.length > 0) {
        const p = stats(peerRates);
        c.peer = {
          name: peerName,
          median: p.median,
          note: `ImageFolder + DataLoader(num_workers=${numWorkers}, batch_size=${BATCH_SIZE}, persistent_workers), ${peerRates.length} epochs`,
        };
        c.ratio = s.median / p.median;
      }
      return c;
    }),
  );
}
