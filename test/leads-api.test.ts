/**
 * The leads API through the real server: filters, keyset pagination, timeline, optimistic
 * concurrency, transitions, RBAC, Socket.io rooms, notifications and SSE resume.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enforcePolicies } from '../src/http/policy.ts';
import { ROUTE_POLICIES } from '../src/http/policies.ts';
import { NotificationBus } from '../src/http/notification-bus.ts';
import { notificationRoutes } from '../src/http/routes/notifications.ts';
import { NotificationService } from '../src/services/notifications.ts';
import type { AppEnv } from '../src/http/types.ts';
import { connectSocket, createLead, createUser, expectApiError, mapLimit, waitFor, WEBHOOK_SECRET, type Person } from './lead-helpers.ts';
import { startTestServer, type TestServer } from './support/server.ts';

interface Lead {
  id: string;
  name: string;
  phone: string | null;
  email: string | null;
  status: string;
  ai_temperature: string | null;
  ai_score: number | null;
  ai_classifier: string | null;
  consultant_id: string | null;
  consultant: { id: string; name: string } | null;
  version: number;
  created_at: string;
}
interface Interaction {
  id: number;
  type: string;
  actor: { type: string; id: string | null; name: string | null };
  data: Record<string, unknown>;
  created_at: string;
}

let s: TestServer;
let admin: string;
let manager: Person;
let ana: Person;
let bruno: Person;
const sockets: Socket[] = [];

beforeAll(async () => {
  s = await startTestServer({ WEBHOOK_SECRET, RATE_LIMIT_PER_MINUTE: '1000000' });
  admin = await s.login();
  manager = await createUser(s, admin, { role: 'MANAGER', name: 'Marta Gerente' });
  ana = await createUser(s, admin, { name: 'Ana Consultora', max_open_leads: 500 });
  bruno = await createUser(s, admin, { name: 'Bruno Consultor', max_open_leads: 500 });
});
afterAll(() => {
  for (const x of sockets) x.disconnect();
});

const get = async <T>(path: string, token: string): Promise<T> => {
  const res = await s.api(path, { token });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};
async function openLeads(id: string): Promise<number> {
  const [row] = await s.server.sql<{ open_leads: number }[]>`select open_leads from consultants where id = ${id}`;
  return row!.open_leads;
}
const patch = (id: string, token: string, body: Record<string, unknown>) => s.api(`/api/leads/${id}`, { method: 'PATCH', token, body });

async function settled(id: string): Promise<Lead> {
  return waitFor(`lead ${id} assigned`, async () => {
    const l = await get<Lead>(`/api/leads/${id}`, admin);
    return l.consultant_id && l.ai_classifier ? l : undefined;
  });
}

const HOT = { requested_amount: 50_000, monthly_income: 8_000, source: 'site', message: 'Quero contratar hoje', phone: '(11) 98765-0001', email: 'quente@filtro.test' };
const COLD = { source: 'instagram', message: 'só pesquisando, talvez depois', email: 'frio@filtro.test' };

describe('list filters', () => {
  let hot: Lead;
  let cold: Lead;

  beforeAll(async () => {
    hot = await settled(await createLead(s.url, { name: 'Helena Quente', ...HOT }));
    cold = await settled(await createLead(s.url, { name: 'Caio Frio', ...COLD }));
  });

  const list = (qs: string, token = admin) => get<{ items: Lead[]; next_cursor: string | null }>(`/api/leads?${qs}`, token);

  it('temperature', async () => {
    expect(hot.ai_temperature).toBe('HOT');
    expect(cold.ai_temperature).toBe('COLD');
    const hots = await list('temperature=HOT&limit=200');
    expect(hots.items.map((l) => l.id)).toContain(hot.id);
    expect(hots.items.every((l) => l.ai_temperature === 'HOT')).toBe(true);
    const colds = await list('temperature=COLD&limit=200');
    expect(colds.items.map((l) => l.id)).toContain(cold.id);
    expect(colds.items.map((l) => l.id)).not.toContain(hot.id);
  });

  it('status', async () => {
    const res = await patch(cold.id, admin, { version: cold.version, status: 'LOST' });
    expect(res.status).toBe(200);
    const lost = await list('status=LOST');
    expect(lost.items.map((l) => l.id)).toEqual([cold.id]);
    const fresh = await list('status=NEW&limit=200');
    expect(fresh.items.map((l) => l.id)).toContain(hot.id);
    expect(fresh.items.map((l) => l.id)).not.toContain(cold.id);
  });

  it('consultant_id', async () => {
    const mine = await list(`consultant_id=${hot.consultant_id}&limit=200`);
    expect(mine.items.map((l) => l.id)).toContain(hot.id);
    expect(mine.items.every((l) => l.consultant_id === hot.consultant_id)).toBe(true);
  });

  it.each([
    ['name, any case', 'helena quente'],
    ['part of the name', 'Quent'],
    ['email', 'quente@filtro'],
    ['phone digits', '987650001'],
    ['phone as typed', '(11) 98765-0001'],
    ['phone in E.164', '+5511987650001'],
  ])('q on %s', async (_label, q) => {
    const r = await list(`q=${encodeURIComponent(q)}`);
    expect(r.items.map((l) => l.id)).toEqual([hot.id]);
  });

  it('q with LIKE wildcards matches them literally', async () => {
    expect((await list('q=%25')).items).toEqual([]);
    expect((await list('q=_')).items).toEqual([]);
  });

  it('filters combine', async () => {
    expect((await list(`q=Helena&temperature=COLD`)).items).toEqual([]);
    expect((await list(`q=Helena&temperature=HOT&status=NEW`)).items.map((l) => l.id)).toEqual([hot.id]);
  });

  it('invalid filters → 422', async () => {
    for (const qs of ['status=DONE', 'temperature=TEPID', 'consultant_id=abc', 'limit=0', 'limit=201', 'cursor=garbage']) {
      await expectApiError(await s.api(`/api/leads?${qs}`, { token: admin }), 422);
    }
  });

  it('unauthenticated → 401', async () => {
    await expectApiError(await s.api('/api/leads'), 401);
  });
});

describe('cursor pagination', () => {
  it('walks every lead exactly once, newest first, even while new leads arrive between pages', async () => {
    // A burst (several leads share a millisecond under load) ...
    await mapLimit(Array.from({ length: 40 }, (_, i) => i), 20, (i) => createLead(s.url, { name: `Página ${i}`, email: `p${i}@pag.test` }));
    // ... and, to be sure, a group that certainly does: same millisecond, different microseconds.
    const same = await mapLimit(Array.from({ length: 8 }, (_, i) => i), 8, (i) => createLead(s.url, { name: `Mesmo ms ${i}`, email: `ms${i}@pag.test` }));
    await s.server.sql`
      update leads set created_at = '2020-01-01T12:00:00.123Z'::timestamptz + (x.n * interval '1 microsecond') * 7
      from (select unnest(${same}::uuid[]) as id, generate_series(1, ${same.length}) as n) x
      where leads.id = x.id`;

    const before = await s.server.sql<{ id: string }[]>`select id from leads order by created_at desc, id desc`;
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { items: Lead[]; next_cursor: string | null } = await get(`/api/leads?limit=7${cursor ? `&cursor=${cursor}` : ''}`, admin);
      seen.push(...page.items.map((l) => l.id));
      cursor = page.next_cursor;
      pages++;
      // New leads keep arriving; they are newer than the cursor and must not disturb the walk.
      if (cursor && pages % 2 === 0) await createLead(s.url, { name: `Chegou ${pages}`, email: `c${pages}@pag.test` });
      expect(pages).toBeLessThan(100);
    } while (cursor);

    // No lead twice; every lead that existed when the walk started seen once, in the database's order.
    expect(new Set(seen).size).toBe(seen.length);
    const beforeIds = before.map((r) => r.id);
    expect(seen.filter((id) => beforeIds.includes(id))).toEqual(beforeIds);
    // Leads that arrived during the walk are newer than every cursor, so they are not in it.
    expect(seen.length).toBe(beforeIds.length);
  });

  it('a consultant walks only their own leads', async () => {
    await waitFor('everything assigned', async () => {
      const [r] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from leads where consultant_id is null and status = 'NEW'`;
      return r!.n === 0;
    });
    const seen: Lead[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Lead[]; next_cursor: string | null } = await get(`/api/leads?limit=5${cursor ? `&cursor=${cursor}` : ''}`, ana.token);
      seen.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.every((l) => l.consultant_id === ana.id)).toBe(true);
    const [row] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from leads where consultant_id = ${ana.id}`;
    expect(seen).toHaveLength(row!.n);
  });
});

describe('detail, timeline, PATCH', () => {
  let lead: Lead;
  let owner: Person;
  let other: Person;
  let winner = '';

  beforeAll(async () => {
    lead = await settled(await createLead(s.url, { name: 'Tânia Timeline', phone: '21 99876-5432', message: 'quero crédito' }));
    owner = lead.consultant_id === ana.id ? ana : bruno;
    other = owner === ana ? bruno : ana;
  });

  it('detail carries the Lead fields and the timeline (created, classified, assigned)', async () => {
    const d = await get<Lead & { interactions: Interaction[] }>(`/api/leads/${lead.id}`, admin);
    expect(d).toMatchObject({ id: lead.id, name: 'Tânia Timeline', phone: '+5521998765432', status: 'NEW', ai_classifier: 'rules', consultant: { id: owner.id } });
    expect(d.interactions.map((i) => i.type)).toEqual(['created', 'classified', 'assigned']);
    for (const i of d.interactions) expect(i.actor.type).toBe('system');
    expect(d.interactions[1]!.data).toMatchObject({ classifier: 'rules', score: d.ai_score, temperature: d.ai_temperature });
    expect(d.interactions[2]!.data).toMatchObject({ consultant_id: owner.id });
    const times = d.interactions.map((i) => Date.parse(i.created_at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('stale version → 409, nothing changes', async () => {
    const res = await patch(lead.id, owner.token, { version: lead.version - 1, status: 'CONTACTED' });
    const err = await expectApiError(res, 409, 'version_conflict');
    expect(err.details).toMatchObject({ current_version: lead.version });
    expect((await get<Lead>(`/api/leads/${lead.id}`, admin)).status).toBe('NEW');
  });

  it('two concurrent PATCHes with the same version: one wins, the other gets 409', async () => {
    const [a, b] = await Promise.all([
      patch(lead.id, owner.token, { version: lead.version, note: 'primeira' }),
      patch(lead.id, owner.token, { version: lead.version, note: 'segunda' }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    winner = a.status === 200 ? 'primeira' : 'segunda';
    lead = await get<Lead>(`/api/leads/${lead.id}`, admin);
    expect(lead.version).toBe(((await (a.status === 200 ? a : b).json()) as Lead).version);
  });

  it('forbidden transition (NEW → WON, NEW → PROPOSAL) → 422', async () => {
    for (const status of ['WON', 'PROPOSAL', 'QUALIFIED']) {
      const err = await expectApiError(await patch(lead.id, owner.token, { version: lead.version, status }), 422, 'invalid_transition');
      expect(err.details?.[0]?.path).toBe('status');
    }
  });

  it('bad bodies → 422', async () => {
    for (const body of [{}, { status: 'CONTACTED' }, { version: 'x' }, { version: lead.version, status: 'DONE' }, { version: lead.version, extra: 1 }]) {
      await expectApiError(await patch(lead.id, owner.token, body), 422);
    }
  });

  it('the allowed chain NEW → CONTACTED → QUALIFIED → PROPOSAL → WON, with a note, frees the slot', async () => {
    const before = await openLeads(owner.id);
    let v = lead.version;
    for (const status of ['CONTACTED', 'QUALIFIED', 'PROPOSAL', 'WON']) {
      const res = await patch(lead.id, owner.token, { version: v, status, ...(status === 'QUALIFIED' ? { note: 'Cliente aprovado na pré-análise' } : {}) });
      expect(res.status, status).toBe(200);
      const body = (await res.json()) as Lead;
      expect(body.status).toBe(status);
      expect(body.version).toBe(v + 1);
      v = body.version;
    }
    const after = await openLeads(owner.id);
    expect(after).toBe(before - 1);

    const d = await get<Lead & { interactions: Interaction[] }>(`/api/leads/${lead.id}`, admin);
    const changes = d.interactions.filter((i) => i.type === 'status_changed');
    expect(changes.map((i) => [i.data.from, i.data.to])).toEqual([
      ['NEW', 'CONTACTED'],
      ['CONTACTED', 'QUALIFIED'],
      ['QUALIFIED', 'PROPOSAL'],
      ['PROPOSAL', 'WON'],
    ]);
    for (const c of changes) expect(c.actor).toEqual({ type: 'user', id: owner.id, name: owner === ana ? 'Ana Consultora' : 'Bruno Consultor' });
    const notes = d.interactions.filter((i) => i.type === 'note');
    expect(notes.map((n) => n.data.text)).toEqual([winner, 'Cliente aprovado na pré-análise']);
    expect(notes.at(-1)!.actor).toMatchObject({ type: 'user', id: owner.id });
    expect(d.interactions.map((i) => i.type).slice(0, 3)).toEqual(['created', 'classified', 'assigned']);
    lead = d;
  });

  it('reopen: a consultant gets 422, a manager may', async () => {
    await expectApiError(await patch(lead.id, owner.token, { version: lead.version, status: 'PROPOSAL' }), 422, 'invalid_transition');
    const before = await openLeads(owner.id);
    const res = await patch(lead.id, manager.token, { version: lead.version, status: 'PROPOSAL' });
    expect(res.status).toBe(200);
    lead = (await res.json()) as Lead;
    expect(lead.status).toBe('PROPOSAL');
    const after = await openLeads(owner.id);
    expect(after).toBe(before + 1);
    const d = await get<Lead & { interactions: Interaction[] }>(`/api/leads/${lead.id}`, admin);
    expect(d.interactions.at(-1)).toMatchObject({ type: 'status_changed', actor: { type: 'user', id: manager.id, name: 'Marta Gerente' }, data: { from: 'WON', to: 'PROPOSAL' } });
  });

  it('LOST from an open status', async () => {
    for (const from of ['NEW', 'CONTACTED']) {
      let l = await settled(await createLead(s.url, { name: `Perdido ${from}`, email: `perdido-${from}@x.test` }));
      const who = l.consultant_id === ana.id ? ana : bruno;
      if (from === 'CONTACTED') l = (await (await patch(l.id, who.token, { version: l.version, status: 'CONTACTED' })).json()) as Lead;
      const res = await patch(l.id, who.token, { version: l.version, status: 'LOST' });
      expect(res.status).toBe(200);
      expect(((await res.json()) as Lead).status).toBe('LOST');
    }
  });

  describe('RBAC', () => {
    it("another consultant gets 404 on the lead's detail and PATCH", async () => {
      await expectApiError(await s.api(`/api/leads/${lead.id}`, { token: other.token }), 404, 'not_found');
      await expectApiError(await patch(lead.id, other.token, { version: lead.version, note: 'intruso' }), 404, 'not_found');
      await expectApiError(await s.api('/api/leads/00000000-0000-4000-8000-000000000000', { token: admin }), 404);
    });

    it('a consultant lists only their own leads, and filtering by someone else yields nothing', async () => {
      const own = await get<{ items: Lead[] }>('/api/leads?limit=200', other.token);
      expect(own.items.length).toBeGreaterThan(0);
      expect(own.items.every((l) => l.consultant_id === other.id)).toBe(true);
      expect(own.items.map((l) => l.id)).not.toContain(lead.id);
      const theirs = await get<{ items: Lead[] }>(`/api/leads?consultant_id=${owner.id}`, other.token);
      expect(theirs.items).toEqual([]);
      const q = await get<{ items: Lead[] }>('/api/leads?q=T%C3%A2nia', other.token);
      expect(q.items).toEqual([]);
    });

    it('a consultant cannot reassign, even their own lead (403)', async () => {
      await expectApiError(await patch(lead.id, owner.token, { version: lead.version, consultant_id: other.id }), 403, 'forbidden');
      expect((await get<Lead>(`/api/leads/${lead.id}`, admin)).consultant_id).toBe(owner.id);
    });
  });
});

describe('Socket.io rooms', () => {
  it('lead:created/lead:updated reach managers and the assigned consultant only; notification only its recipient', async () => {
    const [adm, mgr, a, b] = await Promise.all([admin, manager.token, ana.token, bruno.token].map((t) => connectSocket(s.url, t)));
    sockets.push(adm!.socket, mgr!.socket, a!.socket, b!.socket);

    const l1 = await settled(await createLead(s.url, { name: 'Sócrates Socket', email: 'sock1@x.test' }));
    const l2 = await settled(await createLead(s.url, { name: 'Sabrina Socket', email: 'sock2@x.test' }));
    expect(new Set([l1.consultant_id, l2.consultant_id])).toEqual(new Set([ana.id, bruno.id]));
    const byOwner = new Map([
      [l1.consultant_id!, l1],
      [l2.consultant_id!, l2],
    ]);
    const anaLead = byOwner.get(ana.id)!;
    const brunoLead = byOwner.get(bruno.id)!;

    const has = (c: { events: { name: string; data: any }[] }, name: string, pred: (d: any) => boolean) => c.events.some((e) => e.name === name && pred(e.data));
    for (const watcher of [adm!, mgr!]) {
      for (const l of [l1, l2]) {
        await waitFor('manager sees lead:created', async () => has(watcher, 'lead:created', (d) => d.id === l.id && d.status === 'NEW'));
        await waitFor('manager sees lead:updated with the final version', async () =>
          has(watcher, 'lead:updated', (d) => d.id === l.id && d.version === l.version && d.consultant_id === l.consultant_id),
        );
      }
    }
    await waitFor('Ana sees her lead', async () => has(a!, 'lead:updated', (d) => d.id === anaLead.id && d.version === anaLead.version && d.consultant.id === ana.id));
    await waitFor('Bruno sees his lead', async () => has(b!, 'lead:updated', (d) => d.id === brunoLead.id && d.version === brunoLead.version));
    await waitFor('Ana notified', async () => has(a!, 'notification', (d) => d.lead_id === anaLead.id && d.type === 'lead_assigned' && typeof d.id === 'number'));
    await waitFor('Bruno notified', async () => has(b!, 'notification', (d) => d.lead_id === brunoLead.id));

    // A change to Ana's lead after everything above: a barrier for what Bruno might still receive.
    const res = await patch(anaLead.id, ana.token, { version: anaLead.version, status: 'CONTACTED' });
    expect(res.status).toBe(200);
    await waitFor('Ana sees her update', async () => has(a!, 'lead:updated', (d) => d.id === anaLead.id && d.version === anaLead.version + 1 && d.status === 'CONTACTED'));
    await waitFor('manager sees it', async () => has(mgr!, 'lead:updated', (d) => d.id === anaLead.id && d.version === anaLead.version + 1));
    const res2 = await patch(brunoLead.id, bruno.token, { version: brunoLead.version, note: 'barreira' });
    expect(res2.status).toBe(200);
    await waitFor('Bruno sees his barrier', async () => has(b!, 'lead:updated', (d) => d.id === brunoLead.id && d.version === brunoLead.version + 1));

    const about = (c: { events: { name: string; data: any }[] }, id: string) => c.events.filter((e) => (e.data?.id === id || e.data?.lead_id === id) && /^(lead:|notification)/.test(e.name));
    expect(about(b!, anaLead.id)).toEqual([]);
    expect(about(a!, brunoLead.id)).toEqual([]);
    // Consultants never get lead:created for unassigned leads; managers get no assignment notifications.
    expect(a!.events.filter((e) => e.name === 'lead:created')).toEqual([]);
    expect(mgr!.events.filter((e) => e.name === 'notification')).toEqual([]);
  });
});

describe('notifications', () => {
  it('list and mark read; someone else’s notification is 404', async () => {
    const notes = await get<{ id: number; type: string; title: string; body: string; lead_id: string; read: boolean; created_at: string }[]>('/api/notifications', ana.token);
    expect(notes.length).toBeGreaterThan(0);
    const ids = notes.map((n) => n.id);
    expect([...ids].sort((x, y) => y - x)).toEqual(ids); // newest first
    const n = notes[0]!;
    expect(n).toMatchObject({ type: 'lead_assigned', read: false });
    const res = await s.api(`/api/notifications/${n.id}`, { method: 'PATCH', token: ana.token, body: { read: true } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: n.id, read: true });
    expect((await get<{ id: number; read: boolean }[]>('/api/notifications', ana.token)).find((x) => x.id === n.id)!.read).toBe(true);
    await expectApiError(await s.api(`/api/notifications/${n.id}`, { method: 'PATCH', token: bruno.token, body: { read: true } }), 404);
    await expectApiError(await s.api(`/api/notifications/${n.id}`, { method: 'PATCH', token: ana.token, body: { read: 'yes' } }), 422);
    expect((await get<{ id: number }[]>('/api/notifications', bruno.token)).map((x) => x.id)).not.toContain(n.id);
  });
});

/** Reads Server-Sent Events from a fetch body. */
function sse(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const events: { id?: string; event?: string; data?: string }[] = [];
  const comments: string[] = [];
  const ready = fetch(url, { headers, signal: controller.signal }).then(async (res) => {
    if (res.status !== 200) throw new Error(`SSE ${res.status} ${await res.text()}`);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buf = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev: { id?: string; event?: string; data?: string } = {};
            let isEvent = false;
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) comments.push(line.slice(1).trim());
              else {
                const [k, ...rest] = line.split(':');
                const v = rest.join(':').replace(/^ /, '');
                if (k === 'id' || k === 'event' || k === 'data') {
                  ev[k] = k === 'data' && ev.data !== undefined ? `${ev.data}\n${v}` : v;
                  isEvent = true;
                }
              }
            }
            if (isEvent) events.push(ev);
          }
        }
      } catch {
        /* aborted */
      }
    })();
  });
  return {
    events,
    comments,
    ready,
    notifications: () => events.filter((e) => e.event === 'notification').map((e) => ({ id: Number(e.id), data: JSON.parse(e.data!) as { id: number; lead_id: string } })),
    close: () => controller.abort(),
  };
}

