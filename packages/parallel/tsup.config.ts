import { browserBuild } from "@vit/tsconfig/tsup-browser.mjs";
import { defineConfig } from "tsup";

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
  // dist/browser.js (the `browser` export): the Node-free core, src/browser.ts.
  browserBuild("src/browser.ts"),
]);
