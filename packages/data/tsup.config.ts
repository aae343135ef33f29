import { browserBuild } from "@vit/tsconfig/tsup-browser.mjs";
import { defineConfig } from "tsup";

export default defineConfig([
  {
    // worker.ts is its own entry: the loader starts it as dist/worker.js next to dist/index.js.
    entry: ["src/index.ts", "src/worker.ts"],
    format: ["esm"],
    dts: { entry: "src/index.ts" },
    sourcemap: true,
    clean: false,
    target: "node20",
    external: ["webgpu"],
  },
  // dist/browser.js (the `browser` export): the Node-free parts, src/browser.ts.
  browserBuild("src/browser.ts"),
]);