describe('SSE /api/notifications/stream', () => {
  it('delivers live notifications with ids, and after a reconnect with Last-Event-ID exactly the missed ones, in order', async () => {
    // Only Ana takes leads during this test.
    expect((await s.api(`/api/consultants/${bruno.id}`, { method: 'PATCH', token: admin, body: { active: false } })).status).toBe(200);
    const url = `${s.url}/api/notifications/stream`;
    const first = sse(url, { authorization: `Bearer ${ana.token}` });
    await first.ready;
    const live = await createLead(s.url, { name: 'Sara SSE', email: 'sse0@x.test' });
    await waitFor('live notification', async () => first.notifications().some((n) => n.data.lead_id === live));
    const got = first.notifications().find((n) => n.data.lead_id === live)!;
    // The event id is the recipient's notification sequence (the row's own id is in the data).
    const [gotRow] = await s.server.sql<{ seq: string }[]>`select seq from notifications where id = ${got.data.id}`;
    expect(got.id).toBe(Number(gotRow!.seq));
    expect(got.id).toBeGreaterThan(0);
    first.close();
    const lastId = first.notifications().at(-1)!.id;

    // While disconnected, more leads are assigned to Ana.
    const missed: string[] = [];
    for (let i = 0; i < 4; i++) missed.push(await createLead(s.url, { name: `Perdida ${i}`, email: `sse${i + 1}@x.test` }));
    await waitFor('assigned', async () => {
      const [r] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from notifications where lead_id = any(${missed}::uuid[])`;
      return r!.n === missed.length;
    });
    const expected = await s.server.sql<{ seq: string; lead_id: string }[]>`
      select seq, lead_id from notifications where recipient_id = ${ana.id} and seq > ${lastId} order by seq`;
    expect(expected.map((r) => r.lead_id)).toEqual(missed);

    const second = sse(url, { authorization: `Bearer ${ana.token}`, 'last-event-id': String(lastId) });
    await second.ready;
    await waitFor('replay', async () => second.notifications().length >= expected.length);
    // Then one more live one: it must come right after the replay, with nothing repeated in between.
    const after = await createLead(s.url, { name: 'Depois', email: 'sse-after@x.test' });
    await waitFor('live after replay', async () => second.notifications().some((n) => n.data.lead_id === after));
    const ids = second.notifications().map((n) => n.id);
    expect(second.notifications().map((n) => n.data.lead_id)).toEqual([...missed, after]);
    expect(ids.slice(0, expected.length)).toEqual(expected.map((r) => Number(r.seq)));
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);
    second.close();

    // EventSource style: the web app's session cookie, and the resume point in the query string.
    const third = sse(`${url}?last_event_id=${lastId}`, { cookie: `livia_session=${ana.token}` });
    await third.ready;
    await waitFor('replay via query', async () => third.notifications().length >= expected.length + 1);
    expect(third.notifications().map((n) => n.data.lead_id)).toEqual([...missed, after]);
    third.close();

    expect((await s.api(`/api/consultants/${bruno.id}`, { method: 'PATCH', token: admin, body: { active: true } })).status).toBe(200);
    // The deactivation revoked Bruno's earlier tokens: he signs in again.
    bruno.token = await s.login(bruno.email, bruno.password);
  });

  it('another user never sees Ana’s notifications on their stream', async () => {
    const mgr = sse(`${s.url}/api/notifications/stream`, { authorization: `Bearer ${manager.token}`, 'last-event-id': '0' });
    await mgr.ready;
    const id = await createLead(s.url, { name: 'Privada', email: 'privada@x.test' });
    await settled(id);
    const [n] = await s.server.sql<{ recipient_id: string }[]>`select recipient_id from notifications where lead_id = ${id}`;
    const owner = n!.recipient_id === ana.id ? ana : bruno;
    const watch = sse(`${s.url}/api/notifications/stream`, { authorization: `Bearer ${owner.token}`, 'last-event-id': '0' });
    await watch.ready;
    await waitFor('owner replay', async () => watch.notifications().some((x) => x.data.lead_id === id));
    expect(mgr.notifications()).toEqual([]);
    mgr.close();
    watch.close();
  });

  it('no or bad token → 401; a token in the URL is not accepted', async () => {
    await expectApiError(await fetch(`${s.url}/api/notifications/stream`), 401);
    await expectApiError(await fetch(`${s.url}/api/notifications/stream?access_token=${encodeURIComponent(ana.token)}`), 401);
    await expectApiError(await fetch(`${s.url}/api/notifications/stream`, { headers: { cookie: 'livia_session=nope' } }), 401);
  });

  it('sends heartbeat comments (the route mounted with a short heartbeat; the server uses 15 s)', async () => {
    // heartbeatMs is not configurable through the environment, so mount the real route, with the
    // real auth middleware, bus and database, on a port of its own with a 50 ms heartbeat.
    const app = new Hono<AppEnv>();
    app.use(async (c, next) => {
      c.set('log', s.server.log);
      await next();
    });
    app.use(enforcePolicies({ policies: ROUTE_POLICIES, sessions: s.server.sessions, metricsToken: undefined, isProduction: false }));
    app.route(
      '/api/notifications',
      notificationRoutes({
        notifications: new NotificationService({ sql: s.server.sql, subscribe: (id, listener) => new NotificationBus().subscribe(id, listener) }),
        live: s.server.sessions.live,
        heartbeatMs: 50,
      }),
    );
    const server = await new Promise<HttpServer>((resolve) => {
      const srv = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(srv as HttpServer)) as HttpServer;
    });
    try {
      const port = (server.address() as AddressInfo).port;
      const stream = sse(`http://127.0.0.1:${port}/api/notifications/stream`, { authorization: `Bearer ${ana.token}` });
      await stream.ready;
      await waitFor('two heartbeats', async () => stream.comments.filter((c) => c === 'heartbeat').length >= 2, 5_000);
      stream.close();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
