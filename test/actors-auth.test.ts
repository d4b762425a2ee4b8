/**
 * Who may inspect actors, on a real server: every inspection route and the `actor:subscribe`
 * socket event, for each role. Conversation actors hold customers' personal data: ADMIN and
 * MANAGER may list, read and subscribe; only ADMIN may reset an actor or retry or discard a dead effect;
 * a CONSULTANT gets 403 everywhere and no `actor:snapshot`. `/api/machines` (definitions, no data)
 * stays open to every signed-in user.
 */
import { randomUUID } from 'node:crypto';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalFor } from '../src/db/actors.ts';
import { startTestServer, type TestServer } from './support/server.ts';

type Role = 'ADMIN' | 'MANAGER' | 'CONSULTANT';
const ROLES: Role[] = ['ADMIN', 'MANAGER', 'CONSULTANT'];

let s: TestServer;
const tokens = {} as Record<Role, string>;
const ids = {} as Record<Role, string>;
const sockets: Socket[] = [];

beforeAll(async () => {
  s = await startTestServer();
  tokens.ADMIN = await s.login();
  const me = await s.api('/api/auth/me', { token: tokens.ADMIN });
  ids.ADMIN = ((await me.json()) as { id: string }).id;
  for (const role of ['MANAGER', 'CONSULTANT'] as const) {
    const email = `${role.toLowerCase()}@livia.test`;
    const res = await s.api('/api/consultants', {
      token: tokens.ADMIN,
      body: { name: role, email, password: 'inspect-pw-1', role, max_open_leads: 3 },
    });
    expect(res.status).toBe(201);
    ids[role] = ((await res.json()) as { id: string }).id;
    tokens[role] = await s.login(email, 'inspect-pw-1');
  }
}, 60_000);

afterAll(() => {
  for (const socket of sockets) socket.disconnect();
});

