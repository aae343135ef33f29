/**
 * A WebGPU device plus everything that executes on it: the caching allocator, the pipeline cache, the
 * command encoder that ops record into, and the uniform ring. There is no global singleton: every tensor
 * belongs to one Device, and several Devices (one per data/tensor-parallel rank) live side by side.
 *
 * Execution model: ops record dispatches into one open command encoder; nothing is submitted until a
 * read (`Tensor.data()`), an explicit `flush()`, or the batch growing past `maxBatch` dispatches.
 */
import { BufferAllocator, type MemoryStats } from "./allocator.js";
import { layoutEntries, parseBindings } from "./bind-layout.js";
import { FeatureError, GPUError, NoAdapterError } from "./errors.js";
import { type PollMode, awaitGPU, getGPU } from "./gpu.js";
import { type Kernel, pipelineKey } from "./kernels/kernel.js";
import type { UniformFields } from "./kernels/wgsl.js";
import { packUniformsInto, uniformBlockBytes } from "./uniforms.js";

export interface DeviceOptions {
  /** "high-performance" | "low-power"; or pick by index among adapters with VIT_ADAPTER / `adapterIndex`. */
  powerPreference?: GPUPowerPreference;
  /** Force Dawn's fallback (CPU) adapter. */
  forceFallbackAdapter?: boolean;
  /** Features the caller cannot run without; creation fails with FeatureError naming any that is missing. */
  requiredFeatures?: GPUFeatureName[];
  /** Features to enable when present (default: shader-f16, subgroups, timestamp-query, subgroup matrix). */
  optionalFeatures?: string[];
  /** How to wait on GPU promises in Node (see gpu.ts). Default: "timer" on CPU adapters, "spin" on GPUs. */
  pollMode?: PollMode;
  /** Dawn toggles (Node only), e.g. "allow_unsafe_apis" for subgroup matrices. */
  dawnToggles?: string[];
  /** Submit automatically after this many recorded dispatches (bounds memory held by pending work). */
  maxBatch?: number;
  /** Seed of the device's counter-based RNG (init and dropout). */
  seed?: number;
  label?: string;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isFallbackAdapter: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  /** Block shapes of `chromium-experimental-subgroup-matrix`, when the adapter has the feature. */
  subgroupMatrixConfigs?: SubgroupMatrixConfig[];
  features: string[];
  limits: Record<string, number>;
  /** WGSL language extensions of the GPU object (navigator.gpu.wgslLanguageFeatures). */
  wgslLanguageFeatures?: string[];
}

export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface ProgramDesc<V = unknown> {
  /** Op name: pipeline label, and what error messages name. */
  name: string;
  /** The WGSL generator (kernels/kernel.ts) and the variant it is compiled for. */
  kernel: Kernel<V>;
  /** Everything the WGSL depends on; the pipeline cache key is derived from it (pipelineKey). */
  variant: V;
  /** Storage buffers in binding order (the uniform block, if any, is bound after them). */
  buffers: GPUBuffer[];
  /** Finer name for the profiler (e.g. the matmul's shape); evaluated only while profiling. */
  tag?: () => string;
  /** Texture views bound after the buffers (sampled or storage textures, as the WGSL declares them). */
  views?: GPUTextureView[];
  uniforms?: { fields: UniformFields; values: readonly number[] };
  workgroups: readonly [number, number?, number?];
}

interface CompiledProgram {
  pipeline: GPUComputePipeline;
  bindLayout: GPUBindGroupLayout;
  /** Explicit layout with a dynamic uniform offset: bind groups are cached. */
  dynamic: boolean;
  layoutKey: string;
}

const DEFAULT_OPTIONAL = [
  "shader-f16",
  "subgroups",
  "timestamp-query",
  "chromium-experimental-subgroup-matrix",
];

const UNIFORM_RING_BYTES = 1 << 20;
const PROFILE_QUERIES = 4096;

let nextDeviceId = 0;

