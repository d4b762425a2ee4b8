/**
 * Several instances on one database (issue 14): two server processes, one PostgreSQL. A change
 * made through instance A reaches what instance B holds open: Socket.io rooms (the Postgres
 * adapter), SSE notification streams, and the end of a session (LISTEN/NOTIFY); the rate limits
 * and the login throttle count once for both.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type Sql } from '../src/db/client.ts';
import { api, connect, login, nextEvent, openSse } from './support/instance-clients.ts';
import { ADMIN, killServers, postLead, spawnServer, until, type ChildServer } from './support/child-server.ts';
import { afterFile, createTestDatabase } from './support/db.ts';

afterAll(() => killServers());

const RATE_LIMIT = 600;
let a: ChildServer;
let b: ChildServer;
let sql: Sql;
let adminToken: string;

async function createUser(role: 'MANAGER' | 'CONSULTANT', name: string): Promise<{ id: string; email: string; password: string }> {
  const email = `${name.toLowerCase()}-${Date.now()}@scale.test`;
  const password = 'password-123';
  const r = await api(a.url, '/api/consultants', { token: adminToken, body: { name, email, password, role, max_open_leads: 1000 } });
  if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${JSON.stringify(r.json)}`);
  return { id: r.json.id as string, email, password };
}

beforeAll(async () => {
  const databaseUrl = await createTestDatabase('scale');
  sql = createSql(databaseUrl, { max: 2 });
  afterFile(() => sql.end({ timeout: 5 }));
  const dirs = await Promise.all(['a', 'b'].map((n) => mkdtemp(join(tmpdir(), `livia-scale-${n}-`))));
  afterFile(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const env = { DATABASE_URL: databaseUrl, RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT), TRUST_PROXY_HOPS: '1' };
  a = await spawnServer({ ...env, DATA_DIR: dirs[0]!, INSTANCE_ID: 'scale-a' });
  await a.waitReady();
  b = await spawnServer({ ...env, DATA_DIR: dirs[1]!, INSTANCE_ID: 'scale-b' });
  await b.waitReady();
  adminToken = await login(a.url, ADMIN.email, ADMIN.password);
}, 120_000);

afterAll(async () => {
  for (const s of [a, b]) {
    if (!s) continue;
    s.child.kill('SIGTERM');
    expect((await s.exited).code, s.output().slice(-4000)).toBe(0);
  }
});

describe('two instances on one database', () => {
  it('a lead through A reaches a manager socket on B; a reassignment on A reaches the consultant SSE stream and socket on B', async () => {
    const manager = await createUser('MANAGER', 'Gerente');
    const c1 = await createUser('CONSULTANT', 'Primeira');
    const managerSocket = await connect(b.url, await login(b.url, manager.email, manager.password));
    const created = nextEvent<{ id: string; name: string }>(managerSocket, 'lead:created', (l) => l.name === 'Lead Cruzado');
    expect((await postLead(a.url, { name: 'Lead Cruzado', phone: '+5511987650001', source: 'scale' })).status).toBe(202);
    const lead = await created;

    // Assigned to the only consultant; then a manager moves it (on A) to a second one, on B.
    await until('the lead assigned', async () => (await sql`select 1 from leads where id = ${lead.id} and consultant_id is not null`).length > 0, 20_000);
    const c2 = await createUser('CONSULTANT', 'Segunda');
    const c2Token = await login(b.url, c2.email, c2.password);
    const sse = openSse(b.url, c2Token);
    const c2Socket = await connect(b.url, c2Token);
    await until('the SSE stream open', () => sse.state.open, 5000);
    const managerOnA = await login(a.url, manager.email, manager.password);
    const current = await api(a.url, `/api/leads/${lead.id}`, { token: managerOnA });
    const toSocket = nextEvent<{ type: string; lead_id: string }>(c2Socket, 'notification', (n) => n.lead_id === lead.id);
    const updatedOnB = nextEvent<{ id: string; consultant_id: string }>(managerSocket, 'lead:updated', (l) => l.id === lead.id && l.consultant_id === c2.id);
    const moved = await api(a.url, `/api/leads/${lead.id}`, { method: 'PATCH', token: managerOnA, body: { version: current.json.version, consultant_id: c2.id } });
    expect(moved.status).toBe(200);
    await updatedOnB;
    expect((await toSocket).type).toBe('lead_assigned');
    await until('the notification on the SSE stream on B', () => sse.events.some((e) => e.event === 'notification' && e.data.includes(lead.id)), 10_000);
    expect(c1.id).not.toBe(c2.id);

    sse.close();
    c2Socket.disconnect();
    managerSocket.disconnect();
  }, 90_000);

  it('a deactivation on A closes the user’s socket and SSE stream on B at once, and B refuses their token', async () => {
    const c = await createUser('CONSULTANT', 'Desativada');
    const token = await login(b.url, c.email, c.password);
    const socket = await connect(b.url, token);
    const sse = openSse(b.url, token);
    await until('the SSE stream open', () => sse.state.open, 5000);
    // B has the session check cached now (5 s): only the message from A can end it sooner.
    expect((await api(b.url, '/api/auth/me', { token })).status).toBe(200);
    const disconnected = new Promise<number>((resolve) => socket.once('disconnect', () => resolve(Date.now())));
    const started = Date.now();
    const off = await api(a.url, `/api/consultants/${c.id}`, { method: 'PATCH', token: adminToken, body: { active: false } });
    // The consultant's actor has one home (lease `actors:consultant`): A reaches it there if it is
    // not A's own, and answers as it would alone.
    expect(off.status, a.output().slice(-3000)).toBe(200);
    expect((await sql`select active from consultants where id = ${c.id}`)[0]!.active).toBe(false);
    const at = await Promise.race([disconnected, new Promise<number>((r) => setTimeout(() => r(-1), 4000))]);
    expect(at, 'socket on B closed').toBeGreaterThan(0);
    expect(at - started).toBeLessThan(3000);
    await until('the SSE stream on B ended', () => sse.state.ended, 3000);
    expect((await api(b.url, '/api/auth/me', { token })).status).toBe(401);
  }, 60_000);

  it('a demotion on A takes a manager out of the managers’ room on B: their socket is cut', async () => {
    const m = await createUser('MANAGER', 'Rebaixada');
    const token = await login(b.url, m.email, m.password);
    const socket = await connect(b.url, token);
    const disconnected = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
    expect([200, 500]).toContain((await api(a.url, `/api/consultants/${m.id}`, { method: 'PATCH', token: adminToken, body: { role: 'CONSULTANT' } })).status);
    expect((await sql`select role from consultants where id = ${m.id}`)[0]!.role).toBe('CONSULTANT');
    await Promise.race([disconnected, new Promise((_, reject) => setTimeout(() => reject(new Error('socket on B still open')), 3000))]);
  }, 60_000);

  it('the login throttle counts once across instances: the sixth wrong password for an address is refused on both', async () => {
    const c = await createUser('CONSULTANT', 'Travada');
    const from = { 'x-forwarded-for': '198.51.100.23' };
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const base = i % 2 === 0 ? a.url : b.url;
      statuses.push((await api(base, '/api/auth/login', { body: { email: c.email, password: `wrong-${i}` }, headers: from })).status);
    }
    // Per process, each instance would have allowed five (eight 401s).
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
  }, 60_000);

  it('the rate limit holds across instances: requests split over A and B are limited by one count', async () => {
    const from = { 'x-forwarded-for': '203.0.113.77' };
    let accepted = 0;
    const refusedBy = new Set<string>();
    for (let i = 0; i < RATE_LIMIT * 1.5; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, j) => {
          const base = (i + j) % 2 === 0 ? a.url : b.url;
          return fetch(`${base}/health`, { headers: from }).then(async (r) => {
            await r.body?.cancel();
            return { base, status: r.status };
          });
        }),
      );
      for (const r of batch) {
        if (r.status === 429) refusedBy.add(r.base);
        else accepted++;
      }
    }
    // Per process, each would have accepted RATE_LIMIT (all 900 here).
    expect(accepted).toBe(RATE_LIMIT);
    expect(refusedBy).toEqual(new Set([a.url, b.url]));
  }, 60_000);
});
