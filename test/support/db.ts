/**
 * A fresh, empty database per caller on the run's PostgreSQL server, dropped after the file.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, inject } from 'vitest';
import { createSql, type Sql } from '../../src/db/client.ts';

/**
 * Cleanups run once after the file's last test. vitest ignores `afterAll` registered inside a test
 * or another hook, so helpers called from `it`/`beforeAll` register here instead; this module's
 * own `afterAll` is registered at import (collection) time, which vitest does honour.
 */
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const step of cleanups.splice(0).reverse()) await step().catch(() => {});
});

/** Runs `step` after the file's last test (latest registered first). */
export function afterFile(step: () => Promise<void>): void {
  cleanups.push(step);
}

export function adminUrl(): string {
  return inject('pgAdminUrl');
}

export async function createTestDatabase(prefix = 't'): Promise<string> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = createSql(adminUrl(), { max: 1 });
  await admin.unsafe(`create database "${name}"`);
  await admin.end();
  afterFile(async () => {
    const a = createSql(adminUrl(), { max: 1 });
    await a.unsafe(`drop database if exists "${name}" with (force)`).catch(() => {});
    await a.end();
  });
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/** A postgres.js client on a fresh database, closed after the file. */
export async function testSql(): Promise<{ sql: Sql; url: string }> {
  const url = await createTestDatabase();
  const sql = createSql(url, { max: 5 });
  afterFile(() => sql.end({ timeout: 5 }));
  return { sql, url };
}
