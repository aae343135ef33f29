import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  // The declarations use GPUDevice/GPUBuffer: a consumer needs @webgpu/types (a dependency) in scope.
  dts: { banner: '/// <reference types="@webgpu/types" />' },
  sourcemap: true,
  clean: true,
  target: "node20",
  external: ["webgpu"],
});
