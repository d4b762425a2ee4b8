/**
 * What a request's session check reads (the user, their token version, their revoked token ids)
 * and logout's denylist.
 *
 * @example
 * const user = await findSessionUser(sql, id); // { ...user, token_version, revoked: ['…'] }
 * await revokeToken(sql, { jti, consultantId: id, expiresAt });
 */
import type { Role } from '../domain/roles.ts';
import type { Queryable } from './client.ts';

export interface SessionUserRow {
  id: string;
  name: string;
  email: string;
  role: Role;
  active: boolean;
  token_version: number;
  /** Token ids revoked by logout that have not expired yet. */
  revoked: string[];
}

export async function findSessionUser(sql: Queryable, id: string): Promise<SessionUserRow | undefined> {
  const [row] = await sql<SessionUserRow[]>`
    select c.id, c.name, c.email, c.role, c.active, c.token_version,
           coalesce((select array_agg(r.jti::text) from revoked_tokens r
                     where r.consultant_id = c.id and r.expires_at > now()), '{}') as revoked
    from consultants c where c.id = ${id}`;
  return row;
}

export async function revokeToken(sql: Queryable, t: { jti: string; consultantId: string; expiresAt: Date }): Promise<void> {
  await sql`
    insert into revoked_tokens (jti, consultant_id, expires_at)
    values (${t.jti}, ${t.consultantId}, ${t.expiresAt})
    on conflict (jti) do nothing`;
}

/** Revocations of tokens that have expired anyway; returns how many were dropped. */
export async function pruneRevokedTokens(sql: Queryable): Promise<number> {
  const rows = await sql`delete from revoked_tokens where expires_at <= now() returning jti`;
  return rows.length;
}
