/**
 * The postgres.js client. One `sql` per process, built by the composition root.
 *
 * @example
 * const sql = createSql(url, { max: 20 });
 * const [row] = await sql<{ now: Date }[]>`select now()`;
 */
import postgres from 'postgres';

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;
/** Either the pool or a transaction: repository functions accept both. */
export type Queryable = Sql | TransactionSql;

export function createSql(url: string, opts: { max?: number; applicationName?: string } = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 20,
    idle_timeout: 30,
    connect_timeout: 15,
    onnotice: () => {},
    connection: { application_name: opts.applicationName ?? 'livia' },
  });
}

/** Creates database `name` on the server of `adminUrl` unless it exists; returns its URL. */
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
