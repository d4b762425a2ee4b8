/**
 * A transaction whose statements travel together: the callback issues the statements it can
 * together (`Promise.all`), and postgres.js pipelines them on the transaction's connection, so a
 * batch of inserts and its pg-boss job cost one round trip instead of one each. The hot paths
 * (webhook intake, assignment) run one short transaction after another.
 *
 * It is built on `sql.begin`, not on `sql.reserve()`: in postgres.js 3.4.9 a reserved connection
 * whose backend dies is handed back to the pool dead on release (porsager/postgres#1199), and a
 * reserve queued while a pooled connection is terminated never settles (#1195). Either leaves the
 * pool stuck after a database cut; `sql.begin` pins its connection without reserve().
 *
 * Semantics are those of `sql.begin`: the callback's statements commit together, or, should any
 * fail (a failed statement aborts the rest), the transaction rolls back and the error is thrown.
 * The callback may also return `RollBack`: nothing worth keeping was written.
 *
 * @example
 * const ids = await pipelinedTransaction(sql, (tx) => Promise.all([insertA(tx), insertB(tx)]));
 */
import type { Sql } from './client.ts';

/** Returned by the callback: roll back (nothing worth keeping was written) and answer `value`. */
export class RollBack<T> {
  constructor(readonly value: T) {}
}

export async function pipelinedTransaction<T>(sql: Sql, fn: (tx: Sql) => Promise<T | RollBack<T>>): Promise<T> {
  let rolledBack: RollBack<T> | undefined;
  try {
    return (await sql.begin(async (tx) => {
      const r = await fn(tx as unknown as Sql);
      if (r instanceof RollBack) {
        rolledBack = r;
        // Thrown so that sql.begin rolls back; caught below and answered as the value.
        throw r;
      }
      return r;
    })) as T;
  } catch (err) {
    if (rolledBack && err === rolledBack) return rolledBack.value;
    throw err;
  }
}
