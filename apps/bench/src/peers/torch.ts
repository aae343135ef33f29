/**
 * The PyTorch peer (peers/torch_peer.py) run as a subprocess: one JSON request in, one JSON line out.
 * Found as $VIT_BENCH_PYTHON, python3 or /usr/bin/python3 — whichever imports torch. On a CPU run it
 * is pinned to one BLAS thread (OPENBLAS_NUM_THREADS/OMP_NUM_THREADS=1 plus torch.set_num_threads(1)).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

let cached: string | null | undefined;

export function torchPython(): string | null {
  if (cached !== undefined) return cached;
  cached = null;
  for (const py of [process.env.VIT_BENCH_PYTHON, "python3", "/usr/bin/python3"]) {
    if (!py) continue;
    const r = spawnSync(py, ["-c", "import torch, torchvision"], { stdio: "ignore" });
    if (r.status === 0) {
      cached = py;
      break;
    }
  }
  return cached;
}

function scriptPath(): string {
  // dist/main.js and src/peers/torch.ts sit one or two levels below the app root; the gpu bundle
  // (scripts/gpu-pack.sh) has the script beside it.
  for (const rel of ["./torch_peer.py", "../peers/torch_peer.py", "../../peers/torch_peer.py"]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return fileURLToPath(new URL("../peers/torch_peer.py", import.meta.url));
}

export interface TorchResult {
  gflops?: Array<[number, number, number]>;
  images_per_second?: [number, number, number];
  /** CUDA steps: torch.cuda.max_memory_allocated over the timed steps. */
  peak_bytes?: number;
  torch?: string;
  blas?: string;
  error?: string;
}

/** Runs one request; null when PyTorch is not installed (the peer column then stays empty). */
export function runTorch(request: Record<string, unknown>, timeoutMs = 600_000): TorchResult | null {
  const py = torchPython();
  if (!py) return null;
  const cpu = (request.device ?? "cpu") === "cpu";
  const env = {
    ...process.env,
    ...(cpu ? { OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" } : {}),
  };
  const r = spawnSync(py, [scriptPath()], {
    input: JSON.stringify(request),
    env,
    timeout: timeoutMs,
    encoding: "utf8",
  });
  const line = (r.stdout ?? "").trim().split("\n").pop();
  if (r.status !== 0 || !line) {
    return {
      error: `torch peer failed (${r.status ?? r.signal}): ${(r.stderr ?? "").trim().split("\n").slice(-3).join(" ")}`,
    };
  }
  return JSON.parse(line) as TorchResult;
}
