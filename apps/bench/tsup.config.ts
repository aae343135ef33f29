import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/main.ts"],
  format: ["esm"],
  dts: false,
  sourcemap: true,
  clean: true,
  target: "node20",
  banner: { js: "#!/usr/bin/env node" },
  // tfjs (a devDependency, loaded only by the kernels suite) stays a runtime import: bundling breaks its requires.
  external: ["webgpu", "sharp", "@tensorflow/tfjs", "@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-webgpu"],
});
