/**
 * The tfjs peer: @tensorflow/tfjs-core with @tensorflow/tfjs-backend-webgpu in this same Node process, on
 * the same Dawn adapter. tfjs reads `navigator.gpu` when its backend module loads, so the global is set
 * (from the `webgpu` package, Dawn's Node binding) before the dynamic import. While awaiting tfjs'
 * readbacks the same timer polling as vit's CPU-adapter default is applied (see waitFor), so both sides
 * wait for the GPU the same way and the ratio compares kernels, not polling.
 */
import type { PollMode } from "./polling.js";
import { waitFor } from "./polling.js";

// Minimal structural types for the parts of tfjs used here (the packages are devDependencies).
export interface TfTensor {
  data(): Promise<ArrayLike<number>>;
  dispose(): void;
}
export interface Tf {
  matMul(a: TfTensor, b: TfTensor, transposeA?: boolean, transposeB?: boolean): TfTensor;
  randomNormal(shape: number[], mean?: number, std?: number, dtype?: string): TfTensor;
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  tidy<T>(fn: () => T): T;
  version_core?: string;
  version?: Record<string, string>;
}

let loaded: Promise<Tf | null> | undefined;

export function loadTfjs(log: (m: string) => void): Promise<Tf | null> {
  loaded ??= (async () => {
    try {
      const webgpu = (await import("webgpu")) as unknown as {
        create: (o: string[]) => unknown;
        globals: object;
      };
      Object.assign(globalThis, webgpu.globals);
      const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
      if (!nav?.gpu) {
        Object.defineProperty(globalThis, "navigator", {
          value: { ...(nav ?? {}), gpu: webgpu.create([]) },
          configurable: true,
        });
      }
      const tf = (await import("@tensorflow/tfjs-core")) as unknown as Tf;
      await import("@tensorflow/tfjs-backend-webgpu");
      if (!(await tf.setBackend("webgpu"))) {
        log("tfjs peer unavailable: tf.setBackend('webgpu') failed");
        return null;
      }
      await tf.ready();
      return tf;
    } catch (e) {
      log(`tfjs peer unavailable: ${(e as Error).message}`);
      return null;
    }
  })();
  return loaded;
}

/** GFLOP/s of tf.matMul per repeat (after warm-up). */
export async function tfMatmul(
  tf: Tf,
  [M, N, K, ta, tb]: [number, number, number, boolean, boolean],
  repeats: number,
  poll: PollMode,
): Promise<number[]> {
  const a = tf.randomNormal(ta ? [K, M] : [M, K]);
  const b = tf.randomNormal(tb ? [N, K] : [K, N]);
  const once = async (n: number) => {
    let last: TfTensor | null = null;
    for (let i = 0; i < n; i++) {
      last?.dispose();
      last = tf.matMul(a, b, ta, tb);
    }
    await waitFor(last!.data(), poll);
    last!.dispose();
  };
  await once(2);
  const t0 = performance.now();
  await once(1);
  const inner = Math.max(1, Math.min(50, Math.round(300 / Math.max(1, performance.now() - t0))));
  const out: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    await once(inner);
    out.push((2 * M * N * K * inner) / ((performance.now() - t) / 1000) / 1e9);
  }
  a.dispose();
  b.dispose();
  return out;
}
