/**
 * Which matmul kernel and tile shape an adapter gets. A small table keyed by the adapter's class gives
 * the defaults (CPU rasteriser vs GPU, subgroup size, features); a one-time autotune (./tune.ts)
 * can override them per adapter and shape class, cached on disk in ~/.cache/vit/autotune.json (or
 * $VIT_AUTOTUNE_CACHE) under the adapter's description. Nothing here is specific to one machine: the
 * table only encodes what each class of adapter was measured to like (PERF-NOTES.md).
 *
 * Environment overrides (tests and benchmarks): VIT_MATMUL=texture|tiled|generic|subgroup-matrix,
 * VIT_MATMUL_ROWS=<rows per texture tile>, VIT_AUTOTUNE=0 (ignore the cache).
 */
import type { AdapterSummary, Device } from "../device.js";
import { hostCpuKey } from "../host-cpu.js";

export type MatmulKernelKind = "texture" | "tiled" | "generic" | "subgroup-matrix";

export interface MatmulTuning {
  kind: MatmulKernelKind;
  /** texture kernel: output rows per tile (a multiple of the subgroup size). */
  rows: number;
  /** tiled kernel: depth of the staged tiles. */
  tk: number;
  /** subgroup-matrix kernel: blocks per subgroup along m and n. */
  tm: number;
  tn: number;
  source: "table" | "autotune" | "env";
}

/** Shape classes the autotune distinguishes: tall-skinny products and tiny batched ones tile differently. */
export type ShapeClass = "small" | "large";

export function shapeClass(M: number, N: number): ShapeClass {
  return M * N <= 64 * 1024 ? "small" : "large";
}

export function isCpuAdapter(a: AdapterSummary): boolean {
  return (
    a.architecture === "software" ||
    a.isFallbackAdapter ||
    /llvmpipe|lavapipe|swiftshader/i.test(`${a.device} ${a.description}`)
  );
}

/** The adapter's subgroup size when it is fixed (min == max), else undefined. */
export function fixedSubgroupSize(device: Device): number | undefined {
  const a = device.adapter;
  if (!device.hasFeature("subgroups")) return undefined;
  if (a.subgroupMinSize && a.subgroupMinSize === a.subgroupMaxSize) return a.subgroupMinSize;
  return undefined;
}

/** Stable identity of an adapter for the autotune cache. */
export function adapterKey(a: AdapterSummary): string {
  return [a.vendor, a.architecture, a.device, a.description, a.backend].join("|");
}

/**
 * The autotune cache's key: the adapter, and for a CPU adapter also the host CPU — lavapipe's JIT follows
 * the host's SIMD, so an AVX2 host and an AVX-512 host of one machine class want different tiles behind
 * the same adapter string.
 */
export function tuningKey(device: Device): string {
  const a = adapterKey(device.adapter);
  const cpu = isCpuAdapter(device.adapter) ? hostCpuKey() : undefined;
  return `${cpu ? `${a} || ${cpu}` : a} || kernels v${KERNELS_VERSION}`;
}

/**
 * The matmul kernels' generation, part of the cache key: bump it when a kernel's code (or the autotune)
 * changes what its tiles cost, so a host's cached choice made for older kernels is measured again (v2: the texture
 * kernel's row-ordered multiply-adds; v3: its operands read as read-only storage textures; v4: the
 * autotune times its candidates in turns, tune.ts).
 */
export const KERNELS_VERSION = 4;

/** Whether the autotune cache holds this device's tuning (false outside Node or with VIT_AUTOTUNE=0). */
export function hasCachedTuning(device: Device): boolean {
  return readCache()?.[tuningKey(device)] !== undefined;
}

