// Shared vitest settings. GPU tests share the machine's cores with the driver (lavapipe runs its own
// worker threads), so test files run one at a time in one fork. When VIT_TEST_REPORT_DIR is set (the
// root ./test.sh), each package also writes a JSON report that the closing summary line adds up.
import { basename } from "node:path";
import { defineConfig } from "vitest/config";

export function vitConfig(overrides = {}) {
  const reportDir = process.env.VIT_TEST_REPORT_DIR;
  const name = basename(process.cwd());
  return defineConfig({
    test: {
      include: ["test/**/*.test.ts"],
      pool: "forks",
      poolOptions: { forks: { singleFork: true } },
      fileParallelism: false,
      // No automatic matmul autotune in tests (vit train tunes once per host): a test launching ranks
      // before and after a tuning run would compare different kernels. The autotune tests turn it on.
      env: { VIT_AUTOTUNE: "0" },
      testTimeout: 120_000,
      hookTimeout: 120_000,
      reporters: reportDir ? ["default", "json"] : ["default"],
      outputFile: reportDir ? { json: `${reportDir}/${name}.json` } : undefined,
      ...overrides,
    },
  });
}
