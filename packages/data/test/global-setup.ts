// Worker threads cannot run the TypeScript sources vitest imports, so bundle the worker (and the package
// entry, for tests that spawn a separate Node process) once per run. Output sits under node_modules so that
// bare imports like "sharp" resolve from packages/data; the directory is per run so concurrent runs of the
// suite do not clobber each other's bundles.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { build } from "tsup";
import { testBuildRoot } from "./helpers/paths.js";

export default async function setup(): Promise<() => Promise<void>> {
  const run = join(testBuildRoot, `run-${process.pid}`);
  // dist/ and native/build/ side by side, as in the package, so the bundle finds the addon by its tag.
  const dir = join(run, "dist");
  await build({
    entry: { index: "src/index.ts", worker: "src/worker.ts" },
    outDir: dir,
    format: ["esm"],
    target: "node20",
    dts: false,
    sourcemap: false,
    clean: false,
    silent: true,
    config: false,
    external: ["sharp", "tar-stream", "fashion-mnist"],
  });
  // The native JPEG box decoder, compiled from native/jpeg-box.c so the tests cover the current source.
  // Its absence is reported by the script and fails test/jpeg-native.test.ts with the fix.
  const buildDir = join(run, "native", "build");
  execFileSync(process.execPath, ["scripts/build-native.mjs", buildDir], { stdio: "inherit" });
  const tag = readdirSync(buildDir, { withFileTypes: true }).find((d) => d.isDirectory());
  // Test processes are forked after global setup and inherit these. The sources under test (src/) would
  // otherwise look in the package's own native/build.
  process.env.VIT_DATA_TEST_BUILD = dir;
  if (tag) process.env.VIT_DATA_JPEG_ADDON ??= join(buildDir, tag.name, "jpeg_box.node");
  return async () => {
    await rm(run, { recursive: true, force: true });
  };
}
