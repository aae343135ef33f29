// Shared vitest settings. GPU tests run on one device per worker; lavapipe already uses every core,
// so test files run one at a time (singleFork) to avoid oversubscribing a 2-core machine.
import { defineConfig } from "vitest/config";

export function vitConfig(overrides = {}) {
  return defineConfig({
    test: {
      include: ["test/**/*.test.ts"],
      pool: "forks",
      poolOptions: { forks: { singleFork: true } },
      testTimeout: 120_000,
      hookTimeout: 120_000,
      ...overrides,
    },
  });
}