export class Device {
  readonly id = nextDeviceId++;
  readonly allocator: BufferAllocator;
  /** Dispatches recorded since creation (bench figures: dispatches per training step). */
  dispatchCount = 0;
  /** Counter-based RNG state: Philox key and a running offset; see rng.ts. */
  rng: { seed: number; offset: number };
  /** Tensors alive on this device (created and not disposed). */
  liveTensors = 0;

  private pipelines = new Map<string, CompiledProgram>();
  private profiler: {
    querySet: GPUQuerySet;
    used: number;
    names: string[];
    batches: Array<{ names: string[]; staging: GPUBuffer; resolve: GPUBuffer }>;
  } | null = null;
  private layouts = new Map<string, GPUBindGroupLayout>();
  /**
   * Bind groups keyed by pipeline layout and the identity of every bound resource. The uniform block is
   * bound with a dynamic offset, so a group does not depend on the uniform values and a training step
   * that reuses the allocator's recycled buffers creates almost no new ones (each costs ~10-20 µs of JS,
   * native work and garbage).
   */
  private bindGroups = new Map<string, GPUBindGroup>();
  private resourceIds = new WeakMap<object, number>();
  private nextResourceId = 1;
  /** Bind groups created (cache misses), for the dispatch-overhead figures of the bench. */
  bindGroupsCreated = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  private uniformCpu = new Uint8Array(UNIFORM_RING_BYTES);
  private uniformView = new DataView(this.uniformCpu.buffer);
  private uniformUsed = 0;
  private uniformRing: GPUBuffer;
  private recentOps: string[] = [];
  private inFlight = 0;
  private gpuError: string | null = null;
  private lostReason: string | null = null;
  private readonly uniformAlign: number;
  private readonly maxBatch: number;

  private constructor(
    readonly gpu: GPUDevice,
    readonly adapter: AdapterSummary,
    readonly pollMode: PollMode,
    opts: DeviceOptions,
  ) {
    const maxBinding = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
    this.allocator = new BufferAllocator(gpu, maxBinding);
    this.uniformAlign = gpu.limits.minUniformBufferOffsetAlignment;
    this.maxBatch = opts.maxBatch ?? 2048;
    this.rng = { seed: (opts.seed ?? 0) >>> 0, offset: 0 };
    this.uniformRing = gpu.createBuffer({
      size: UNIFORM_RING_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "uniform-ring",
    });
    gpu.addEventListener("uncapturederror", (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.gpuError ??= err.message;
    });
    void gpu.lost.then((info) => {
      if (info.reason !== "destroyed") this.lostReason = `${info.reason}: ${info.message}`;
      else this.lostReason = "destroyed";
    });
  }

