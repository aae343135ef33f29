import { browserBuild } from "@vit/tsconfig/tsup-browser.mjs";
import { defineConfig } from "tsup";

// dist/index.js for Node; dist/browser.js (the `browser` export) with src/dawn.browser.ts in place of the
// Dawn loader. Neither cleans dist: the two build concurrently.
export default defineConfig([
  {
    entry: ["src/index.ts"],
    format: ["esm"],
    // The declarations use GPUDevice/GPUBuffer: a consumer needs @webgpu/types (a dependency) in scope.
    dts: { banner: '/// <reference types="@webgpu/types" />' },
    sourcemap: true,
    clean: false,
    target: "node20",
    external: ["webgpu"],
  },
  browserBuild(),
]);
