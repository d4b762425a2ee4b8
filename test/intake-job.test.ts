/**
 * `insertLeads` with a safety-net job writes the very row pg-boss 10's `send` writes (the intake
 * enqueues it in the leads' own statement, without BEGIN/COMMIT round trips), the job is fetched
 * and worked like any other, and a statement that stored no lead enqueues nothing.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { JOB_EXPIRE_IN_SECONDS, JOBS_SCHEMA, startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { insertLeads, type NewLeadRow, type SafetyNetJob } from '../src/db/leads.ts';
import { createLogger } from '../src/log.ts';
import { afterFile, testSql } from './support/db.ts';

let sql: Sql;
let boss: PgBoss;

const QUEUES = [
  // The pipeline's own options.
  { name: 'intake-like', policy: 'standard', retryLimit: 10, retryDelay: 5, retryBackoff: true },
  // Nothing set on the queue: pg-boss's and the boss's defaults apply.
  { name: 'intake-defaults', policy: 'standard' },
  { name: 'intake-retention', policy: 'standard', retryLimit: 1, retryDelay: 3 },
] as const;

beforeAll(async () => {
  const db = await testSql();
  sql = db.sql;
  await migrate(sql, new URL('../migrations', import.meta.url).pathname);
  boss = await startJobs({ url: db.url, log: createLogger('silent'), queues: [...QUEUES] });
  await sql`update ${sql(JOBS_SCHEMA)}.queue set retention_minutes = 90, expire_seconds = 30 where name = 'intake-retention'`;
  afterFile(() => stopJobs(boss, 2000));
});

function lead(over: Partial<NewLeadRow> = {}): NewLeadRow {
  return {
    id: randomUUID(),
    name: 'Ana',
    phone: null,
    email: `${randomUUID()}@x.test`,
    source: 'site',
    externalId: null,
    idempotencyKey: null,
    message: null,
    requestedAmount: null,
    monthlyIncome: null,
    metadata: {},
    ...over,
  };
}

const job = (queue: string, startAfterSeconds = 15): SafetyNetJob => ({
  schema: JOBS_SCHEMA,
  queue,
  dataKey: 'leadIds',
  startAfterSeconds,
  expireInDefaultSeconds: JOB_EXPIRE_IN_SECONDS,
});

interface JobRow {
  id: string;
  name: string;
  data: { leadIds: string[] };
  [column: string]: unknown;
}

/** Every column, with the times made relative to created_on (both rows are made a moment apart). */
async function jobsOf(queue: string): Promise<JobRow[]> {
  return sql<JobRow[]>`
    select j.*, extract(epoch from j.start_after - j.created_on)::int as start_delay,
           extract(epoch from j.keep_until - j.start_after)::int as keep_for,
           extract(epoch from j.expire_in)::int as expire_seconds
    from ${sql(JOBS_SCHEMA)}.job j where j.name = ${queue} order by j.created_on`;
}

const comparable = (j: JobRow) => {
  const { id: _id, data: _data, start_after: _s, created_on: _c, keep_until: _k, ...rest } = j;
  return rest;
};

describe('insertLeads enqueues the safety-net job pg-boss would', () => {
  for (const q of QUEUES) {
    it(`the same row as boss.send on queue ${q.name}`, async () => {
      const sent = await boss.send(q.name, { leadIds: ['x'] }, { startAfter: 15 });
      expect(sent).toBeTruthy();
      const rows = [lead(), lead()];
      const { inserted } = await insertLeads(sql, rows, 360, job(q.name));
      expect(inserted.size).toBe(2);
      const [viaSend, viaInsert, ...more] = await jobsOf(q.name);
      expect(more).toHaveLength(0);
      expect(viaSend!.id).toBe(sent);
      expect(comparable(viaInsert!)).toEqual(comparable(viaSend!));
      expect(viaInsert!.data.leadIds.sort()).toEqual(rows.map((r) => r.id).sort());
    });
  }

  it('the job is fetched and completed like one sent by pg-boss', async () => {
    const queue = QUEUES[0].name;
    const rows = [lead()];
    await insertLeads(sql, rows, 360, job(queue, 0));
    const fetched = await boss.fetch<{ leadIds: string[] }>(queue, { batchSize: 10 });
    const mine = fetched.find((j) => j.data.leadIds.includes(rows[0]!.id));
    expect(mine).toBeDefined();
    await boss.complete(queue, fetched.map((j) => j.id));
    const [row] = await sql<{ state: string }[]>`select state from ${sql(JOBS_SCHEMA)}.job where id = ${mine!.id}`;
    expect(row?.state).toBe('completed');
  });

  it('names only the leads stored, and nothing is enqueued when none was', async () => {
    const queue = QUEUES[1].name;
    const before = (await jobsOf(queue)).length;
    const first = lead({ idempotencyKey: `k-${randomUUID()}` });
    await insertLeads(sql, [first], 360, job(queue));
    const dup = lead({ idempotencyKey: first.idempotencyKey });
    const fresh = lead();
    const { inserted } = await insertLeads(sql, [dup, fresh], 360, job(queue));
    expect([...inserted]).toEqual([fresh.id]);
    const { inserted: none } = await insertLeads(sql, [lead({ idempotencyKey: first.idempotencyKey })], 360, job(queue));
    expect(none.size).toBe(0);
    const jobs = (await jobsOf(queue)).slice(before);
    expect(jobs.map((j) => j.data.leadIds)).toEqual([[first.id], [fresh.id]]);
  });
});
