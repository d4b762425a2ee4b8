/**
 * What is asked of an instance that does not own the thing asked about reaches its owner (issue 14):
 * two server processes on one database, A owning every session and actor home, B asked.
 * - WhatsApp operations: a pairing code, a logout and read receipts asked on B are done by A's socket;
 *   with A stopped (SIGSTOP), B answers 503 with a reason, and A does not do it after it resumes.
 * - Admin actions on actors (reset, retry of a dead-lettered effect) asked on B run at A.
 * - An LGPD erasure on B makes A drop the conversation actor: the phone's next message starts afresh.
 * - A consultant's reply from /conversations on B goes out once, from A, on Lívia's number.
 * - /machines watching from B sees the live snapshots of an actor whose home is A.
 * - Fast: the owner polls its inbox only every 30 s here, so each answer in time below comes from
 *   the NOTIFY that announces a job to its owner (and its answer to the sender).
 * - Bounded: with A paused, a send asked on B answers 503 before the request deadline, and is not
 *   sent after A resumes.
 */
import { io as connectClient } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killServers, until } from './support/child-server.ts';
import { createTestDatabase } from './support/db.ts';
import { createSql } from '../src/db/client.ts';
import { api, received, say, settled, spawnInstance, waitOwner, type Instance } from './support/instances.ts';

// A long lease: A stays the owner while it is paused in the last case.
// The inbox polled every 30 s: forwarding must not wait for the poll.
const ENV = { DB_POOL_MAX: '6', LIVIA_BURST_MS: '0', LIVIA_TYPING_MS_PER_CHAR: '0', WHATSAPP_SEND_PER_MINUTE: '10000', LOG_LEVEL: 'warn', INSTANCES: '2', LEASE_TTL_MS: '60000', ACTOR_INBOX_POLL_MS: '30000' };
let sql: ReturnType<typeof createSql>;
let a: Instance;
let b: Instance;

beforeAll(async () => {
  const url = await createTestDatabase('fwd');
  sql = createSql(url, { max: 4 });
  a = await spawnInstance(url, 'inst-a', ENV);
  b = await spawnInstance(url, 'inst-b', ENV);
  expect(await waitOwner([b], 'livia', () => true)).toBe('inst-a');
  expect(await waitOwner([b], 'consultant', () => true)).toBe('inst-a');
}, 180_000);

afterAll(async () => {
  killServers();
  await sql?.end({ timeout: 5 });
});

