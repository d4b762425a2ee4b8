import { defineConfig } from 'vitest/config';

/**
 * Four groups, one after the other, each file on its own database: in-process files, files that
 * start server processes, fault files (kill -9, SIGSTOP, PostgreSQL restarts and stalls, several
 * instances) and browser files (one Chromium each). Two files at a time in each group by default
 * (on two cores one at a time took about 1,000 s), except the browser files: two Chromiums and their
 * servers on two cores timed out now and then. TEST_WORKERS, TEST_PROCESS_WORKERS,
 * TEST_FAULT_WORKERS and TEST_BROWSER_WORKERS set each group's count.
 */
/** Start server processes and stop them; no timing a crowded machine would stretch. */
const PROCESSES = [
  'test/ambiguous-commit.test.ts',
  'test/embedded-orphan.test.ts',
  'test/fatal.test.ts',
  'test/first-start.test.ts',
  'test/postgres-driver.test.ts',
  'test/process.test.ts',
  'test/start-signals.test.ts',
  'test/startup-failures.test.ts',
];
/** kill -9, SIGSTOP, PostgreSQL restarts and stalls, several instances. */
const FAULTS = [
  'test/actors-crash.test.ts',
  'test/db-faults.test.ts',
  'test/embedded-faults.test.ts',
  'test/instances-failover.test.ts',
  'test/instances-forwarding.test.ts',
  'test/instances-leads.test.ts',
  'test/instances-start.test.ts',
  'test/livia-crash.test.ts',
  'test/livia-server-crash.test.ts',
  'test/pipeline-crash.test.ts',
  'test/scale-out-faults.test.ts',
  'test/scale-out.test.ts',
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
          exclude: [...PROCESSES, ...FAULTS, ...BROWSER],
          maxWorkers: workers('TEST_WORKERS', 2),
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'processes', include: PROCESSES, maxWorkers: workers('TEST_PROCESS_WORKERS', 2), sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'faults', include: FAULTS, maxWorkers: workers('TEST_FAULT_WORKERS', 2), sequence: { groupOrder: 2 } } },
      { extends: true, test: { name: 'browser', include: BROWSER, maxWorkers: workers('TEST_BROWSER_WORKERS', 1), sequence: { groupOrder: 3 } } },
    ],
  },
});
