/**
 * The effect outbox: effects an event named, written in its transaction and run after the commit,
 * in order per actor. A spent retry budget dead-letters the effect: it stays, visible, holding back
 * the later effects of its actor until an admin retries it or discards it (finished without having
 * run, kept with who discarded it and when).
 *
 * @example
 * const heads = await actorsWithDueEffects(sql, ['conversation'], 100);
 * const rows = await pendingEffectsOf(sql, 'conversation', id);
 */
import type { Queryable } from './client.ts';
import type { OutboxRow } from './actors.ts';

export interface DeadEffect {
  id: string;
  seq: number;
  type: string;
  attempts: number;
  last_error: string | null;
  dead_at: Date;
}

/** Actors whose oldest unfinished effect is due and not dead: the ones a sweep should drain. */
export async function actorsWithDueEffects(sql: Queryable, types: string[], limit: number): Promise<{ actor_type: string; actor_id: string }[]> {
  return sql<{ actor_type: string; actor_id: string }[]>`
    select actor_type, actor_id from (
      select distinct on (actor_type, actor_id) actor_type, actor_id, dead_at, run_after, created_at
      from actor_outbox where done_at is null and actor_type = any(${types}::text[])
      order by actor_type, actor_id, seq, position
    ) head
    where dead_at is null and run_after <= now()
    order by created_at limit ${limit}`;
}

/** Every unfinished effect of one actor, in commit order (a dead head comes first and blocks). */
export async function pendingEffectsOf(sql: Queryable, type: string, id: string): Promise<(OutboxRow & { dead: boolean; due: boolean })[]> {
  const rows = await sql<(OutboxRow & { dead: boolean; due: boolean })[]>`
    select id, actor_type, actor_id, seq, position, effect, attempts,
      dead_at is not null as dead, run_after <= now() as due
    from actor_outbox
    where actor_type = ${type} and actor_id = ${id} and done_at is null
    order by seq, position`;
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

export async function markEffectDone(sql: Queryable, id: string): Promise<void> {
  await markEffectsDone(sql, [id]);
}

/** Many effects done at once (one statement, one commit). */
export async function markEffectsDone(sql: Queryable, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`update actor_outbox set done_at = now(), last_error = null where id = any(${ids}::uuid[])`;
}

/**
 * A failed run: counted, and retried after a backoff (base × 2^attempts, capped at 10 min), or
 * dead-lettered once `maxAttempts` runs have failed. Returns whether it is now dead.
 */
export async function markEffectFailed(sql: Queryable, id: string, error: string, maxAttempts: number, baseMs: number): Promise<boolean> {
  const [row] = await sql<{ dead: boolean }[]>`
    update actor_outbox set
      attempts = attempts + 1,
      last_error = ${error.slice(0, 500)},
      dead_at = case when attempts + 1 >= ${maxAttempts} then now() end,
      run_after = now() + least(interval '10 minutes', interval '1 millisecond' * ${baseMs} * power(2, attempts))
    where id = ${id}
    returning dead_at is not null as dead`;
  return !!row?.dead;
}

/** An admin retry: the dead effect runs again with a fresh budget. False when it is not dead. */
export async function reviveEffect(sql: Queryable, type: string, id: string, effectId: string): Promise<boolean> {
  const rows = await sql`
    update actor_outbox set dead_at = null, attempts = 0, run_after = now()
    where id = ${effectId} and actor_type = ${type} and actor_id = ${id} and dead_at is not null and done_at is null
    returning id`;
  return rows.length > 0;
}

/**
 * An admin discard: the dead effect is finished without running (`done_at`), so the actor's later
 * effects may run; the row keeps who discarded it and when. Undefined when it is not dead.
 */
export async function discardDeadEffect(
  sql: Queryable,
  type: string,
  id: string,
  effectId: string,
  by: string,
): Promise<{ type: string; params?: unknown } | undefined> {
  const [row] = await sql<{ effect: { type: string; params?: unknown } }[]>`
    update actor_outbox set done_at = now(), discarded_at = now(), discarded_by = ${by}
    where id = ${effectId} and actor_type = ${type} and actor_id = ${id} and dead_at is not null and done_at is null
    returning effect`;
  return row?.effect;
}

export interface DiscardedEffect extends DeadEffect {
  discarded_at: Date;
  /** The user id of the admin who discarded it ('system' when no user). */
  discarded_by: string | null;
  /** That user's name, while the user exists. */
  discarded_by_name: string | null;
}

/** The effects an admin discarded for one actor, most recent first. */
export async function discardedEffectsOf(sql: Queryable, type: string, id: string, limit = 20): Promise<DiscardedEffect[]> {
  const rows = await sql<(Omit<DiscardedEffect, 'type'> & { effect: { type: string } })[]>`
    select o.id, o.seq, o.effect, o.attempts, o.last_error, o.dead_at, o.discarded_at, o.discarded_by, c.name as discarded_by_name
    from actor_outbox o left join consultants c on c.id::text = o.discarded_by
    where o.actor_type = ${type} and o.actor_id = ${id} and o.discarded_at is not null
    order by o.discarded_at desc, o.seq desc limit ${limit}`;
  return rows.map((r) => ({
    id: r.id,
    seq: Number(r.seq),
    type: r.effect.type,
    attempts: r.attempts,
    last_error: r.last_error,
    dead_at: r.dead_at,
    discarded_at: r.discarded_at,
    discarded_by: r.discarded_by,
    discarded_by_name: r.discarded_by_name,
  }));
}

export async function deadEffectsOf(sql: Queryable, type: string, id: string): Promise<DeadEffect[]> {
  const rows = await sql<(Omit<DeadEffect, 'type'> & { effect: { type: string } })[]>`
    select id, seq, effect, attempts, last_error, dead_at from actor_outbox
    where actor_type = ${type} and actor_id = ${id} and dead_at is not null and done_at is null
    order by seq, position`;
  return rows.map((r) => ({ id: r.id, seq: Number(r.seq), type: r.effect.type, attempts: r.attempts, last_error: r.last_error, dead_at: r.dead_at }));
}

export async function countDeadEffects(sql: Queryable): Promise<{ actor_type: string; n: number }[]> {
  return sql<{ actor_type: string; n: number }[]>`
    select actor_type, count(*)::int as n from actor_outbox
    where dead_at is not null and done_at is null group by actor_type`;
}

export async function effectExists(sql: Queryable, type: string, id: string, effectId: string): Promise<boolean> {
  const rows = await sql`select 1 from actor_outbox where id = ${effectId} and actor_type = ${type} and actor_id = ${id}`;
  return rows.length > 0;
}
