import { defineConfig } from "tsup";

export default defineConfig({
  // worker.ts is its own entry: the loader starts it as dist/worker.js next to dist/index.js.
  entry: ["src/index.ts", "src/worker.ts"],
  format: ["esm"],
  dts: { entry: "src/index.ts" },
  sourcemap: true,
  clean: true,
  target: "node20",
  external: ["webgpu"],
});
