/**
 * The durable timers' jobs, armed many in one statement in the group commit (`insertTimerJobs`),
 * are the very rows pg-boss 10's `send` writes for them, and are fetched and worked like them.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { TIMER_QUEUE } from '../src/actors/timers.ts';
import { insertTimerJobs } from '../src/db/actors.ts';
import type { Sql } from '../src/db/client.ts';
import { JOB_EXPIRE_IN_SECONDS, JOBS_SCHEMA, startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { afterFile, testSql } from './support/db.ts';

let sql: Sql;
let boss: PgBoss;

beforeAll(async () => {
  const db = await testSql();
  sql = db.sql;
  await migrate(sql, new URL('../migrations', import.meta.url).pathname);
  boss = await startJobs({ url: db.url, log: createLogger('silent'), queues: [] });
  // As DurableTimers.start creates it.
  await boss.createQueue(TIMER_QUEUE, { name: TIMER_QUEUE, policy: 'standard', retryLimit: 5, retryDelay: 1 });
  afterFile(() => stopJobs(boss, 2000));
});

type JobRow = { id: string; data: { timerId: string }; [column: string]: unknown };

async function jobs(): Promise<JobRow[]> {
  return sql<JobRow[]>`
    select j.*, extract(epoch from j.keep_until - j.start_after)::int as keep_for, extract(epoch from j.expire_in)::int as expire_seconds
    from ${sql(JOBS_SCHEMA)}.job j where j.name = ${TIMER_QUEUE} order by j.created_on, j.id`;
}

const comparable = (j: JobRow) => {
  const { id: _id, data: _data, created_on: _c, keep_until: _k, ...rest } = j;
  return rest;
};

describe('timer jobs armed in one statement', () => {
  it('are the rows boss.send writes, one per timer, fetched and completed like them', async () => {
    const at = new Date(Date.now() + 60_000);
    const sent = await boss.send(TIMER_QUEUE, { timerId: 'by-send', type: 't', id: 'a' }, { startAfter: at, retryLimit: 5, retryDelay: 1 });
    const ids = [randomUUID(), randomUUID()];
    await sql.begin((tx) =>
      insertTimerJobs(tx, {
        schema: JOBS_SCHEMA,
        queue: TIMER_QUEUE,
        expireInDefaultSeconds: JOB_EXPIRE_IN_SECONDS,
        retryLimit: 5,
        retryDelaySeconds: 1,
        jobs: ids.map((timerId) => ({ data: { timerId, type: 't', id: 'a' }, startAfter: at })),
      }),
    );
    const [viaSend, ...mine] = await jobs();
    expect(viaSend!.id).toBe(sent);
    expect(mine.map((j) => j.data.timerId).sort()).toEqual([...ids].sort());
    for (const j of mine) expect(comparable(j)).toEqual(comparable(viaSend!));

    await sql`update ${sql(JOBS_SCHEMA)}.job set start_after = now() where name = ${TIMER_QUEUE}`;
    const fetched = await boss.fetch<{ timerId: string }>(TIMER_QUEUE, { batchSize: 10 });
    expect(fetched.map((j) => j.data.timerId).sort()).toEqual(['by-send', ...ids].sort());
    await boss.complete(TIMER_QUEUE, fetched.map((j) => j.id));
  });
});