  /** Acquires an adapter and a device. Throws NoAdapterError saying what to install when there is none. */
  static async create(opts: DeviceOptions = {}): Promise<Device> {
    const gpu = await getGPU(opts.dawnToggles);
    const env = typeof process !== "undefined" ? process.env : {};
    const adapterOpts: GPURequestAdapterOptions = {};
    const pref = opts.powerPreference ?? (env.VIT_POWER_PREFERENCE as GPUPowerPreference | undefined);
    if (pref) adapterOpts.powerPreference = pref;
    if (opts.forceFallbackAdapter || env.VIT_FORCE_FALLBACK === "1") adapterOpts.forceFallbackAdapter = true;
    const adapter = await gpu.requestAdapter(adapterOpts);
    if (!adapter) {
      throw new NoAdapterError(
        "No WebGPU adapter found. On Linux Dawn needs a Vulkan driver: run `bash tooling/scripts/setup-webgpu.sh` " +
          "(installs libvulkan1 + mesa-vulkan-drivers from bookworm-backports as root), or install your GPU's " +
          "Vulkan driver. In a browser, enable WebGPU.",
      );
    }
    const available = new Set<string>([...adapter.features] as string[]);
    for (const f of opts.requiredFeatures ?? []) {
      if (!available.has(f)) {
        throw new FeatureError(
          `The adapter (${adapter.info.description || adapter.info.device}) lacks the required feature "${f}". ` +
            `It has: ${[...available].sort().join(", ")}. Drop the requirement or use another adapter.`,
        );
      }
    }
    const wanted = new Set<string>([
      ...(opts.requiredFeatures ?? []),
      ...(opts.optionalFeatures ?? DEFAULT_OPTIONAL),
    ]);
    const requiredFeatures = [...wanted].filter((f) => available.has(f)) as GPUFeatureName[];
    // Ask for the adapter's full buffer limits: defaults (128/256 MiB) are too small for large ViTs.
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: adapter.limits.maxComputeWorkgroupSizeX,
      maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
    };
    const device = await adapter.requestDevice({
      requiredFeatures,
      requiredLimits,
      label: opts.label ?? "vit",
    });
    const info = adapter.info;
    const limits: Record<string, number> = {};
    for (const k in device.limits) {
      const v = (device.limits as unknown as Record<string, unknown>)[k];
      if (typeof v === "number") limits[k] = v;
    }
    const summary: AdapterSummary = {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      backend: backendOf(info),
      isFallbackAdapter: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
      subgroupMinSize: (info as { subgroupMinSize?: number }).subgroupMinSize,
      subgroupMaxSize: (info as { subgroupMaxSize?: number }).subgroupMaxSize,
      subgroupMatrixConfigs: readSubgroupMatrixConfigs(info),
      features: [...device.features].map(String).sort(),
      limits,
      wgslLanguageFeatures: [
        ...((gpu as { wgslLanguageFeatures?: Iterable<string> }).wgslLanguageFeatures ?? []),
      ].sort(),
    };
    const isCpu =
      summary.architecture === "software" ||
      /llvmpipe|swiftshader|lavapipe/i.test(summary.device + summary.description);
    const envPoll = env.VIT_POLL as PollMode | undefined;
    const pollMode = opts.pollMode ?? envPoll ?? (isCpu ? "timer" : "spin");
    return new Device(device, summary, pollMode, opts);
  }

  get isCpuAdapter(): boolean {
    return this.adapter.architecture === "software" || /llvmpipe|swiftshader/i.test(this.adapter.device);
  }

  hasFeature(f: string): boolean {
    return this.gpu.features.has(f);
  }

  get limits(): GPUSupportedLimits {
    return this.gpu.limits;
  }

  memoryStats(): MemoryStats {
    return this.allocator.stats();
  }

  resetPeak(): void {
    this.allocator.resetPeak();
  }

  /** Records one compute dispatch. The pipeline is compiled once per (kernel, variant) and cached. */
  run<V>(p: ProgramDesc<V>): void {
    this.checkAlive(p.name);
    const key = pipelineKey(p.kernel, p.variant);
    let prog = this.pipelines.get(key);
    if (!prog) {
      prog = this.compile(p.name, p.kernel.wgsl(p.variant));
      this.pipelines.set(key, prog);
    }
    const views = p.views ?? [];
    const hasUniforms = !!p.uniforms?.fields.length;
    let uniformOffset = 0;
    let uniformBytes = 0;
    if (hasUniforms) {
      const { fields, values } = p.uniforms!;
      uniformBytes = uniformBlockBytes(fields.length);
      if (this.uniformUsed + uniformBytes > UNIFORM_RING_BYTES) this.flush();
      uniformOffset = this.uniformUsed;
      packUniformsInto(this.uniformView, uniformOffset, fields, values);
      this.uniformUsed = Math.ceil((uniformOffset + uniformBytes) / this.uniformAlign) * this.uniformAlign;
    }
    let bindGroup: GPUBindGroup;
    if (prog.dynamic) {
      let key = prog.layoutKey;
      for (const b of p.buffers) key += `,${this.idOf(b)}`;
      for (const v of views) key += `,${this.idOf(v)}`;
      if (hasUniforms) key += `,u${uniformBytes}`;
      let bg = this.bindGroups.get(key);
      if (!bg) {
        bg = this.gpu.createBindGroup({
          layout: prog.bindLayout,
          entries: this.entries(p, views, 0, uniformBytes),
        });
        this.bindGroupsCreated++;
        // Bounded: entries of destroyed buffers never hit again; dropping everything is cheap to refill.
        if (this.bindGroups.size >= 8192) this.bindGroups.clear();
        this.bindGroups.set(key, bg);
      }
      bindGroup = bg;
    } else {
      bindGroup = this.gpu.createBindGroup({
        layout: prog.bindLayout,
        entries: this.entries(p, views, uniformOffset, uniformBytes),
      });
      this.bindGroupsCreated++;
    }
    const prof = this.profiler;
    if (prof) {
      // Profiling: one pass per dispatch, bracketed by timestamps (costs time; for the bench only).
      this.endPass();
      if (prof.used + 2 > PROFILE_QUERIES) this.harvestProfile();
      this.pass = this.commandEncoder().beginComputePass({
        timestampWrites: {
          querySet: prof.querySet,
          beginningOfPassWriteIndex: prof.used,
          endOfPassWriteIndex: prof.used + 1,
        },
      });
      prof.used += 2;
      prof.names.push(p.tag ? p.tag() : p.name);
    }
    const pass = this.computePass();
    pass.setPipeline(prog.pipeline);
    if (prog.dynamic && hasUniforms) pass.setBindGroup(0, bindGroup, [uniformOffset]);
    else pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = p.workgroups;
    pass.dispatchWorkgroups(x, y, z);
    if (prof) this.endPass();
    this.dispatchCount++;
    this.pending++;
    this.recentOps.push(p.name);
    if (this.recentOps.length > 8) this.recentOps.shift();
    if (this.pending >= this.maxBatch) this.flush();
  }

  /**
   * Copies `texels` texels (16 bytes in rgba32float, 8 in rgba16float) from `src` (from byte `srcOffset`) into `dst`, filling its rows of
   * `dst.width` texels in order from texel 0 ("linear-wrapped" layout). Ordered after every op recorded
   * so far, like `copy`. Kernels that read operands through textures use it: on CPU adapters a texture
   * fetch is vectorised where a divergent storage-buffer load is a per-lane loop (PERF-NOTES.md).
   */
  copyToTexture(src: GPUBuffer, srcOffset: number, dst: GPUTexture, texels: number): void {
    this.checkAlive("copyToTexture");
    if (texels <= 0) return;
    this.endPass();
    const enc = this.commandEncoder();
    const width = dst.width;
    const texelBytes = dst.format === "rgba16float" ? 8 : 16;
    const rowBytes = width * texelBytes;
    const full = Math.floor(texels / width);
    if (full > 0) {
      enc.copyBufferToTexture(
        { buffer: src, offset: srcOffset, bytesPerRow: rowBytes, rowsPerImage: full },
        { texture: dst },
        [width, full, 1],
      );
    }
    const rest = texels - full * width;
    if (rest > 0) {
      enc.copyBufferToTexture(
        { buffer: src, offset: srcOffset + full * rowBytes, bytesPerRow: rowBytes, rowsPerImage: 1 },
        { texture: dst, origin: [0, full, 0] },
        [rest, 1, 1],
      );
    }
    this.pending++;
  }

  private compile(name: string, code: string): CompiledProgram {
    const module = this.gpu.createShaderModule({ code, label: name });
    const kinds = parseBindings(code);
    if (kinds) {
      const layoutKey = kinds.join(",");
      let bindLayout = this.layouts.get(layoutKey);
      if (!bindLayout) {
        bindLayout = this.gpu.createBindGroupLayout({ entries: layoutEntries(kinds), label: layoutKey });
        this.layouts.set(layoutKey, bindLayout);
      }
      const layout = this.gpu.createPipelineLayout({ bindGroupLayouts: [bindLayout] });
      const pipeline = this.gpu.createComputePipeline({
        layout,
        compute: { module, entryPoint: "main" },
        label: name,
      });
      return { pipeline, bindLayout, dynamic: true, layoutKey: `${this.idOf(bindLayout)}` };
    }
    const pipeline = this.gpu.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
      label: name,
    });
    return { pipeline, bindLayout: pipeline.getBindGroupLayout(0), dynamic: false, layoutKey: "" };
  }

  private entries(
    p: ProgramDesc<unknown>,
    views: GPUTextureView[],
    uniformOffset: number,
    uniformBytes: number,
  ): GPUBindGroupEntry[] {
    const entries: GPUBindGroupEntry[] = p.buffers.map((buffer, binding) => ({
      binding,
      resource: { buffer },
    }));
    views.forEach((view, i) => entries.push({ binding: p.buffers.length + i, resource: view }));
    if (uniformBytes > 0) {
      entries.push({
        binding: p.buffers.length + views.length,
        resource: { buffer: this.uniformRing, offset: uniformOffset, size: uniformBytes },
      });
    }
    return entries;
  }

  private idOf(o: object): number {
    let id = this.resourceIds.get(o);
    if (id === undefined) {
      id = this.nextResourceId++;
      this.resourceIds.set(o, id);
    }
    return id;
  }

  /** Copies `bytes` from src to dst, ordered after every op recorded so far. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.checkAlive("copy");
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.pending++;
  }

  /**
   * Writes host data into `dst`, ordered after every op recorded so far. queue.writeBuffer is a queue
   * operation: it would run before the commands still recorded in the open encoder, which corrupts a
   * recycled buffer that one of them still reads — so those are submitted first. (The previous design
   * copied through a mapped staging buffer created per upload: an allocation per training step.)
   */
  upload(dst: GPUBuffer, data: ArrayBufferView, dstOffset = 0): void {
    this.checkAlive("upload");
    const bytes = Math.ceil(data.byteLength / 4) * 4;
    if (bytes === 0) return;
    this.flush();
    let src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes !== data.byteLength) {
      const padded = new Uint8Array(bytes);
      padded.set(src);
      src = padded;
    }
    this.gpu.queue.writeBuffer(dst, dstOffset, src, 0, bytes);
  }

  /** Submits everything recorded so far. Does not wait for the GPU. */
  flush(): void {
    this.checkAlive("flush");
    this.endPass();
    if (!this.encoder) return;
    if (this.uniformUsed > 0) {
      this.gpu.queue.writeBuffer(this.uniformRing, 0, this.uniformCpu, 0, this.uniformUsed);
      this.uniformUsed = 0;
    }
    this.gpu.queue.submit([this.encoder.finish()]);
    this.inFlight++;
    this.encoder = null;
    this.pending = 0;
  }

  /** Reads `bytes` of `src` back to the host. The only synchronisation point of the execution model. */
  async read(src: GPUBuffer, bytes: number, what = "read"): Promise<ArrayBuffer> {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.gpu.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: "readback",
    });
    this.copy(src, 0, staging, 0, size);
    this.flush();
    try {
      await awaitGPU(staging.mapAsync(GPUMapMode.READ), this.pollMode);
    } catch (e) {
      staging.destroy();
      this.checkAlive(what);
      throw new GPUError(`${what}: reading back from the GPU failed: ${(e as Error).message}`);
    }
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    this.inFlight = 0;
    this.throwPendingError(what);
    return out;
  }

  /**
   * Backpressure for loops that never read back: waits until at most `maxInFlight` submissions are
   * pending. Dawn recycles per-submission resources only while the JS event loop turns; a loop that
   * submits thousands of dispatches without ever awaiting grows them without bound (on lavapipe it
   * eventually crashed the process), so training loops call this once per step.
   */
  async throttle(maxInFlight = 2): Promise<void> {
    // A promise is created only when we wait: a pending GPU promise makes dawn.node poll (spin) whenever
    // the event loop is idle, which on a CPU adapter steals the cores the driver is computing on.
    if (this.inFlight > maxInFlight) await this.sync();
  }

  /** Submissions not yet known to be complete (see throttle). */
  get submissionsInFlight(): number {
    return this.inFlight;
  }

  /** Waits until every submitted command has finished (for benchmarks and timing). */
  async sync(): Promise<void> {
    this.flush();
    await awaitGPU(this.gpu.queue.onSubmittedWorkDone(), this.pollMode);
    this.inFlight = 0;
    this.throwPendingError("sync");
  }

  /**
   * Starts timing every dispatch on the GPU timeline (needs the adapter's timestamp-query feature).
   * Each dispatch then gets its own compute pass with timestamp writes, which adds overhead: use it to
   * see where a step's time goes, not to measure the step itself.
   */
  startProfile(): void {
    if (!this.hasFeature("timestamp-query")) {
      throw new FeatureError(
        `startProfile: the adapter lacks "timestamp-query"; per-dispatch GPU times are unavailable.`,
      );
    }
    this.flush();
    this.profiler = {
      querySet: this.gpu.createQuerySet({ type: "timestamp", count: PROFILE_QUERIES }),
      used: 0,
      names: [],
      batches: [],
    };
  }

  /** Stops profiling; returns GPU time per op name, largest first. */
  async stopProfile(): Promise<Array<{ name: string; count: number; ms: number }>> {
    const prof = this.profiler;
    if (!prof) return [];
    this.harvestProfile();
    this.profiler = null;
    this.flush();
    const totals = new Map<string, { count: number; ns: number }>();
    for (const b of prof.batches) {
      await awaitGPU(b.staging.mapAsync(GPUMapMode.READ), this.pollMode);
      const t = new BigUint64Array(b.staging.getMappedRange());
      b.names.forEach((name, i) => {
        const ns = Number(t[2 * i + 1]! - t[2 * i]!);
        const e = totals.get(name) ?? { count: 0, ns: 0 };
        e.count++;
        e.ns += ns;
        totals.set(name, e);
      });
      b.staging.unmap();
      b.staging.destroy();
      b.resolve.destroy();
    }
    prof.querySet.destroy();
    return [...totals]
      .map(([name, e]) => ({ name, count: e.count, ms: e.ns / 1e6 }))
      .sort((a, b) => b.ms - a.ms);
  }

  private harvestProfile(): void {
    const prof = this.profiler;
    if (!prof || prof.used === 0) return;
    this.endPass();
    const bytes = prof.used * 8;
    const resolve = this.gpu.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const staging = this.gpu.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.commandEncoder();
    enc.resolveQuerySet(prof.querySet, 0, prof.used, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
    prof.batches.push({ names: prof.names, staging, resolve });
    this.flush();
    prof.used = 0;
    prof.names = [];
  }

  /** Number of compiled pipelines held in the cache. */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  destroy(): void {
    this.encoder = null;
    this.bindGroups.clear();
    this.pass = null;
    this.allocator.emptyCache();
    this.gpu.destroy();
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass();
    return this.pass;
  }

  private commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.gpu.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private checkAlive(what: string): void {
    if (this.lostReason) {
      throw new GPUError(
        `${what}: the GPU device was lost (${this.lostReason}). Tensors on it are gone; create a new Device ` +
          "and reload the model from a checkpoint.",
      );
    }
  }

  private throwPendingError(what: string): void {
    if (this.gpuError) {
      const msg = this.gpuError;
      this.gpuError = null;
      throw new GPUError(
        `${what}: the GPU reported an error (recent ops: ${this.recentOps.join(", ")}): ${msg}`,
      );
    }
  }
}

function readSubgroupMatrixConfigs(info: GPUAdapterInfo): SubgroupMatrixConfig[] | undefined {
  const raw = (info as { subgroupMatrixConfigs?: Iterable<SubgroupMatrixConfig> }).subgroupMatrixConfigs;
  if (!raw) return undefined;
  return [...raw].map((c) => ({
    componentType: String(c.componentType),
    resultComponentType: String(c.resultComponentType),
    M: c.M,
    N: c.N,
    K: c.K,
  }));
}

function backendOf(info: GPUAdapterInfo): string {
  const d = `${info.description} ${info.device} ${info.architecture}`.toLowerCase();
  if (typeof process === "undefined") return "browser";
  if (process.platform === "darwin") return "metal";
  if (process.platform === "win32") return "d3d12";
  return d.includes("opengl") ? "opengl" : "vulkan";
}

let defaultDevice: Promise<Device> | undefined;

/** A process-wide convenience device, created on first use. Everything also accepts an explicit Device. */
export function getDefaultDevice(opts?: DeviceOptions): Promise<Device> {
  defaultDevice ??= Device.create(opts);
  return defaultDevice;
}

export function setDefaultDevice(device: Device): void {
  defaultDevice = Promise.resolve(device);
}
