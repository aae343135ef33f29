/**
 * The pipeline cache is keyed by (kernel id, canonical variant): a variant differing in any field —
 * nested ones included — gets its own pipeline, equal variants (however built, fields in any order)
 * share one, and what runs is the WGSL of the variant asked for, never a stale cached one. Plus the
 * static half of "kernels/ holds only WGSL generators": no GPU object or Device in those files (the
 * import side is the `tensor-kernels-pure` rule of .dependency-cruiser.cjs).
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { defineKernel, pipelineKey } from "../src/kernels/kernel.js";
import { tiledMatmulKernel } from "../src/matmul/kernels/tiled.js";
import { useDevice } from "./helpers.js";

const ctx = useDevice();

interface ToyVariant {
  a: number;
  flag: boolean;
  name: string;
  nested: { b: number; on: boolean };
  list: number[];
}

/** Writes one u32 computed from every field of its variant, so the value read back names the WGSL that ran. */
const toy = defineKernel(
  "test_pipeline_cache_toy",
  (v: ToyVariant) => `@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1)
fn main() { out[0] = ${expected(v)}u; }`,
);

function expected(v: ToyVariant): number {
  return (
    v.a +
    (v.flag ? 10 : 0) +
    v.name.length * 100 +
    v.nested.b * 1000 +
    (v.nested.on ? 10000 : 0) +
    v.list.reduce((s, x, i) => s + x * 100000 * (i + 1), 0)
  );
}

const base = (): ToyVariant => ({ a: 1, flag: false, name: "x", nested: { b: 2, on: false }, list: [1] });

/** Every variant that differs from base() in exactly one field (each leaf, at every depth). */
const oneFieldChanges: Array<[string, ToyVariant]> = [
  ["a", { ...base(), a: 2 }],
  ["flag", { ...base(), flag: true }],
  ["name", { ...base(), name: "xy" }],
  ["nested.b", { ...base(), nested: { b: 3, on: false } }],
  ["nested.on", { ...base(), nested: { b: 2, on: true } }],
  ["list[0]", { ...base(), list: [2] }],
  ["list length", { ...base(), list: [1, 0] }],
];

async function runToy(v: ToyVariant): Promise<number> {
  const dev = ctx.dev;
  const out = T.zeros(dev, [1], { dtype: "u32" });
  dev.run({ name: "toy", kernel: toy, variant: v, buffers: [out.buffer], workgroups: [1] });
  const got = (await out.data())[0]!;
  out.dispose();
  return got;
}

