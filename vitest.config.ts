import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/vm/**'],
    testTimeout: 60_000,
    // Live tests share one kernel: run files one at a time.
    fileParallelism: false,
  },
});
