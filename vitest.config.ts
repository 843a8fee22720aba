import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // 2-core machines: learning tests and worker-thread tests fight for CPU when run in parallel.
    fileParallelism: false,
  },
});
