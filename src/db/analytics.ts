/**
 * Read-only reporting over leads, interactions and conversations for a half-open time window
 * `[start, end)`. The rules (which window, which statuses, rounding) live in
 * `src/services/analytics.ts`; this module only holds the SQL.
 *
 * @example
 * const funnel = await countByStatus(sql, { start, end }); // => [{ status: 'NEW', count: 3 }, ...]
 * for await (const rows of leadExportCursor(sql, { start, end }, 500)) write(rows);
 */
import type { LeadStatus, Temperature } from '../domain/lead-status.ts';
import type { Queryable } from './client.ts';
import { PROGRESSION } from './conversations.ts';

export interface Window {
  /** Inclusive. */
  start: Date;
  /** Exclusive. */
  end: Date;
}

export async function countByStatus(sql: Queryable, w: Window): Promise<{ status: LeadStatus; count: number }[]> {
  return sql<{ status: LeadStatus; count: number }[]>`
    select status, count(*)::int as count from leads
    where created_at >= ${w.start} and created_at < ${w.end}
    group by status`;
}

export interface ConsultantTotals {
  consultant_id: string;
  name: string;
  total: number;
  won: number;
  lost: number;
}

/**
 * Every active consultant (so one with no leads shows as zero), plus anyone else who holds leads
 * created in the window (a manager, or a consultant deactivated since).
 */
export async function countByConsultant(sql: Queryable, w: Window): Promise<ConsultantTotals[]> {
  return sql<ConsultantTotals[]>`
    with t as (
      select consultant_id, count(*)::int as total,
             (count(*) filter (where status = 'WON'))::int as won,
             (count(*) filter (where status = 'LOST'))::int as lost
      from leads
      where created_at >= ${w.start} and created_at < ${w.end} and consultant_id is not null
      group by consultant_id
    )
    select c.id as consultant_id, c.name, coalesce(t.total, 0) as total, coalesce(t.won, 0) as won, coalesce(t.lost, 0) as lost
    from consultants c left join t on t.consultant_id = c.id
    where t.consultant_id is not null or (c.active and c.role = 'CONSULTANT')
    order by coalesce(t.total, 0) desc, c.name, c.id`;
}

export async function countBySource(sql: Queryable, w: Window): Promise<{ source: string; count: number }[]> {
  return sql<{ source: string; count: number }[]>`
    select source, count(*)::int as count from leads
    where created_at >= ${w.start} and created_at < ${w.end}
    group by source
    order by count(*) desc, source`;
}

export async function countByTemperature(sql: Queryable, w: Window): Promise<{ temperature: Temperature | null; count: number }[]> {
  return sql<{ temperature: Temperature | null; count: number }[]>`
    select ai_temperature as temperature, count(*)::int as count from leads
    where created_at >= ${w.start} and created_at < ${w.end}
    group by ai_temperature`;
}

export interface DurationStats {
  count: number;
  /** Seconds; null when count is 0. */
  avg: number | null;
  p50: number | null;
  p90: number | null;
}

const durationStats = (sql: Queryable) => sql`
  count(*)::int as count,
  avg(seconds)::float8 as avg,
  percentile_cont(0.5) within group (order by seconds)::float8 as p50,
  percentile_cont(0.9) within group (order by seconds)::float8 as p90`;

/** created_at → assigned_at, over the leads created in the window that have a consultant. */
export async function timeToAssignment(sql: Queryable, w: Window): Promise<DurationStats> {
  const [row] = await sql<DurationStats[]>`
    select ${durationStats(sql)}
    from (
      select greatest(0, extract(epoch from assigned_at - created_at)) as seconds from leads
      where created_at >= ${w.start} and created_at < ${w.end} and assigned_at is not null
    ) d`;
  return row ?? { count: 0, avg: null, p50: null, p90: null };
}

/**
 * created_at → first contact, over the leads created in the window that have been contacted.
 * First contact is the earliest interaction that is either a signed-in user's own work on the lead
 * (`actor_type = 'user'`, any type but `reassigned`: a note, a status change, later a message) or
 * a status change away from NEW by anyone. Creation, classification and assignment are the
 * system's and do not count.
 */
