import { defineConfig } from 'vitest/config';

/**
 * Browser tests (one Chromium per file) run after everything else, among themselves: run beside the
 * crash and database-fault tests they shared two cores with PostgreSQL restarts and floods, and
 * waited on timings no user would see.
 */
const BROWSER = [
  'test/ui.test.ts',
  'test/machines-ui.test.ts',
  'test/chats-ui.test.ts',
  'test/conversations-ui.test.ts',
  'test/web.test.ts',
  'test/whatsapp-web.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    // Each file gets its own database, so files run in parallel; tests in a file run in order.
    pool: 'forks',
    fileParallelism: true,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'server', include: ['src/**/*.test.ts', 'test/**/*.test.ts'], exclude: BROWSER, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'browser', include: BROWSER, sequence: { groupOrder: 1 } } },
    ],
  },
});
