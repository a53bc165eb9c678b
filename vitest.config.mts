import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (test/unit/: pure code and replays of recorded histories, nothing running needed:
 * `npx vitest run --project unit`) and `integration` (everything else, on the real local stack, which its
 * global setup demands). `npx vitest run` (and `make test`) runs both.
 */
export default defineConfig({
  test: {
    // Integration tests start workers and wait on real servers.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**'],
          globalSetup: ['test-support/global-setup.ts'],
        },
      },
    ],
  },
});
