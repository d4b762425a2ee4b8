/**
 * Persistence of the actor runtime: snapshots, the event journal, and durable timers (the effect
 * outbox's own queries are in actor-effects.ts). A whole group-commit batch is written by `writeActorBatch` in one transaction.
 *
 * @example
 * await sql.begin((tx) => writeActorBatch(tx, batch));
 * const row = await loadSnapshot(sql, 'consultant', id);
 */
import type { Queryable, TransactionSql } from './client.ts';

export interface SnapshotRow {
  actor_type: string;
  actor_id: string;
  machine_version: number;
  seq: number;
  state: string;
  snapshot: unknown;
  status: 'active' | 'done' | 'failed';
  failure: string | null;
  updated_at: Date;
}

export interface JournalRow {
  actor_type: string;
  actor_id: string;
  seq: number;
  event: unknown;
  /** The state value after the event (stateString form). */
  state?: string | null;
}

export interface OutboxRow {
  id: string;
  actor_type: string;
  actor_id: string;
  seq: number;
  position: number;
  effect: { type: string; params?: unknown };
  attempts?: number;
}

export interface TimerRow {
  id: string;
  actor_type: string;
  actor_id: string;
  key: string;
  event: unknown;
  due_at: Date;
}

export interface ActorBatch {
  snapshots: Omit<SnapshotRow, 'updated_at'>[];
  journal: JournalRow[];
  outbox: OutboxRow[];
  timersArmed: TimerRow[];
  timersCancelled: { actor_type: string; actor_id: string; key: string }[];
  timersFired: string[];
  /** Effects whose run ends with this event (its sender): marked done in the event's transaction. */
  effectsDone: string[];
}

const toBigint = (n: unknown) => Number(n);

export async function loadSnapshot(sql: Queryable, type: string, id: string): Promise<SnapshotRow | undefined> {
  const [row] = await sql<SnapshotRow[]>`
    select * from actor_snapshots where actor_type = ${type} and actor_id = ${id}`;
  return row ? { ...row, seq: toBigint(row.seq) } : undefined;
}

export async function listSnapshots(
  sql: Queryable,
  filter: { type?: string | undefined; state?: string | undefined; limit: number },
): Promise<Pick<SnapshotRow, 'actor_type' | 'actor_id' | 'state' | 'status' | 'updated_at'>[]> {
  return sql`
    select actor_type, actor_id, state, status, updated_at from actor_snapshots
    where (${filter.type ?? null}::text is null or actor_type = ${filter.type ?? null})
      and (${filter.state ?? null}::text is null or exists (
        -- A parallel machine's state is "presence.online.available,status.active": match any
        -- region, exactly or as a prefix of a nested path (no LIKE, so "_" and "%" are literal).
        select 1 from unnest(string_to_array(state, ',')) as part
        where part = ${filter.state ?? null} or starts_with(part, ${(filter.state ?? '') + '.'})))
    order by updated_at desc
    limit ${filter.limit}`;
}

export async function recentJournal(
  sql: Queryable,
  type: string,
  id: string,
  limit: number,
): Promise<{ seq: number; event: { type: string }; state: string | null; created_at: Date }[]> {
  const rows = await sql<{ seq: string; event: { type: string }; state: string | null; created_at: Date }[]>`
    select seq, event, state, created_at from actor_journal
    where actor_type = ${type} and actor_id = ${id}
    order by seq desc limit ${limit}`;
  return rows.map((r) => ({ ...r, seq: Number(r.seq) })).reverse();
}

export async function journalFor(sql: Queryable, type: string, id: string): Promise<JournalRow[]> {
  const rows = await sql<JournalRow[]>`
    select actor_type, actor_id, seq, event, state from actor_journal
    where actor_type = ${type} and actor_id = ${id} order by seq`;
  return rows.map((r) => ({ ...r, seq: toBigint(r.seq) }));
}

/** An admin reset: the actor is active again from its last good snapshot. */
export async function markActorActive(sql: Queryable, type: string, id: string): Promise<void> {
  await sql`
    update actor_snapshots set status = 'active', failure = null, updated_at = now()
    where actor_type = ${type} and actor_id = ${id}`;
}

