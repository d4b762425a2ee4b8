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

export interface SqlOptions {
  max?: number;
  applicationName?: string;
  /** Seconds a connection attempt may take (a database that is down fails fast). */
  connectTimeoutSeconds?: number;
  /**
   * PostgreSQL's statement_timeout (and, four times it, idle_in_transaction_session_timeout):
   * a statement stuck behind a lock or a stalled disk fails instead of holding its request.
   * Unset for work that may legitimately run long (migrations).
   */
  statementTimeoutMs?: number;
}

export function createSql(url: string, opts: SqlOptions = {}): Sql {
  const timeouts = opts.statementTimeoutMs
    ? { statement_timeout: opts.statementTimeoutMs, idle_in_transaction_session_timeout: opts.statementTimeoutMs * 4 }
    : {};
  return postgres(url, {
    max: opts.max ?? 20,
    idle_timeout: 30,
    connect_timeout: opts.connectTimeoutSeconds ?? 15,
    onnotice: () => {},
    connection: { application_name: opts.applicationName ?? 'livia', ...timeouts },
  });
}

/** One round trip: the server answers. */
export async function ping(sql: Queryable): Promise<void> {
  await sql`select 1`;
}
