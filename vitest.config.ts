import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The loopback guard: a test that opens a connection outside 127.0.0.1 fails.
    setupFiles: ['test/setup.ts'],
    // Integration and e2e tests share one real Redis; files run one at a time so
    // timing-sensitive tests (reconnects, crashes) are not starved by each other.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
