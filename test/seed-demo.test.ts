/**
 * `npm run seed:demo` as a developer runs it (a child process), on a fresh database: the team and
 * leads it writes, their spread and consistency, its refusal of a database that is not fresh,
 * and the server and analytics working on top of it with the printed logins.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type Sql } from '../src/db/client.ts';
import { startServer, type RunningServer } from '../src/main.ts';
import { createTestDatabase } from './support/db.ts';

const ROOT = join(import.meta.dirname, '..');
let databaseUrl: string;
let dataDir: string;
let sql: Sql;
let first: { status: number | null; stdout: string; stderr: string };
let server: RunningServer | undefined;

function seed() {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/seed-demo.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl, DATA_DIR: dataDir, NODE_ENV: 'development' },
    encoding: 'utf8',
    timeout: 90_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'livia-seed-'));
  sql = createSql(databaseUrl, { max: 2 });
  first = seed();
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await sql.end({ timeout: 5 });
  await rm(dataDir, { recursive: true, force: true });
});

const count = async (query: Promise<{ n: number }[]>) => (await query)[0]!.n;

describe('seed:demo on a fresh database', () => {
  it('exits 0 and prints every login', () => {
    expect(first.status, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/password for every demo user: \S+/);
    expect(first.stdout).toMatch(/ADMIN\s+admin@example\.com\s+password \(shown once\): \S+/);
    for (const email of ['marta.ribeiro@', 'ana.ferreira@', 'bruno.almeida@', 'camila.rocha@', 'diego.martins@', 'eduarda.nunes@']) {
      expect(first.stdout).toContain(email);
    }
  });

  it('writes a team of six, one manager, and the administrator', async () => {
    const roles = await sql<{ role: string; n: number }[]>`select role, count(*)::int as n from consultants group by role order by role`;
    expect(roles).toEqual([
      { role: 'ADMIN', n: 1 },
      { role: 'CONSULTANT', n: 5 },
      { role: 'MANAGER', n: 1 },
    ]);
  });

  it('writes 300 leads spread over every status, source and temperature in the last 60 days', async () => {
    expect(await count(sql`select count(*)::int as n from leads`)).toBe(300);
    const byStatus = await sql<{ status: string; n: number }[]>`select status, count(*)::int as n from leads group by status`;
    expect(byStatus.map((r) => r.status).sort()).toEqual(['CONTACTED', 'LOST', 'NEW', 'PROPOSAL', 'QUALIFIED', 'WON']);
    for (const r of byStatus) expect(r.n).toBeGreaterThanOrEqual(10);
    expect(await count(sql`select count(distinct source)::int as n from leads`)).toBeGreaterThanOrEqual(5);
    expect(await count(sql`select count(distinct ai_temperature)::int as n from leads`)).toBe(3);
    expect(
      await count(sql`
        select count(*)::int as n from leads
        where created_at < now() - interval '60 days' or created_at > now()
           or assigned_at < created_at or assigned_at > now()
           or (phone is not null and phone !~ '^\\+55[1-9][0-9]9[0-9]{8}$')
           or (phone is null and email is null)
           or (status in ('WON', 'LOST')) <> (closed_at is not null)`),
    ).toBe(0);
    // Spread over the period, not bunched on one day.
    expect(await count(sql`select count(distinct created_at::date)::int as n from leads`)).toBeGreaterThan(30);
  });

  it('writes a consistent trail: every lead created, classified, assigned; status changes chain to the status', async () => {
    const per = await sql<{ created: number; classified: number; assigned: number }[]>`
      select count(*) filter (where type = 'created')::int as created,
             count(*) filter (where type = 'classified')::int as classified,
             count(*) filter (where type = 'assigned')::int as assigned
      from interactions`;
    expect(per[0]).toEqual({ created: 300, classified: 300, assigned: 300 });
    // The last status change of each lead lands on its status; leads without one are NEW.
    const mismatched = await count(sql`
      select count(*)::int as n from leads l
      left join lateral (
        select data->>'to' as to from interactions i where i.lead_id = l.id and i.type = 'status_changed' order by i.id desc limit 1
      ) s on true
      where coalesce(s.to, 'NEW') <> l.status`);
    expect(mismatched).toBe(0);
    // Workload matches the open leads.
    const off = await count(sql`
      select count(*)::int as n from consultants c
      where open_leads <> (select count(*) from leads l where l.consultant_id = c.id and l.status in ('NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL'))`);
    expect(off).toBe(0);
  });

  it('refuses a second run, changing nothing', async () => {
    const again = seed();
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/fresh database only.*300 lead\(s\).*nothing was changed/);
    expect(await count(sql`select count(*)::int as n from leads`)).toBe(300);
    expect(await count(sql`select count(*)::int as n from consultants`)).toBe(7);
  });

  it('the server runs on it: the printed logins work, and the charts have data', async () => {
    server = await startServer({
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      NODE_ENV: 'test',
      WHATSAPP_DRIVER: 'simulator',
    });
    const password = /password for every demo user: (\S+)\)/.exec(first.stdout)![1]!;
    const login = async (email: string) => {
      const res = await fetch(`${server!.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { token: string }).token;
    };
    const manager = await login('marta.ribeiro@demo.example.com');
    const res = await fetch(`${server.url}/api/analytics/summary`, { headers: { authorization: `Bearer ${manager}` } });
    const report = (await res.json()) as {
      funnel: { count: number }[];
      by_consultant: { total: number }[];
      time_to_first_contact: { count: number };
    };
    expect(report.funnel.reduce((n, f) => n + f.count, 0)).toBeGreaterThan(100);
    expect(report.by_consultant).toHaveLength(5);
    expect(report.time_to_first_contact.count).toBeGreaterThan(50);

    const ana = await login('ana.ferreira@demo.example.com');
    const mine = (await (await fetch(`${server.url}/api/leads?limit=200`, { headers: { authorization: `Bearer ${ana}` } })).json()) as {
      items: { consultant: { name: string } }[];
    };
    expect(mine.items.length).toBeGreaterThan(20);
    expect(new Set(mine.items.map((l) => l.consultant.name))).toEqual(new Set(['Ana Paula Ferreira']));
  });
});
