import { browserBuild } from "@vit/tsconfig/tsup-browser.mjs";
import { defineConfig } from "tsup";

// dist/index.js for Node; dist/browser.js (the `browser` export) with src/dawn.browser.ts in place of the
// Dawn loader. Neither cleans dist: the two build concurrently.
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
