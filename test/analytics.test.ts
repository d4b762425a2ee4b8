/**
 * Analytics through the real server: leads arrive by the signed webhook, move through the
 * pipeline by PATCH, and then have their created_at / assigned_at pinned so every number of the
 * report can be asserted exactly. Role matrix, range validation, and the CSV export parsed back.
 */
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { recordConversationEvent } from '../src/db/conversations.ts';
import { classifyByRules } from '../src/domain/classifier.ts';
import { addDays } from '../src/services/analytics.ts';
import { createLead, createUser, expectApiError, waitFor, WEBHOOK_SECRET, type Person } from './lead-helpers.ts';
import { startTestServer, type TestServer } from './support/server.ts';

interface Lead {
  id: string;
  version: number;
  consultant_id: string | null;
  ai_classifier: string | null;
  ai_temperature: string | null;
}

interface Summary {
  from: string;
  to: string;
  funnel: { status: string; count: number }[];
  by_consultant: { consultant_id: string; name: string; total: number; won: number; lost: number; conversion_rate: number }[];
  by_source: { source: string; count: number }[];
  by_temperature: { temperature: string | null; count: number }[];
  time_to_assignment: { count: number; avg_seconds: number | null; p50_seconds: number | null; p90_seconds: number | null };
  time_to_first_contact: { count: number; avg_seconds: number | null; p50_seconds: number | null; p90_seconds: number | null };
  livia_stages: { stage: string; count: number }[];
  livia_funnel: {
    conversations: number;
    steps: { stage: string; reached: number; dropped: number; drop_off_rate: number }[];
    time_to_transferred: { count: number; avg_seconds: number | null; p50_seconds: number | null; p90_seconds: number | null };
  };
}

let s: TestServer;
let admin: string;
let manager: Person;
let ana: Person;
let bruno: Person;
let carla: Person;
/** Today in São Paulo, the report's time zone. */
const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo' }).format(new Date());
const from = addDays(today, -2);
const range = `from=${from}&to=${today}`;

const HOT = { requested_amount: 50_000, monthly_income: 8_000, message: 'Quero contratar hoje', phone: '(11) 98765-0001', email: 'quente@analytics.test' };
const COLD = { message: 'só pesquisando, talvez depois', email: 'frio@analytics.test' };
const payloads = {
  l1: { name: 'Lead Um', source: 'site', ...HOT },
  l2: { name: 'Lead Dois', source: 'site', ...HOT, phone: '(11) 98765-0002' },
  l3: { name: 'Lead Três', source: 'instagram', ...COLD },
  l4: { name: 'Lead Quatro', source: 'indicacao', ...COLD, email: 'quatro@analytics.test' },
  l5: { name: 'Lead Cinco', source: 'google', ...HOT, phone: '(21) 98765-0005' },
  l6: { name: 'Lead Seis', source: 'site', ...COLD, email: 'seis@analytics.test' },
  l7: { name: 'Silva, "Zé"\nJúnior', source: 'indicacao', ...HOT, phone: '(31) 98765-0007' },
  l8: { name: 'Fora do Período', source: 'site', ...HOT, phone: '(41) 98765-0008' },
  l9: { name: '=HYPERLINK("http://evil.test","clique")', source: 'site', ...COLD, email: 'formula@analytics.test' },
};
type Key = keyof typeof payloads;
const ids = {} as Record<Key, string>;

const get = async <T>(path: string, token: string): Promise<T> => {
  const res = await s.api(path, { token });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};
