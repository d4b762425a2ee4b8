/**
 * Lívia plugged into the whole server, end to end through the WhatsApp simulator: a customer writes
 * on Lívia's number (`POST /api/simulator/messages`), her replies come back on the wire
 * (`GET /api/simulator/messages?to=`). A dialogue to TRANSFERRED (lead created, assigned, the
 * consultant notified, `conversation:updated` pushed to who may see it), the conversations API and
 * who sees what, take over / give back with the consultant's message on Lívia's number, the lead
 * reassigned (`conversation:updated` to the old and new consultant), opt-out, a voice note without
 * Groq, and the LGPD export and erasure (gone from every table; `conversation:updated` pushed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSocket, createUser, expectApiError, waitFor, type Person } from './lead-helpers.ts';
import { startTestServer, type TestServer } from './support/server.ts';

let s: TestServer;
let admin: string;
let rafael: Person;
let other: Person;
let nova: Person;
const sockets: { disconnect(): void }[] = [];

const SCRIPT = ['Oi, aqui é a Carla Souza', 'quero reformar a casa', 'uns 30 mil', 'ganho 5 mil', 'em 24x', 'sim', 'pode sim'];

interface Conversation {
  id: string;
  phone: string;
  stage: string;
  data: Record<string, unknown>;
  lead_id: string | null;
  updated_at: string;
}

async function json<T>(res: Response, status = 200): Promise<T> {
  expect(res.status, await res.clone().text()).toBe(status);
  return (await res.json()) as T;
}

const wire = async (phone: string) =>
  json<{ session: string; to: string; text: string }[]>(await s.api(`/api/simulator/messages?to=${encodeURIComponent(phone)}`, { token: admin }));

/** The customer writes; resolves with Lívia's answer once it is on the wire. */
async function say(phone: string, text: string, media?: { type: string; mime: string; base64: string }): Promise<string> {
  const before = (await wire(phone)).length;
  const res = await s.api('/api/simulator/messages', { token: admin, body: { session: 'livia', from: phone, text, ...(media ? { media } : {}) } });
  expect(res.status, await res.text()).toBe(202);
  const sent = await waitFor(`an answer to "${text}"`, async () => {
    const w = await wire(phone);
    return w.length > before && w;
  });
  return sent.at(-1)!.text;
}

async function conversationOf(phone: string, token = admin): Promise<Conversation | undefined> {
  const list = await json<Conversation[]>(await s.api('/api/conversations', { token }));
  return list.find((c) => c.phone === phone);
}

