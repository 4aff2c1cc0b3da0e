// vitest configuration of the test:vm suite (test/vm/*.test.ts), run inside the guest by guest.mjs.
// The host's vitest.config.ts excludes test/vm; these files need a kernel with kprobe events.
import { defineConfig } from 'vitest/config';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: resolve(dirname(fileURLToPath(import.meta.url)), '../..'),
  test: {
    include: ['test/vm/**/*.test.ts'],
    // Node under emulation is 10-20x slower than on the host.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
