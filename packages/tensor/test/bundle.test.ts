/**
 * @vit/tensor says `"sideEffects": false`, so a bundler may drop any module or statement that only
 * registers something at import time. This bundles a small consumer with esbuild the way an application
 * would (platform node, `webgpu` external), runs the bundle with node, and checks that a bf16 fill (an
 * on-device f32→bf16 cast the consumer never imports by name) and a backward pass give the values the
 * host computes. Two resolutions of the package: the published dist, and the TypeScript source (what a
 * workspace bundler aliasing the package to src/ sees, module by module; the old import-time
 * registrations were dropped there).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";

const PKG = fileURLToPath(new URL("..", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "vit-tensor-bundle-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// No `cast` import on purpose: the bf16 fill must reach the cast kernel through the package's own imports.
const CONSUMER = `
import { Device, randn, tensor, mul, sum } from "@vit/tensor";
const a = await Device.create({ seed: 7 });
const b = await Device.create({ seed: 7 });
const f32 = await randn(a, [67]).data();
const bf16 = await randn(b, [67], 0, 1, { dtype: "bf16" }).data();
const x = tensor(a, [0.5, -1.25, 3], [3], { requiresGrad: true });
sum(mul(mul(x, x), x)).backward();
const grad = await x.grad.data();
console.log(JSON.stringify({ f32: Array.from(f32), bf16: Array.from(bf16), grad: Array.from(grad) }));
a.destroy();
b.destroy();
process.exit(0);
`;

/** f32 → bf16 → f32 with round-to-nearest-even, on the host (independent of src/half.ts). */
function bf16Round(v: number): number {
  const u = new Uint32Array(Float32Array.of(v).buffer);
  const bits = u[0]!;
  u[0] = (((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16) >>> 0;
  return new Float32Array(u.buffer)[0]!;
}

function setUpProject(): void {
  const nm = join(tmp, "node_modules");
  mkdirSync(join(nm, "@vit"), { recursive: true });
  symlinkSync(PKG, join(nm, "@vit", "tensor"));
  const webgpu = dirname(createRequire(join(PKG, "package.json")).resolve("webgpu/package.json"));
  symlinkSync(webgpu, join(nm, "webgpu"));
  writeFileSync(join(tmp, "consumer.mjs"), CONSUMER);
}
setUpProject();

async function bundleAndRun(name: string, alias?: Record<string, string>) {
  const outfile = join(tmp, `${name}.mjs`);
  await build({
    entryPoints: [join(tmp, "consumer.mjs")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["webgpu"],
    outfile,
    logLevel: "silent",
    ...(alias ? { alias } : {}),
  });
  const r = spawnSync(process.execPath, [outfile], { cwd: tmp, encoding: "utf8", timeout: 60_000 });
  expect(r.status, `bundled consumer (${name}) failed:\n${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as { f32: number[]; bf16: number[]; grad: number[] };
}

function checkValues(out: { f32: number[]; bf16: number[]; grad: number[] }): void {
  expect(out.f32).toHaveLength(67);
  // Same seed, same Philox draw: the bf16 fill is the f32 fill rounded to bf16 (ties to even).
  expect(out.bf16).toEqual(out.f32.map(bf16Round));
  expect(out.bf16.some((v, i) => v !== out.f32[i])).toBe(true);
  // d/dx Σ x³ = 3x², exact in f32 for these inputs.
  expect(out.grad).toEqual([0.5, -1.25, 3].map((v) => 3 * v * v));
}

describe("bundled consumer (esbuild, sideEffects: false honoured)", () => {
  it("from the published dist: bf16 fill (on-device cast) and backward give the host's values", async () => {
    checkValues(await bundleAndRun("from-dist"));
  }, 90_000);

  it("from the TypeScript source: no import-time registration is dropped", async () => {
    checkValues(await bundleAndRun("from-src", { "@vit/tensor": join(PKG, "src", "index.ts") }));
  }, 90_000);
});