/** Ids of a type's actors that are neither failed nor done (resource actors come back at start). */
export async function activeActorIds(sql: Queryable, type: string): Promise<string[]> {
  const rows = await sql<{ actor_id: string }[]>`
    select actor_id from actor_snapshots where actor_type = ${type} and status = 'active'`;
  return rows.map((r) => r.actor_id);
}

export async function markActorFailed(sql: Queryable, type: string, id: string, failure: string): Promise<void> {
  await sql`
    update actor_snapshots set status = 'failed', failure = ${failure}, updated_at = now()
    where actor_type = ${type} and actor_id = ${id}`;
}

/**
 * Writes one group-commit batch. Snapshot rows are already reduced to the last one per actor;
 * the journal's unique (type, id, seq) turns any double write into an error, never a duplicate.
 */
export async function writeActorBatch(tx: TransactionSql, b: ActorBatch): Promise<void> {
  // Issued together, the statements are pipelined on the transaction's connection (one round trip
  // instead of one each) and still run in this order: cancels before re-arms.
  const statements: Promise<unknown>[] = [];
  if (b.timersFired.length > 0) {
    statements.push(tx`delete from actor_timers where id = any(${b.timersFired}::uuid[])`);
  }
  if (b.timersCancelled.length > 0) {
    const c = b.timersCancelled;
    statements.push(tx`
      delete from actor_timers t
      using unnest(${c.map((x) => x.actor_type)}::text[], ${c.map((x) => x.actor_id)}::text[], ${c.map((x) => x.key)}::text[]) as c(actor_type, actor_id, key)
      where t.actor_type = c.actor_type and t.actor_id = c.actor_id and t.key = c.key`);
  }
  // Many rows as one JSON array parameter: one JSON.stringify for the batch, sent as is. (A VALUES
  // list of rows × columns parameters costs far more to build, send and parse; text[] arrays of
  // JSON strings were escaped character by character into the array literal, most of the
  // serialization's CPU and garbage under load.) Rows go in in their order (ordinality).
  if (b.journal.length > 0) {
    const j = JSON.stringify(b.journal.map((r) => ({ t: r.actor_type, i: r.actor_id, s: r.seq, e: r.event, st: r.state ?? null })));
    statements.push(tx`
      insert into actor_journal (actor_type, actor_id, seq, event, state)
      select r->>'t', r->>'i', (r->>'s')::bigint, (r->'e')::jsonb, r->>'st'
      from json_array_elements(${j}::text::json) with ordinality as j(r, ord)
      order by ord`);
  }
  if (b.snapshots.length > 0) {
    const n = JSON.stringify(
      b.snapshots.map((r) => ({ t: r.actor_type, i: r.actor_id, v: r.machine_version, s: r.seq, st: r.state, n: r.snapshot, u: r.status, f: r.failure })),
    );
    statements.push(tx`
      insert into actor_snapshots (actor_type, actor_id, machine_version, seq, state, snapshot, status, failure)
      select r->>'t', r->>'i', (r->>'v')::int, (r->>'s')::bigint, r->>'st', (r->'n')::jsonb, r->>'u', r->>'f'
      from json_array_elements(${n}::text::json) as n(r)
      on conflict (actor_type, actor_id) do update set
        machine_version = excluded.machine_version, seq = excluded.seq, state = excluded.state,
        snapshot = excluded.snapshot, status = excluded.status, failure = excluded.failure,
        updated_at = now()`);
  }
  if (b.outbox.length > 0) {
    const o = JSON.stringify(b.outbox.map((r) => ({ id: r.id, t: r.actor_type, i: r.actor_id, s: r.seq, p: r.position, e: r.effect })));
    statements.push(tx`
      insert into actor_outbox (id, actor_type, actor_id, seq, position, effect)
      select (r->>'id')::uuid, r->>'t', r->>'i', (r->>'s')::bigint, (r->>'p')::int, (r->'e')::jsonb
      from json_array_elements(${o}::text::json) with ordinality as o(r, ord)
      order by ord`);
  }
  if (b.effectsDone.length > 0) {
    statements.push(tx`update actor_outbox set done_at = now(), last_error = null where id = any(${b.effectsDone}::uuid[]) and done_at is null`);
  }
  if (b.timersArmed.length > 0) {
    // One row per (actor, key), the last armed: a multi-row upsert may not touch a row twice.
    const armed = [...new Map(b.timersArmed.map((t) => [`${t.actor_type}/${t.actor_id}/${t.key}`, t])).values()];
    statements.push(tx`
      insert into actor_timers (id, actor_type, actor_id, key, event, due_at)
      -- The events go in as text and are cast per row: a jsonb[] parameter would be JSON-encoded twice.
      select id, actor_type, actor_id, key, event::jsonb, due_at
      from unnest(${armed.map((t) => t.id)}::uuid[], ${armed.map((t) => t.actor_type)}::text[], ${armed.map((t) => t.actor_id)}::text[],
                  ${armed.map((t) => t.key)}::text[], ${armed.map((t) => JSON.stringify(t.event))}::text[], ${armed.map((t) => t.due_at.toISOString())}::timestamptz[])
        as a(id, actor_type, actor_id, key, event, due_at)
      on conflict (actor_type, actor_id, key) do update set
        id = excluded.id, event = excluded.event, due_at = excluded.due_at, created_at = now()`);
  }
  await Promise.all(statements);
}

