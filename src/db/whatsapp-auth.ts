/**
 * Baileys auth state rows (`WHATSAPP_AUTH_STORE=postgres`): one creds row per session, and one row
 * per signal key. Values are BufferJSON text the store serializes; SQL never looks inside.
 *
 * @example
 * await writeAuthCreds(sql, 'consultant', text);
 * await writeAuthKeys(sql, 'consultant', [{ type: 'pre-key', id: '1', value: '…' }, { type: 'session', id: 'x', value: null }]);
 */
import type { Queryable, Sql } from './client.ts';

export interface AuthKeyWrite {
  type: string;
  id: string;
  /** null deletes the key */
  value: string | null;
}

export async function readAuthCreds(sql: Queryable, session: string): Promise<string | undefined> {
  const [row] = await sql<{ creds: string }[]>`select creds from whatsapp_auth_creds where session = ${session}`;
  return row?.creds;
}

export async function writeAuthCreds(sql: Queryable, session: string, creds: string): Promise<void> {
  await sql`
    insert into whatsapp_auth_creds (session, creds) values (${session}, ${creds})
    on conflict (session) do update set creds = excluded.creds, updated_at = now()`;
}

export async function readAuthKeys(sql: Queryable, session: string, type: string, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<{ id: string; value: string }[]>`
    select id, value from whatsapp_auth_keys
    where session = ${session} and type = ${type} and id = any(${ids}::text[])`;
  return new Map(rows.map((r) => [r.id, r.value]));
}

/** Every write of the batch, or none: one transaction (the last write of a key in the batch wins). */
export async function writeAuthKeys(sql: Sql, session: string, writes: AuthKeyWrite[]): Promise<void> {
  const last = new Map<string, AuthKeyWrite>();
  for (const w of writes) last.set(`${w.type}\u0000${w.id}`, w);
  const batch = [...last.values()];
  const upserts = batch.filter((w) => w.value !== null);
  const deletes = batch.filter((w) => w.value === null);
  await sql.begin(async (tx) => {
    if (deletes.length > 0) {
      await tx`
        delete from whatsapp_auth_keys k
        using unnest(${deletes.map((d) => d.type)}::text[], ${deletes.map((d) => d.id)}::text[]) as d(type, id)
        where k.session = ${session} and k.type = d.type and k.id = d.id`;
    }
    if (upserts.length > 0) {
      await tx`
        insert into whatsapp_auth_keys (session, type, id, value)
        select ${session}, u.type, u.id, u.value
        from unnest(${upserts.map((u) => u.type)}::text[], ${upserts.map((u) => u.id)}::text[],
                    ${upserts.map((u) => u.value!)}::text[]) as u(type, id, value)
        on conflict (session, type, id) do update set value = excluded.value`;
    }
  });
}

/** Creds and keys of a session, gone in one transaction. */
export async function wipeAuthState(sql: Sql, session: string): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`delete from whatsapp_auth_creds where session = ${session}`;
    await tx`delete from whatsapp_auth_keys where session = ${session}`;
  });
}