describe("pipeline cache keyed by the variant object", () => {
  it("equal variants share one pipeline, whatever their field order or identity", async () => {
    const dev = ctx.dev;
    T.zeros(dev, [1], { dtype: "u32" }).dispose(); // the output's fill kernel, compiled first
    const before = dev.pipelineCount;
    expect(await runToy(base())).toBe(expected(base()));
    const afterFirst = dev.pipelineCount;
    expect(afterFirst - before).toBe(1);
    // A separately built equal object with its keys in another order.
    const reordered: ToyVariant = { list: [1], nested: { on: false, b: 2 }, name: "x", flag: false, a: 1 };
    expect(await runToy(reordered)).toBe(expected(base()));
    expect(await runToy(base())).toBe(expected(base()));
    expect(dev.pipelineCount).toBe(afterFirst);
  });

  it.each(oneFieldChanges)(
    "a variant differing only in %s gets its own pipeline and its own WGSL",
    async (_, v) => {
      const dev = ctx.dev;
      await runToy(base()); // cached by now
      const before = dev.pipelineCount;
      // The value proves the new variant's WGSL ran, not base()'s cached pipeline.
      expect(await runToy(v)).toBe(expected(v));
      expect(dev.pipelineCount - before).toBe(1);
      expect(await runToy({ ...v })).toBe(expected(v));
      expect(dev.pipelineCount - before).toBe(1);
    },
  );

  it("keys of a real variant (tiled matmul, nested epilogue) differ in every field", () => {
    const v = {
      transA: false,
      transB: true,
      inType: "f32" as "f32" | "f16",
      tk: 16,
      epilogue: {
        bias: true,
        activation: "gelu" as "none" | "gelu" | "gelu_tanh" | "relu",
        residual: false,
        savePre: true,
        dtype: "f32" as "f32" | "f16",
        vec: true,
      },
    };
    const changed = [
      { ...v, transA: true },
      { ...v, transB: false },
      { ...v, inType: "f16" as const },
      { ...v, tk: 32 },
      { ...v, epilogue: { ...v.epilogue, bias: false } },
      { ...v, epilogue: { ...v.epilogue, activation: "relu" as const } },
      { ...v, epilogue: { ...v.epilogue, residual: true } },
      { ...v, epilogue: { ...v.epilogue, savePre: false } },
      { ...v, epilogue: { ...v.epilogue, dtype: "f16" as const } },
      { ...v, epilogue: { ...v.epilogue, vec: false } },
    ];
    const keys = new Set([v, ...changed].map((x) => pipelineKey(tiledMatmulKernel, x)));
    expect(keys.size).toBe(changed.length + 1);
    // And each of those fields does change the WGSL (so it must be in the key).
    const wgsl = new Set([v, ...changed].map((x) => tiledMatmulKernel.wgsl(x)));
    expect(wgsl.size).toBe(changed.length + 1);
  });

  it("strings, numbers, booleans and null never collide; non-data values are refused", () => {
    const k = { id: "k", wgsl: () => "" };
    const ks = [
      { x: "1" },
      { x: 1 },
      { x: true },
      { x: "true" },
      { x: null },
      { x: "null" },
      { x: [1] },
      { x: "[1]" },
    ];
    expect(new Set(ks.map((v) => pipelineKey(k, v))).size).toBe(ks.length);
    expect(() => pipelineKey(k, { f: () => 1 })).toThrow(/plain data/);
    expect(() => pipelineKey(k, { d: new Date(0) })).toThrow(/plain data/);
  });

  it("a kernel id can be defined only once", () => {
    expect(() => defineKernel("test_pipeline_cache_toy", () => "")).toThrow(/two kernels/);
  });
});

describe("kernels/ holds only WGSL generators", () => {
  const src = fileURLToPath(new URL("../src/", import.meta.url));
  const files = ["kernels", "matmul/kernels"].flatMap((d) =>
    readdirSync(join(src, d))
      .filter((f) => f.endsWith(".ts"))
      .map((f) => join(d, f)),
  );
  it.each(files)("%s uses no GPU object and no Device", (f) => {
    // Comments removed: they may mention the Device that runs the kernels.
    const code = readFileSync(join(src, f), "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/^\s*\/\/.*$/gm, "");
    expect(code).not.toMatch(/\bGPU[A-Za-z]*\b|\bDevice\b|\bnavigator\b/);
  });
});

describe("bind groups are cached for every kernel's bindings", () => {
  it("a repeated matmul (texture operands, packed or copied) creates no new bind group", async () => {
    const dev = ctx.dev;
    // Every binding kind the generators write must get an explicit layout (bind-layout.ts): an unparsed
    // declaration falls back to the auto layout, whose bind groups cannot be cached (one per dispatch).
    const a = T.randn(dev, [33, 17]);
    const b = T.randn(dev, [17, 20]);
    const w = T.randn(dev, [12, 20]);
    const once = () => {
      const c = T.matmul(a, b); // K = 17: A goes through the pack kernel
      const d = T.matmul(c, w, { transB: true }); // aligned: plain copies
      c.dispose();
      d.dispose();
    };
    once();
    await dev.sync();
    const before = dev.bindGroupsCreated;
    once();
    once();
    await dev.sync();
    expect(dev.bindGroupsCreated).toBe(before);
    for (const t of [a, b, w]) t.dispose();
  });
});
