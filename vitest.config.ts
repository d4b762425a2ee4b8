import { defineConfig } from 'vitest/config';

/**
 * Three groups, one after the other; inside a group, files run in parallel, each on its own
 * database. Most files wait on PostgreSQL, sockets and timers more than they compute, so the
 * in-process ones run three at a time even on two cores. The files that start server processes,
 * kill them or PostgreSQL, or cut the network (timings a crowded machine would stretch) run two at
 * a time after them, and the browser tests (one Chromium per file) last, two at a time, never
 * beside a PostgreSQL restart or a flood.
 */
const PROCESSES = [
  'test/actors-crash.test.ts',
  'test/ambiguous-commit.test.ts',
  'test/db-faults.test.ts',
  'test/embedded-faults.test.ts',
  'test/embedded-orphan.test.ts',
  'test/fatal.test.ts',
  'test/first-start.test.ts',
  'test/instances-failover.test.ts',
  'test/instances-forwarding.test.ts',
  'test/instances-leads.test.ts',
  'test/instances-start.test.ts',
  'test/livia-crash.test.ts',
  'test/livia-server-crash.test.ts',
  'test/pipeline-crash.test.ts',
  'test/postgres-driver.test.ts',
  'test/process.test.ts',
  'test/scale-out-faults.test.ts',
  'test/scale-out.test.ts',
  'test/start-signals.test.ts',
  'test/startup-failures.test.ts',
  'test/whatsapp-auth-crash.test.ts',
  'test/whatsapp-crash.test.ts',
];
const BROWSER = [
  'test/ui.test.ts',
  'test/machines-ui.test.ts',
  'test/chats-ui.test.ts',
  'test/conversations-ui.test.ts',
  'test/web.test.ts',
  'test/whatsapp-web.test.ts',
];
const workers = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    fileParallelism: true,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'server',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: [...PROCESSES, ...BROWSER],
          maxWorkers: workers('TEST_WORKERS', 3),
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'processes', include: PROCESSES, maxWorkers: workers('TEST_PROCESS_WORKERS', 2), sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'browser', include: BROWSER, maxWorkers: workers('TEST_BROWSER_WORKERS', 2), sequence: { groupOrder: 2 } } },
    ],
  },
});
