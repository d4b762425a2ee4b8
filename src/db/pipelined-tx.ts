/**
 * A transaction with fewer round trips than `sql.begin`: BEGIN is sent without waiting for its
 * answer, so it travels with the first statements (postgres.js pipelines the statements of one
 * connection), and statements the callback issues together go together. The hot paths (webhook
 * intake, assignment) run one short transaction after another, and on a busy machine every round
 * trip is a wake-up of PostgreSQL and of us.
 *
 * Semantics are those of `sql.begin`: the callback's statements commit together, or, should any
 * fail (a failed statement aborts the rest), the transaction rolls back and the error is thrown.
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
  const conn = await sql.reserve();
  try {
    const begun = conn`begin`.execute();
    let result: T | RollBack<T>;
    try {
      result = await fn(conn);
      await begun;
    } catch (err) {
      // A statement failed (and with it the transaction), or BEGIN itself did.
      await begun.catch(() => {});
      await conn`rollback`.catch(() => {});
      throw err;
    }
    if (result instanceof RollBack) {
      await conn`rollback`;
      return result.value;
    }
    await conn`commit`;
    return result;
  } finally {
    conn.release();
  }
}

/**
 * The same contract on `sql.begin`: one more round trip, but no reserved connection. After a
 * connection was cut, a retry goes this way: postgres.js can hand a reserved connection whose
 * socket died back to the pool (porsager/postgres#1199), and the next reserve may wait on it.
 */
export async function plainTransaction<T>(sql: Sql, fn: (tx: Sql) => Promise<T | RollBack<T>>): Promise<T> {
  let rolledBack: RollBack<T> | undefined;
  const result = await sql
    .begin(async (tx) => {
      const r = await fn(tx as unknown as Sql);
      if (r instanceof RollBack) {
        rolledBack = r;
        throw r;
      }
      return r;
    })
    .catch((err: unknown) => {
      if (rolledBack && err === rolledBack) return rolledBack;
      throw err;
    });
  return result instanceof RollBack ? result.value : (result as T);
}
