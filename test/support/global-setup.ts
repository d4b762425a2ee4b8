/**
 * One PostgreSQL server for the whole run: `DATABASE_URL` when given, otherwise an embedded one
 * kept in the OS temp dir between runs (initdb once). Each test file then creates a database of
 * its own on it (see db.ts), so files run in parallel without seeing each other's rows.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/log.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const external = process.env.DATABASE_URL;
  if (external) {
    project.provide('pgAdminUrl', external);
    return;
  }
  const db = await startEmbeddedPostgres({
    dir: join(tmpdir(), `livia-test-pg-${process.getuid?.() ?? 0}`),
    password: 'livia-test',
    log: createLogger('warn'),
  });
  project.provide('pgAdminUrl', db.url);
  return () => db.stop();
}
