/**
 * The session actor owning its socket, on the real actor runtime and database, with a scripted
 * driver that emits Baileys-shaped `connection.update`s: a QR becomes a PNG data URL and a pushed
 * `whatsapp:session`; a 428 reconnects after the durable backoff with a new socket (the old one
 * ended first, one at a time); 515 reconnects at once; 440 `replaced` stays down; 401 wipes the
 * credentials; events of an ended socket are ignored; an ADMIN reconnect brings it back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActorSystem } from '../src/actors/runtime.ts';
import type { WhatsAppConnection, WhatsAppDriver, WhatsAppEmit } from '../src/actors/whatsapp/transport.ts';
import { createSql, type Sql } from '../src/db/client.ts';
import { startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { UnhandledConversationInbox } from '../src/services/whatsapp/conversation-inbox.ts';
import { WhatsAppService } from '../src/services/whatsapp/service.ts';
import { waitFor } from './lead-helpers.ts';
import { createTestDatabase } from './support/db.ts';

interface FakeSocket {
  n: number;
  emit: WhatsAppEmit;
  ended: boolean;
}

const sockets: FakeSocket[] = [];
const cleared: string[] = [];
const presences: string[] = [];
const pushed: { event: string; payload: { name: string; status: string; qr?: string } }[] = [];
let sql: Sql;
let boss: PgBoss;
let system: ActorSystem;
let wa: WhatsAppService;

const driver: WhatsAppDriver = {
  name: 'scripted',
  async connect(o) {
    const s: FakeSocket = { n: sockets.length + 1, emit: o.emit, ended: false };
    sockets.push(s);
    return {
      end: async () => void (s.ended = true),
      logout: async () => void (s.ended = true),
      me: () => ({ id: '5511900000000:3@s.whatsapp.net' }),
      requestPairingCode: async (digits: string) => `CODE${digits.slice(-4)}`,
      sendPresenceUpdate: async (p: string, jid: string) => void presences.push(`${p} ${jid}`),
    } as unknown as WhatsAppConnection;
  },
  clearCredentials: async (session) => void cleared.push(session),
};

const boom = (statusCode: number, data?: unknown) => Object.assign(new Error('closed'), { output: { statusCode }, data });
const last = () => sockets[sockets.length - 1]!;
const status = async () => (await wa.sessionView('consultant')).status;
const live = () => sockets.filter((s) => !s.ended);

beforeAll(async () => {
  const url = await createTestDatabase('wasess');
  sql = createSql(url, { max: 5 });
  await migrate(sql, 'migrations');
  const log = createLogger('silent');
  boss = await startJobs({ url, log, queues: [] });
  system = new ActorSystem({ sql, boss, log });
  wa = new WhatsAppService({
    sql,
    system,
    log,
    driver,
    sessions: ['consultant'],
    mediaMaxBytes: 1024,
    sendPerMinute: 20,
    intake: async () => ({ id: '' }),
    conversations: new UnhandledConversationInbox(log),
    push: { all: (event, payload) => void pushed.push({ event, payload: payload as never }), chat: () => {} },
  });
  wa.register();
  await system.start();
  await wa.start();
});

afterAll(async () => {
  await wa.stop();
  await system.stop();
  await stopJobs(boss);
  await sql.end({ timeout: 2 });
});

describe('WhatsApp session actor with a scripted driver', () => {
  it('pairs with a QR (a PNG data URL, pushed), then opens; a pairing code is asked of the socket', async () => {
    await waitFor('first socket', async () => sockets.length === 1);
    last().emit('connection.update', { connection: 'connecting', qr: '2@abc,def,ghi' });
    const view = await waitFor('pairing', async () => {
      const v = await wa.sessionView('consultant');
      return v.status === 'pairing' && v;
    });
    expect(view.qr).toMatch(/^data:image\/png;base64,/);
    await waitFor('pushed QR', async () => pushed.some((p) => p.event === 'whatsapp:session' && p.payload.status === 'pairing' && p.payload.qr?.startsWith('data:image/png')));
    expect(await wa.pairingCode('consultant', '+55 11 98765-4321')).toBe('CODE4321');
    last().emit('connection.update', { connection: 'open' });
    await waitFor('open', async () => (await status()) === 'open');
    expect((await wa.sessionView('consultant')).phone).toBe('+5511900000000');
  });

  it('typing presence for the agent: composing, then paused', async () => {
    await wa.typing('consultant', '5511987654321@s.whatsapp.net', true);
    await wa.typing('consultant', '5511987654321@s.whatsapp.net', false);
    expect(presences).toEqual(['composing 5511987654321@s.whatsapp.net', 'paused 5511987654321@s.whatsapp.net']);
  });

  it('428: reconnecting, then a new socket after the backoff, the old one ended first', async () => {
    last().emit('connection.update', { connection: 'close', lastDisconnect: { error: boom(428), date: new Date() } });
    await waitFor('reconnecting', async () => (await status()) === 'reconnecting');
    expect(sockets).toHaveLength(1);
    await waitFor('second socket', async () => sockets.length === 2, 10_000);
    expect(live().map((s) => s.n)).toEqual([2]);
    // A late event of the first socket changes nothing.
    sockets[0]!.emit('connection.update', { connection: 'close', lastDisconnect: { error: boom(401), date: new Date() } });
    last().emit('connection.update', { connection: 'open' });
    await waitFor('open again', async () => (await status()) === 'open');
    expect(cleared).toEqual([]);
  });

  it('515 after pairing: a new socket at once', async () => {
    last().emit('connection.update', { connection: 'close', lastDisconnect: { error: boom(515), date: new Date() } });
    await waitFor('third socket', async () => sockets.length === 3, 2000);
    expect(live().map((s) => s.n)).toEqual([3]);
    last().emit('connection.update', { connection: 'open' });
    await waitFor('open', async () => (await status()) === 'open');
  });

  it('440 replaced: reported, never reconnected by itself; an admin reconnect brings it back', async () => {
    last().emit('connection.update', { connection: 'close', lastDisconnect: { error: boom(440, { tag: 'conflict', attrs: { type: 'replaced' } }), date: new Date() } });
    await waitFor('replaced', async () => (await status()) === 'replaced');
    expect((await wa.sessionView('consultant')).reason).toMatch(/outro lugar/);
    await new Promise((r) => setTimeout(r, 1500));
    expect(sockets).toHaveLength(3);
    expect(live()).toEqual([]);
    await wa.reconnect('consultant');
    await waitFor('fourth socket', async () => sockets.length === 4);
    last().emit('connection.update', { connection: 'open' });
    await waitFor('open', async () => (await status()) === 'open');
  });

  it('401: logged out, credentials wiped once, no socket until re-pairing is asked for', async () => {
    last().emit('connection.update', { connection: 'close', lastDisconnect: { error: boom(401), date: new Date() } });
    await waitFor('loggedOut', async () => (await status()) === 'loggedOut');
    await waitFor('credentials wiped', async () => cleared.length === 1);
    expect(cleared).toEqual(['consultant']);
    expect(live()).toEqual([]);
    const ready = await wa.readiness();
    expect(ready).toMatchObject({ status: 'down', sessions: { consultant: 'loggedOut' } });
  });
});
