/**
 * Bounded growth of the actor tables: journal entries past the retention (but never the last
 * `keepLast` of an actor) and effects done long enough ago (an effect an admin discarded is kept as
 * long as the journal keeps its events: it is part of the audit trail).
 *
 * @example
 * const { journal, effects } = await pruneActorTables(sql, { journalDays: 30, keepLast: 100, doneEffectHours: 24 });
 */
import type { Queryable } from './client.ts';

export async function pruneActorTables(
  sql: Queryable,
  opts: { journalDays: number; keepLast: number; doneEffectHours: number },
): Promise<{ journal: number; effects: number }> {
  // The snapshot's seq is the actor's last journalled seq: cheaper than max(seq) over the journal.
  const journal = await sql`
    delete from actor_journal j using actor_snapshots s
    where j.actor_type = s.actor_type and j.actor_id = s.actor_id
      and j.created_at < now() - make_interval(days => ${opts.journalDays})
      and j.seq <= s.seq - ${opts.keepLast}`;
  const effects = await sql`
    delete from actor_outbox
    where done_at is not null and done_at < now() - make_interval(hours => ${opts.doneEffectHours})
      and (discarded_at is null or discarded_at < now() - make_interval(days => ${opts.journalDays}))`;
  return { journal: journal.count, effects: effects.count };
}
