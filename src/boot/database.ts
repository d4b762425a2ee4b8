/**
 * The database part of the start: the embedded PostgreSQL when DATABASE_URL is unset (supervised:
 * restarted if it exits), the migrations on a connection of their own, the request pool with its
 * timeouts, and the monitor that tells requests and /ready whether the database answers.
 */
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.ts';
import { ensureDatabase, requestPoolName } from '../db/bootstrap.ts';
import { createSql, type Sql } from '../db/client.ts';
import { startEmbeddedPostgres } from '../db/embedded.ts';
import { isDatabaseUnavailable } from '../db/faults.ts';
import { migrate } from '../db/migrate.ts';
import { DatabaseMonitor } from '../db/monitor.ts';
import { superviseEmbedded } from '../db/supervisor.ts';
import type { Logger } from '../log.ts';
import type { Teardown } from './teardown.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

export interface OpenDatabase {
  sql: Sql;
  databaseUrl: string;
  embedded: boolean;
  monitor: DatabaseMonitor;
  /** Timeouts every request pool uses (the pipeline's own pool too). */
  timeouts: { connectTimeoutSeconds: number; statementTimeoutMs: number };
}

export async function openDatabase(config: Config, log: Logger, teardown: Teardown): Promise<OpenDatabase> {
  let databaseUrl = config.databaseUrl;
  let monitor: DatabaseMonitor | undefined;
  if (!databaseUrl) {
    const embedded = await startEmbeddedPostgres({ dir: `${config.dataDir}/postgres`, password: config.embeddedDbPassword, log });
    teardown.push(() => embedded.stop(), 'embedded PostgreSQL');
    // If postgres dies, it is restarted; if it cannot be, this process cannot do its job.
    const supervisor = superviseEmbedded(embedded, {
      log,
      onExited: () => monitor?.markDown('embedded PostgreSQL exited'),
      onRestarted: () => monitor?.probeNow(),
      onGiveUp: () => process.exit(1),
    });
    teardown.push(async () => supervisor.stop(), 'embedded PostgreSQL supervisor');
    databaseUrl = await ensureDatabase(embedded.url, 'livia');
  }
  const timeouts = { connectTimeoutSeconds: config.dbConnectTimeoutSeconds, statementTimeoutMs: config.dbStatementTimeoutMs };
  const applied = await migrateOrExplain(databaseUrl, config.dbConnectTimeoutSeconds);
  if (applied.length > 0) log.info({ applied }, 'migrations applied');
  const sql = createSql(databaseUrl, { max: config.dbPoolMax, applicationName: requestPoolName(config.instanceId), ...timeouts });
  // Everything that queries has stopped by the time this runs. After a connection cut, a dead
  // connection can keep a stale query that end() would wait out, so the wait is short.
  teardown.push(() => sql.end({ timeout: 2 }), 'database pool');
  const dbMonitor = new DatabaseMonitor({ url: databaseUrl, log });
  monitor = dbMonitor;
  dbMonitor.start();
  teardown.push(async () => dbMonitor.stop(), 'database monitor');
  return { sql, databaseUrl, embedded: !config.databaseUrl, monitor: dbMonitor, timeouts };
}

/**
 * Migrations run on a connection of their own, without the request pools' statement timeout (a
 * migration may take long, and waits for another process's). A database that cannot be reached
 * stops the start with one line that says where it was looked for.
 */
async function migrateOrExplain(databaseUrl: string, connectTimeoutSeconds: number): Promise<string[]> {
  const migrator = createSql(databaseUrl, { max: 1, connectTimeoutSeconds, applicationName: 'livia-migrate' });
  try {
    return await migrate(migrator, MIGRATIONS_DIR);
  } catch (err) {
    if (!isDatabaseUnavailable(err)) throw err;
    const url = new URL(databaseUrl);
    const code = (err as { code?: string }).code ?? (err as Error).message;
    throw new Error(`cannot reach PostgreSQL at ${url.hostname}:${url.port || 5432}${url.pathname} (${code}); check DATABASE_URL and that the server is up`, { cause: err });
  } finally {
    await migrator.end({ timeout: 1 }).catch(() => {});
  }
}
