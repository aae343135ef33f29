import { defineConfig } from "tsup";

// Neither build cleans dist: they run concurrently.
export default defineConfig([
  {
    entry: ["src/main.ts", "src/comm-estimate.ts"],
    format: ["esm"],
    dts: false,
    sourcemap: true,
    clean: false,
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
    // tfjs (a devDependency, loaded only by the kernels suite) stays a runtime import: bundling breaks its requires.
    // playwright-core (a devDependency, loaded only by the browser suite) likewise.
    external: [
      "webgpu",
      "sharp",
      "@tensorflow/tfjs",
      "@tensorflow/tfjs-core",
      "@tensorflow/tfjs-backend-webgpu",
      "playwright-core",
    ],
  },
  {
    // The browser suite's page: everything bundled, with the packages' `browser` exports.
    entry: { "browser-page": "src/browser/page.ts" },
    format: ["esm"],
    dts: false,
    sourcemap: false,
    clean: false,
    platform: "browser",
    target: "es2022",
    noExternal: [/.*/],
  },
]);
