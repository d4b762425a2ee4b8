/**
 * The consultant actor driven by real Socket.io connections on a real server, and the
 * developers' inspection API and live snapshot stream.
 */
import { io as connect, type Socket } from 'socket.io-client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

interface Consultant {
  id: string;
  email: string;
  online: boolean;
}
interface ActorDetail {
  type: string;
  id: string;
  state: string;
  status: string;
  context: { consultantId: string; sockets: string[]; openLeads: number; maxOpenLeads: number };
  events: { seq: number; type: string; at: string }[];
}
interface Snapshot {
  type: string;
  id: string;
  state: string;
  context: { consultantId: string; sockets: string[] };
}
type ErrorBody = { error: { code: string; message: string } };

let s: TestServer;
let adminToken: string;
const open: Socket[] = [];

beforeAll(async () => {
  s = await startTestServer();
  adminToken = await s.login();
}, 60_000);

afterEach(() => {
  for (const socket of open.splice(0)) socket.disconnect();
});

let counter = 0;
async function newConsultant(role: 'CONSULTANT' | 'MANAGER' = 'CONSULTANT'): Promise<{ consultant: Consultant; token: string }> {
  const email = `presence${++counter}@livia.test`;
  const res = await s.api('/api/consultants', {
    token: adminToken,
    body: { name: `Consultora ${counter}`, email, password: 'consultant-pw-1', role, max_open_leads: 7 },
  });
  expect(res.status).toBe(201);
  const consultant = (await res.json()) as Consultant;
  expect(consultant.online).toBe(false);
  return { consultant, token: await s.login(email, 'consultant-pw-1') };
}

