/**
 * The Baileys driver under the WhatsApp-session machine, with a fake socket emitting Baileys-shaped
 * `connection.update` sequences: a QR, open, and a close with each reason lead to a backoff, a
 * reconnect at once, re-pairing with wiped credentials, or no reconnect at all; one socket per
 * session at any moment; the watchdog's 408 recreates a silent socket.
 *
 * The machine runs in memory here (xstate `createActor`, its backoff delay shortened; the
 * durable runtime is tested elsewhere). The glue below follows the machine's contract as the
 * composition does: while `wantsSocket`, one connection of `context.generation` exists; otherwise
 * none. Closes reach the machine as `conn.close` built from `classifyDisconnect`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createActor, type SnapshotFrom } from 'xstate';
import { createFileAuthStore } from '../src/actors/whatsapp/auth-store-file.ts';
import { createBaileysDriver, type WatchdogOptions } from '../src/actors/whatsapp/baileys-driver.ts';
import type { WhatsAppConnection } from '../src/actors/whatsapp/transport.ts';
import { decideClose, sessionStatus, wantsSocket, whatsappSessionMachine } from '../src/actors/whatsapp-session.machine.ts';
import { classifyDisconnect, type DisconnectAction } from '../src/domain/whatsapp-disconnect.ts';
import { createLogger } from '../src/log.ts';
import { fakeSocketFactory } from './support/fake-baileys-socket.ts';

let dir: string;
let n = 0;
const at = () => new Date().toISOString();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livia-baileys-session-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function run(watchdog: Partial<WatchdogOptions> = {}) {
  const session = `sess${++n}`;
  const sockets = fakeSocketFactory();
  const store = () => createFileAuthStore({ dir, session });
  const driver = createBaileysDriver({
    log: createLogger('silent'),
    authStore: () => store(),
    makeSocket: sockets.make,
    waVersion: 'bundled',
    watchdog: { stallMs: 60_000, pingTimeoutMs: 30, checkEveryMs: 10, ...watchdog },
    endTimeoutMs: 200,
  });
  const machine = whatsappSessionMachine.provide({
    actions: { 'whatsapp.clearCredentials': () => void wiping.push(driver.clearCredentials(session)) },
    delays: { backoff: 40 },
  });
  const wiping: Promise<void>[] = [];
  const actor = createActor(machine, { input: { session } });
  let conn: WhatsAppConnection | undefined;
  let connGen = 0;
  let chain: Promise<void> = Promise.resolve();

  // The composition's rule: one connection of the current generation while the machine wants one.
  const follow = (snap: SnapshotFrom<typeof machine>) => {
    chain = chain.then(async () => {
      const { generation } = snap.context;
      if (wantsSocket(snap.value) && generation !== connGen) {
        connGen = generation;
        await conn?.end();
        await Promise.all(wiping);
        conn = await driver.connect({
          session,
          getMessage: async () => undefined,
          emit: (event, payload) => {
            if (event !== 'connection.update') return;
            const u = payload as { qr?: string; connection?: string };
            if (u.qr) actor.send({ type: 'conn.qr', qr: u.qr, at: at() });
            if (u.connection === 'open') actor.send({ type: 'conn.open', me: conn?.me()?.id ?? null, at: at() });
            if (u.connection === 'close') {
              const c = classifyDisconnect(u as never);
              actor.send({ type: 'conn.close', statusCode: c.statusCode, conflictType: c.conflictType, message: c.message, at: at(), jitter: 0.5 });
            }
          },
        });
      } else if (!wantsSocket(snap.value) && conn) {
        const c = conn;
        conn = undefined;
        await c.end();
      }
    });
  };
  actor.subscribe(follow);
  actor.start();
  follow(actor.getSnapshot());

  const settled = async () => {
    for (let i = 0; i < 5; i++) {
      await chain;
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const status = () => sessionStatus(actor.getSnapshot().value);
  const ctx = () => actor.getSnapshot().context;
  const registered = () => store().isRegistered();
  /** Marks the current socket's creds as a paired device, the way a successful pairing does. */
  const pair = async () => {
    const s = sockets.last();
    s.config.auth!.creds.me = { id: '5511999990000:12@s.whatsapp.net' };
    s.config.auth!.creds.account = { details: Buffer.from([1]) };
    s.emit('creds.update', {});
    await vi.waitFor(async () => expect(await registered()).toBe(true));
  };
  return { actor, sockets, driver, settled, status, ctx, registered, pair, stop: () => actor.stop() };
}

