import { describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { useDevice } from "./helpers.js";

const ctx = useDevice();

describe("lifetime", () => {
  it("100 training-like iterations inside scope leave live tensors and bytes where they started", async () => {
    const dev = ctx.dev;
    const w = T.randn(dev, [16, 8], 0, 0.1, { requiresGrad: true });
    const b = T.zeros(dev, [8], { requiresGrad: true });
    const x = T.randn(dev, [32, 16]);
    const labels = T.tensor(dev, Int32Array.from({ length: 32 }, (_, i) => i % 8), [32]);
    // One warm-up step creates the parameter gradients, which persist across steps as in PyTorch.
    const step = () =>
      T.scope(() => {
        const loss = T.crossEntropy(T.gelu(T.matmul(x, w, { bias: b })), labels, { labelSmoothing: 0.1 });
        loss.backward();
        T.noGrad(() => {
          // SGD in place of the fused optimizer: new weights replace the old storage contents.
          const nw = T.sub(w, T.mulScalar(w.grad!, 0.1));
          dev.copy(nw.buffer, 0, w.buffer, 0, w.numel * 4);
        });
      });
    step();
    await dev.sync();
    const live0 = dev.liveTensors;
    const bytes0 = dev.memoryStats().liveBytes;
    for (let i = 0; i < 100; i++) step();
    await dev.sync();
    expect(dev.liveTensors).toBe(live0);
    expect(dev.memoryStats().liveBytes).toBe(bytes0);
    // The cache serves every step after the first: no new buffers are created.
    const reserved = dev.memoryStats().reservedBytes;
    step();
    expect(dev.memoryStats().reservedBytes).toBe(reserved);
    for (const t of [w, b, x, labels]) t.dispose();
  });

  it("scope returns nested results and disposes the rest; keep() exempts", () => {
    const dev = ctx.dev;
    const before = dev.liveTensors;
    let kept!: T.Tensor;
    const { a, list } = T.scope(() => {
      const t1 = T.ones(dev, [3]);
      const t2 = T.add(t1, t1);
      kept = T.keep(T.mul(t2, t2));
      return { a: t2, list: [T.neg(t2)] };
    });
    expect(dev.liveTensors).toBe(before + 3);
    for (const t of [a, list[0]!, kept]) t.dispose();
    expect(dev.liveTensors).toBe(before);
  });

  it("memoryStats tracks live and peak bytes; resetPeak", () => {
    const dev = ctx.dev;
    dev.resetPeak();
    const base = dev.memoryStats().liveBytes;
    const t = T.zeros(dev, [1024, 256]);
    expect(dev.memoryStats().liveBytes - base).toBe(1024 * 256 * 4);
    t.dispose();
    expect(dev.memoryStats().liveBytes).toBe(base);
    expect(dev.memoryStats().peakBytes - base).toBeGreaterThanOrEqual(1024 * 256 * 4);
    dev.resetPeak();
    expect(dev.memoryStats().peakBytes).toBe(base);
  });
});

describe("autograd", () => {
  it("gradients accumulate across backward calls (micro-batches)", async () => {
    const dev = ctx.dev;
    const x = T.tensor(dev, [1, 2, 3], [3], { requiresGrad: true });
    T.sum(T.mul(x, x)).backward();
    T.sum(T.mul(x, x)).backward();
    expect(Array.from(await x.grad!.data())).toEqual([4, 8, 12]);
  });
  it("noGrad records nothing; detach-like views need no grad", () => {
    const x = T.tensor(ctx.dev, [1, 2], [2], { requiresGrad: true });
    const y = T.noGrad(() => T.mul(x, x));
    expect(y.requiresGrad).toBe(false);
    expect(() => y.backward()).toThrow(/does not require grad/);
  });
  it("backward on a non-scalar without a gradient explains the fix", () => {
    const x = T.tensor(ctx.dev, [1, 2], [2], { requiresGrad: true });
    expect(() => T.mul(x, x).backward()).toThrow(/not a scalar; pass a gradient/);
  });
  it("a value used twice gets both contributions", async () => {
    const x = T.tensor(ctx.dev, [3], [1], { requiresGrad: true });
    const y = T.add(x, x); // dy/dx = 2
    T.sum(T.mul(y, x)).backward(); // d(2x·x)/dx = 4x = 12
    expect(Array.from(await x.grad!.data())).toEqual([12]);
  });
});

describe("bad input", () => {
  it("mismatched broadcast shapes name the op and the shapes", () => {
    const a = T.zeros(ctx.dev, [2, 3]);
    const b = T.zeros(ctx.dev, [4]);
    expect(() => T.add(a, b)).toThrow(/add: shapes \[2, 3\] and \[4\] do not broadcast/);
  });
  it("wrong dtype names the op and the fix", () => {
    const a = T.zeros(ctx.dev, [2], { dtype: "i32" });
    expect(() => T.exp(a)).toThrow(/exp: got \[2\] i32, but this op takes f32 or f16.*cast/);
    const b = T.zeros(ctx.dev, [4], { dtype: "bf16" });
    expect(() => T.sum(b)).toThrow(/bf16 is a storage type: cast\(t, 'f32'\) first/);
  });
  it("reading a disposed tensor says what happened and the fix", async () => {
    const a = T.zeros(ctx.dev, [2]);
    a.dispose();
    await expect(a.data()).rejects.toThrow(/was disposed and cannot be used.*keep\(t\)/);
    expect(() => T.neg(a)).toThrow(/disposed/);
  });
  it("a tensor with the wrong number of values", () => {
    expect(() => T.tensor(ctx.dev, [1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
  });
  it("tensors from different devices cannot be mixed", async () => {
    const other = await T.Device.create();
    const a = T.zeros(ctx.dev, [2]);
    const b = T.zeros(other, [2]);
    expect(() => T.add(a, b)).toThrow(/different devices/);
    other.destroy();
  });
});

describe("devices", () => {
  it("two devices in one process compute independently", async () => {
    const d2 = await T.Device.create({ seed: 5 });
    const a = T.tensor(ctx.dev, [1, 2, 3], [3]);
    const b = T.tensor(d2, [10, 20, 30], [3]);
    const [ra, rb] = await Promise.all([T.mulScalar(a, 2).data(), T.addScalar(b, 1).data()]);
    expect(Array.from(ra)).toEqual([2, 4, 6]);
    expect(Array.from(rb)).toEqual([11, 21, 31]);
    d2.destroy();
  });
  it("ops are recorded, not submitted, until a read; pipelines are cached", async () => {
    const dev = ctx.dev;
    const x = T.ones(dev, [64]);
    let y = x;
    const pipelines = dev.pipelineCount;
    const d0 = dev.dispatchCount;
    for (let i = 0; i < 50; i++) y = T.addScalar(y, 1);
    expect(dev.dispatchCount - d0).toBe(50);
    expect(dev.pipelineCount - pipelines).toBeLessThanOrEqual(1);
    expect((await y.data())[0]).toBe(51);
  });
  it("adapter summary lists vendor, backend and features", () => {
    const a = ctx.dev.adapter;
    expect(a.backend.length).toBeGreaterThan(0);
    expect(Array.isArray(a.features)).toBe(true);
    expect(a.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
  });
});
