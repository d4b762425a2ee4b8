/**
 * The WhatsApp inbox end to end on the simulator driver, through HTTP and socket.io-client: a customer
 * writes, a lead is created (source whatsapp), assigned, and its chat reaches that consultant only;
 * the consultant answers (pending → sent → delivered → read when the customer reads), sends a file,
 * reads the chat; media in both directions; the Brazilian ninth digit keeps one chat; a consultant
 * never sees, by any route or socket event, a chat of someone else's lead.
 */
import { io as connectClient, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, waitFor, type Person } from './lead-helpers.ts';
import { startTestServer, type TestServer } from './support/server.ts';

let s: TestServer;
let admin: string;
let owner: Person;
let other: Person;
const sockets: Socket[] = [];

type Chat = { id: string; session: string; phone: string; name: string | null; lead_id: string | null; unread: number; last_message: { text: string | null } | null };
type Msg = { id: string; direction: 'in' | 'out'; kind: string; text: string | null; status: string; media?: { id: string; status: string; url: string; mime: string } };

const PHONE = '+5511987650001';
// A small PNG (1×1).
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

async function json<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

function connect(token: string): Promise<Socket> {
  const socket = connectClient(s.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

function collect(socket: Socket, event: string): unknown[] {
  const seen: unknown[] = [];
  socket.on(event, (p) => seen.push(p));
  return seen;
}

const chatsOf = async (token: string) => json<Chat[]>(await s.api('/api/whatsapp/chats', { token }));

beforeAll(async () => {
  // 1 KiB media cap, so "too large" is reachable with a small payload.
  s = await startTestServer({ WHATSAPP_MEDIA_MAX_MB: String(2 / 1024), WHATSAPP_SEND_PER_MINUTE: '1000', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' });
  admin = await s.login();
  owner = await createUser(s, admin, { name: 'Dona do lead', max_open_leads: 50 });
});

afterAll(() => {
  for (const socket of sockets) socket.disconnect();
});

describe('WhatsApp inbox on the simulator', () => {
  it('reports both sessions open, in the API and /ready', async () => {
    const sessions = await waitFor('sessions open', async () => {
      const list = await json<{ name: string; status: string }[]>(await s.api('/api/whatsapp/sessions', { token: admin }));
      return list.every((x) => x.status === 'open') && list;
    });
    expect(sessions.map((x) => x.name).sort()).toEqual(['consultant', 'livia']);
    const ready = (await (await s.api('/ready')).json()) as { checks: { whatsapp: { status: string; sessions: Record<string, string> } } };
    expect(ready.checks.whatsapp.sessions).toEqual({ consultant: 'open', livia: 'open' });
  });

  it('a customer who writes first becomes a whatsapp lead, assigned, and their chat reaches only that consultant', async () => {
    const ownerSocket = await connect(owner.token);
    const ownerMessages = collect(ownerSocket, 'whatsapp:message');
    const res = await s.api('/api/simulator/messages', { token: admin, body: { session: 'consultant', from: PHONE, text: 'Oi, quero um empréstimo', name: 'Ana Cliente' } });
    expect(res.status).toBe(202);

    const chat = await waitFor('chat linked to an assigned lead', async () => {
      const c = (await chatsOf(owner.token)).find((x) => x.phone === PHONE);
      return c?.lead_id ? c : undefined;
    });
    expect(chat.name).toBe('Ana Cliente');
    expect(chat.unread).toBe(1);
    const lead = await json<{ source: string; consultant_id: string; phone: string }>(await s.api(`/api/leads/${chat.lead_id}`, { token: admin }));
    expect(lead).toMatchObject({ source: 'whatsapp', consultant_id: owner.id, phone: PHONE });

    // Another consultant, created later, sees nothing of it.
    other = await createUser(s, admin, { name: 'Outro consultor' });
    const otherSocket = await connect(other.token);
    const otherMessages = collect(otherSocket, 'whatsapp:message');
    const otherStatuses = collect(otherSocket, 'whatsapp:message:status');
    expect(await chatsOf(other.token)).toEqual([]);
    expect((await s.api(`/api/whatsapp/chats/${chat.id}/messages`, { token: other.token })).status).toBe(404);
    expect((await s.api(`/api/whatsapp/chats/${chat.id}/messages`, { token: other.token, body: { text: 'intruso' } })).status).toBe(404);
    expect((await s.api(`/api/whatsapp/chats/${chat.id}/read`, { token: other.token, body: {} })).status).toBe(404);

    // The next message of that customer is pushed to the owner (and not to the other consultant).
    await s.api('/api/simulator/messages', { token: admin, body: { session: 'consultant', from: PHONE, text: 'Ainda está aí?' } });
    await waitFor('owner socket event', async () => ownerMessages.some((m) => (m as Msg).text === 'Ainda está aí?'));

    // The same customer writing from the JID without the ninth digit is the same chat.
    await s.api('/api/simulator/messages', { token: admin, body: { session: 'consultant', from: '+551187650001', text: 'sem o nove' } });
    await waitFor('third message', async () => ownerMessages.some((m) => (m as Msg).text === 'sem o nove'));
    expect((await chatsOf(admin)).filter((c) => c.phone === PHONE)).toHaveLength(1);

    const page = await json<Msg[]>(await s.api(`/api/whatsapp/chats/${chat.id}/messages`, { token: owner.token }));
    expect(page.map((m) => m.text)).toEqual(['Oi, quero um empréstimo', 'Ainda está aí?', 'sem o nove']);
    expect(page.every((m) => m.direction === 'in' && m.status === 'received')).toBe(true);
    // Paging: the page before the last message.
    const earlier = await json<Msg[]>(await s.api(`/api/whatsapp/chats/${chat.id}/messages?before=${page[2]!.id}&limit=1`, { token: owner.token }));
    expect(earlier.map((m) => m.text)).toEqual(['Ainda está aí?']);

    // Mark read: unread back to 0.
    expect(await json<{ read: number }>(await s.api(`/api/whatsapp/chats/${chat.id}/read`, { token: owner.token, body: {} }))).toEqual({ read: 3 });
    expect((await chatsOf(owner.token)).find((c) => c.id === chat.id)!.unread).toBe(0);

    // The owner answers: pending at once, then sent and delivered by receipts, read when the customer reads.
    const statuses = collect(ownerSocket, 'whatsapp:message:status');
    const sent = await json<{ id: string; status: string }>(await s.api(`/api/whatsapp/chats/${chat.id}/messages`, { token: owner.token, body: { text: 'Olá Ana!' } }), 202);
    expect(sent.status).toBe('pending');
    await waitFor('delivered', async () => statuses.some((x) => (x as { id: string; status: string }).id === sent.id && (x as { status: string }).status === 'delivered'));
    const onWire = await json<{ text: string; session: string }[]>(await s.api(`/api/simulator/messages?to=${encodeURIComponent(PHONE)}`, { token: admin }));
    expect(onWire.map((m) => m.text)).toEqual(['Olá Ana!']);
    expect(await json<{ read: number }>(await s.api('/api/simulator/read', { token: admin, body: { to: PHONE } }))).toEqual({ read: 1 });
    await waitFor('read', async () => statuses.some((x) => (x as { id: string; status: string }).id === sent.id && (x as { status: string }).status === 'read'));
    const after = await json<Msg[]>(await s.api(`/api/whatsapp/chats/${chat.id}/messages`, { token: owner.token }));
    expect(after.find((m) => m.id === sent.id)).toMatchObject({ direction: 'out', status: 'read', text: 'Olá Ana!' });
    // Our own send echoes back from the driver (Baileys' append upsert): still one message.
    expect(after.filter((m) => m.text === 'Olá Ana!')).toHaveLength(1);

    expect(otherMessages).toEqual([]);
    expect(otherStatuses).toEqual([]);
  });

  it('media: a customer image is stored and served to who may see the chat; past the cap it is kept with a marker', async () => {
    const chat = (await chatsOf(owner.token)).find((c) => c.phone === PHONE)!;
    const photo = await s.api('/api/simulator/messages', { token: admin, body: { session: 'consultant', from: PHONE, text: 'minha foto', media: { type: 'image', mime: 'image/png', base64: PNG } } });
    expect(photo.status).toBe(202);
    const big = Buffer.alloc(4096, 7).toString('base64');
    const voiceNote = await s.api('/api/simulator/messages', { token: admin, body: { session: 'consultant', from: PHONE, media: { type: 'voice', mime: 'audio/ogg; codecs=opus', base64: big } } });
    expect(voiceNote.status).toBe(202);
    const msgs = await waitFor('both media messages', async () => {
      const page = await json<Msg[]>(await s.api(`/api/whatsapp/chats/${chat.id}/messages`, { token: owner.token }));
      const withMedia = page.filter((m) => m.media);
      return withMedia.length === 2 && withMedia;
    });
    const [image, voice] = msgs as [Msg, Msg];
    expect(image).toMatchObject({ kind: 'image', text: 'minha foto', media: { status: 'stored', mime: 'image/png' } });
    expect(voice).toMatchObject({ kind: 'voice', media: { status: 'too_large' } });

    const res = await s.api(image.media!.url, { token: owner.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(PNG, 'base64'))).toBe(true);
    expect((await s.api(image.media!.url, { token: other.token })).status).toBe(404);
    expect((await s.api(voice.media!.url, { token: owner.token })).status).toBe(404);
  });

  it('a consultant sends a document (multipart); it goes out once with its caption', async () => {
    const chat = (await chatsOf(owner.token)).find((c) => c.phone === PHONE)!;
    const form = new FormData();
    form.set('text', 'segue a proposta');
    form.set('file', new Blob([Buffer.from('%PDF-1.4 proposta')], { type: 'application/pdf' }), 'proposta.pdf');
    const res = await fetch(`${s.url}/api/whatsapp/chats/${chat.id}/messages`, { method: 'POST', headers: { authorization: `Bearer ${owner.token}` }, body: form });
    const sent = await json<{ id: string; status: string }>(res, 202);
    await waitFor('document on the wire', async () => {
      const wire = await json<{ text: string }[]>(await s.api(`/api/simulator/messages?to=${encodeURIComponent(PHONE)}`, { token: admin }));
      return wire.some((m) => m.text === 'segue a proposta');
    });
    const page = await json<Msg[]>(await s.api(`/api/whatsapp/chats/${chat.id}/messages`, { token: owner.token }));
    const doc = page.find((m) => m.id === sent.id)!;
    expect(doc).toMatchObject({ kind: 'document', direction: 'out', media: { status: 'stored', mime: 'application/pdf' } });
    const file = await s.api(doc.media!.url, { token: owner.token });
    expect(await file.text()).toBe('%PDF-1.4 proposta');
    expect(file.headers.get('content-disposition')).toMatch(/attachment/);
  });

  it('error 463 from WhatsApp fails the send with its reason, once', async () => {
    const restricted = '+5511987650463';
    await s.api('/api/simulator/messages', { token: admin, body: { session: 'consultant', from: restricted, text: 'oi' } });
    const chat = await waitFor('restricted chat', async () => (await chatsOf(admin)).find((c) => c.phone === restricted));
    const sent = await json<{ id: string }>(await s.api(`/api/whatsapp/chats/${chat.id}/messages`, { token: admin, body: { text: 'olá' } }), 202);
    const failed = await waitFor('failed', async () => {
      const page = await json<(Msg & { failure: string | null })[]>(await s.api(`/api/whatsapp/chats/${chat.id}/messages`, { token: admin }));
      const m = page.find((x) => x.id === sent.id);
      return m?.status === 'failed' && m;
    });
    expect(failed.failure).toMatch(/463/);
    const wire = await json<unknown[]>(await s.api(`/api/simulator/messages?to=${encodeURIComponent(restricted)}`, { token: admin }));
    expect(wire).toHaveLength(1);
  });

  it('the livia session stores and acknowledges, and hands the message to Lívia', async () => {
    await s.api('/api/simulator/messages', { token: admin, body: { session: 'livia', from: '+5521987650002', text: 'Olá Lívia' } });
    await waitFor('livia chat', async () => (await chatsOf(admin)).find((c) => c.session === 'livia' && c.phone === '+5521987650002'));
    const ready = (await (await s.api('/ready')).json()) as { checks: { whatsapp: { conversations: { handler: string; delivered: number } } } };
    expect(ready.checks.whatsapp.conversations).toMatchObject({ handler: 'livia', delivered: 1 });
  });

  it('admin session actions: logout wipes and stops, reconnect brings it back; others may not', async () => {
    expect((await s.api('/api/whatsapp/sessions/livia/logout', { token: owner.token, body: {} })).status).toBe(403);
    expect((await s.api('/api/whatsapp/sessions/livia/logout', { token: admin, body: {} })).status).toBe(202);
    await waitFor('logged out', async () => {
      const list = await json<{ name: string; status: string }[]>(await s.api('/api/whatsapp/sessions', { token: admin }));
      return list.find((x) => x.name === 'livia')?.status === 'loggedOut';
    });
    expect((await s.api('/api/whatsapp/sessions/livia/pairing-code', { token: admin, body: { phone: '+5511900000000' } })).status).toBe(409);
    expect((await s.api('/api/whatsapp/sessions/livia/reconnect', { token: admin, body: {} })).status).toBe(202);
    await waitFor('open again', async () => {
      const list = await json<{ name: string; status: string }[]>(await s.api('/api/whatsapp/sessions', { token: admin }));
      return list.find((x) => x.name === 'livia')?.status === 'open';
    });
    expect((await s.api('/api/whatsapp/sessions/nope/reconnect', { token: admin, body: {} })).status).toBe(404);
  });
});
