import { browserBuild } from "@vit/tsconfig/tsup-browser.mjs";
import { defineConfig } from "tsup";

// dist/index.js for Node; dist/browser.js (the `browser` export) with src/safetensors-fs.browser.ts in
// place of the file functions. Neither cleans dist: the two build concurrently.
export default defineConfig([
  {
    entry: ["src/index.ts"],
    format: ["esm"],
    dts: true,
    sourcemap: true,
    clean: false,
    target: "node20",
    external: ["webgpu"],
  },
  browserBuild(),
]);
