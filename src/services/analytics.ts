/**
 * Analytics for managers: the date range rules, the report's shape (every status and temperature
 * present, rates and rounding), and the CSV export of the leads in a range.
 *
 * Days are calendar days in São Paulo (`ANALYTICS_TIME_ZONE`): the team works on Brazilian time,
 * so a lead that arrives at 22:00 there counts on that day, not on the next UTC day.
 *
 * @example
 * const analytics = new AnalyticsService({ sql });
 * const range = await analytics.resolveRange({ from: '2026-11-01', to: '2026-11-30' });
 * const report = await analytics.summary(range);
 * const csv = analytics.leadsCsv(range); // a ReadableStream<Uint8Array> of text/csv
 */
import { stringify } from 'csv-stringify/sync';
import { LEAD_STATUSES, TEMPERATURES, type LeadStatus, type Temperature } from '../domain/lead-status.ts';
import type { Sql } from '../db/client.ts';
import {
  countByConsultant,
  countBySource,
  countByStatus,
  countByTemperature,
  countConversationsByStage,
  liviaFunnel,
  timeToTransferred,
  leadExportCursor,
  startOfDay,
  timeToAssignment,
  timeToFirstContact,
  today,
  type DurationStats,
  type LeadExportRow,
  type Window,
} from '../db/analytics.ts';
import { RETRY_AFTER_SECONDS } from '../db/faults.ts';
import { ApiError } from './errors.ts';

export const ANALYTICS_TIME_ZONE = 'America/Sao_Paulo';
export const DEFAULT_RANGE_DAYS = 30;
export const MAX_RANGE_DAYS = 366;
/** Rows fetched per cursor round trip while exporting. */
const EXPORT_BATCH = 500;
/** CSV exports at once when the composition root does not say (it derives it from the pool size). */
export const DEFAULT_MAX_EXPORTS = 2;

/** Lívia's stages in their conversational order (the contract's list). */
const LIVIA_STAGES = ['INTRO', 'QUALIFICATION', 'SIMULATION', 'CONVERSION', 'TRANSFERRED', 'HUMAN', 'ABANDONED', 'OPTED_OUT'];

export interface DateRange extends Window {
  /** YYYY-MM-DD, inclusive. */
  from: string;
  /** YYYY-MM-DD, inclusive. */
  to: string;
}

export interface Durations {
  count: number;
  avg_seconds: number | null;
  p50_seconds: number | null;
  p90_seconds: number | null;
}

export interface Summary {
  from: string;
  to: string;
  time_zone: string;
  funnel: { status: LeadStatus; count: number }[];
  by_consultant: { consultant_id: string; name: string; total: number; won: number; lost: number; conversion_rate: number }[];
  by_source: { source: string; count: number }[];
  by_temperature: { temperature: Temperature | null; count: number }[];
  time_to_assignment: Durations;
  time_to_first_contact: Durations;
  livia_stages: { stage: string; count: number }[];
  livia_funnel: {
    conversations: number;
    /** Per step of INTRO → TRANSFERRED: reached at least it; ended there (abandoned, opted out); dropped / reached. */
    steps: { stage: string; reached: number; dropped: number; drop_off_rate: number }[];
    time_to_transferred: Durations;
  };
}

export const CSV_COLUMNS = [
  'id',
  'name',
  'phone',
  'email',
  'source',
  'status',
  'ai_score',
  'ai_temperature',
  'consultant',
  'created_at',
  'assigned_at',
] as const;

/** `YYYY-MM-DD` plus `days` (negative to go back), on the calendar alone. */
export function addDays(day: string, days: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Whole days from `from` to `to`, both counted (the same day is 1). */
export function daysInclusive(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;
}

/**
 * A spreadsheet opens a cell that starts with = + - @ (or a tab or carriage return) as a formula.
 * Such a cell gets a leading apostrophe, unless it is a plain number (an E.164 phone such as
 * +5511987654321 is one, and is harmless).
 */
export function defuseFormula(value: string): string {
  if (/^[=+\-@\t\r]/.test(value) && !/^[+-]?\d+(\.\d+)?$/.test(value)) return `'${value}`;
  return value;
}

function csvRow(r: LeadExportRow): string[] {
  const text = (v: string | null) => (v === null ? '' : defuseFormula(v));
  return [
    r.id,
    text(r.name),
    text(r.phone),
    text(r.email),
    text(r.source),
    r.status,
    r.ai_score === null ? '' : String(r.ai_score),
    r.ai_temperature ?? '',
    text(r.consultant_name),
    r.created_at.toISOString(),
    r.assigned_at?.toISOString() ?? '',
  ];
}

/** Rounded to the millisecond: the database computes in microseconds, nobody reads past that. */
const seconds = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);
const durations = (d: DurationStats): Durations => ({
  count: d.count,
  avg_seconds: d.count === 0 ? null : seconds(d.avg),
  p50_seconds: d.count === 0 ? null : seconds(d.p50),
  p90_seconds: d.count === 0 ? null : seconds(d.p90),
});

export class AnalyticsService {
  /** Exports streaming now: each holds a pool connection (its cursor) for as long as it lasts. */
  #exports = 0;