/** The table: defaults by adapter class. */
export function tableTuning(device: Device): MatmulTuning {
  const a = device.adapter;
  const base = { rows: 32, tk: 16, tm: 2, tn: 2, source: "table" as const };
  if (isCpuAdapter(a)) {
    const sg = fixedSubgroupSize(device);
    // Texture kernel: A broadcast across a fixed-size subgroup. 32-row tiles measured best on lavapipe
    // (8 lanes × 256-bit SIMD); rows must be a multiple of the subgroup size.
    if (sg && [4, 8, 16, 32].includes(sg)) return { ...base, kind: "texture", rows: Math.max(32, sg) };
    return { ...base, kind: "generic" };
  }
  if (device.hasFeature("chromium-experimental-subgroup-matrix")) return { ...base, kind: "subgroup-matrix" };
  return { ...base, kind: "tiled" };
}

type CacheFile = Record<string, Partial<Record<ShapeClass, Omit<MatmulTuning, "source">>>>;

let diskCache: CacheFile | null | undefined;

interface NodeFs {
  readFileSync(p: string, enc: "utf8"): string;
  writeFileSync(p: string, data: string): void;
  mkdirSync(p: string, o: { recursive: boolean }): void;
  renameSync(a: string, b: string): void;
}

function nodeFs(): NodeFs | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (m: string) => unknown } }).process;
  return proc?.getBuiltinModule?.("node:fs") as NodeFs | undefined;
}

function env(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}

export function autotuneCachePath(): string | undefined {
  const explicit = env("VIT_AUTOTUNE_CACHE");
  if (explicit) return explicit;
  const base = env("XDG_CACHE_HOME") ?? (env("HOME") ? `${env("HOME")}/.cache` : undefined);
  return base ? `${base}/vit/autotune.json` : undefined;
}

function readCache(): CacheFile | null {
  if (diskCache !== undefined) return diskCache;
  diskCache = null;
  const path = autotuneCachePath();
  const fs = nodeFs();
  if (!path || !fs || env("VIT_AUTOTUNE") === "0") return diskCache;
  try {
    diskCache = JSON.parse(fs.readFileSync(path, "utf8")) as CacheFile;
  } catch {
    diskCache = null; // no cache yet, or unreadable: the table applies
  }
  return diskCache;
}

/** Records autotune results for `device` and writes the cache file atomically (Node only). */
export function saveTuning(
  device: Device,
  results: Partial<Record<ShapeClass, Omit<MatmulTuning, "source">>>,
): string | undefined {
  const cache: CacheFile = { ...(readCache() ?? {}) };
  cache[tuningKey(device)] = results;
  diskCache = cache;
  tuned.delete(device);
  const path = autotuneCachePath();
  const fs = nodeFs();
  if (!path || !fs) return undefined;
  fs.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const tmp = `${path}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(cache, null, 2));
  fs.renameSync(tmp, path);
  return path;
}

const tuned = new WeakMap<Device, Map<ShapeClass, MatmulTuning>>();

/** The tuning matmul uses on `device` for products of class `cls`: env > autotune cache > table. */
export function matmulTuning(device: Device, cls: ShapeClass): MatmulTuning {
  let perDevice = tuned.get(device);
  if (!perDevice) {
    perDevice = new Map();
    tuned.set(device, perDevice);
  }
  const hit = perDevice.get(cls);
  if (hit) return hit;
  let t = tableTuning(device);
  const cached = readCache()?.[tuningKey(device)]?.[cls];
  if (cached) t = { ...t, ...cached, source: "autotune" };
  const kind = env("VIT_MATMUL") as MatmulKernelKind | undefined;
  if (kind && ["texture", "tiled", "generic", "subgroup-matrix"].includes(kind))
    t = { ...t, kind, source: "env" };
  const rows = Number(env("VIT_MATMUL_ROWS"));
  if (rows > 0) t = { ...t, rows, source: "env" };
  perDevice.set(cls, t);
  return t;
}

/** Forgets per-device decisions (after the environment or cache changed); `reread` drops the cache file's contents too. */
export function resetTuning(device: Device, reread = false): void {
  tuned.delete(device);
  if (reread) diskCache = undefined;
}
