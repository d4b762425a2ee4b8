/**
 * The database part of the start: the embedded PostgreSQL when DATABASE_URL is unset, the pool,
 * and the migrations.
 */
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.ts';
import { ensureDatabase } from '../db/bootstrap.ts';
import { createSql, type Sql } from '../db/client.ts';
import { startEmbeddedPostgres } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import type { Logger } from '../log.ts';
import type { Teardown } from './teardown.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

export async function openDatabase(
  config: Config,
  log: Logger,
  teardown: Teardown,
): Promise<{ sql: Sql; databaseUrl: string; embedded: boolean }> {
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const embedded = await startEmbeddedPostgres({ dir: `${config.dataDir}/postgres`, password: config.embeddedDbPassword, log });
    teardown.push(() => embedded.stop());
    databaseUrl = await ensureDatabase(embedded.url, 'livia');
  }
  const sql = createSql(databaseUrl, { max: config.dbPoolMax });
  teardown.push(() => sql.end({ timeout: 5 }));
  const applied = await migrate(sql, MIGRATIONS_DIR);
  if (applied.length > 0) log.info({ applied }, 'migrations applied');
  return { sql, databaseUrl, embedded: !config.databaseUrl };
}
