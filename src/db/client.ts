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

/** One round trip: the server answers. */
export async function ping(sql: Queryable): Promise<void> {
  await sql`select 1`;
}
