/**
 * Migrations on real PostgreSQL: each scenario gets its own temporary migrations folder and its own
 * fresh database.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSql, type Sql } from '../src/db/client.ts';
import { migrate, MigrationError, readMigrations } from '../src/db/migrate.ts';
import { afterFile, createTestDatabase } from './support/db.ts';

const REAL_MIGRATIONS = join(import.meta.dirname, '..', 'migrations');

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A temporary migrations folder holding the given files. */
async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'livia-migrations-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** A client on a fresh, empty database. */
async function freshSql(): Promise<{ sql: Sql; url: string }> {
  const url = await createTestDatabase('mig');
  const sql = createSql(url, { max: 3 });
  afterFile(() => sql.end({ timeout: 5 }));
  return { sql, url };
}

async function recorded(sql: Sql) {
  return sql<{ version: number; name: string }[]>`select version, name from schema_migrations order by applied_at, version`;
}

async function tableExists(sql: Sql, name: string): Promise<boolean> {
  const [row] = await sql<{ t: string | null }[]>`select to_regclass(${name})::text as t`;
  return row?.t != null;
}

describe('readMigrations', () => {
  it('orders by the numeric prefix and ignores files that are not migrations', async () => {
    const dir = await migrationsDir({
      '10_ten.sql': 'select 10;',
      '2_two.sql': 'select 2;',
      '001_one.sql': 'select 1;',
      'README.md': '# not a migration',
      'notes.sql': 'select 0;',
    });
    const files = await readMigrations(dir);
    expect(files.map((f) => f.name)).toEqual(['001_one.sql', '2_two.sql', '10_ten.sql']);
    expect(files.map((f) => f.version)).toEqual([1, 2, 10]);
    expect(files[0]!.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses two files with the same version', async () => {
    const dir = await migrationsDir({ '1_a.sql': 'select 1;', '01_b.sql': 'select 1;' });
    await expect(readMigrations(dir)).rejects.toThrow(MigrationError);
  });
});

describe('migrate', () => {
  it('applies in numeric order (2 before 10), not in name order', async () => {
    const { sql } = await freshSql();
    // 10 only works if 2 ran first; sorted as strings, "10_" would come before "2_".
    const dir = await migrationsDir({
      '10_add_column.sql': 'alter table things add column color text;',
      '2_create.sql': 'create table things (id int primary key);',
    });
    expect(await migrate(sql, dir)).toEqual(['2_create.sql', '10_add_column.sql']);
    expect((await recorded(sql)).map((r) => r.version)).toEqual([2, 10]);
    await sql`insert into things (id, color) values (1, 'blue')`;
  });

  it('is idempotent: a second run applies nothing and returns []', async () => {
    const { sql } = await freshSql();
    const dir = await migrationsDir({
      '1_create.sql': 'create table once (id int);',
      '2_seed.sql': 'insert into once values (1);',
    });
    expect(await migrate(sql, dir)).toEqual(['1_create.sql', '2_seed.sql']);
    expect(await migrate(sql, dir)).toEqual([]);
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from once`;
    expect(row!.n).toBe(1); // the seed did not run twice

    // A later file is picked up by the next run, alone.
    await writeFile(join(dir, '3_more.sql'), 'insert into once values (3);');
    expect(await migrate(sql, dir)).toEqual(['3_more.sql']);
    expect((await recorded(sql)).map((r) => r.version)).toEqual([1, 2, 3]);
  });

  it('refuses to run when an applied file was edited, naming the file', async () => {
    const { sql } = await freshSql();
    const dir = await migrationsDir({
      '1_create.sql': 'create table edited (id int);',
      '2_other.sql': 'create table other (id int);',
    });
    await migrate(sql, dir);
    await writeFile(join(dir, '1_create.sql'), 'create table edited (id int, sneaky text);');
    await writeFile(join(dir, '3_pending.sql'), 'create table pending (id int);');

    const err = await migrate(sql, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toContain('1_create.sql');
    // Nothing after the check ran: the pending migration was not applied.
    expect(await tableExists(sql, 'pending')).toBe(false);
    expect((await recorded(sql)).map((r) => r.version)).toEqual([1, 2]);
  });

  it('rolls a failing migration back entirely and does not record it', async () => {
    const { sql } = await freshSql();
    const dir = await migrationsDir({
      '1_ok.sql': 'create table good (id int);',
      '2_bad.sql': 'create table half (id int);\ninsert into half values (1);\nselect no_such_function();',
      '3_after.sql': 'create table after_bad (id int);',
    });
    const err = await migrate(sql, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toContain('2_bad.sql');

    expect(await tableExists(sql, 'good')).toBe(true);
    expect(await tableExists(sql, 'half')).toBe(false);
    expect(await tableExists(sql, 'after_bad')).toBe(false);
    expect((await recorded(sql)).map((r) => r.name)).toEqual(['1_ok.sql']);

    // Once fixed, the next run applies it and the rest.
    await writeFile(join(dir, '2_bad.sql'), 'create table half (id int);');
    expect(await migrate(sql, dir)).toEqual(['2_bad.sql', '3_after.sql']);
  });

  it('two concurrent runs on the same fresh database both succeed and apply each file once', async () => {
    const url = await createTestDatabase('mig');
    // Two separate pools, as two processes starting at once would have.
    const a = createSql(url, { max: 2 });
    const b = createSql(url, { max: 2 });
    afterFile(() => a.end({ timeout: 5 }));
    afterFile(() => b.end({ timeout: 5 }));
    const dir = await migrationsDir({
      // Slow enough that, without the lock, the second run would start while the first is inside.
      '1_create.sql': 'select pg_sleep(0.3);\ncreate table raced (id int primary key);',
      '2_seed.sql': 'insert into raced values (1);',
      '3_more.sql': 'insert into raced values (2);',
    });

    const [ranA, ranB] = await Promise.all([migrate(a, dir), migrate(b, dir)]);
    // Between them every file ran exactly once.
    expect([...ranA, ...ranB].sort()).toEqual(['1_create.sql', '2_seed.sql', '3_more.sql']);
    const rows = await a<{ version: number; n: number }[]>`
      select version, count(*)::int as n from schema_migrations group by version order by version`;
    expect(rows).toEqual([
      { version: 1, n: 1 },
      { version: 2, n: 1 },
      { version: 3, n: 1 },
    ]);
    const [count] = await a<{ n: number }[]>`select count(*)::int as n from raced`;
    expect(count!.n).toBe(2);
    // The advisory lock was released: a third run goes through at once and finds nothing to do.
    expect(await migrate(b, dir)).toEqual([]);
  });

  it('applies the real migrations/ folder cleanly, then finds nothing to do', async () => {
    const { sql } = await freshSql();
    const files = (await readdir(REAL_MIGRATIONS)).filter((f) => /^\d+_[\w-]+\.sql$/.test(f)).sort();
    expect(files.length).toBeGreaterThan(0);
    const applied = await migrate(sql, REAL_MIGRATIONS);
    expect([...applied].sort()).toEqual(files);
    for (const table of ['consultants', 'leads', 'interactions', 'notifications', 'actor_snapshots']) {
      expect(await tableExists(sql, table), table).toBe(true);
    }
    expect(await migrate(sql, REAL_MIGRATIONS)).toEqual([]);
  });
});
