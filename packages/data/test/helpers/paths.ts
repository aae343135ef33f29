import { fileURLToPath } from "node:url";

/** Parent of the per-run bundles test/global-setup.ts writes (index.js, worker.js). */
export const testBuildRoot = fileURLToPath(
  new URL("../../node_modules/.cache/vit-data-test/", import.meta.url),
);

/** This run's bundle directory (index.js, worker.js; the native addon is in ../native/build). */
export function testBuildDir(): string {
  const dir = process.env.VIT_DATA_TEST_BUILD;
  if (!dir)
    throw new Error("VIT_DATA_TEST_BUILD is unset: run the tests through vitest (test/global-setup.ts)");
  return dir;
}
