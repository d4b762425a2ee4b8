/**
 * Instances and leases on one database: heartbeats of the running processes, and the leases that
 * give each owned thing (a WhatsApp session, an actor home) exactly one owner. The database clock
 * decides expiry; an owner also keeps its own monotonic deadline (src/actors/leases.ts).
 *
 * @example
 * const epoch = await acquireLease(sql, { name: 'whatsapp:livia', owner: 'a', boot: 'x', ttlMs: 10_000 });
 * if (epoch) await renewLease(sql, { name: 'whatsapp:livia', owner: 'a', epoch, ttlMs: 10_000 });
 */
import type { Queryable } from './client.ts';

export interface LeaseRow {
  name: string;
  owner: string;
  epoch: number;
  expires_at: Date;
  live: boolean;
}

export interface InstanceRow {
  id: string;
  boot: string;
  started_at: Date;
  heartbeat_at: Date;
  live: boolean;
}

/** Records this process as alive until now + ttl (a restart replaces its previous boot). */
export async function beatInstance(sql: Queryable, i: { id: string; boot: string; ttlMs: number }): Promise<void> {
  await sql`
    insert into instances (id, boot, expires_at) values (${i.id}, ${i.boot}, now() + ${i.ttlMs} * interval '1 millisecond')
    on conflict (id) do update set
      boot = excluded.boot,
      heartbeat_at = now(),
      expires_at = excluded.expires_at,
      started_at = case when instances.boot = excluded.boot then instances.started_at else now() end`;
}

export async function removeInstance(sql: Queryable, i: { id: string; boot: string }): Promise<void> {
  await sql`delete from instances where id = ${i.id} and boot = ${i.boot}`;
}

export async function listInstances(sql: Queryable): Promise<InstanceRow[]> {
  return sql<InstanceRow[]>`select id, boot, started_at, heartbeat_at, expires_at > now() as live from instances order by id`;
}

/** Other instances alive now (their heartbeat has not expired). */
export async function otherLiveInstances(sql: Queryable, selfId: string): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`select id from instances where id <> ${selfId} and expires_at > now()`;
  return rows.map((r) => r.id);
}

/**
 * The `application_name` of a process's LISTEN connection (src/db/broadcast.ts), which it holds
 * from before it takes any lease until it exits: while PostgreSQL shows a backend by that name,
 * the process of that boot is alive. A killed process's connection closes with it.
 */
export function livenessName(boot: string): string {
  return `${LIVENESS_PREFIX}${boot}`;
}
const LIVENESS_PREFIX = 'livia-listen ';

/**
 * Takes the lease when it is free, expired, or (`steal`, a lone instance's start) held by a
 * process that is dead: no connection of its boot is left (`livenessName`). A live holder keeps
 * it until it lets go or its lease expires, so one process never opens a session another still
 * has open. The epoch grows at each change. Returns the new epoch, or undefined when someone else
 * holds it.
 */
export async function acquireLease(
  sql: Queryable,
  l: { name: string; owner: string; boot: string; ttlMs: number; steal?: boolean },
): Promise<number | undefined> {
  const [row] = await sql<{ epoch: string }[]>`
    insert into leases (name, owner, boot, epoch, expires_at)
    values (${l.name}, ${l.owner}, ${l.boot}, 1, now() + ${l.ttlMs} * interval '1 millisecond')
    on conflict (name) do update set
      owner = excluded.owner, boot = excluded.boot, epoch = leases.epoch + 1,
      acquired_at = now(), expires_at = excluded.expires_at
    where leases.expires_at <= now()
      -- the same process taking back what it let go of locally
      or (leases.owner = excluded.owner and leases.boot = excluded.boot)
      or (${!!l.steal} and not exists (select 1 from pg_stat_activity where application_name = ${LIVENESS_PREFIX} || leases.boot))
    returning epoch`;
  return row ? Number(row.epoch) : undefined;
}

/** Extends a lease still held under that epoch and not yet expired; false when it was lost. */
export async function renewLease(sql: Queryable, l: { name: string; owner: string; epoch: number; ttlMs: number }): Promise<boolean> {
  const rows = await sql`
    update leases set expires_at = now() + ${l.ttlMs} * interval '1 millisecond'
    where name = ${l.name} and owner = ${l.owner} and epoch = ${l.epoch} and expires_at > now()
    returning 1`;
  return rows.length > 0;
}

/** Lets go at once (a clean shutdown): the next instance need not wait for the expiry. */
export async function releaseLease(sql: Queryable, l: { name: string; owner: string; epoch: number }): Promise<void> {
  await sql`update leases set expires_at = now() where name = ${l.name} and owner = ${l.owner} and epoch = ${l.epoch}`;
}

export async function listLeases(sql: Queryable): Promise<LeaseRow[]> {
  const rows = await sql<(Omit<LeaseRow, 'epoch'> & { epoch: string })[]>`
    select name, owner, epoch, expires_at, expires_at > now() as live from leases order by name`;
  return rows.map((r) => ({ ...r, epoch: Number(r.epoch) }));
}

/**
 * Claims an effect run under a lease: succeeds only while (owner, epoch) still holds it, so an
 * owner deposed while paused cannot run what its successor now runs.
 */
export async function claimEffect(sql: Queryable, c: { effectId: string; lease: string; owner: string; epoch: number }): Promise<boolean> {
  const rows = await sql`
    update actor_outbox set claimed_by = ${c.owner}, claim_epoch = ${c.epoch}
    where id = ${c.effectId} and done_at is null
      and exists (select 1 from leases where name = ${c.lease} and owner = ${c.owner} and epoch = ${c.epoch} and expires_at > now())
    returning 1`;
  return rows.length > 0;
}
