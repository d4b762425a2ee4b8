/**
 * Consultants' sockets by instance: written when a socket connects or closes, read by the
 * consultant actors' home to drop the sockets of an instance that died.
 *
 * @example
 * await addPresenceSocket(sql, { socketId, userId, instanceId, boot });
 * const alive = await liveSocketIds(sql, ['s1', 's2'], { onlyInstance: undefined });
 */
import type { Queryable } from './client.ts';

export async function addPresenceSocket(sql: Queryable, p: { socketId: string; userId: string; instanceId: string; boot: string }): Promise<void> {
  await sql`
    insert into presence_sockets (socket_id, user_id, instance_id, boot) values (${p.socketId}, ${p.userId}, ${p.instanceId}, ${p.boot})
    on conflict (socket_id) do update set user_id = excluded.user_id, instance_id = excluded.instance_id, boot = excluded.boot`;
}

export async function removePresenceSocket(sql: Queryable, socketId: string): Promise<void> {
  await sql`delete from presence_sockets where socket_id = ${socketId}`;
}

/**
 * Of these socket ids, the ones held by an instance that is alive in its current boot. With
 * `only`, that one instance (and boot) is the only one counted alive (INSTANCES=1: whatever
 * another process left behind is from a previous life).
 */
export async function liveSocketIds(sql: Queryable, socketIds: string[], only?: { instanceId: string; boot: string }): Promise<Set<string>> {
  if (socketIds.length === 0) return new Set();
  const rows = only
    ? await sql<{ socket_id: string }[]>`
        select socket_id from presence_sockets
        where socket_id = any(${socketIds}::text[]) and instance_id = ${only.instanceId} and boot = ${only.boot}`
    : await sql<{ socket_id: string }[]>`
        select p.socket_id from presence_sockets p join instances i on i.id = p.instance_id and i.boot = p.boot
        where p.socket_id = any(${socketIds}::text[]) and i.expires_at > now()`;
  return new Set(rows.map((r) => r.socket_id));
}

/** Rows of instances no longer alive (or of a previous boot): forgotten. */
export async function prunePresenceSockets(sql: Queryable): Promise<number> {
  const rows = await sql`
    delete from presence_sockets p
    where not exists (select 1 from instances i where i.id = p.instance_id and i.boot = p.boot and i.expires_at > now())
    returning 1`;
  return rows.length;
}

/** Consultants with a socket on a live instance (assignment's presence, from any instance). */
export async function onlineUserIds(sql: Queryable): Promise<string[]> {
  const rows = await sql<{ user_id: string }[]>`
    select distinct p.user_id from presence_sockets p join instances i on i.id = p.instance_id and i.boot = p.boot
    where i.expires_at > now()`;
  return rows.map((r) => r.user_id);
}
