// Worker threads cannot run the TypeScript sources vitest imports, so bundle the worker (and the package
// entry, for tests that spawn a separate Node process) once per run. Output sits under node_modules so that
// bare imports like "sharp" resolve from packages/data.
import { rm } from "node:fs/promises";
import { build } from "tsup";
import { testBuildDir } from "./helpers/paths.js";

export default async function setup(): Promise<void> {
  await rm(testBuildDir, { recursive: true, force: true });
  await build({
    entry: { index: "src/index.ts", worker: "src/worker.ts" },
    outDir: testBuildDir,
    format: ["esm"],
    target: "node20",
    dts: false,
    sourcemap: false,
    clean: false,
    silent: true,
    config: false,
    external: ["sharp", "tar-stream", "fashion-mnist"],
  });
}
