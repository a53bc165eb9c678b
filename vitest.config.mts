import { configDefaults, defineConfig } from 'vitest/config';

const SERVER_FAULTS = 'test/server-faults.test.ts';

export default defineConfig({
  test: {
    // Integration tests start workers and wait on real servers.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['test-support/global-setup.ts'],
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'stack', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, SERVER_FAULTS], sequence: { groupOrder: 0 } } },
      // Restarts the stack's servers, which would disturb every other test: it runs alone, after them.
      { extends: true, test: { name: 'server-faults', include: [SERVER_FAULTS], sequence: { groupOrder: 1 } } },
    ],
  },
});
