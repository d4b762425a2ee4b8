/**
 * One PostgreSQL server for the whole run: `DATABASE_URL` when given, otherwise an embedded one
 * of this run's own (so runs side by side do not stop each other's server). Each test file then
 * creates a database of its own on it (see db.ts), so files run in parallel without seeing each
 * other's rows. Servers left by runs that died (kill -9) are stopped and removed here.
 */
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, stopStaleServer } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/log.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

const root = join(tmpdir(), 'livia-test-pg');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export default async function setup(project: TestProject) {
  const external = process.env.DATABASE_URL;
  if (external) {
    project.provide('pgAdminUrl', external);
    return;
  }
  // One server for the run, shared by its projects (vitest calls this once per project, in one
  // process): the last project's teardown stops it.
  const shared = ((globalThis as { __liviaTestPg?: SharedServer }).__liviaTestPg ??= { users: 0, server: startServer() });
  shared.users++;
  const db = await shared.server;
  project.provide('pgAdminUrl', db.url);
  return async () => {
    if (--shared.users > 0) return;
    await db.stop();
  };
}

interface SharedServer {
  users: number;
  server: Promise<{ url: string; stop(): Promise<void> }>;
}

async function startServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const log = createLogger('warn');
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const pid = Number.parseInt(name, 10);
    if (!Number.isInteger(pid) || alive(pid)) continue;
    await stopStaleServer(join(root, name), log).catch(() => {});
    await rm(join(root, name), { recursive: true, force: true });
  }
  const dir = join(root, String(process.pid));
  // The run's own server is thrown away afterwards: no fsync (a test kills our processes, or
  // PostgreSQL servers of its own, never this one), so commits do not queue behind the disk.
  const db = await startEmbeddedPostgres({
    dir,
    password: 'livia-test',
    log,
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '400' },
  });
  return {
    url: db.url,
    stop: async () => {
      await db.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
