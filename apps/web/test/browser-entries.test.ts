/**
 * What a web bundler gets for each package the page uses (its `browser` export, else its default one)
 * imports nothing Node-only: no Node built-in (node:fs, path, worker_threads...) and no native addon
 * (Dawn's `webgpu`, sharp). The Chromium test proves the page runs; this says which package broke it.
 */
import { readFileSync } from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);
const NODE_ONLY = new Set([...builtinModules, "webgpu", "sharp", "tar-stream", "fashion-mnist"]);

function browserEntry(pkg: string): string {
  const dir = dirname(require.resolve(`${pkg}/package.json`));
  const pj = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    exports: { ".": { browser?: string; import: string } };
  };
  return join(dir, pj.exports["."].browser ?? pj.exports["."].import);
}

/** Module specifiers of static and dynamic imports (tsup's ESM output). */
function importsOf(code: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(
    /(?:^|[;\s])(?:import|export)\s*(?:[\w*{}\s,$]+\s*from\s*)?["']([^"']+)["']/g,
  ))
    out.push(m[1]!);
  for (const m of code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) out.push(m[1]!);
  return out;
}

describe("browser entries", () => {
  for (const pkg of ["@vit/tensor", "@vit/nn", "@vit/model", "@vit/optim", "@vit/data"]) {
    it(`${pkg} imports nothing Node-only`, () => {
      const file = browserEntry(pkg);
      const specs = importsOf(readFileSync(file, "utf8"));
      const bad = specs.filter((s) => NODE_ONLY.has(s.replace(/^node:/, "").split("/")[0]!));
      expect(bad, `${file}`).toEqual([]);
    });
  }

  it("the Node entries still load Dawn and the file functions (the check can fail)", () => {
    const nodeOf = (pkg: string) => {
      const dir = dirname(require.resolve(`${pkg}/package.json`));
      return importsOf(readFileSync(join(dir, "dist/index.js"), "utf8"));
    };
    expect(nodeOf("@vit/tensor")).toContain("webgpu");
    expect(nodeOf("@vit/nn").some((s) => s.includes("fs/promises"))).toBe(true);
  });
});
