import { configDefaults, defineConfig } from 'vitest/config';

const SERVER_FAULTS = 'test/server-faults.test.ts';

/**
 * Three projects: `unit` (test/unit/: pure code and replays of recorded histories, nothing running needed:
 * `npx vitest run --project unit`), `integration` (everything else, on the real local stack, which its
 * global setup demands) and `server-faults` (restarts the stack's servers: make test gives it a stack of
 * its own, test-faults, and runs it beside the integration tests).
 */
export default defineConfig({
  test: {
    // Integration tests start workers and wait on real servers.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The summary make test prints last (failed tests, and those that passed only on a retry).
    reporters: ['default', './test-support/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/unit/**', SERVER_FAULTS],
          globalSetup: ['test-support/global-setup.ts'],
          // These tests wait on real controllers (Argo CD, Crossplane, kube-apiserver) that share two
          // saturated cores with three test files at once; a wait that overruns under that load gets
          // one more try. A test that fails twice fails the run, and one that passed only on its retry
          // is listed by name at the end of make test, so a flake is seen, not hidden.
          retry: 1,
        },
      },
      // Restarts the stack's servers, which would disturb every other test: make test runs it on a stack of its own.
      { extends: true, test: { name: 'server-faults', include: [SERVER_FAULTS], globalSetup: ['test-support/global-setup.ts'] } },
    ],
  },
});
