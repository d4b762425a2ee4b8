/**
 * Consultants are the product's users (admins, managers and consultants alike).
 *
 * @example
 * const c = await findConsultantByEmail(sql, 'maria@example.com');
 */
import type { Role } from '../domain/roles.ts';
import type { Queryable } from './client.ts';

export interface ConsultantRow {
  id: string;
  name: string;
  email: string;
  password_hash: string;
  role: Role;
  active: boolean;
  max_open_leads: number;
  open_leads: number;
  last_assigned_at: Date | null;
  /** Bumped by a role change, a deactivation or a password change: older tokens stop working. */
  token_version: number;
  created_at: Date;
  updated_at: Date;
}

export type Consultant = Omit<ConsultantRow, 'password_hash'>;

const publicColumns = ['id', 'name', 'email', 'role', 'active', 'max_open_leads', 'open_leads', 'last_assigned_at', 'token_version', 'created_at', 'updated_at'];

export async function findConsultantByEmail(sql: Queryable, email: string): Promise<ConsultantRow | undefined> {
  const [row] = await sql<ConsultantRow[]>`select * from consultants where email = ${email.toLowerCase()}`;
  return row;
}

export async function findConsultantById(sql: Queryable, id: string): Promise<Consultant | undefined> {
  const [row] = await sql<Consultant[]>`select ${sql(publicColumns)} from consultants where id = ${id}`;
  return row;
}

export async function findConsultantsByIds(sql: Queryable, ids: string[]): Promise<Consultant[]> {
  if (ids.length === 0) return [];
  return sql<Consultant[]>`select ${sql(publicColumns)} from consultants where id = any(${ids}::uuid[])`;
}

export async function listConsultants(sql: Queryable): Promise<Consultant[]> {
  return sql<Consultant[]>`select ${sql(publicColumns)} from consultants order by name, id`;
}

export async function countConsultants(sql: Queryable): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from consultants`;
  return row?.n ?? 0;
}

export interface NewConsultant {
  name: string;
  email: string;
  passwordHash: string;
  role: Role;
  maxOpenLeads?: number | undefined;
  active?: boolean | undefined;
}

/** Returns undefined when the email is already taken. */
export async function insertConsultant(sql: Queryable, c: NewConsultant): Promise<Consultant | undefined> {
  const [row] = await sql<Consultant[]>`
    insert into consultants (name, email, password_hash, role, max_open_leads, active)
    values (${c.name}, ${c.email.toLowerCase()}, ${c.passwordHash}, ${c.role}, ${c.maxOpenLeads ?? 20}, ${c.active ?? true})
    on conflict (email) do nothing
    returning ${sql(publicColumns)}`;
  return row;
}

export interface ConsultantPatch {
  name?: string | undefined;
  role?: Role | undefined;
  active?: boolean | undefined;
  maxOpenLeads?: number | undefined;
  passwordHash?: string | undefined;
}

export async function updateConsultant(sql: Queryable, id: string, p: ConsultantPatch): Promise<Consultant | undefined> {
  const [row] = await sql<Consultant[]>`
    update consultants set
      name = coalesce(${p.name ?? null}, name),
      role = coalesce(${p.role ?? null}, role),
      active = coalesce(${p.active ?? null}::boolean, active),
      max_open_leads = coalesce(${p.maxOpenLeads ?? null}::int, max_open_leads),
      password_hash = coalesce(${p.passwordHash ?? null}, password_hash),
      -- The right-hand side reads the row as it was: revoke on a real role change, on
      -- deactivation, and on any new password.
      token_version = token_version + case
        when ${p.role ?? null}::text is distinct from null and ${p.role ?? null}::text <> role then 1
        when ${p.active ?? null}::boolean = false and active then 1
        when ${p.passwordHash ?? null}::text is not null then 1
        else 0 end,
      updated_at = now()
    where id = ${id}
    returning ${sql(publicColumns)}`;
  return row;
}
