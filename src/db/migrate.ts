/**
 * Applies the numbered plain-SQL files of `migrations/` in order, each once and in its own
 * transaction, recording each with a SHA-256 checksum in `schema_migrations`.
 *
 * Two processes starting at once serialize on a session advisory lock; the second finds the work
 * done. A file edited after it was applied stops the start: silently diverging schemas are worse.
 *
 * @example
 * const applied = await migrate(sql, 'migrations'); // => ['001_initial.sql']
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from './client.ts';

/** Arbitrary but fixed: the advisory lock key that serializes migration runs ("livia" in ASCII). */
const MIGRATION_LOCK_KEY = 0x6c69766961;

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export interface MigrationFile {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_[\w-]+\.sql$/.test(f));
  const migrations = await Promise.all(
    files.map(async (name) => {
      const text = await readFile(join(dir, name), 'utf8');
      return {
        version: Number.parseInt(name, 10),
        name,
        sql: text,
        checksum: createHash('sha256').update(text).digest('hex'),
      };
    }),
  );
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version === migrations[i - 1]!.version) {
      throw new MigrationError(`two migrations share version ${migrations[i]!.version}`);
    }
  }
  return migrations;
}

/** Runs pending migrations; returns the names of those applied by this call. */
export async function migrate(sql: Sql, dir: string): Promise<string[]> {
  const migrations = await readMigrations(dir);
  const conn = await sql.reserve();
  try {
    await conn`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    await conn`
      create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`;
    const rows = await conn<{ version: number; name: string; checksum: string }[]>`
      select version, name, checksum from schema_migrations order by version`;
    const applied = new Map(rows.map((r) => [r.version, r]));

    for (const m of migrations) {
      const done = applied.get(m.version);
      if (done && done.checksum !== m.checksum) {
        throw new MigrationError(
          `migration ${m.name} was edited after it was applied (checksum ${m.checksum.slice(0, 12)} ` +
            `!= recorded ${done.checksum.slice(0, 12)}); add a new migration instead of editing an applied one`,
        );
      }
    }

    const ran: string[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await conn`begin`;
      try {
        await conn.unsafe(m.sql);
        await conn`insert into schema_migrations (version, name, checksum) values (${m.version}, ${m.name}, ${m.checksum})`;
        await conn`commit`;
      } catch (err) {
        await conn`rollback`;
        throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      ran.push(m.name);
    }
    return ran;
  } finally {
    await conn`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => {});
    conn.release();
  }
}