const lead = (id: string) => get<Lead>(`/api/leads/${id}`, admin);
async function patch(id: string, token: string, body: Record<string, unknown>): Promise<Lead> {
  const { version } = await lead(id);
  const res = await s.api(`/api/leads/${id}`, { method: 'PATCH', token, body: { version, ...body } });
  if (res.status !== 200) throw new Error(`PATCH ${id}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Lead;
}
async function walk(id: string, token: string, statuses: string[]) {
  for (const status of statuses) await patch(id, token, { status });
}

/** created_at := (the first interaction of `type` on the lead) - seconds. */
async function pinCreatedBefore(id: string, type: string, seconds: number) {
  await s.server.sql`
    update leads set created_at = (select min(created_at) from interactions where lead_id = ${id} and type = ${type}) - make_interval(secs => ${seconds})
    where id = ${id}`;
}

beforeAll(async () => {
  s = await startTestServer({ WEBHOOK_SECRET, RATE_LIMIT_PER_MINUTE: '1000000' });
  admin = await s.login();
  manager = await createUser(s, admin, { role: 'MANAGER', name: 'Marta Gerente' });
  // Ana alone can take leads while they arrive, so every lead is hers until a manager moves it.
  ana = await createUser(s, admin, { name: 'Ana Consultora', max_open_leads: 100 });
  for (const key of Object.keys(payloads) as Key[]) ids[key] = await createLead(s.url, payloads[key]);
  for (const id of Object.values(ids)) {
    await waitFor(`lead ${id} classified and assigned`, async () => {
      const l = await lead(id);
      return l.consultant_id === ana.id && l.ai_classifier ? l : undefined;
    });
  }
  bruno = await createUser(s, admin, { name: 'Bruno Consultor', max_open_leads: 100 });
  carla = await createUser(s, admin, { name: 'Carla Sem Leads', max_open_leads: 100 });

  await walk(ids.l1, ana.token, ['CONTACTED', 'QUALIFIED', 'PROPOSAL', 'WON']);
  await walk(ids.l2, ana.token, ['CONTACTED', 'LOST']);
  await walk(ids.l3, ana.token, ['CONTACTED']);
  await patch(ids.l5, manager.token, { consultant_id: bruno.id });
  await patch(ids.l6, manager.token, { consultant_id: bruno.id });
  await walk(ids.l5, bruno.token, ['LOST']);
  await patch(ids.l7, ana.token, { note: 'Liguei, retorna amanhã' });

  // First contact (seconds): l1 100, l7 200, l5 300 (the manager's reassignment before it is not
  // a contact), l2 400, l3 1000; l4, l6 and l9 never contacted.
  await pinCreatedBefore(ids.l1, 'status_changed', 100);
  await pinCreatedBefore(ids.l7, 'note', 200);
  await pinCreatedBefore(ids.l5, 'status_changed', 300);
  await pinCreatedBefore(ids.l2, 'status_changed', 400);
  await pinCreatedBefore(ids.l3, 'status_changed', 1000);
  await s.server.sql`update leads set created_at = now() - interval '1 hour' where id = any(${[ids.l4, ids.l6, ids.l9]}::uuid[])`;
  // Assignment (seconds): 10, 20, ... 80 in key order.
  const order: Key[] = ['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7', 'l9'];
  for (const [i, key] of order.entries()) {
    await s.server.sql`update leads set assigned_at = created_at + make_interval(secs => ${(i + 1) * 10}) where id = ${ids[key]}`;
  }
  // Out of range: 40 days ago.
  await s.server.sql`update leads set created_at = now() - interval '40 days', assigned_at = now() - interval '40 days' where id = ${ids.l8}`;
}, 120_000);

describe('GET /api/analytics/summary', () => {
  let report: Summary;
  beforeAll(async () => {
    report = await get<Summary>(`/api/analytics/summary?${range}`, manager.token);
  });

  it('echoes the range', () => {
    expect(report).toMatchObject({ from, to: today });
  });

  it('counts the funnel by status, all six in order, zeros included', () => {
    expect(report.funnel).toEqual([
      { status: 'NEW', count: 4 }, // l4, l6, l7, l9
      { status: 'CONTACTED', count: 1 }, // l3
      { status: 'QUALIFIED', count: 0 },
      { status: 'PROPOSAL', count: 0 },
      { status: 'WON', count: 1 }, // l1
      { status: 'LOST', count: 2 }, // l2, l5
    ]);
  });

  it('counts by consultant with conversion rates; an active consultant without leads shows zeros', () => {
    expect(report.by_consultant).toEqual([
      { consultant_id: ana.id, name: 'Ana Consultora', total: 6, won: 1, lost: 1, conversion_rate: 1 / 6 },
      { consultant_id: bruno.id, name: 'Bruno Consultor', total: 2, won: 0, lost: 1, conversion_rate: 0 },
      { consultant_id: carla.id, name: 'Carla Sem Leads', total: 0, won: 0, lost: 0, conversion_rate: 0 },
    ]);
  });

  it('counts by source, most first', () => {
    expect(report.by_source).toEqual([
      { source: 'site', count: 4 }, // l1, l2, l6, l9
      { source: 'indicacao', count: 2 },
      { source: 'google', count: 1 },
      { source: 'instagram', count: 1 },
    ]);
  });

  it('counts by temperature as the rule-based classifier scored them', () => {
    const expected = { HOT: 0, WARM: 0, COLD: 0 };
    for (const key of Object.keys(payloads) as Key[]) {
      if (key === 'l8') continue;
      const p = payloads[key] as { phone?: string; email?: string; requested_amount?: number; monthly_income?: number; source: string; message: string };
      const t = classifyByRules({
        requestedAmount: p.requested_amount,
        monthlyIncome: p.monthly_income,
        source: p.source,
        message: p.message,
        hasPhone: !!p.phone,
        hasEmail: !!p.email,
      }).temperature;
      expected[t] += 1;
    }
    expect(expected.HOT + expected.COLD).toBeGreaterThan(0);
    expect(report.by_temperature).toEqual([
      { temperature: 'HOT', count: expected.HOT },
      { temperature: 'WARM', count: expected.WARM },
      { temperature: 'COLD', count: expected.COLD },
      { temperature: null, count: 0 },
    ]);
  });

  it('measures time to assignment', () => {
    // 10..80: mean 45, median 45, p90 at position 6.3 → 70 + 0.3 × 10.
    expect(report.time_to_assignment).toEqual({ count: 8, avg_seconds: 45, p50_seconds: 45, p90_seconds: 73 });
  });

  it('measures time to first contact', () => {
    // 100, 200, 300, 400, 1000: mean 400, median 300, p90 at position 3.6 → 400 + 0.6 × 600.
    expect(report.time_to_first_contact).toEqual({ count: 5, avg_seconds: 400, p50_seconds: 300, p90_seconds: 760 });
  });

  it('has no Lívia stages while no conversation exists', () => {
    expect(report.livia_stages).toEqual([]);
    expect(report.livia_funnel.conversations).toBe(0);
    expect(report.livia_funnel.steps.map((x) => x.reached)).toEqual([0, 0, 0, 0, 0]);
    expect(report.livia_funnel.time_to_transferred).toEqual({ count: 0, avg_seconds: null, p50_seconds: null, p90_seconds: null });
  });

  it("Lívia's funnel: conversations per stage, drop-off per step, time to TRANSFERRED", async () => {
    // Written the way the conversation actor writes them, one event at a time.
    const sql = s.server.sql;
    const walkTo = async (phone: string, stages: string[]) => {
      for (const stage of stages) await recordConversationEvent(sql, { phone, stage, data: {} });
    };
    const steps = ['INTRO', 'QUALIFICATION', 'SIMULATION', 'CONVERSION', 'TRANSFERRED'];
    await walkTo('+5511900000001', steps);
    await walkTo('+5511900000002', [...steps, 'HUMAN', 'TRANSFERRED']);
    await walkTo('+5511900000003', ['INTRO', 'QUALIFICATION', 'ABANDONED']);
    await walkTo('+5511900000004', ['INTRO', 'QUALIFICATION', 'SIMULATION', 'OPTED_OUT']);
    await walkTo('+5511900000005', ['INTRO', 'OPTED_OUT']);
    await walkTo('+5511900000006', ['INTRO', 'QUALIFICATION']);
    // Transfers after 600 s and 1200 s; one conversation out of the range.
    await sql`update conversations set created_at = transferred_at - interval '600 seconds' where phone = '+5511900000001'`;
    await sql`update conversations set created_at = transferred_at - interval '1200 seconds' where phone = '+5511900000002'`;
    await walkTo('+5511900000007', steps);
    await sql`update conversations set created_at = now() - interval '40 days' where phone = '+5511900000007'`;

    const r = await get<Summary>(`/api/analytics/summary?${range}`, manager.token);
    expect(r.livia_stages).toEqual([
      { stage: 'QUALIFICATION', count: 1 },
      { stage: 'TRANSFERRED', count: 2 },
      { stage: 'ABANDONED', count: 1 },
      { stage: 'OPTED_OUT', count: 2 },
    ]);
    expect(r.livia_funnel.conversations).toBe(6);
    expect(r.livia_funnel.steps).toEqual([
      { stage: 'INTRO', reached: 6, dropped: 1, drop_off_rate: 1 / 6 },
      { stage: 'QUALIFICATION', reached: 5, dropped: 1, drop_off_rate: 1 / 5 },
      { stage: 'SIMULATION', reached: 3, dropped: 1, drop_off_rate: 1 / 3 },
      { stage: 'CONVERSION', reached: 2, dropped: 0, drop_off_rate: 0 },
      { stage: 'TRANSFERRED', reached: 2, dropped: 0, drop_off_rate: 0 },
    ]);
    expect(r.livia_funnel.time_to_transferred).toEqual({ count: 2, avg_seconds: 900, p50_seconds: 900, p90_seconds: 1140 });
    await sql`delete from conversations`;
  });

  it('an empty range has every status and temperature at zero and null durations', async () => {
    const empty = await get<Summary>('/api/analytics/summary?from=2020-01-01&to=2020-01-31', admin);
    expect(empty.funnel.map((f) => f.count)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(empty.by_temperature.map((t) => t.count)).toEqual([0, 0, 0, 0]);
    expect(empty.by_source).toEqual([]);
    expect(empty.time_to_assignment).toEqual({ count: 0, avg_seconds: null, p50_seconds: null, p90_seconds: null });
    // Active consultants still appear, with zeros.
    expect(empty.by_consultant.map((c) => c.total)).toEqual([0, 0, 0]);
  });

  it('defaults to the last 30 days ending today', async () => {
    const d = await get<Summary>('/api/analytics/summary', manager.token);
    expect(d).toMatchObject({ from: addDays(today, -29), to: today });
    expect(d.funnel.reduce((n, f) => n + f.count, 0)).toBe(8);
  });

  it('from alone runs to today; to alone starts 29 days before it', async () => {
    expect(await get<Summary>(`/api/analytics/summary?from=${from}`, manager.token)).toMatchObject({ from, to: today });
    expect(await get<Summary>('/api/analytics/summary?to=2026-03-31', manager.token)).toMatchObject({ from: '2026-03-02', to: '2026-03-31' });
  });
});

describe('roles and validation', () => {
  for (const path of ['/api/analytics/summary', '/api/analytics/leads.csv']) {
    it(`${path}: anonymous 401, consultant 403, manager and admin 200`, async () => {
      await expectApiError(await s.api(path), 401);
      await expectApiError(await s.api(path, { token: ana.token }), 403, 'forbidden');
      for (const token of [manager.token, admin]) {
        const res = await s.api(path, { token });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
    });
  }

  it('422 when from is after to, the range is over 366 days, or a date is malformed', async () => {
    for (const q of ['from=2026-02-01&to=2026-01-31', 'from=2025-01-01&to=2026-01-02', 'from=2026-13-01', 'to=2026-02-30', 'from=1%20week%20ago']) {
      for (const path of ['/api/analytics/summary', '/api/analytics/leads.csv']) {
        const err = await expectApiError(await s.api(`${path}?${q}`, { token: manager.token }), 422, 'validation_failed');
        expect(err.details?.length).toBeGreaterThan(0);
      }
    }
    // Exactly 366 days is allowed.
    expect((await s.api('/api/analytics/summary?from=2025-01-01&to=2026-01-01', { token: manager.token })).status).toBe(200);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await (await s.api('/api/openapi.json')).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/analytics/summary', '/api/analytics/leads.csv']));
  });
});

describe('GET /api/analytics/leads.csv', () => {
  it('streams one escaped row per lead of the range, formulas defused', async () => {
    const res = await s.api(`/api/analytics/leads.csv?${range}`, { token: manager.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="leads-${from}-a-${today}.csv"`);
    const text = await res.text();
    const rows = parse(text, { bom: true, columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual([
      'id', 'name', 'phone', 'email', 'source', 'status', 'ai_score', 'ai_temperature', 'consultant', 'created_at', 'assigned_at',
    ]);
    expect(rows.map((r) => r.id).sort()).toEqual(Object.entries(ids).filter(([k]) => k !== 'l8').map(([, id]) => id).sort());
    const byId = new Map(rows.map((r) => [r.id, r]));

    const tricky = byId.get(ids.l7)!;
    expect(tricky.name).toBe('Silva, "Zé"\nJúnior');
    expect(tricky.phone).toBe('+5531987650007'); // a plain number: left as is
    expect(tricky.consultant).toBe('Ana Consultora');
    expect(tricky.status).toBe('NEW');
    const [db] = await s.server.sql<{ created_at: Date; assigned_at: Date }[]>`select created_at, assigned_at from leads where id = ${ids.l7}`;
    expect(tricky.created_at).toBe(db!.created_at.toISOString());
    expect(tricky.assigned_at).toBe(db!.assigned_at.toISOString());

    expect(byId.get(ids.l9)!.name).toBe(`'${payloads.l9.name}`);
    expect(byId.get(ids.l5)).toMatchObject({ status: 'LOST', consultant: 'Bruno Consultor', source: 'google' });
    expect(Number(byId.get(ids.l1)!.ai_score)).toBeGreaterThan(0);
  });

  it('pages through more leads than one cursor batch', async () => {
    // 1,200 leads on a day of their own (two and a half cursor batches), written straight to the
    // table as closed and classified, so the pipeline leaves them alone.
    await s.server.sql`
      insert into leads (name, email, source, status, ai_classified_at, created_at)
      select 'Lote ' || g, 'lote' || g || '@analytics.test', 'lote', 'LOST', now(), timestamptz '2021-06-15 12:00:00-03' + make_interval(secs => g)
      from generate_series(1, 1200) g`;
    const res = await s.api('/api/analytics/leads.csv?from=2021-06-15&to=2021-06-15', { token: admin });
    const rows = parse(await res.text(), { bom: true, columns: true }) as Record<string, string>[];
    expect(rows.length).toBe(1200);
    expect(rows[0]!.name).toBe('Lote 1');
    expect(rows[1199]!.name).toBe('Lote 1200');
    expect(new Set(rows.map((r) => r.id)).size).toBe(1200);
  });
});
