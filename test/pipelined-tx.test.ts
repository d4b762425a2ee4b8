/**
 * pipelinedTransaction on a real PostgreSQL: all or nothing, like sql.begin, also when statements
 * go together and one of them fails.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/client.ts';
import { pipelinedTransaction, RollBack } from '../src/db/pipelined-tx.ts';
import { testSql } from './support/db.ts';

let sql: Sql;
beforeAll(async () => {
  ({ sql } = await testSql());
  await sql`create table t (id int primary key)`;
});
const ids = async () => (await sql<{ id: number }[]>`select id from t order by id`).map((r) => r.id);

describe('pipelinedTransaction', () => {
  it('commits what the callback wrote', async () => {
    await pipelinedTransaction(sql, (tx) => Promise.all([tx`insert into t values (1)`, tx`insert into t values (2)`]));
    const n = await pipelinedTransaction(sql, async (tx) => (await tx`insert into t values (3) returning id`)[0]!.id as number);
    expect(n).toBe(3);
    expect(await ids()).toEqual([1, 2, 3]);
  });

  it('a statement that fails after others succeeded: thrown, and nothing of the transaction stays', async () => {
    await expect(
      pipelinedTransaction(sql, async (tx) => {
        await tx`insert into t values (10)`;
        await tx`insert into t values (1)`; // 1 exists: unique violation
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await ids()).toEqual([1, 2, 3]);
    // The connection went back to the pool usable, outside any transaction.
    expect(await pipelinedTransaction(sql, async (tx) => (await tx`select 1 as one`)[0]!.one)).toBe(1);
  });

  it('a failing statement pipelined with another: rolled back and thrown', async () => {
    await expect(
      pipelinedTransaction(sql, (tx) => Promise.all([tx`insert into t values (20)`, tx`insert into t values (2)`])),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await ids()).toEqual([1, 2, 3]);
  });

  it('RollBack: nothing written stays, and its value is the answer', async () => {
    const v = await pipelinedTransaction(sql, async (tx) => {
      await tx`insert into t values (30)`;
      return new RollBack('kept nothing');
    });
    expect(v).toBe('kept nothing');
    expect(await ids()).toEqual([1, 2, 3]);
  });
});