  /**
   * `maxExports`: CSV exports at once (default 2); past it, an export is refused with 503 and
   * `Retry-After` rather than taking one more pool connection for as long as a slow reader likes.
   */
  constructor(private readonly d: { sql: Sql; timeZone?: string; maxExports?: number }) {}

  get exportsRunning(): number {
    return this.#exports;
  }

  get timeZone(): string {
    return this.d.timeZone ?? ANALYTICS_TIME_ZONE;
  }

  /**
   * `to` defaults to today and `from` to 29 days before `to` (30 days, both ends inclusive). A range that runs
   * backwards or spans more than 366 days is a 422.
   */
  async resolveRange(q: { from?: string | undefined; to?: string | undefined }): Promise<DateRange> {
    const to = q.to ?? (await today(this.d.sql, this.timeZone));
    const from = q.from ?? addDays(to, -(DEFAULT_RANGE_DAYS - 1));
    if (from > to) {
      throw new ApiError(422, 'validation_failed', 'The request is not valid', [{ path: 'from', message: 'must not be after to' }]);
    }
    if (daysInclusive(from, to) > MAX_RANGE_DAYS) {
      throw new ApiError(422, 'validation_failed', 'The request is not valid', [
        { path: 'to', message: `the range may span at most ${MAX_RANGE_DAYS} days` },
      ]);
    }
    const [start, end] = await Promise.all([startOfDay(this.d.sql, from, this.timeZone), startOfDay(this.d.sql, addDays(to, 1), this.timeZone)]);
    return { from, to, start, end };
  }

  async summary(range: DateRange): Promise<Summary> {
    const { sql } = this.d;
    const [statuses, consultants, sources, temperatures, assignment, firstContact, stages] = await Promise.all([
      countByStatus(sql, range),
      countByConsultant(sql, range),
      countBySource(sql, range),
      countByTemperature(sql, range),
      timeToAssignment(sql, range),
      timeToFirstContact(sql, range),
      countConversationsByStage(sql, range),
    ]);
    const [funnel, toTransferred] = await Promise.all([liviaFunnel(sql, range), timeToTransferred(sql, range)]);
    const byStatus = new Map(statuses.map((s) => [s.status, s.count]));
    const byTemperature = new Map(temperatures.map((t) => [t.temperature, t.count]));
    return {
      from: range.from,
      to: range.to,
      time_zone: this.timeZone,
      funnel: LEAD_STATUSES.map((status) => ({ status, count: byStatus.get(status) ?? 0 })),
      by_consultant: consultants.map((c) => ({
        consultant_id: c.consultant_id,
        name: c.name,
        total: c.total,
        won: c.won,
        lost: c.lost,
        conversion_rate: c.total === 0 ? 0 : c.won / c.total,
      })),
      by_source: sources,
      by_temperature: [...TEMPERATURES, null].map((temperature) => ({ temperature, count: byTemperature.get(temperature) ?? 0 })),
      time_to_assignment: durations(assignment),
      time_to_first_contact: durations(firstContact),
      livia_stages: stages.sort((a, b) => LIVIA_STAGES.indexOf(a.stage) - LIVIA_STAGES.indexOf(b.stage)),
      livia_funnel: {
        conversations: funnel[0]?.reached ?? 0,
        steps: funnel.map((f) => ({ ...f, drop_off_rate: f.reached === 0 ? 0 : f.dropped / f.reached })),
        time_to_transferred: durations(toTransferred),
      },
    };
  }

  /**
   * The leads of the range as CSV (RFC 4180, header row first), pulled from a database cursor as
   * the client reads: a slow reader holds back the query instead of filling memory, and a client
   * that goes away closes the cursor. The cursor holds a pool connection until the export ends,
   * so at most `maxExports` run at once: one more is refused (503, `Retry-After`) and the rest of
   * the pool stays free for every other request.
   */
  leadsCsv(range: DateRange): ReadableStream<Uint8Array> {
    if (this.#exports >= (this.d.maxExports ?? DEFAULT_MAX_EXPORTS)) {
      throw new ApiError(
        503,
        'service_unavailable',
        'Too many exports are running right now; try again shortly',
        { retry_after_seconds: RETRY_AFTER_SECONDS, reason: 'exports_busy' },
        { 'Retry-After': String(RETRY_AFTER_SECONDS) },
      );
    }
    this.#exports++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#exports--;
    };
    const encoder = new TextEncoder();
    let batches: AsyncIterator<LeadExportRow[]> | undefined;
    return new ReadableStream<Uint8Array>({
      start(controller) {
        // The byte order mark makes Excel read the file as UTF-8 (accents in names) rather than
        // the system's code page.
        controller.enqueue(encoder.encode(`\uFEFF${stringify([[...CSV_COLUMNS]], { record_delimiter: 'windows' })}`));
      },
      pull: async (controller) => {
        try {
          batches ??= leadExportCursor(this.d.sql, range, EXPORT_BATCH)[Symbol.asyncIterator]();
          const next = await batches.next();
          if (next.done) {
            release();
            controller.close();
            return;
          }
          controller.enqueue(encoder.encode(stringify(next.value.map(csvRow), { record_delimiter: 'windows' })));
        } catch (err) {
          release();
          throw err;
        }
      },
      async cancel() {
        try {
          await batches?.return?.();
        } finally {
          release();
        }
      },
    });
  }
}