describe('Baileys sessions under the session machine (fake socket)', () => {
  it('QR → pairing, open, then 428 and 500 closes back off with growing delays on fresh sockets, one at a time', async () => {
    const t = run();
    await t.settled();
    expect(t.sockets.sockets).toHaveLength(1);
    t.sockets.last().qr('2@qr-1');
    expect(t.status()).toBe('pairing');
    expect(t.ctx().qr).toBe('2@qr-1');
    t.sockets.last().open();
    expect(t.status()).toBe('open');

    t.sockets.last().closeWith(428);
    expect(t.status()).toBe('reconnecting');
    expect(t.ctx().retryInMs).toBe(2000);
    await vi.waitFor(() => expect(t.sockets.sockets).toHaveLength(2));
    await t.settled();
    expect(t.status()).toBe('connecting');
    t.sockets.last().closeWith(500);
    expect(t.ctx().retryInMs).toBe(4000); // doubled: the previous connect never opened
    await vi.waitFor(() => expect(t.sockets.sockets).toHaveLength(3));
    await t.settled();
    t.sockets.last().open();
    expect(t.ctx().attempt).toBe(0);
    t.sockets.last().closeWith(408);
    expect(t.ctx().retryInMs).toBe(2000); // reset by the open
    await vi.waitFor(() => expect(t.sockets.sockets).toHaveLength(4));
    expect(t.sockets.maxAlive()).toBe(1);
    t.stop();
  });

  it('515 after pairing: a new socket at once, with the same credentials', async () => {
    const t = run();
    await t.settled();
    t.sockets.last().qr('2@qr');
    await t.pair();
    const noise = Buffer.from(t.sockets.last().config.auth!.creds.noiseKey.public);
    t.sockets.last().closeWith(515);
    expect(t.status()).toBe('connecting'); // no backoff
    await t.settled();
    expect(t.sockets.sockets).toHaveLength(2);
    expect(Buffer.from(t.sockets.last().config.auth!.creds.noiseKey.public).equals(noise)).toBe(true);
    expect(t.sockets.last().config.auth!.creds.me?.id).toBe('5511999990000:12@s.whatsapp.net');
    t.sockets.last().open();
    expect(t.status()).toBe('open');
    t.stop();
  });

  it.each([
    ['401 logged out', 401, undefined],
    ['440 device_removed', 440, { tag: 'conflict', attrs: { type: 'device_removed' } }],
  ])('%s: credentials wiped, no reconnect, then re-pairing with a new identity on reconnect', async (_name, code, data) => {
    const t = run();
    await t.settled();
    await t.pair();
    const noise = Buffer.from(t.sockets.last().config.auth!.creds.noiseKey.public);
    t.sockets.last().open();
    t.sockets.last().closeWith(code, data);
    expect(t.status()).toBe('loggedOut');
    await t.settled();
    await vi.waitFor(async () => expect(await t.registered()).toBe(false));
    await new Promise((r) => setTimeout(r, 150)); // longer than the backoff: still nothing
    expect(t.sockets.sockets).toHaveLength(1);

    t.actor.send({ type: 'session.reconnect', at: at() });
    await t.settled();
    expect(t.sockets.sockets).toHaveLength(2);
    const creds = t.sockets.last().config.auth!.creds;
    expect(creds.me).toBeUndefined();
    expect(Buffer.from(creds.noiseKey.public).equals(noise)).toBe(false);
    t.sockets.last().qr('2@new-qr');
    expect(t.status()).toBe('pairing');
    t.stop();
  });

  it.each([
    ['440 replaced', 440, { tag: 'conflict', attrs: { type: 'replaced' } }, 'replaced'],
    ['403 forbidden', 403, undefined, 'failed'],
    ['411 multidevice mismatch', 411, undefined, 'failed'],
  ])('%s: no automatic reconnect, reported, credentials kept', async (_name, code, data, state) => {
    const t = run();
    await t.settled();
    await t.pair();
    t.sockets.last().open();
    t.sockets.last().closeWith(code, data);
    expect(t.status()).toBe(state);
    expect(t.ctx().lastStatusCode).toBe(code);
    await new Promise((r) => setTimeout(r, 150));
    await t.settled();
    expect(t.sockets.sockets).toHaveLength(1);
    expect(await t.registered()).toBe(true);
    t.stop();
  });

  it('the watchdog recreates a silent socket: 408 watchdog close, backoff, a fresh socket', async () => {
    const t = run({ stallMs: 30 });
    await t.settled();
    const first = t.sockets.last();
    first.ping = 'hang';
    first.open();
    await vi.waitFor(() => expect(t.sockets.sockets).toHaveLength(2), { timeout: 5000 });
    expect(first.closed).toBe(true);
    expect(t.ctx().lastStatusCode).toBe(408);
    expect(t.sockets.maxAlive()).toBe(1);
    t.stop();
  });

  it('reconnect requests piling up never make two sockets of one session', async () => {
    const t = run();
    await t.settled();
    for (let i = 0; i < 5; i++) t.actor.send({ type: 'session.reconnect', at: at() });
    t.sockets.last().closeWith(428);
    for (let i = 0; i < 5; i++) t.actor.send({ type: 'session.reconnect', at: at() });
    await t.settled();
    await new Promise((r) => setTimeout(r, 100));
    await t.settled();
    expect(t.sockets.maxAlive()).toBe(1);
    expect(t.sockets.alive()).toBe(1);
    t.stop();
  });
});

describe('classifyDisconnect and the session machine agree', () => {
  const expected: Record<DisconnectAction, string> = {
    loggedOut: 'loggedOut',
    restart: 'restart',
    replaced: 'replaced',
    fatal: 'fatal',
    backoff: 'backoff',
    staleVersion: 'backoff',
    intentional: 'backoff', // never reaches the machine: the driver does not report its own stops
  };
  it.each([401, 403, 405, 408, 411, 428, 440, 500, 503, 515])('on %i', (code) => {
    for (const type of [undefined, 'replaced', 'device_removed']) {
      const error = Object.assign(new Error('x'), { output: { statusCode: code }, data: type ? { tag: 'conflict', attrs: { type } } : undefined });
      const c = classifyDisconnect({ connection: 'close', lastDisconnect: { error } });
      expect(decideClose(c.statusCode, c.conflictType)).toBe(expected[c.action]);
    }
  });
});