export async function timeToFirstContact(sql: Queryable, w: Window): Promise<DurationStats> {
  const [row] = await sql<DurationStats[]>`
    select ${durationStats(sql)}
    from (
      select greatest(0, extract(epoch from fc.at - l.created_at)) as seconds
      from leads l
      cross join lateral (
        select min(i.created_at) as at from interactions i
        where i.lead_id = l.id
          and ((i.actor_type = 'user' and i.type <> 'reassigned')
               or (i.type = 'status_changed' and i.data->>'from' = 'NEW'))
      ) fc
      where l.created_at >= ${w.start} and l.created_at < ${w.end} and fc.at is not null
    ) d`;
  return row ?? { count: 0, avg: null, p50: null, p90: null };
}

/** Lívia's conversations started in the window, by their current stage (stages with none are absent). */
export async function countConversationsByStage(sql: Queryable, w: Window): Promise<{ stage: string; count: number }[]> {
  return sql<{ stage: string; count: number }[]>`
    select stage, count(*)::int as count from conversations
    where created_at >= ${w.start} and created_at < ${w.end}
    group by stage`;
}

export interface LeadExportRow {
  id: string;
  name: string;
  phone: string | null;
  email: string | null;
  source: string;
  status: LeadStatus;
  ai_score: number | null;
  ai_temperature: Temperature | null;
  consultant_name: string | null;
  created_at: Date;
  assigned_at: Date | null;
}

/**
 * The leads created in the window, oldest first, read through a server-side cursor `batch` rows
 * at a time, so an export of any size holds one batch in memory.
 */
export function leadExportCursor(sql: Queryable, w: Window, batch: number): AsyncIterable<LeadExportRow[]> {
  return sql<LeadExportRow[]>`
    select l.id, l.name, l.phone, l.email, l.source, l.status, l.ai_score, l.ai_temperature,
           c.name as consultant_name, l.created_at, l.assigned_at
    from leads l left join consultants c on c.id = l.consultant_id
    where l.created_at >= ${w.start} and l.created_at < ${w.end}
    order by l.created_at, l.id`.cursor(batch);
}

/** Midnight of a calendar day in a time zone, as PostgreSQL's time zone database computes it. */
export async function startOfDay(sql: Queryable, day: string, timeZone: string): Promise<Date> {
  const [row] = await sql<{ at: Date }[]>`select (${day}::date)::timestamp at time zone ${timeZone} as at`;
  return row!.at;
}

/** Today's date (YYYY-MM-DD) in a time zone, by the database's clock. */
export async function today(sql: Queryable, timeZone: string): Promise<string> {
  const [row] = await sql<{ d: string }[]>`select to_char(now() at time zone ${timeZone}, 'YYYY-MM-DD') as d`;
  return row!.d;
}

/**
 * Lívia's funnel over the conversations started in the window: per step of INTRO → TRANSFERRED,
 * how many got at least that far, and how many ended there (ABANDONED or OPTED_OUT with that as
 * the furthest step reached).
 */
export async function liviaFunnel(sql: Queryable, w: Window): Promise<{ stage: string; reached: number; dropped: number }[]> {
  return sql<{ stage: string; reached: number; dropped: number }[]>`
    with c as (
      select array_position(${PROGRESSION as unknown as string[]}::text[], furthest_stage) as step, stage
      from conversations where created_at >= ${w.start} and created_at < ${w.end}
    )
    select s.stage,
      (select count(*)::int from c where c.step >= s.step) as reached,
      (select count(*)::int from c where c.step = s.step and c.stage in ('ABANDONED', 'OPTED_OUT')) as dropped
    from unnest(${PROGRESSION as unknown as string[]}::text[]) with ordinality as s(stage, step)
    order by s.step`;
}

/** created_at → first TRANSFERRED, over the conversations started in the window that got there. */
export async function timeToTransferred(sql: Queryable, w: Window): Promise<DurationStats> {
  const [row] = await sql<DurationStats[]>`
    select ${durationStats(sql)}
    from (
      select greatest(0, extract(epoch from transferred_at - created_at)) as seconds from conversations
      where created_at >= ${w.start} and created_at < ${w.end} and transferred_at is not null
    ) d`;
  return row ?? { count: 0, avg: null, p50: null, p90: null };
}