/**
 * Timer jobs, many in one statement (in the group commit's transaction): each the row pg-boss 10's
 * `send(queue, data, { startAfter, retryLimit, retryDelay })` writes (plans.insertJob, with the
 * queue's options and the boss's defaults: no priority, singleton or backoff; the queue's dead
 * letter, policy and retention, else 14 days; its expiry, else the boss's).
 * test/actors-runtime.test.ts compares the two.
 */
export async function insertTimerJobs(
  tx: Queryable,
  o: { schema: string; queue: string; expireInDefaultSeconds: number; retryLimit: number; retryDelaySeconds: number; jobs: { data: unknown; startAfter: Date }[] },
): Promise<void> {
  if (o.jobs.length === 0) return;
  await tx`
    insert into ${tx(o.schema)}.job (id, name, data, priority, start_after, singleton_key, singleton_on, dead_letter,
                                   expire_in, keep_until, retry_limit, retry_delay, retry_backoff, policy)
    select gen_random_uuid(), q.name, j.data::jsonb, 0, j.start_after, null, null, q.dead_letter,
           coalesce(q.expire_seconds, ${o.expireInDefaultSeconds}::int) * interval '1s',
           j.start_after + cast(coalesce((q.retention_minutes * 60)::text, '14 days') as interval),
           ${o.retryLimit}::int, ${o.retryDelaySeconds}::int, false, q.policy
    from unnest(${o.jobs.map((j) => JSON.stringify(j.data))}::text[], ${o.jobs.map((j) => j.startAfter.toISOString())}::timestamptz[]) with ordinality as j(data, start_after, ord)
    join ${tx(o.schema)}.queue q on q.name = ${o.queue}
    order by j.ord`;
}

export async function timerIsArmed(sql: Queryable, timerId: string): Promise<boolean> {
  const [row] = await sql`select 1 from actor_timers where id = ${timerId}`;
  return !!row;
}

/** Actors of a type whose persisted state matches, e.g. consultants left "online" by a crash. */
export async function actorIdsInState(sql: Queryable, type: string, statePrefix: string): Promise<string[]> {
  const rows = await sql<{ actor_id: string }[]>`
    select actor_id from actor_snapshots
    where actor_type = ${type} and (state = ${statePrefix} or state like ${'%' + statePrefix + '%'})`;
  return rows.map((r) => r.actor_id);
}

/** The event an armed timer delivers; undefined once it was cancelled, re-armed or fired. */
export async function armedTimerEvent(sql: Queryable, timerId: string): Promise<{ type: string } | undefined> {
  const [row] = await sql<{ event: { type: string } }[]>`select event from actor_timers where id = ${timerId}`;
  return row?.event;
}

/** Armed timers of these actor types due before `before` (a new home fires what is due from memory). */
export async function timersDueBefore(sql: Queryable, types: string[], before: Date): Promise<TimerRow[]> {
  return sql<TimerRow[]>`
    select id, actor_type, actor_id, key, event, due_at from actor_timers where actor_type = any(${types}) and due_at < ${before}`;
}

/** An actor's armed timers (a reset arms their jobs again). */
export async function armedTimersOf(sql: Queryable, type: string, id: string): Promise<TimerRow[]> {
  return sql<TimerRow[]>`
    select id, actor_type, actor_id, key, event, due_at from actor_timers where actor_type = ${type} and actor_id = ${id}`;
}
