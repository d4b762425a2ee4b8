/**
 * Analytics for managers and admins: `GET /api/analytics/summary` and the CSV export
 * `GET /api/analytics/leads.csv`, both over a date range.
 */
import { LEAD_STATUSES, TEMPERATURES } from '../../domain/lead-status.ts';
import { ANALYTICS_TIME_ZONE, CSV_COLUMNS, DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS, type AnalyticsService } from '../../services/analytics.ts';
import { bearer, createRoute, errors, json, router, z } from '../openapi.ts';

const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), 'not a calendar date');

const RangeQuery = z
  .object({
    from: day.optional().openapi({ example: '2026-11-01', description: 'First day, inclusive (default: 29 days before `to`)' }),
    to: day.optional().openapi({ example: '2026-11-30', description: 'Last day, inclusive (default: today)' }),
  });

const rangeDescription =
  `Days are calendar days in ${ANALYTICS_TIME_ZONE}; a lead is in the range when its created_at is in ` +
  `[from 00:00, to + 1 day 00:00). Without from and to: the last ${DEFAULT_RANGE_DAYS} days ending today. ` +
  `422 when from is after to or the range spans more than ${MAX_RANGE_DAYS} days.`;

const Durations = (what: string) =>
  z
    .object({
      count: z.number().int().openapi({ description: `Leads in the range with ${what}` }),
      avg_seconds: z.number().nullable(),
      p50_seconds: z.number().nullable().openapi({ description: 'Median (continuous percentile)' }),
      p90_seconds: z.number().nullable(),
    })
    .openapi({ description: 'Seconds, to the millisecond; null when count is 0' });

const SummarySchema = z
  .object({
    from: z.string(),
    to: z.string(),
    time_zone: z.string().openapi({ example: ANALYTICS_TIME_ZONE }),
    funnel: z.array(z.object({ status: z.enum(LEAD_STATUSES), count: z.number().int() })).openapi({
      description: 'Leads created in the range by their current status: all six statuses, in pipeline order, zeros included',
    }),
    by_consultant: z
      .array(
        z.object({
          consultant_id: z.string().uuid(),
          name: z.string(),
          total: z.number().int(),
          won: z.number().int(),
          lost: z.number().int(),
          conversion_rate: z.number().openapi({ description: 'won / total; 0 when total is 0' }),
        }),
      )
      .openapi({
        description:
          'Leads created in the range by their current consultant. Every active consultant appears (zeros included), ' +
          'and anyone else who holds leads of the range; most leads first. Unassigned leads are not listed here.',
      }),
    by_source: z.array(z.object({ source: z.string(), count: z.number().int() })).openapi({ description: 'Most leads first' }),
    by_temperature: z
      .array(z.object({ temperature: z.enum(TEMPERATURES).nullable(), count: z.number().int() }))
      .openapi({ description: 'HOT, WARM, COLD, then null (not classified yet), zeros included' }),
    time_to_assignment: Durations('a consultant').openapi({
      description:
        'From created_at to assigned_at, over the leads of the range that have a consultant. assigned_at is when the lead ' +
        'got its current consultant, so a manager’s reassignment moves it. Seconds, null when count is 0.',
    }),
    time_to_first_contact: Durations('a first contact').openapi({
      description:
        'From created_at to the first contact, over the leads of the range that have had one. The first contact is the ' +
        'earliest interaction that is either work by a signed-in user on the lead (actor type "user", any interaction ' +
        'type except "reassigned": a note, a status change, later a WhatsApp message) or a status change away from NEW ' +
        'by anyone. Creation, classification and assignment are the system’s and do not count. Seconds, null when count is 0.',
    }),
    livia_stages: z.array(z.object({ stage: z.string(), count: z.number().int() })).openapi({
      description:
        'Lívia’s conversations started in the range, by their current stage, in the stages’ order; stages with none are ' +
        'left out.',
    }),
    livia_funnel: z
      .object({
        conversations: z.number().int().openapi({ description: 'Lívia’s conversations started in the range' }),
        steps: z
          .array(z.object({ stage: z.string(), reached: z.number().int(), dropped: z.number().int(), drop_off_rate: z.number() }))
          .openapi({
            description:
              'INTRO, QUALIFICATION, SIMULATION, CONVERSION, TRANSFERRED: `reached` counts the conversations that got at least ' +
              'that far; `dropped` those whose furthest step it was and that ended ABANDONED or OPTED_OUT; ' +
              '`drop_off_rate` = dropped / reached (0 when none reached it).',
          }),
        time_to_transferred: Durations('a transfer').openapi({
          description: 'From the conversation’s first message to its first TRANSFERRED, over those that got there. Seconds, null when count is 0.',
        }),
      })
      .openapi({ description: 'Lívia’s funnel' }),
  })
  .openapi('AnalyticsSummary');

const summaryRoute = createRoute({
  method: 'get',
  path: '/summary',
  tags: ['analytics'],
  summary: 'The funnel, conversion by consultant, sources, temperatures and response times of a date range',
  security: bearer,
  description: rangeDescription,
  request: { query: RangeQuery },
  responses: {
    200: json(SummarySchema, 'The report for the range'),
    401: errors[401],
    403: errors[403],
    422: errors[422],
  },
});

const csvRoute = createRoute({
  method: 'get',
  path: '/leads.csv',
  tags: ['analytics'],
  summary: 'The leads of a date range as CSV',
  security: bearer,
  description:
    `${rangeDescription} One row per lead created in the range, oldest first, after a header row: ${CSV_COLUMNS.join(', ')}. ` +
    'UTF-8 with a byte order mark, CRLF line ends, RFC 4180 quoting. A text cell starting with = + - @, a tab or a carriage ' +
    'return gets a leading apostrophe so spreadsheets do not run it as a formula (plain numbers such as E.164 phones ' +
    'are left alone). Streamed from a database cursor, so any number of leads is fine; each export holds a database ' +
    'connection while it streams, so only a few run at once: one more is answered 503 with Retry-After.',
  request: { query: RangeQuery },
  responses: {
    200: { description: 'The leads as CSV (an attachment)', content: { 'text/csv': { schema: z.string() } } },
    401: errors[401],
    403: errors[403],
    422: errors[422],
    503: errors[503],
  },
});

/** Who may call these: ./../policies.ts (MANAGER and ADMIN). */
export function analyticsRoutes(deps: { analytics: AnalyticsService }) {
  const r = router();

  r.openapi(summaryRoute, async (c) => {
    const range = await deps.analytics.resolveRange(c.req.valid('query'));
    return c.json(await deps.analytics.summary(range), 200);
  });

  r.openapi(csvRoute, async (c) => {
    const range = await deps.analytics.resolveRange(c.req.valid('query'));
    return new Response(deps.analytics.leadsCsv(range), {
      status: 200,
      headers: {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="leads-${range.from}-a-${range.to}.csv"`,
        'cache-control': 'no-store',
      },
    });
  });
  return r;
}
