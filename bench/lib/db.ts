/**
 * The benchmark's database: a fresh `bench_<random>` database on `DATABASE_URL`'s server if set,
 * else on the local server at 127.0.0.1:5432 if it answers, else on an embedded PostgreSQL started
 * for the run. The database (and the embedded server) are removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/log.ts';
import { progress } from './common.ts';

export const LOCAL_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  /** URL of the bench's own database. */
  url: string;
  /** Where it came from, for the report. */
  source: 'DATABASE_URL' | 'local 127.0.0.1:5432' | 'embedded';
  server: { version: string; synchronous_commit: string; fsync: string; max_connections: number };
  /** Drops the database and stops an embedded server. */
  close(): Promise<void>;
}

async function reachable(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

export async function openBenchDatabase(env: NodeJS.ProcessEnv = process.env): Promise<BenchDatabase> {
  let adminUrl: string;
  let source: BenchDatabase['source'];
  let stopEmbedded: (() => Promise<void>) | undefined;
  const forceEmbedded = env.BENCH_DB === 'embedded';
  if (env.DATABASE_URL && !forceEmbedded) {
    adminUrl = env.DATABASE_URL;
    source = 'DATABASE_URL';
  } else if (!forceEmbedded && (await reachable(LOCAL_URL))) {
    adminUrl = LOCAL_URL;
    source = 'local 127.0.0.1:5432';
  } else {
    progress(forceEmbedded ? 'BENCH_DB=embedded: starting an embedded PostgreSQL' : 'no DATABASE_URL and nothing on 127.0.0.1:5432: starting an embedded PostgreSQL');
    const dir = await mkdtemp(join(tmpdir(), 'livia-bench-pg-'));
    // As root, embedded PostgreSQL runs as the `postgres` user, which must enter the folder.
    await chmod(dir, 0o755);
    const db = await startEmbeddedPostgres({ dir: join(dir, 'postgres'), password: 'livia-bench', log: createLogger('warn') });
    adminUrl = db.url;
    source = 'embedded';
    stopEmbedded = async () => {
      await db.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }

  const name = `bench_${randomBytes(5).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  let url: string;
  let dropDatabase: () => Promise<void>;
  try {
    await admin.unsafe(`create database "${name}"`);
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    url = u.toString();
    dropDatabase = async () => {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists "${name}" with (force)`).catch((err: Error) => progress(`could not drop ${name}: ${err.message}`));
      await a.end({ timeout: 5 });
    };
  } catch (err) {
    if (source !== 'DATABASE_URL') throw err;
    // No right to create databases: run in DATABASE_URL's own database (the bench tables and
    // actor rows it writes are removed at the end).
    progress(`cannot create a database on DATABASE_URL (${(err as Error).message}); using it directly`);
    url = adminUrl;
    dropDatabase = async () => {
      const s = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await s.unsafe(`drop table if exists bench_raw`).catch(() => {});
      for (const t of ['actor_journal', 'actor_snapshots', 'actor_outbox', 'actor_timers']) {
        await s.unsafe(`delete from ${t} where actor_type like 'bench.%'`).catch(() => {});
      }
      await s.end({ timeout: 5 });
    };
  }
  const [settings] = await admin<{ version: string; synchronous_commit: string; fsync: string; max_connections: string }[]>`
    select current_setting('server_version') as version, current_setting('synchronous_commit') as synchronous_commit,
           current_setting('fsync') as fsync, current_setting('max_connections') as max_connections`;
  await admin.end({ timeout: 5 });
  progress(`database ${new URL(url).pathname.slice(1)} on ${source} (PostgreSQL ${settings!.version})`);
  return {
    url,
    source,
    server: { ...settings!, max_connections: Number(settings!.max_connections) },
    async close() {
      await dropDatabase();
      await stopEmbedded?.();
    },
  };
}