beforeAll(async () => {
  s = await startTestServer({ LIVIA_BURST_MS: '0', LIVIA_TYPING_MS_PER_CHAR: '0', WHATSAPP_SEND_PER_MINUTE: '10000', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' });
  admin = await s.login();
  rafael = await createUser(s, admin, { name: 'Rafael Lima', max_open_leads: 50 });
  // A second consultant, inactive for assignment (capacity 0): sees nothing of Rafael's.
  other = await createUser(s, admin, { name: 'Outra Pessoa', max_open_leads: 0 });
  await waitFor('sessions open', async () => {
    const list = await json<{ name: string; status: string }[]>(await s.api('/api/whatsapp/sessions', { token: admin }));
    return list.every((x) => x.status === 'open');
  });
}, 60_000);

afterAll(() => {
  for (const socket of sockets) socket.disconnect();
});

describe('Lívia on the server', () => {
  it('the new routes are in the OpenAPI document', async () => {
    const doc = (await (await s.api('/api/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    for (const [path, method] of [
      ['/api/conversations', 'get'],
      ['/api/conversations/{id}', 'get'],
      ['/api/conversations/{id}/takeover', 'post'],
      ['/api/conversations/{id}/release', 'post'],
      ['/api/conversations/{id}/messages', 'post'],
      ['/api/customers/{phone}/export', 'get'],
      ['/api/customers/{phone}', 'delete'],
    ] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
  });

  it('/ready: the ConversationInbox is Lívia, nothing unhandled', async () => {
    const ready = (await (await s.api('/ready')).json()) as { checks: { whatsapp: { conversations: { handler: string; unhandled?: number } } } };
    expect(ready.checks.whatsapp.conversations.handler).toBe('livia');
    expect(ready.checks.whatsapp.conversations.unhandled).toBeUndefined();
  });

  it('a dialogue through the simulator ends TRANSFERRED: lead created and assigned, consultant notified, pushes to who may see it', { timeout: 60_000 }, async () => {
    const phone = '+5511987658001';
    const rafaelSocket = await connectSocket(s.url, rafael.token);
    const otherSocket = await connectSocket(s.url, other.token);
    const adminSocket = await connectSocket(s.url, admin);
    sockets.push(rafaelSocket.socket, otherSocket.socket, adminSocket.socket);

    const answers: string[] = [];
    for (const text of SCRIPT) answers.push(await say(phone, text));
    expect(answers[0]).toMatch(/Carla/);
    const onWire = await waitFor('who will call', async () => {
      const w = await wire(phone);
      return w.some((m) => m.text.includes('Rafael')) && w;
    });
    expect(onWire.every((m) => m.session === 'livia')).toBe(true);
    // No reply twice: every message on the wire is distinct.
    expect(new Set(onWire.map((m) => m.text)).size).toBe(onWire.length);

    const conv = await waitFor('the lead link', async () => {
      const c = await conversationOf(phone);
      return c?.lead_id ? c : undefined;
    });
    expect(conv.stage).toBe('TRANSFERRED');
    expect(conv.data).toMatchObject({ name: 'Carla Souza', purpose: 'reforma ou construção', requested_amount: 30_000, monthly_income: 5_000, consent: { value: true } });
    const lead = await json<{ consultant_id: string; source: string; phone: string }>(await s.api(`/api/leads/${conv.lead_id}`, { token: admin }));
    expect(lead).toMatchObject({ consultant_id: rafael.id, source: 'livia', phone });
    const notes = await json<{ lead_id: string }[]>(await s.api('/api/notifications', { token: rafael.token }));
    expect(notes.some((n) => n.lead_id === conv.lead_id)).toBe(true);

    // The detail and its transcript.
    const detail = await json<Conversation & { messages: { role: string; text: string; at: string }[] }>(await s.api(`/api/conversations/${conv.id}`, { token: admin }));
    expect(detail.messages.filter((m) => m.role === 'customer').map((m) => m.text)).toEqual(SCRIPT);
    expect(detail.messages.filter((m) => m.role === 'livia').map((m) => m.text)).toEqual(onWire.map((m) => m.text));
    expect(Object.keys(detail.messages[0]!).sort()).toEqual(['at', 'role', 'text']);

    // Who sees it: admins and Rafael (his lead); the other consultant neither lists nor opens it.
    expect(await conversationOf(phone, rafael.token)).toMatchObject({ id: conv.id });
    expect(await conversationOf(phone, other.token)).toBeUndefined();
    await expectApiError(await s.api(`/api/conversations/${conv.id}`, { token: other.token }), 404);
    await expectApiError(await s.api(`/api/conversations/${conv.id}/takeover`, { method: 'POST', token: other.token }), 404);
    const byStage = await json<Conversation[]>(await s.api('/api/conversations?stage=TRANSFERRED', { token: admin }));
    expect(byStage.map((c) => c.id)).toContain(conv.id);
    await expectApiError(await s.api('/api/conversations?stage=NOPE', { token: admin }), 422);

    await waitFor('conversation:updated to Rafael', async () =>
      rafaelSocket.events.some((e) => e.name === 'conversation:updated' && e.data.id === conv.id && e.data.stage === 'TRANSFERRED' && e.data.lead_id === conv.lead_id),
    );
    const pushed = adminSocket.events.find((e) => e.name === 'conversation:updated' && e.data.id === conv.id)!;
    expect(Object.keys(pushed.data).sort()).toEqual(['data', 'id', 'lead_id', 'stage']);
    expect(otherSocket.events.some((e) => e.name === 'conversation:updated' && e.data.id === conv.id)).toBe(false);
  });

  it('take over and give back: Lívia is silent while HUMAN, the consultant writes on the livia number', { timeout: 60_000 }, async () => {
    const phone = '+5511987658001';
    const conv = (await conversationOf(phone))!;
    await expectApiError(await s.api(`/api/conversations/${conv.id}/messages`, { token: rafael.token, body: { text: 'antes de assumir' } }), 409);
    await expectApiError(await s.api(`/api/conversations/${conv.id}/release`, { method: 'POST', token: rafael.token }), 409);

    const taken = await json<Conversation>(await s.api(`/api/conversations/${conv.id}/takeover`, { method: 'POST', token: rafael.token }));
    expect(taken.stage).toBe('HUMAN');
    const before = (await wire(phone)).length;
    await json(await s.api(`/api/conversations/${conv.id}/messages`, { token: rafael.token, body: { text: 'Oi Carla, aqui é o Rafael. Posso te ligar às 15h?' } }), 202);
    const w = await waitFor('the consultant on the wire', async () => {
      const x = await wire(phone);
      return x.length > before && x;
    });
    expect(w.at(-1)).toMatchObject({ session: 'livia', text: 'Oi Carla, aqui é o Rafael. Posso te ligar às 15h?' });
    const [row] = await s.server.sql<{ sent_by: string | null }[]>`select sent_by from wa_messages where text = 'Oi Carla, aqui é o Rafael. Posso te ligar às 15h?'`;
    expect(row!.sent_by).toBe(rafael.id);

    // The customer answers: stored, Lívia says nothing.
    const res = await s.api('/api/simulator/messages', { token: admin, body: { session: 'livia', from: phone, text: 'pode sim, às 15h' } });
    expect(res.status).toBe(202);
    await waitFor('the answer in the transcript', async () => {
      const d = await json<{ messages: { role: string; text: string }[] }>(await s.api(`/api/conversations/${conv.id}`, { token: rafael.token }));
      return d.messages.some((m) => m.text === 'pode sim, às 15h');
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(await wire(phone)).toHaveLength(w.length);

    const detail = await json<{ messages: { role: string; text: string }[] }>(await s.api(`/api/conversations/${conv.id}`, { token: admin }));
    expect(detail.messages.filter((m) => m.role === 'consultant').map((m) => m.text)).toEqual(['Oi Carla, aqui é o Rafael. Posso te ligar às 15h?']);
    // The WhatsApp inbox shows it as ours, on Lívia's session.
    const chats = await json<{ id: string; session: string; phone: string }[]>(await s.api('/api/whatsapp/chats?session=livia', { token: admin }));
    expect(chats.some((c) => c.phone === phone)).toBe(true);

    const released = await json<Conversation>(await s.api(`/api/conversations/${conv.id}/release`, { method: 'POST', token: rafael.token }));
    expect(released.stage).toBe('TRANSFERRED');
  });

  it("reassigning the conversation's lead pushes conversation:updated to the consultant it leaves, the one it joins, and admins", { timeout: 30_000 }, async () => {
    const conv = (await conversationOf('+5511987658001'))!;
    nova = await createUser(s, admin, { name: 'Nova Consultora', max_open_leads: 0 });
    const [rafaelSocket, novaSocket, otherSocket, adminSocket] = await Promise.all([
      connectSocket(s.url, rafael.token),
      connectSocket(s.url, nova.token),
      connectSocket(s.url, other.token),
      connectSocket(s.url, admin),
    ]);
    sockets.push(rafaelSocket.socket, novaSocket.socket, otherSocket.socket, adminSocket.socket);
    const lead = await json<{ version: number; consultant_id: string }>(await s.api(`/api/leads/${conv.lead_id}`, { token: admin }));
    expect(lead.consultant_id).toBe(rafael.id);
    await json(await s.api(`/api/leads/${conv.lead_id}`, { method: 'PATCH', token: admin, body: { version: lead.version, consultant_id: nova.id } }));
    const pushed = (x: { events: { name: string; data: any }[] }) => x.events.find((e) => e.name === 'conversation:updated' && e.data.id === conv.id);
    for (const [who, socket] of [['Nova', novaSocket], ['Rafael', rafaelSocket], ['the admin', adminSocket]] as const) {
      await waitFor(`conversation:updated to ${who}`, async () => pushed(socket));
    }
    expect(pushed(novaSocket)!.data).toEqual({ id: conv.id, stage: conv.stage, data: conv.data, lead_id: conv.lead_id });
    // Nova sees it now; Rafael no longer does; the bystander heard nothing.
    expect(await conversationOf('+5511987658001', nova.token)).toMatchObject({ id: conv.id });
    expect(await conversationOf('+5511987658001', rafael.token)).toBeUndefined();
    expect(pushed(otherSocket)).toBeUndefined();
  });

  it('opt-out: one confirmation, then silence', { timeout: 30_000 }, async () => {
    const phone = '+5511987658002';
    await say(phone, 'Oi, aqui é o João');
    const confirmation = await say(phone, 'PARAR');
    expect(confirmation.length).toBeGreaterThan(0);
    const conv = await waitFor('OPTED_OUT', async () => {
      const c = await conversationOf(phone);
      return c?.stage === 'OPTED_OUT' && c;
    });
    expect(conv.data).toMatchObject({ opt_out: { value: true, answered: 'PARAR' } });
    const n = (await wire(phone)).length;
    await s.api('/api/simulator/messages', { token: admin, body: { session: 'livia', from: phone, text: 'oi de novo' } });
    await waitFor('stored', async () => {
      const d = await json<{ messages: { text: string }[] }>(await s.api(`/api/conversations/${conv.id}`, { token: admin }));
      return d.messages.some((m) => m.text === 'oi de novo');
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(await wire(phone)).toHaveLength(n);
    await expectApiError(await s.api(`/api/conversations/${conv.id}/takeover`, { method: 'POST', token: admin }), 409);

    // Silence on the other number too: the customer writes to the consultants' number, nobody may answer.
    await s.api('/api/simulator/messages', { token: admin, body: { session: 'consultant', from: phone, text: 'oi, é do banco?' } });
    const chat = await waitFor('the consultant chat', async () => {
      const chats = await json<{ id: string; session: string; phone: string }[]>(await s.api('/api/whatsapp/chats?session=consultant', { token: admin }));
      return chats.find((c) => c.phone === phone);
    });
    await expectApiError(await s.api(`/api/whatsapp/chats/${chat.id}/messages`, { token: admin, body: { text: 'Olá!' } }), 409);
    expect((await wire(phone)).filter((m) => m.session === 'consultant')).toEqual([]);
  });

  it('a voice note without Groq: Lívia asks for the answer in writing; an image is acknowledged', { timeout: 30_000 }, async () => {
    const phone = '+5511987658003';
    const voice = await say(phone, '', { type: 'voice', mime: 'audio/ogg; codecs=opus', base64: Buffer.from('OggS fake audio').toString('base64') });
    expect(voice).toMatch(/escrito|escrever|texto/i);
    const image = await say(phone, '', { type: 'image', mime: 'image/png', base64: Buffer.from('not really a png').toString('base64') });
    expect(image).not.toBe(voice);
    const conv = (await conversationOf(phone))!;
    expect(conv.stage).toBe('INTRO');
  });

  it('LGPD: export holds everything about the phone; erasure leaves nothing of it in any table; a later message starts afresh', { timeout: 60_000 }, async () => {
    const phone = '+5511987658001';
    const conv = (await conversationOf(phone))!;
    const leadId = conv.lead_id!;
    await expectApiError(await s.api(`/api/customers/${encodeURIComponent(phone)}/export`, { token: rafael.token }), 403);
    await expectApiError(await s.api(`/api/customers/${encodeURIComponent(phone)}`, { method: 'DELETE', token: rafael.token }), 403);

    // A photo of the customer's document: media to erase with the rest.
    const photo = await s.api('/api/simulator/messages', {
      token: admin,
      body: { session: 'livia', from: phone, text: 'meu RG', media: { type: 'image', mime: 'image/png', base64: Buffer.from('RG-DA-CARLA').toString('base64') } },
    });
    expect(photo.status).toBe(202);
    const exported = await waitFor('the media in the export', async () => {
      const x = await json<Record<string, any>>(await s.api(`/api/customers/${encodeURIComponent(phone)}/export`, { token: admin }));
      return x.whatsapp.media.length === 1 && x;
    });
    expect(exported.whatsapp.media[0]).toMatchObject({ type: 'image', mime: 'image/png', status: 'stored' });
    const mediaId = exported.whatsapp.media[0].id as string;
    expect(exported.phone).toBe(phone);
    expect(exported.leads.map((l: { id: string }) => l.id)).toEqual([leadId]);
    expect(exported.interactions.length).toBeGreaterThan(0);
    expect(exported.conversations[0].id).toBe(conv.id);
    expect(exported.transcript.map((m: { text: string }) => m.text)).toEqual(expect.arrayContaining(SCRIPT));
    expect(exported.whatsapp.chats[0].session).toBe('livia');
    expect(exported.whatsapp.messages.length).toBeGreaterThanOrEqual(SCRIPT.length * 2);
    expect(exported.consent[0]).toMatchObject({ kind: 'consent', value: true });

    const sql = s.server.sql;
    const digits = phone.replace(/\D/g, '');
    const countsBefore = await sql<{ n: number }[]>`select count(*)::int as n from leads`;

    const [novaSocket, otherSocket, adminSocket] = await Promise.all([connectSocket(s.url, nova.token), connectSocket(s.url, other.token), connectSocket(s.url, admin)]);
    sockets.push(novaSocket.socket, otherSocket.socket, adminSocket.socket);
    const del = await s.api(`/api/customers/${encodeURIComponent(phone)}`, { method: 'DELETE', token: admin });
    expect(del.status, await del.text()).toBe(204);
    // Who sees the conversation hears that it changed: its data is gone.
    const erasedPush = (x: { events: { name: string; data: any }[] }) => x.events.find((e) => e.name === 'conversation:updated' && e.data.id === conv.id);
    for (const [who, socket] of [['Nova (the lead is hers)', novaSocket], ['the admin', adminSocket]] as const) {
      const e = await waitFor(`conversation:updated to ${who}`, async () => erasedPush(socket));
      expect(e.data).toEqual({ id: conv.id, stage: conv.stage, data: {}, lead_id: leadId });
    }
    expect(erasedPush(otherSocket)).toBeUndefined();

    // Every table of the public schema (and pg-boss's jobs): no phone, no JID, no text the customer or Lívia wrote.
    const needles = [phone, digits, 'Carla', 'quero reformar a casa', 'ganho 5 mil', 'Posso te ligar às 15h', 'pode sim, às 15h'];
    const tables = await sql<{ schema: string; name: string }[]>`
      select table_schema as schema, table_name as name from information_schema.tables
      where table_type = 'BASE TABLE' and (table_schema = 'public' or (table_schema = 'pgboss' and table_name in ('job', 'archive')))`;
    expect(tables.length).toBeGreaterThan(15);
    const found: string[] = [];
    for (const t of tables) {
      for (const needle of needles) {
        const [hit] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(t.schema)}.${sql(t.name)} x where strpos(x::text, ${needle}) > 0`;
        if (hit!.n > 0) found.push(`${t.schema}.${t.name}: ${needle} (${hit!.n})`);
      }
    }
    expect(found).toEqual([]);

    expect(await s.server.sql`select 1 from wa_media where id = ${mediaId}`).toHaveLength(0);
    const [blob] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from wa_media where position(${Buffer.from('RG-DA-CARLA')}::bytea in data) > 0`;
    expect(blob!.n).toBe(0);
    await expectApiError(await s.api(`/api/whatsapp/media/${mediaId}`, { token: admin }), 404);

    // The lead stays, anonymized, for the counts; the erasure itself is recorded without the data.
    expect((await sql<{ n: number }[]>`select count(*)::int as n from leads`)[0]!.n).toBe(countsBefore[0]!.n);
    const [lead] = await sql<{ name: string; phone: string | null; erased_at: Date | null; status: string }[]>`select name, phone, erased_at, status from leads where id = ${leadId}`;
    expect(lead).toMatchObject({ phone: null, name: 'Titular anonimizado' });
    expect(lead!.erased_at).not.toBeNull();
    const erasures = await sql<{ counts: Record<string, number> }[]>`select counts from customer_erasures`;
    expect(erasures).toHaveLength(1);
    expect(erasures[0]!.counts.conversation_messages).toBeGreaterThan(0);
    // Nor does the inbox's chat list (held in memory).
    const chats = await json<{ phone: string | null }[]>(await s.api('/api/whatsapp/chats', { token: admin }));
    expect(chats.some((c) => c.phone === phone)).toBe(false);
    // The export finds nothing now.
    const after = await json<Record<string, any>>(await s.api(`/api/customers/${encodeURIComponent(phone)}/export`, { token: admin }));
    expect(after.leads).toEqual([]);
    expect(after.transcript).toEqual([]);
    expect(after.whatsapp.messages).toEqual([]);

    // A later message starts afresh: INTRO, a new conversation, Lívia asks the name again.
    const hello = await say(phone, 'oi');
    expect(hello).not.toMatch(/Carla/);
    const fresh = await waitFor('a new conversation', async () => conversationOf(phone));
    expect(fresh.id).not.toBe(conv.id);
    expect(fresh.stage).toBe('INTRO');
    expect(fresh.data).toEqual({});
  });
});
