/**
 * Bounded growth: a pg-boss schedule prunes journal entries older than the retention (keeping the
 * last events of every actor) and effects done more than a day ago.
 *
 * @example
 * await startActorPruning({ boss, sql, log, journalDays: 30 });
 */
import { pruneActorTables } from '../db/actor-pruning.ts';
import type { Sql } from '../db/client.ts';
import type { PgBoss } from '../db/jobs.ts';
import type { Logger } from '../log.ts';

export const PRUNE_QUEUE = 'actor.prune';
/** At least this many of each actor's last events stay, however old. */
export const KEEP_LAST_EVENTS = 100;
const DONE_EFFECT_HOURS = 24;

export interface PruningOptions {
  boss: PgBoss;
  sql: Sql;
  log: Logger;
  journalDays: number;
  /** Cron in UTC (default: every hour, at minute 17). */
  cron?: string;
}

export async function startActorPruning(o: PruningOptions): Promise<void> {
  // `short`: a prune already waiting makes the next scheduled one redundant.
  await o.boss.createQueue(PRUNE_QUEUE, { name: PRUNE_QUEUE, policy: 'short', retryLimit: 2 });
  await o.boss.schedule(PRUNE_QUEUE, o.cron ?? '17 * * * *', {}, { tz: 'UTC' });
  await o.boss.work(PRUNE_QUEUE, async () => {
    const pruned = await pruneActorTables(o.sql, { journalDays: o.journalDays, keepLast: KEEP_LAST_EVENTS, doneEffectHours: DONE_EFFECT_HOURS });
    o.log.info(pruned, 'actor tables pruned');
  });
}

export async function stopActorPruning(boss: PgBoss): Promise<void> {
  await boss.offWork(PRUNE_QUEUE).catch(() => {});
}
