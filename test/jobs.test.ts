/**
 * pg-boss inside the application's database: a job sent with `{ db: txDb(tx) }` commits or rolls
 * back with the caller's transaction, and queue policies decide what a singletonKey means.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/client.ts';
import { JOBS_SCHEMA, startJobs, stopJobs, txDb, type PgBoss } from '../src/db/jobs.ts';
import { createLogger } from '../src/log.ts';
import { afterFile, testSql } from './support/db.ts';

let sql: Sql;
let boss: PgBoss;

beforeAll(async () => {
  const db = await testSql();
  sql = db.sql;
  boss = await startJobs({
    url: db.url,
    log: createLogger('silent'),
    queues: [
      { name: 'tx-fetch', policy: 'standard' },
      { name: 'tx-work', policy: 'standard' },
      { name: 'dedupe-singleton', policy: 'singleton' },
      { name: 'dedupe-standard', policy: 'standard' },
    ],
  });
  afterFile(() => stopJobs(boss, 2000));
});

/** Counts the job rows with this id, straight from pg-boss's table, outside any transaction. */
async function jobRows(id: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(JOBS_SCHEMA)}.job where id = ${id}`;
  return row!.n;
}

describe('txDb: jobs share the caller transaction', () => {
  it('startJobs created the queues with their policies', async () => {
    expect((await boss.getQueue('tx-fetch'))?.policy).toBe('standard');
    expect((await boss.getQueue('dedupe-singleton'))?.policy).toBe('singleton');
  });

  it('a job sent in a transaction that then throws never exists', async () => {
    let sentId: string | null = null;
    const err = await sql
      .begin(async (tx) => {
        sentId = await boss.send('tx-fetch', { n: 'rolled-back' }, { db: txDb(tx) });
        expect(sentId).toBeTruthy();
        // Inside the transaction it is there…
        const [inside] = await tx<{ n: number }[]>`select count(*)::int as n from ${tx(JOBS_SCHEMA)}.job where id = ${sentId!}`;
        expect(inside!.n).toBe(1);
        // …outside it is not (yet).
        expect(await jobRows(sentId!)).toBe(0);
        throw new Error('the write that called for the job failed');
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe('the write that called for the job failed');

    expect(await jobRows(sentId!)).toBe(0);
    expect(await boss.getJobById('tx-fetch', sentId!)).toBeNull();
    expect(await boss.fetch('tx-fetch', { batchSize: 10 })).toEqual([]);
  });

  it('a job sent in a committed transaction is there after the commit, and is fetched and completed', async () => {
    let sentId: string | null = null;
    await sql.begin(async (tx) => {
      await tx`create table if not exists things (id int primary key)`;
      await tx`insert into things values (1)`;
      sentId = await boss.send('tx-fetch', { n: 'committed' }, { db: txDb(tx) });
      expect(await jobRows(sentId!)).toBe(0); // not visible before the commit
    });
    expect(await jobRows(sentId!)).toBe(1);

    const jobs = await boss.fetch<{ n: string }>('tx-fetch', { batchSize: 10 });
    expect(jobs.map((j) => [j.id, j.data.n])).toEqual([[sentId, 'committed']]);
    await boss.complete('tx-fetch', sentId!);
    expect((await boss.getJobById('tx-fetch', sentId!))?.state).toBe('completed');
  });

  it('a worker runs the committed job and never sees the rolled-back one', async () => {
    const seen: string[] = [];
    let resolveSeen!: () => void;
    const committedSeen = new Promise<void>((r) => (resolveSeen = r));
    const workerId = await boss.work<{ n: string }>('tx-work', { pollingIntervalSeconds: 0.5, batchSize: 10 }, async (jobs) => {
      for (const job of jobs) {
        seen.push(job.data.n);
        if (job.data.n === 'committed') resolveSeen();
      }
    });
    try {
      await sql
        .begin(async (tx) => {
          await boss.send('tx-work', { n: 'rolled-back' }, { db: txDb(tx) });
          throw new Error('abort');
        })
        .catch(() => {});
      const committedId = await sql.begin((tx) => boss.send('tx-work', { n: 'committed' }, { db: txDb(tx) }));
      await committedSeen;
      expect(seen).toEqual(['committed']);
      // The handler's success completes the job.
      await expect.poll(async () => (await boss.getJobById('tx-work', committedId!))?.state, { timeout: 10_000 }).toBe('completed');
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from ${sql(JOBS_SCHEMA)}.job where name = 'tx-work' and data->>'n' = 'rolled-back'`;
      expect(row!.n).toBe(0);
    } finally {
      await boss.offWork(workerId);
    }
  });
});

describe('queue policies and singletonKey', () => {
  it('singleton: jobs of one key never run side by side; other keys are unaffected', async () => {
    const q = 'dedupe-singleton';
    const a1 = await boss.send(q, { n: 'a1' }, { singletonKey: 'lead-a' });
    const a2 = await boss.send(q, { n: 'a2' }, { singletonKey: 'lead-a' });
    const b1 = await boss.send(q, { n: 'b1' }, { singletonKey: 'lead-b' });
    expect([a1, a2, b1].every(Boolean)).toBe(true); // queued duplicates are accepted

    // One job per key becomes active, however many are asked for.
    const first = await boss.fetch<{ n: string }>(q, { batchSize: 10 });
    expect(first.map((j) => j.data.n).sort()).toEqual(['a1', 'b1']);
    // While a1 is active, a2 cannot start.
    expect(await boss.fetch(q, { batchSize: 10 })).toEqual([]);

    await boss.complete(q, a1!);
    // Then a2 can: a worker polls, and one fetch may come back empty (pg-boss fetches FOR UPDATE
    // SKIP LOCKED, so a row another statement holds that instant is skipped; CI saw it once).
    let next: { data: { n: string } }[] = [];
    for (let i = 0; i < 20 && next.length === 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      next = await boss.fetch<{ n: string }>(q, { batchSize: 10 });
    }
    expect(next.map((j) => j.data.n)).toEqual(['a2']);
  });

  it('standard: singletonKey alone does not deduplicate: both are queued and run together', async () => {
    const q = 'dedupe-standard';
    const a = await boss.send(q, { try: 1 }, { singletonKey: 'lead-1' });
    const b = await boss.send(q, { try: 2 }, { singletonKey: 'lead-1' });
    expect(a).toBeTruthy();
    expect(b).toBeTruthy();
    expect(b).not.toBe(a);
    const jobs = await boss.fetch(q, { batchSize: 10 });
    expect(jobs.map((j) => j.id).sort()).toEqual([a, b].sort());
  });

  it('short and stately refuse a second queued job for the same key (send returns null)', async () => {
    for (const policy of ['short', 'stately'] as const) {
      const q = `dedupe-${policy}`;
      await boss.createQueue(q, { name: q, policy });
      const first = await boss.send(q, {}, { singletonKey: 'lead-1' });
      expect(first, policy).toBeTruthy();
      expect(await boss.send(q, {}, { singletonKey: 'lead-1' }), policy).toBeNull();
      expect(await boss.send(q, {}, { singletonKey: 'lead-2' }), policy).toBeTruthy();
      // Once the first is active, the key may queue again.
      const [active] = await boss.fetch(q, { batchSize: 1 });
      expect(active?.id, policy).toBe(first);
      expect(await boss.send(q, {}, { singletonKey: 'lead-1' }), policy).toBeTruthy();
    }
  });
});
