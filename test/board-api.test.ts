/**
 * What the web app's board and session need from the API, through the real server: per-status
 * counts under the same visibility and filters as the list, the source filter, marking every
 * notification read, and signing out of a cookie session.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createLead, createUser, waitFor, WEBHOOK_SECRET, type Person } from './lead-helpers.ts';
import { startTestServer, type TestServer } from './support/server.ts';

type Counts = Record<'NEW' | 'CONTACTED' | 'QUALIFIED' | 'PROPOSAL' | 'WON' | 'LOST', number>;

let s: TestServer;
let admin: string;
let ana: Person;
let bruno: Person;

beforeAll(async () => {
  s = await startTestServer({ WEBHOOK_SECRET, RATE_LIMIT_PER_MINUTE: '1000000' });
  admin = await s.login();
  ana = await createUser(s, admin, { name: 'Ana', max_open_leads: 100 });
  bruno = await createUser(s, admin, { name: 'Bruno', max_open_leads: 100 });
  const ids = [];
  for (let i = 0; i < 6; i++) ids.push(await createLead(s.url, { name: `Lead ${i}`, email: `lead${i}@x.test`, source: i % 2 === 0 ? 'site' : 'instagram' }));
  await waitFor('all assigned', async () => {
    const [row] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from leads where consultant_id is null`;
    return row!.n === 0;
  });
  // One of Ana's leads moves on, so the counts span two statuses.
  const [first] = await s.server.sql<{ id: string; version: number }[]>`select id, version from leads where consultant_id = ${ana.id} order by created_at limit 1`;
  const res = await s.api(`/api/leads/${first!.id}`, { method: 'PATCH', token: ana.token, body: { version: first!.version, status: 'CONTACTED' } });
  expect(res.status).toBe(200);
});

const counts = async (path: string, token: string): Promise<Counts> => {
  const res = await s.api(path, { token });
  expect(res.status).toBe(200);
  return (await res.json()) as Counts;
};

describe('GET /api/leads/counts', () => {
  it('counts every status, for a manager everyone’s leads and for a consultant only their own', async () => {
    const all = await counts('/api/leads/counts', admin);
    expect(Object.keys(all)).toEqual(['NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL', 'WON', 'LOST']);
    expect(all.NEW + all.CONTACTED).toBe(6);
    expect(all.CONTACTED).toBe(1);

    const [own] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from leads where consultant_id = ${ana.id}`;
    const mine = await counts('/api/leads/counts', ana.token);
    expect(mine.NEW + mine.CONTACTED).toBe(own!.n);
    expect(mine.CONTACTED).toBe(1);
    // A consultant asking for someone else's leads gets nothing, as with the list.
    const theirs = await counts(`/api/leads/counts?consultant_id=${bruno.id}`, ana.token);
    expect(Object.values(theirs).every((n) => n === 0)).toBe(true);
    const byManager = await counts(`/api/leads/counts?consultant_id=${bruno.id}`, admin);
    expect(byManager.NEW + byManager.CONTACTED).toBe(6 - own!.n);
  });

  it('applies the same filters as the list, source included', async () => {
    const site = await counts('/api/leads/counts?source=site', admin);
    expect(site.NEW + site.CONTACTED).toBe(3);
    const list = await s.api('/api/leads?source=instagram&limit=50', { token: admin });
    const items = ((await list.json()) as { items: { source: string }[] }).items;
    expect(items).toHaveLength(3);
    expect(items.every((l) => l.source === 'instagram')).toBe(true);
    expect((await s.api('/api/leads/counts?temperature=HOT&q=Lead', { token: admin })).status).toBe(200);
    expect((await s.api('/api/leads/counts?temperature=BOILING', { token: admin })).status).toBe(422);
  });
});

describe('notifications and sign-out', () => {
  it('POST /api/notifications/read-all marks only my notifications read', async () => {
    const unread = async (id: string) => {
      const [row] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from notifications where recipient_id = ${id} and read_at is null`;
      return row!.n;
    };
    expect(await unread(ana.id)).toBeGreaterThan(0);
    const before = await unread(bruno.id);
    const res = await s.api('/api/notifications/read-all', { method: 'POST', token: ana.token });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { updated: number }).updated).toBeGreaterThan(0);
    expect(await unread(ana.id)).toBe(0);
    expect(await unread(bruno.id)).toBe(before);
  });

  it('POST /api/auth/logout clears the session cookie and answers 204', async () => {
    const login = await s.api('/api/auth/login', { body: { email: ana.email, password: ana.password, session: 'cookie' } });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const origin = new URL(s.url).origin;
    const out = await s.api('/api/auth/logout', { method: 'POST', headers: { cookie, origin } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/livia_session=;.*Max-Age=0/i);
    expect((await s.api('/api/auth/logout', { method: 'POST' })).status).toBe(401);
  });
});
