import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start workers and wait on real servers.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['test-support/global-setup.ts'],
    pool: 'forks',
  },
});