async function socketFor(token: string): Promise<Socket> {
  const socket = connect(s.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

/** Every inspection route, with the status each role gets. */
function routes(): { name: string; method: string; path: () => string; expect: Record<Role, number> }[] {
  const target = () => `/api/actors/consultant/${ids.CONSULTANT}`;
  return [
    { name: 'machines', method: 'GET', path: () => '/api/machines', expect: { ADMIN: 200, MANAGER: 200, CONSULTANT: 200 } },
    { name: 'list', method: 'GET', path: () => '/api/actors', expect: { ADMIN: 200, MANAGER: 200, CONSULTANT: 403 } },
    { name: 'list by type', method: 'GET', path: () => '/api/actors?type=consultant', expect: { ADMIN: 200, MANAGER: 200, CONSULTANT: 403 } },
    { name: 'read', method: 'GET', path: target, expect: { ADMIN: 200, MANAGER: 200, CONSULTANT: 403 } },
    { name: 'read own actor', method: 'GET', path: () => `/api/actors/consultant/${ids.CONSULTANT}?limit=5`, expect: { ADMIN: 200, MANAGER: 200, CONSULTANT: 403 } },
    { name: 'reset', method: 'POST', path: () => `${target()}/reset`, expect: { ADMIN: 200, MANAGER: 403, CONSULTANT: 403 } },
    { name: 'retry effect', method: 'POST', path: () => `${target()}/effects/${randomUUID()}/retry`, expect: { ADMIN: 404, MANAGER: 403, CONSULTANT: 403 } },
    { name: 'discard effect', method: 'POST', path: () => `${target()}/effects/${randomUUID()}/discard`, expect: { ADMIN: 404, MANAGER: 403, CONSULTANT: 403 } },
  ];
}

describe('inspection matrix', () => {
  for (const role of ROLES) {
    it(`REST: ${role}`, async () => {
      const got: Record<string, number> = {};
      const want: Record<string, number> = {};
      for (const r of routes()) {
        const res = await s.api(r.path(), { method: r.method, token: tokens[role], ...(r.method === 'POST' ? { body: {} } : {}) });
        got[r.name] = res.status;
        want[r.name] = r.expect[role];
        if (res.status === 403) expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
        else await res.body?.cancel();
      }
      expect(got).toEqual(want);
    });

    it(`Socket.io actor:subscribe: ${role}`, async () => {
      const socket = await socketFor(tokens[role]);
      const seen: unknown[] = [];
      socket.on('actor:snapshot', (snap: unknown) => seen.push(snap));
      const ack = (await socket.timeout(5000).emitWithAck('actor:subscribe', { type: 'consultant', id: ids.CONSULTANT })) as {
        ok?: boolean;
        error?: { code: string };
      };
      if (role === 'CONSULTANT') {
        expect(ack.error?.code).toBe('forbidden');
        // The consultant's own actor changes (this very socket connected it): still nothing arrives.
        const other = await socketFor(tokens.CONSULTANT);
        other.disconnect();
        await new Promise((r) => setTimeout(r, 300));
        expect(seen).toEqual([]);
      } else {
        expect(ack).toEqual({ ok: true });
        expect(seen[0]).toMatchObject({ type: 'consultant', id: ids.CONSULTANT });
      }
      socket.disconnect();
    });
  }

  it('answers 401 without a token on every inspection route', async () => {
    for (const r of routes()) {
      const res = await s.api(r.path(), { method: r.method, ...(r.method === 'POST' ? { body: {} } : {}) });
      expect(res.status, r.name).toBe(401);
    }
  });
});

describe('admin actions', () => {
  it('reset is journalled with who did it', async () => {
    const res = await s.api(`/api/actors/consultant/${ids.MANAGER}/reset`, { token: tokens.ADMIN, body: {} });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: 'consultant', id: ids.MANAGER, status: 'active' });
    const journal = await journalFor(s.server.sql, 'consultant', ids.MANAGER);
    expect(journal.at(-1)?.event).toEqual({ type: 'actor.reset', by: ids.ADMIN });
    expect((await s.api('/api/actors/consultant/nobody/reset', { token: tokens.ADMIN, body: {} })).status).toBe(404);
  });

  it('shows history with the state after each event, limited by ?limit=', async () => {
    const res = await s.api(`/api/actors/consultant/${ids.MANAGER}?limit=2`, { token: tokens.MANAGER });
    expect(res.status).toBe(200);
    const detail = (await res.json()) as { events: { seq: number; type: string; at: string; state: string }[]; dead_effects: unknown[] };
    expect(detail.events).toHaveLength(2);
    expect(detail.events.at(-1)).toMatchObject({ type: 'actor.reset' });
    expect(detail.events.at(-1)!.state).toContain('presence.');
    expect(detail.dead_effects).toEqual([]);
    expect((await s.api(`/api/actors/consultant/${ids.MANAGER}?limit=0`, { token: tokens.MANAGER })).status).toBe(422);
  });

  it('retries a dead-lettered effect, journalled, and it runs', async () => {
    const sql = s.server.sql;
    const id = ids.MANAGER;
    const effectId = randomUUID();
    const [snap] = await sql<{ seq: string }[]>`select seq from actor_snapshots where actor_type = 'consultant' and actor_id = ${id}`;
    await sql`
      insert into actor_outbox (id, actor_type, actor_id, seq, position, effect, attempts, last_error, dead_at)
      values (${effectId}, 'consultant', ${id}, ${snap!.seq}, 99, ${sql.json({ type: 'consultant.eligibilityChanged', params: { consultantId: id } })},
        8, 'socket closed', now())`;
    const detail = (await (await s.api(`/api/actors/consultant/${id}`, { token: tokens.MANAGER })).json()) as { dead_effects: { id: string }[] };
    expect(detail.dead_effects.map((d) => d.id)).toEqual([effectId]);
    expect((await s.api(`/api/actors/consultant/${id}/effects/${effectId}/retry`, { token: tokens.MANAGER, body: {} })).status).toBe(403);
    const res = await s.api(`/api/actors/consultant/${id}/effects/${effectId}/retry`, { token: tokens.ADMIN, body: {} });
    expect(res.status).toBe(200);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [row] = await sql<{ done: boolean }[]>`select done_at is not null as done from actor_outbox where id = ${effectId}`;
      if (row?.done) break;
      if (Date.now() > deadline) throw new Error('the retried effect did not run');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await journalFor(sql, 'consultant', id)).at(-1)?.event).toEqual({ type: 'actor.effect.retried', effectId, by: ids.ADMIN });
    const metrics = await (await s.api('/metrics')).text();
    expect(metrics).toContain('actor_effects_dead_letters');
    expect((await s.api(`/api/actors/consultant/${id}/effects/${effectId}/retry`, { token: tokens.ADMIN, body: {} })).status).toBe(404);
  });

  it('discards a dead-lettered effect: kept with who and when, journalled, and the effect behind it runs', async () => {
    const sql = s.server.sql;
    const id = ids.CONSULTANT;
    const [dead, behind] = [randomUUID(), randomUUID()];
    const [snap] = await sql<{ seq: string }[]>`select seq from actor_snapshots where actor_type = 'consultant' and actor_id = ${id}`;
    const effect = sql.json({ type: 'consultant.eligibilityChanged', params: { consultantId: id } });
    await sql`
      insert into actor_outbox (id, actor_type, actor_id, seq, position, effect, attempts, last_error, dead_at)
      values (${dead}, 'consultant', ${id}, ${snap!.seq}, 98, ${effect}, 8, 'socket closed', now())`;
    await sql`insert into actor_outbox (id, actor_type, actor_id, seq, position, effect) values (${behind}, 'consultant', ${id}, ${snap!.seq}, 99, ${effect})`;
    const path = `/api/actors/consultant/${id}/effects/${dead}/discard`;
    expect((await s.api(path, { token: tokens.MANAGER, body: {} })).status).toBe(403);
    // The effect behind the dead one waits (a sweep would have run it by now otherwise).
    await new Promise((r) => setTimeout(r, 300));
    const [waiting] = await sql<{ done: boolean }[]>`select done_at is not null as done from actor_outbox where id = ${behind}`;
    expect(waiting!.done).toBe(false);

    const res = await s.api(path, { token: tokens.ADMIN, body: {} });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: 'consultant', id, status: 'active' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [row] = await sql<{ done: boolean }[]>`select done_at is not null as done from actor_outbox where id = ${behind}`;
      if (row?.done) break;
      if (Date.now() > deadline) throw new Error('the effect behind the discarded one did not run');
      await new Promise((r) => setTimeout(r, 50));
    }
    const events = (await journalFor(sql, 'consultant', id)).map((j) => j.event);
    expect(events).toContainEqual({ type: 'actor.effect.discarded', effectId: dead, by: ids.ADMIN });
    const detail = (await (await s.api(`/api/actors/consultant/${id}`, { token: tokens.MANAGER })).json()) as {
      dead_effects: unknown[];
      discarded_effects: { id: string; discarded_by: string; discarded_by_name: string; discarded_at: string; last_error: string }[];
    };
    expect(detail.dead_effects).toEqual([]);
    expect(detail.discarded_effects).toEqual([
      expect.objectContaining({ id: dead, type: 'consultant.eligibilityChanged', last_error: 'socket closed', discarded_by: ids.ADMIN, discarded_by_name: expect.any(String) }),
    ]);
    expect(Math.abs(Date.now() - Date.parse(detail.discarded_effects[0]!.discarded_at))).toBeLessThan(60_000);
    expect((await s.api(path, { token: tokens.ADMIN, body: {} })).status).toBe(404);
  });
});
