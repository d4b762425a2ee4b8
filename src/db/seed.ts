/**
 * SQL used only by `npm run seed:demo`: leads and interactions written with their own past
 * timestamps (the application's inserts always stamp `now()`), and the consultants' workload
 * recomputed from what was written.
 *
 * @example
 * await sql.begin(async (tx) => {
 *   await lockSeed(tx);
 *   await insertSeedLeads(tx, leads);
 *   await insertSeedInteractions(tx, interactions);
 *   await recomputeWorkload(tx);
 * });
 */
import type { LeadStatus, Temperature } from '../domain/lead-status.ts';
import type { ActorType } from './leads.ts';
import type { Queryable } from './client.ts';

/** Seeds on the same database serialize here, so two at once cannot both find it empty. */
const SEED_LOCK_KEY = 0x73656564; // "seed"

export async function lockSeed(sql: Queryable): Promise<void> {
  await sql`select pg_advisory_xact_lock(${SEED_LOCK_KEY})`;
}

/** What the database holds already: seed:demo refuses anything but a fresh one. */
export async function contentCounts(sql: Queryable): Promise<{ leads: number; users: number; non_admins: number }> {
  const [row] = await sql<{ leads: number; users: number; non_admins: number }[]>`
    select (select count(*)::int from leads) as leads,
           (select count(*)::int from consultants) as users,
           (select count(*)::int from consultants where role <> 'ADMIN') as non_admins`;
  return row!;
}

export interface SeedLead {
  id: string;
  name: string;
  phone: string | null;
  email: string | null;
  source: string;
  externalId: string;
  message: string | null;
  requestedAmount: number | null;
  monthlyIncome: number | null;
  status: LeadStatus;
  aiScore: number;
  aiTemperature: Temperature;
  aiReasons: Record<string, unknown>;
  aiClassifiedAt: Date;
  consultantId: string | null;
  assignedAt: Date | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  closedAt: Date | null;
}

export async function insertSeedLeads(sql: Queryable, ls: SeedLead[]): Promise<void> {
  if (ls.length === 0) return;
  const col = <T>(f: (l: SeedLead) => T) => ls.map(f) as never;
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  await sql`
    insert into leads (id, name, phone, email, source, external_id, message, requested_amount, monthly_income, status,
                       ai_score, ai_temperature, ai_classifier, ai_reasons, ai_classified_at, consultant_id, assigned_at,
                       metadata, version, created_at, updated_at, closed_at)
    select id, name, phone, email, source, external_id, message, requested_amount, monthly_income, status,
           ai_score, ai_temperature, 'rules', ai_reasons::jsonb, ai_classified_at, consultant_id, assigned_at,
           '{"demo": true}'::jsonb, version, created_at, updated_at, closed_at
    from unnest(${col((l) => l.id)}::uuid[], ${col((l) => l.name)}::text[], ${col((l) => l.phone)}::text[], ${col((l) => l.email)}::text[],
                ${col((l) => l.source)}::text[], ${col((l) => l.externalId)}::text[], ${col((l) => l.message)}::text[],
                ${col((l) => l.requestedAmount)}::numeric[], ${col((l) => l.monthlyIncome)}::numeric[], ${col((l) => l.status)}::text[],
                ${col((l) => l.aiScore)}::int[], ${col((l) => l.aiTemperature)}::text[], ${col((l) => JSON.stringify(l.aiReasons))}::text[],
                ${col((l) => iso(l.aiClassifiedAt))}::timestamptz[], ${col((l) => l.consultantId)}::uuid[], ${col((l) => iso(l.assignedAt))}::timestamptz[],
                ${col((l) => l.version)}::int[], ${col((l) => iso(l.createdAt))}::timestamptz[], ${col((l) => iso(l.updatedAt))}::timestamptz[],
                ${col((l) => iso(l.closedAt))}::timestamptz[])
      as t(id, name, phone, email, source, external_id, message, requested_amount, monthly_income, status,
           ai_score, ai_temperature, ai_reasons, ai_classified_at, consultant_id, assigned_at, version, created_at, updated_at, closed_at)`;
}

export interface SeedInteraction {
  leadId: string;
  type: string;
  actorType: ActorType;
  actorId: string | null;
  data: Record<string, unknown>;
  at: Date;
}

/** In the order given (ids grow with it), which callers keep chronological. */
export async function insertSeedInteractions(sql: Queryable, is: SeedInteraction[]): Promise<void> {
  if (is.length === 0) return;
  const col = <T>(f: (i: SeedInteraction) => T) => is.map(f) as never;
  await sql`
    insert into interactions (lead_id, type, actor_type, actor_id, data, created_at)
    select lead_id, type, actor_type, actor_id, data::jsonb, created_at
    from unnest(${col((i) => i.leadId)}::uuid[], ${col((i) => i.type)}::text[], ${col((i) => i.actorType)}::text[],
                ${col((i) => i.actorId)}::uuid[], ${col((i) => JSON.stringify(i.data))}::text[], ${col((i) => i.at.toISOString())}::timestamptz[])
      with ordinality as t(lead_id, type, actor_type, actor_id, data, created_at, ord)
    order by ord`;
}

export interface SeedNotification {
  recipientId: string;
  leadId: string;
  title: string;
  body: string;
  at: Date;
  read: boolean;
}

export async function insertSeedNotifications(sql: Queryable, ns: SeedNotification[]): Promise<void> {
  if (ns.length === 0) return;
  const col = <T>(f: (n: SeedNotification) => T) => ns.map(f) as never;
  await sql`
    insert into notifications (recipient_id, type, title, body, lead_id, dedupe_key, read_at, created_at)
    select recipient_id, 'lead_assigned', title, body, lead_id, 'assigned:' || lead_id, case when read::boolean then created_at end, created_at
    from unnest(${col((n) => n.recipientId)}::uuid[], ${col((n) => n.leadId)}::uuid[], ${col((n) => n.title)}::text[],
                ${col((n) => n.body)}::text[], ${col((n) => n.at.toISOString())}::timestamptz[], ${col((n) => String(n.read))}::text[])
      with ordinality as t(recipient_id, lead_id, title, body, created_at, read, ord)
    order by ord
    on conflict do nothing`;
}

/** open_leads and last_assigned_at as the leads now say (the application keeps them incrementally). */
export async function recomputeWorkload(sql: Queryable): Promise<void> {
  await sql`
    update consultants c set
      open_leads = coalesce(w.open, 0),
      last_assigned_at = w.last_at
    from (
      select c2.id,
             (select count(*)::int from leads l where l.consultant_id = c2.id and l.status in ('NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL')) as open,
             (select max(l.assigned_at) from leads l where l.consultant_id = c2.id) as last_at
      from consultants c2
    ) w
    where w.id = c.id`;
}
