/**
 * Server-level SQL the composition root needs before and beside the application's own tables:
 * creating the application database, and reading this app's connection usage for /metrics.
 *
 * @example
 * const url = await ensureDatabase(adminUrl, 'livia');
 * const sql = createSql(url, { applicationName: requestPoolName(instanceId) });
 * const { open, active } = await poolUsage(sql);
 */
import { createSql, type Queryable } from './client.ts';

/** Creates the database `name` on the server at `adminUrl` when missing; returns its URL. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = createSql(adminUrl, { max: 1 });
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (!exists) await admin.unsafe(`create database "${name}"`).catch((err: { code?: string }) => {
      // Another process created it between our check and our create.
      if (err.code !== '42P04') throw err;
    });
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * The `application_name` of an instance's request pool: `livia:<instance>`, cut to PostgreSQL's
 * 63 bytes. Several instances share one database; each counts only its own connections.
 */
export function requestPoolName(instanceId: string): string {
  return `livia:${instanceId}`.slice(0, 63);
}

/**
 * Connections `sql`'s pool holds open on the server, and how many run a query: those under the
 * `application_name` of the connection asking (every connection of a pool carries its name).
 */
export async function poolUsage(sql: Queryable): Promise<{ open: number; active: number }> {
  const [row] = await sql<{ open: number; active: number }[]>`
    select count(*)::int as open, (count(*) filter (where state = 'active'))::int as active
    from pg_stat_activity where application_name = current_setting('application_name') and datname = current_database()`;
  return row ?? { open: 0, active: 0 };
}