function call(s: Instance, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${s.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function socketLog(s: Instance): Promise<{ read_receipts: string[]; logouts: string[] }> {
  return (await (await api(s, '/api/simulator/socket')).json()) as { read_receipts: string[]; logouts: string[] };
}

async function sessionStatus(s: Instance, name: string): Promise<string | undefined> {
  const list = (await (await api(s, '/api/whatsapp/sessions')).json()) as { name: string; status: string }[];
  return list.find((x) => x.name === name)?.status;
}

/** A chat of the `consultant` session, opened by a customer's message through A. */
async function consultantChat(from: string): Promise<string> {
  expect((await api(a, '/api/simulator/messages', { session: 'consultant', from, text: 'oi' })).status).toBe(202);
  return until(
    'the chat',
    async () => (await sql<{ id: string }[]>`select id from wa_chats where session = 'consultant' and jid = ${from.replace(/\D/g, '') + '@s.whatsapp.net'}`)[0]?.id,
    15_000,
    50,
  );
}

const onTheWire = async (text: string) => (await sql<{ sent_by: string }[]>`select sent_by from wa_simulator_sent where text = ${text}`).map((r) => r.sent_by);

describe('asked on a non-owner, done by the owner', () => {
  it('a WhatsApp send asked on B is answered and on the wire of A at once, not at the next poll of its inbox', { timeout: 60_000 }, async () => {
    const chat = await consultantChat('+5511987660010');
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const text = `via B ${i}`;
      const t0 = performance.now();
      const res = await call(b, 'POST', `/api/whatsapp/chats/${chat}/messages`, { text });
      expect(res.status, await res.clone().text()).toBeLessThan(300);
      await until('on the wire', async () => (await onTheWire(text)).length > 0, 10_000, 10);
      times.push(performance.now() - t0);
      expect(await onTheWire(text)).toEqual(['inst-a']);
    }
    // Each well under the 30 s poll (a generous bound: a loaded machine is slow, never 30 s slow).
    expect(Math.max(...times)).toBeLessThan(15_000);
  });

  it('WhatsApp: a pairing code, a logout and read receipts asked on B are done by the owner A', { timeout: 60_000 }, async () => {
    // The consultant session waits for pairing on A (the owner's socket).
    expect((await call(a, 'POST', '/api/simulator/pairing', { session: 'consultant' })).status).toBe(202);
    await until('pairing', async () => (await sessionStatus(b, 'consultant')) === 'pairing', 10_000);
    const res = await call(b, 'POST', '/api/whatsapp/sessions/consultant/pairing-code', { phone: '+55 11 98765-4321' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ code: 'SIM54321' });
    // The owner's refusal comes back as it is (contract shape, its status).
    const bad = await call(b, 'POST', '/api/whatsapp/sessions/livia/pairing-code', { phone: '+55 11 98765-4321' });
    expect(bad.status).toBe(409);
    expect(await bad.json()).toMatchObject({ error: { code: 'conflict', message: 'A sessão não está aguardando pareamento' } });

    expect((await call(b, 'POST', '/api/whatsapp/sessions/consultant/logout')).status).toBe(202);
    expect((await socketLog(a)).logouts).toEqual(['consultant']);
    expect((await socketLog(b)).logouts).toEqual([]);
    await until('logged out', async () => (await sessionStatus(b, 'consultant')) === 'loggedOut', 10_000);

    // A customer writes to Lívia; B marks the chat read; the receipts go out on A's socket.
    const phone = '+5511987660001';
    await say(sql, () => b, phone, 'Oi, aqui é a Carla');
    const [msg] = await sql<{ wa_id: string; chat_id: string }[]>`
      select m.wa_id, m.chat_id from wa_messages m join wa_chats c on c.id = m.chat_id
      where c.jid = ${'5511987660001@s.whatsapp.net'} and m.direction = 'in'`;
    const read = await call(b, 'POST', `/api/whatsapp/chats/${msg!.chat_id}/read`);
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual({ read: 1 });
    expect((await socketLog(a)).read_receipts).toContain(msg!.wa_id);
    expect((await socketLog(b)).read_receipts).toEqual([]);
  });

  it('actors: a reset and the retry of a dead-lettered effect asked on B run at the home A', { timeout: 60_000 }, async () => {
    const phone = '+5511987660002';
    await say(sql, () => b, phone, 'Oi, aqui é a Carla');
    const path = `/api/actors/conversation/${encodeURIComponent(phone)}`;
    const reset = await call(b, 'POST', `${path}/reset`);
    expect(reset.status).toBe(200);
    expect(await reset.json()).toMatchObject({ type: 'conversation', id: phone, status: 'active' });

    // One of its effects, done, made dead-lettered: the retry on B revives it and A runs it again.
    const [effect] = await sql<{ id: string }[]>`
      update actor_outbox set dead_at = now(), done_at = null, last_error = 'made dead by the test'
      where id = (select id from actor_outbox where actor_type = 'conversation' and actor_id = ${phone} and done_at is not null order by seq limit 1)
      returning id`;
    const retry = await call(b, 'POST', `${path}/effects/${effect!.id}/retry`);
    expect(retry.status, await retry.clone().text()).toBe(200);
    await until('the effect done again', async () => (await sql`select 1 from actor_outbox where id = ${effect!.id} and done_at is not null`).length > 0, 15_000);
  });

  it('LGPD: an erasure asked on B makes A forget the conversation, so the next message starts afresh', { timeout: 60_000 }, async () => {
    const phone = '+5511987660003';
    await say(sql, () => b, phone, 'Oi, aqui é a Carla');
    const first = await settled(sql, phone, 1500);
    await say(sql, () => b, phone, 'quero reformar a casa');
    await settled(sql, phone, 1500);
    const erased = await call(b, 'DELETE', `/api/customers/${encodeURIComponent(phone)}`);
    expect(erased.status).toBe(204);
    expect(await received(sql, phone)).toEqual([]);
    // The same first words: the same first answer as a new customer gets (not the dialogue's next step).
    await say(sql, () => b, phone, 'Oi, aqui é a Carla');
    expect(await settled(sql, phone, 1500)).toEqual(first);
  });

  it('a consultant reply from /conversations on B goes out once, from A, on the livia number', { timeout: 60_000 }, async () => {
    const phone = '+5511987660004';
    await say(sql, () => b, phone, 'Oi, aqui é a Carla');
    await settled(sql, phone, 1500);
    const list = (await (await api(b, '/api/conversations')).json()) as { id: string; phone: string }[];
    const conv = list.find((c) => c.phone === phone)!;
    expect(conv).toBeDefined();
    expect((await call(b, 'POST', `/api/conversations/${conv.id}/takeover`)).status).toBe(200);
    const before = (await received(sql, phone)).length;
    const text = 'Aqui é o Rafael, consultor: posso te ligar?';
    expect((await call(b, 'POST', `/api/conversations/${conv.id}/messages`, { text })).status).toBe(202);
    await until('the reply', async () => (await received(sql, phone)).length > before, 15_000);
    await settled(sql, phone, 1500);
    const mine = (await sql<{ session: string; sent_by: string; sends: number }[]>`
      select session, sent_by, sends from wa_simulator_sent where to_jid = ${'5511987660004@s.whatsapp.net'} and text = ${text}`);
    expect(mine).toEqual([{ session: 'livia', sent_by: 'inst-a', sends: 1 }]);
  });

  it('live actor watching from B: the home A streams the snapshots of an actor watched on B', { timeout: 60_000 }, async () => {
    const phone = '+5511987660005';
    await say(sql, () => b, phone, 'Oi, aqui é a Carla');
    await settled(sql, phone, 1000);
    const socket = connectClient(b.url, { auth: { token: b.token }, transports: ['websocket'], reconnection: false, forceNew: true });
    try {
      const snaps: { seq?: number; state: string }[] = [];
      socket.on('actor:snapshot', (v: { type: string; id: string; state: string }) => {
        if (v.type === 'conversation' && v.id === phone) snaps.push(v);
      });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      expect(await socket.timeout(5000).emitWithAck('actor:subscribe', { type: 'conversation', id: phone })).toEqual({ ok: true });
      await until('the first snapshot', () => snaps.length >= 1, 5000);
      // The watch is announced to A (one NOTIFY); then the customer writes again.
      await new Promise((r) => setTimeout(r, 500));
      const initial = snaps.length;
      await say(sql, () => b, phone, 'quero reformar a casa');
      await until('a live snapshot from the home', () => snaps.length > initial, 10_000);
    } finally {
      socket.close();
    }
  });

  it('the owner paused: B answers 503 with a reason, and A does not do it after it resumes', { timeout: 60_000 }, async () => {
    const chat = await until(
      'a livia chat',
      async () => (await sql<{ id: string }[]>`select id from wa_chats where session = 'livia' limit 1`)[0]?.id,
      5000,
    );
    const text = 'enviada com o dono parado';
    const created = await call(b, 'POST', '/api/consultants', { name: 'Paula Dias', email: 'paula@fwd.test', password: 'paula-password-1', role: 'CONSULTANT', max_open_leads: 3 });
    expect(created.status).toBe(201);
    const consultant = ((await created.json()) as { id: string }).id;
    a.child.kill('SIGSTOP');
    try {
      const res = await call(b, 'POST', '/api/whatsapp/sessions/livia/logout');
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBeTruthy();
      expect(await res.json()).toMatchObject({ error: { code: 'service_unavailable', details: { reason: 'owner_timeout' } } });
      // A send is an event to the session's actor at A: bounded the same way, below the 6 s request
      // deadline (the deadline's own answer would be a different 503, without this reason).
      const send = await call(b, 'POST', `/api/whatsapp/chats/${chat}/messages`, { text });
      expect(send.status).toBe(503);
      expect(send.headers.get('retry-after')).toBeTruthy();
      expect(await send.json()).toMatchObject({ error: { code: 'service_unavailable', details: { reason: 'owner_timeout' } } });
      // A change already committed is not refused for it: the actor's sync stays queued for its home.
      const patched = await call(b, 'PATCH', `/api/consultants/${consultant}`, { max_open_leads: 9 });
      expect(patched.status, await patched.clone().text()).toBe(200);
    } finally {
      a.child.kill('SIGCONT');
    }
    // A hears of both at once when it resumes: the cancelled logout and the late send stay undone.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await socketLog(a)).logouts).toEqual(['consultant']);
    expect(await sessionStatus(b, 'livia')).toBe('open');
    expect(await onTheWire(text)).toEqual([]);
    await until(
      'the queued sync at the home',
      async () => ((await (await api(b, `/api/actors/consultant/${consultant}`)).json()) as { context?: { maxOpenLeads?: number } }).context?.maxOpenLeads === 9,
      15_000,
    ).catch(async (err) => {
      // What the home was handed, and what it said: enough to tell a lost wake-up from a stale sync.
      const jobs = await sql`select state, created_on, completed_on, data->'event'->>'type' as event from pgboss.job where name like 'actor-inbox-actors-consultant' order by created_on`;
      console.log('inbox of actors:consultant', JSON.stringify(jobs), '\nA:', a.output().slice(-4000));
      throw err;
    });
  });
});
