/**
 * pg-boss on the application's own database, in its own schema (`pgboss`).
 *
 * The point of running the queue inside PostgreSQL is that a job can be enqueued in the same
 * transaction as the write that calls for it: pass `txDb(tx)` as `db` and the job commits or rolls
 * back with the caller's transaction.
 *
 * @example
 * await sql.begin(async (tx) => {
 *   const [lead] = await tx`insert into leads ... returning id`;
 *   await boss.send('lead.pipeline', { leadId: lead.id }, { db: txDb(tx) });
 * });
 */
import PgBoss from 'pg-boss';
import type { Logger } from '../log.ts';
import type { Queryable } from './client.ts';

export { PgBoss };

export const JOBS_SCHEMA = 'pgboss';

/**
 * How long an active job may run before pg-boss retries it: jobs stuck active after a crash are
 * retried once it passes. Short enough that a restart resumes work promptly, long enough for the
 * slowest step (an LLM call). Also the default `insertLeads` writes into its safety-net job.
 */
export const JOB_EXPIRE_IN_SECONDS = 120;

/**
 * A queue and the policy it needs. `singletonKey` alone does not deduplicate under the default
 * `standard` policy. pg-boss 10's policies, per key: `short` refuses a second queued job (send
 * returns null); `singleton` accepts any number queued but runs one at a time (never two active);
 * `stately` allows one queued and one active (so a queue whose jobs must not pile up per key needs
 * `short` or `stately`, not `singleton`).
 */
export interface QueueSpec {
  name: string;
  policy: 'standard' | 'short' | 'singleton' | 'stately';
  retryLimit?: number;
  retryDelay?: number;
  retryBackoff?: boolean;
  expireInSeconds?: number;
}

/** pg-boss's `db` adapter over a postgres.js transaction (undefined values become NULL). */
export function txDb(tx: Queryable): PgBoss.Db {
  return {
    async executeSql(text: string, values: unknown[] = []) {
      const params = values.map((v) => (v === undefined ? null : v)) as never[];
      const rows = await tx.unsafe(text, params);
      return { rows: [...rows] };
    },
  };
}

export async function startJobs(opts: {
  url: string;
  log: Logger;
  queues: QueueSpec[];
  max?: number;
}): Promise<PgBoss> {
  const log = opts.log.child({ component: 'pg-boss' });
  const boss = new PgBoss({
    connectionString: opts.url,
    schema: JOBS_SCHEMA,
    max: opts.max ?? 5,
    application_name: 'livia-jobs',
    expireInSeconds: JOB_EXPIRE_IN_SECONDS,
  });
  boss.on('error', (err: Error) => log.error({ err }, 'pg-boss error'));
  await boss.start();
  for (const q of opts.queues) await ensureQueue(boss, q);
  return boss;
}

/**
 * Creates the queue, or brings an existing one's options up to date: `createQueue` leaves a queue
 * that already exists as it was, so options changed in code would never reach a deployed database.
 * (pg-boss 10's `updateQueue` sets `policy` to `standard` unless given: the spec's is passed along.)
 */
export async function ensureQueue(boss: PgBoss, q: QueueSpec): Promise<void> {
  const existing = await boss.getQueue(q.name);
  if (!existing) {
    await boss.createQueue(q.name, q);
    return;
  }
  await boss.updateQueue(q.name, q);
}

export async function stopJobs(boss: PgBoss, timeoutMs = 5000): Promise<void> {
  await boss.stop({ graceful: true, wait: true, timeout: timeoutMs });
}

/** Jobs waiting (created or retrying, not yet active) in each queue, for /metrics. */
export async function queueDepths(boss: PgBoss): Promise<Record<string, number>> {
  const depths: Record<string, number> = {};
  for (const q of await boss.getQueues()) depths[q.name] = await boss.getQueueSize(q.name);
  return depths;
}