async function socketFor(token: string): Promise<Socket> {
  const socket = connect(s.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  open.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function listed(id: string): Promise<Consultant> {
  const res = await s.api('/api/consultants', { token: adminToken });
  expect(res.status).toBe(200);
  const c = ((await res.json()) as Consultant[]).find((x) => x.id === id);
  expect(c).toBeDefined();
  return c!;
}

async function actor(id: string): Promise<ActorDetail> {
  const res = await s.api(`/api/actors/consultant/${id}`, { token: adminToken });
  expect(res.status).toBe(200);
  return (await res.json()) as ActorDetail;
}

/** Resolves with the first `actor:snapshot` (already received or to come) that matches. */
function snapshots(socket: Socket) {
  const seen: Snapshot[] = [];
  const waiters = new Set<() => void>();
  socket.on('actor:snapshot', (snap: Snapshot) => {
    seen.push(snap);
    for (const w of waiters) w();
  });
  return {
    seen,
    next(what: string, match: (snap: Snapshot) => boolean, timeoutMs = 10_000): Promise<Snapshot> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no actor:snapshot with ${what}; saw ${JSON.stringify(seen)}`)), timeoutMs);
        const check = () => {
          const hit = seen.find(match);
          if (hit) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(hit);
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

describe('consultant presence from Socket.io connections', () => {
  it('is online while at least one of their sockets is open', { timeout: 30_000 }, async () => {
    const { consultant, token } = await newConsultant();
    const a = await socketFor(token);
    const b = await socketFor(token);

    await until('online', async () => (await listed(consultant.id)).online);
    const both = await until('both sockets', async () => {
      const d = await actor(consultant.id);
      return d.context.sockets.length === 2 ? d : undefined;
    });
    expect(new Set(both.context.sockets)).toEqual(new Set([a.id, b.id]));
    expect(both.state).toContain('presence.online');

    a.disconnect();
    const one = await until('one socket left', async () => {
      const d = await actor(consultant.id);
      return d.context.sockets.length === 1 ? d : undefined;
    });
    expect(one.context.sockets).toEqual([b.id]);
    expect(one.state).toContain('presence.online');
    expect((await listed(consultant.id)).online).toBe(true);

    b.disconnect();
    await until('offline', async () => !(await listed(consultant.id)).online);
    // The list reads the live actor; the detail shows the last committed snapshot, a moment later.
    const gone = await until('no socket left', async () => {
      const d = await actor(consultant.id);
      return d.context.sockets.length === 0 ? d : undefined;
    });
    expect(gone.state).toContain('presence.offline');
  });

  it('streams actor:snapshot to a subscribed socket at once and on every change', { timeout: 30_000 }, async () => {
    const { consultant, token } = await newConsultant();
    // Inspection is for managers and admins: a manager watches the consultant's actor.
    const manager = await newConsultant('MANAGER');
    const watcher = await socketFor(manager.token);
    const stream = snapshots(watcher);

    const ack = await watcher.timeout(5000).emitWithAck('actor:subscribe', { type: 'consultant', id: consultant.id });
    expect(ack).toEqual({ ok: true });
    // The current snapshot arrives before the acknowledgement.
    expect(stream.seen.length).toBeGreaterThanOrEqual(1);
    expect(stream.seen[0]).toMatchObject({ type: 'consultant', id: consultant.id, context: { consultantId: consultant.id } });
    expect(typeof stream.seen[0]!.state).toBe('string');

    const first = await socketFor(token);
    await stream.next('the first socket', (snap) => snap.context.sockets.includes(first.id!));
    const second = await socketFor(token);
    const again = await stream.next('the second socket', (snap) => snap.context.sockets.includes(second.id!));
    expect(again).toMatchObject({ type: 'consultant', id: consultant.id });
    expect(again.state).toContain('presence.online');
    expect(new Set(again.context.sockets)).toEqual(new Set([first.id, second.id]));

    // A socket that did not subscribe receives nothing about this actor.
    const bystander = snapshots(second);
    second.disconnect();
    await stream.next('the second socket gone', (snap) => snap.context.sockets.length === 1 && snap.context.sockets[0] === first.id);
    expect(bystander.seen).toEqual([]);
  });

  it('refuses a malformed subscription with a validation error', async () => {
    const { token } = await newConsultant();
    const socket = await socketFor(token);
    const ack = (await socket.timeout(5000).emitWithAck('actor:subscribe', { type: 'consultant' })) as ErrorBody;
    expect(ack.error.code).toBe('validation_failed');
  });
});

describe('actor inspection API', () => {
  it('lists the consultant machine with its version and a JSON definition', async () => {
    const res = await s.api('/api/machines', { token: adminToken });
    expect(res.status).toBe(200);
    const machines = (await res.json()) as { id: string; version: number; definition: { id: string; states: Record<string, unknown> } }[];
    const consultant = machines.find((m) => m.id === 'consultant');
    expect(consultant?.version).toBe(1);
    expect(consultant?.definition.id).toBe('consultant');
    expect(Object.keys(consultant!.definition.states)).toEqual(['presence', 'status']);
  });

  it('lists consultant actors, filtered by type and by state in either region', { timeout: 30_000 }, async () => {
    const { consultant, token } = await newConsultant();
    const res = await s.api('/api/actors?type=consultant', { token: adminToken });
    expect(res.status).toBe(200);
    const actors = (await res.json()) as { type: string; id: string; state: string; updated_at: string }[];
    expect(actors.every((a) => a.type === 'consultant')).toBe(true);
    const mine = actors.find((a) => a.id === consultant.id);
    expect(mine).toMatchObject({ type: 'consultant', state: 'presence.offline,status.active' });
    expect(Number.isNaN(Date.parse(mine!.updated_at))).toBe(false);

    const ids = async (query: string) => {
      const r = await s.api(`/api/actors?type=consultant&state=${encodeURIComponent(query)}`, { token: adminToken });
      expect(r.status).toBe(200);
      return ((await r.json()) as { id: string }[]).map((a) => a.id);
    };
    expect(await ids('presence.offline')).toContain(consultant.id);
    expect(await ids('status.active')).toContain(consultant.id);
    expect(await ids('presence.online')).not.toContain(consultant.id);

    await socketFor(token);
    // The list reads committed snapshots.
    await until('listed as presence.online', async () => (await ids('presence.online')).includes(consultant.id));
    expect(await ids('presence')).toContain(consultant.id);
    expect(await ids('presence.offline')).not.toContain(consultant.id);
    expect(await ids('status.inactive')).not.toContain(consultant.id);
  });

  it('shows one actor with its state, context and journal', { timeout: 30_000 }, async () => {
    const { consultant, token } = await newConsultant();
    await socketFor(token);
    const detail = await until('the connection in the journal', async () => {
      const d = await actor(consultant.id);
      return d.events.some((e) => e.type === 'presence.connected') ? d : undefined;
    });
    expect(detail).toMatchObject({
      type: 'consultant',
      id: consultant.id,
      status: 'active',
      context: { consultantId: consultant.id, maxOpenLeads: 7, openLeads: 0 },
    });
    expect(detail.state).toContain('presence.online');
    expect(detail.events.map((e) => e.seq)).toEqual(detail.events.map((_, i) => i));
    // Created active: `consultant.activated` changed nothing, so it is not in the journal.
    expect(detail.events.map((e) => e.type)).toEqual(['xstate.init', 'workload.synced', 'presence.connected']);
    for (const e of detail.events) expect(Number.isNaN(Date.parse(e.at))).toBe(false);
  });

  it('answers an unknown actor with 404 in the contract’s error shape', async () => {
    const res = await s.api('/api/actors/consultant/no-such-consultant', { token: adminToken });
    expect(res.status).toBe(404);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('not_found');
    expect(typeof body.error.message).toBe('string');
  });

  it('requires a signed-in user', async () => {
    for (const path of ['/api/machines', '/api/actors', '/api/actors/consultant/x']) {
      const res = await s.api(path);
      expect(res.status, path).toBe(401);
      expect(((await res.json()) as ErrorBody).error.code).toBeTypeOf('string');
    }
  });
});
