/**
 * The host CPU's identity, for caches of measured speed (matmul autotune, time-budget plans). A CPU
 * adapter (lavapipe, SwiftShader) JIT-compiles shaders to the host's SIMD: the same adapter string runs
 * ~2× slower on an AVX2-only host than on an AVX-512 one of the same machine class, so a measurement made
 * on one must not be reused on the other. Node only (reads /proc/cpuinfo or os.cpus()); undefined in
 * browsers, where nothing is cached on disk anyway.
 */

interface NodeOs {
  cpus(): { model: string }[];
  arch(): string;
}
interface NodeFs {
  readFileSync(p: string, enc: "utf8"): string;
}

function builtin<T>(name: string): T | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (m: string) => unknown } }).process;
  return proc?.getBuiltinModule?.(name) as T | undefined;
}

/** SIMD extensions a shader JIT (LLVM) targets; the ones that change lavapipe's and OpenBLAS's speed. */
const SIMD_FLAGS = ["avx512f", "avx512bw", "avx512vl", "avx2", "fma", "sse4_2", "asimd", "sve"];

let cached: string | null | undefined;

/**
 * "model | simd flags | N cores", e.g. "AMD EPYC 7B13 | avx2 fma sse4_2 | 2 cores"; undefined outside
 * Node. Stable across runs on one host, different across host kinds.
 */
export function hostCpuKey(): string | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  const os = builtin<NodeOs>("node:os");
  if (!os) return undefined;
  const cpus = os.cpus();
  let model = cpus[0]?.model?.trim() || os.arch();
  let flags: string[] = [];
  try {
    const info = builtin<NodeFs>("node:fs")?.readFileSync("/proc/cpuinfo", "utf8") ?? "";
    const line = info.split("\n").find((l) => /^(flags|Features)\s*:/.test(l)) ?? "";
    const have = new Set(line.split(":")[1]?.trim().split(/\s+/) ?? []);
    flags = SIMD_FLAGS.filter((f) => have.has(f));
    const m = /^model name\s*:\s*(.+)$/m.exec(info);
    if (m?.[1]) model = m[1].trim();
  } catch {
    // Not Linux: the model string and core count still tell hosts apart.
  }
  cached = `${model} | ${flags.join(" ") || os.arch()} | ${cpus.length} cores`;
  return cached;
}
