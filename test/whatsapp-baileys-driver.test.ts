/**
 * The Baileys driver against a fake socket (no network) that emits Baileys-shaped
 * `connection.update` sequences: what it forwards, what it keeps to itself (intentional stops),
 * one socket per session, the watchdog, pairing codes, credentials, LIDs and media.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Browsers, type WAVersion } from '@whiskeysockets/baileys';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFileAuthStore } from '../src/actors/whatsapp/auth-store-file.ts';
import {
  ConnectionClosedError,
  createBaileysDriver,
  PairingCodeRefusedError,
  type BaileysDriverOptions,
  type MediaDownloader,
} from '../src/actors/whatsapp/baileys-driver.ts';
import type { WhatsAppEventMap, WhatsAppEventName, WAMessage } from '../src/actors/whatsapp/transport.ts';
import { classifyDisconnect, type DisconnectAction } from '../src/domain/whatsapp-disconnect.ts';
import { createLogger } from '../src/log.ts';
import { fakeSocketFactory } from './support/fake-baileys-socket.ts';

let dir: string;
let n = 0;
const log = createLogger('silent');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livia-baileys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Recorded = { event: WhatsAppEventName; payload: WhatsAppEventMap[WhatsAppEventName] };

function setup(extra: Partial<BaileysDriverOptions> = {}) {
  const sockets = fakeSocketFactory();
  const fetchLatest = vi.fn(async () => ({ version: [2, 3000, 1111111111] as WAVersion, isLatest: true }));
  const driver = createBaileysDriver({
    log,
    authStore: (session) => createFileAuthStore({ dir, session }),
    makeSocket: sockets.make,
    fetchLatestVersion: fetchLatest,
    watchdog: { stallMs: 60_000, pingTimeoutMs: 50, checkEveryMs: 10 },
    endTimeoutMs: 200,
    ...extra,
  });
  const events: Recorded[] = [];
  const session = `s${++n}`;
  const getMessage = vi.fn(async () => ({ conversation: 'from our table' }));
  const connect = () =>
    driver.connect({ session, emit: (event, payload) => events.push({ event, payload }), getMessage });
  const closes = () =>
    events.filter((e) => e.event === 'connection.update' && (e.payload as { connection?: string }).connection === 'close');
  return { driver, sockets, events, session, connect, closes, fetchLatest, getMessage };
}

describe('Baileys driver', () => {
  it('makes the socket with a realistic browser, the fetched WA Web version and our getMessage, and forwards QR and open', async () => {
    const t = setup();
    const conn = await t.connect();
    const sock = t.sockets.last();
    expect(sock.config.browser).toEqual(Browsers.macOS('Chrome'));
    expect(sock.config.version).toEqual([2, 3000, 1111111111]);
    expect(await sock.config.getMessage!({ id: 'x' })).toEqual({ conversation: 'from our table' });
    expect(sock.config.auth!.creds.registered).toBe(false);

    sock.qr('2@first-qr');
    sock.qr('2@second-qr');
    sock.open();
    expect(t.events.map((e) => e.payload)).toEqual([{ qr: '2@first-qr' }, { qr: '2@second-qr' }, { connection: 'open' }]);
    expect(conn.me()).toEqual({ id: '5511999990000:12@s.whatsapp.net', lid: '123456789012345:12@lid', name: 'Equipe' });
  });

  it('fetches the latest version once, falls back to the bundled one when it cannot, and fetches again after a 405', async () => {
    const t = setup();
    await t.connect();
    t.sockets.last().closeWith(428);
    await t.connect();
    expect(t.fetchLatest).toHaveBeenCalledTimes(1);
    t.sockets.last().closeWith(405);
    expect(classifyDisconnect(t.closes().at(-1)!.payload as never).action).toBe('staleVersion');
    await t.connect();
    expect(t.fetchLatest).toHaveBeenCalledTimes(2);

    const offline = setup({ fetchLatestVersion: async () => Promise.reject(new Error('offline')) });
    await offline.connect();
    expect(offline.sockets.last().config.version).toBeUndefined(); // Baileys' bundled default
    const pinned = setup({ waVersion: [2, 3000, 42] });
    await pinned.connect();
    expect(pinned.sockets.last().config.version).toEqual([2, 3000, 42]);
    expect(pinned.fetchLatest).not.toHaveBeenCalled();
  });

  const reasons: [string, number, unknown, DisconnectAction][] = [
    ['401 loggedOut', 401, { reason: '401' }, 'loggedOut'],
    ['440 device_removed', 440, { tag: 'conflict', attrs: { type: 'device_removed' } }, 'loggedOut'],
    ['440 replaced', 440, { tag: 'conflict', attrs: { type: 'replaced' } }, 'replaced'],
    ['515 restartRequired', 515, undefined, 'restart'],
    ['403 forbidden', 403, undefined, 'fatal'],
    ['411 multidevice mismatch', 411, undefined, 'fatal'],
    ['405 stale version', 405, undefined, 'staleVersion'],
    ['408 timed out', 408, undefined, 'backoff'],
    ['428 connection closed', 428, undefined, 'backoff'],
    ['500 bad session', 500, undefined, 'backoff'],
  ];
  it.each(reasons)('forwards a %s close as Baileys shaped it, once, and the socket counts closed', async (_name, code, data, action) => {
    const t = setup();
    const conn = await t.connect();
    t.sockets.last().open();
    t.sockets.last().closeWith(code, data);
    expect(t.closes()).toHaveLength(1);
    const c = classifyDisconnect(t.closes()[0]!.payload as never);
    expect(c.action).toBe(action);
    expect(c.statusCode).toBe(code);
    await expect(conn.sendMessage('5511988887777@s.whatsapp.net', { text: 'oi' }, { messageId: 'm1' })).rejects.toBeInstanceOf(
      ConnectionClosedError,
    );
    // The driver never reconnects by itself: the session machine decides.
    expect(t.sockets.sockets).toHaveLength(1);
  });

  it('a 401 and clearCredentials: the creds are wiped and the next socket pairs as a new device', async () => {
    const t = setup();
    await t.connect();
    const first = t.sockets.last();
    const creds = first.config.auth!.creds;
    creds.me = { id: '5511999990000:12@s.whatsapp.net' };
    creds.account = { details: Buffer.from([1]) };
    first.emit('creds.update', { me: creds.me });
    await vi.waitFor(async () => expect(await createFileAuthStore({ dir, session: t.session }).isRegistered()).toBe(true));
    first.open();
    first.closeWith(401);
    await t.driver.clearCredentials(t.session);
    expect(await createFileAuthStore({ dir, session: t.session }).isRegistered()).toBe(false);
    await t.connect();
    const next = t.sockets.last().config.auth!.creds;
    expect(next.me).toBeUndefined();
    expect(Buffer.from(next.noiseKey.public).equals(Buffer.from(creds.noiseKey.public))).toBe(false);
  });

  it('end() is intentional: Baileys closes without a status code, nothing is forwarded, and the creds stay', async () => {
    const t = setup();
    const conn = await t.connect();
    const sock = t.sockets.last();
    sock.open();
    await conn.end();
    expect(sock.ends).toEqual([undefined]);
    expect(t.closes()).toEqual([]);
    sock.emit('messages.upsert', { type: 'notify', messages: [] }); // late events are dropped too
    expect(t.events.filter((e) => e.event === 'messages.upsert')).toEqual([]);
    await expect(conn.readMessages([])).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('keeps one socket per session: concurrent connects run one after another, each ending the one before', async () => {
    const t = setup();
    const conns = await Promise.all([t.connect(), t.connect(), t.connect()]);
    expect(t.sockets.sockets).toHaveLength(3);
    expect(t.sockets.maxAlive()).toBe(1);
    expect(t.sockets.alive()).toBe(1);
    expect(t.sockets.sockets.slice(0, 2).every((s) => s.closed && s.ends[0] === undefined)).toBe(true);
    expect(t.closes()).toEqual([]); // replaced on purpose, not reported
    t.sockets.last().open();
    expect(conns[2]!.me()?.id).toBe('5511999990000:12@s.whatsapp.net');
    // Another session has its own socket beside it.
    const other = setup();
    await other.connect();
    expect(t.sockets.alive() + other.sockets.alive()).toBe(2);
  });

  it('a socket whose close never comes is counted closed after the end timeout, so the next connect is not stuck', async () => {
    const t = setup();
    await t.connect();
    t.sockets.last().emitsClose = false;
    await t.connect();
    expect(t.sockets.sockets[0]!.terminated).toBe(true);
    expect(t.sockets.sockets).toHaveLength(2);
  });

  it('watchdog: a silent open socket whose ping fails is torn down and reported as a 408 watchdog close', async () => {
    const t = setup({ watchdog: { stallMs: 30, pingTimeoutMs: 30, checkEveryMs: 10 } });
    await t.connect();
    const sock = t.sockets.last();
    sock.ping = 'hang';
    sock.open();
    await vi.waitFor(() => expect(t.closes()).toHaveLength(1), { timeout: 5000 });
    expect(sock.queries.length).toBeGreaterThan(0);
    const c = classifyDisconnect(t.closes()[0]!.payload as never);
    expect(c).toMatchObject({ action: 'backoff', statusCode: 408, reconnects: true });
    expect((t.closes()[0]!.payload as { lastDisconnect: { error: { data: unknown } } }).lastDisconnect.error.data).toEqual({
      reason: 'watchdog',
    });
    expect(sock.closed).toBe(true);
    // And the session's next connect gets a fresh socket.
    await t.connect();
    expect(t.sockets.alive()).toBe(1);
  });

  it('watchdog: a socket whose frames keep coming but whose ping goes unanswered is recreated', async () => {
    const t = setup({ watchdog: { stallMs: 30, pingTimeoutMs: 30, checkEveryMs: 10 } });
    await t.connect();
    const sock = t.sockets.last();
    sock.ping = 'hang';
    sock.open();
    const feeding = setInterval(() => sock.frame(), 5); // keepalive pongs and such: not proof of delivery
    await vi.waitFor(() => expect(t.closes()).toHaveLength(1), { timeout: 5000 });
    clearInterval(feeding);
    expect(classifyDisconnect(t.closes()[0]!.payload as never).statusCode).toBe(408);
  });

  it('watchdog: a socket that answers its ping, or keeps receiving messages, is left alone', async () => {
    const t = setup({ watchdog: { stallMs: 30, pingTimeoutMs: 30, checkEveryMs: 10 } });
    await t.connect();
    const sock = t.sockets.last();
    sock.open();
    await vi.waitFor(() => expect(sock.queries.length).toBeGreaterThan(2), { timeout: 5000 });
    expect(t.closes()).toEqual([]);

    const busy = setup({ watchdog: { stallMs: 300, pingTimeoutMs: 30, checkEveryMs: 10 } });
    await busy.connect();
    const b = busy.sockets.last();
    b.ping = 'hang';
    b.open();
    const feeding = setInterval(() => b.emit('messages.upsert', { type: 'notify', messages: [] }), 20);
    await new Promise((r) => setTimeout(r, 600));
    clearInterval(feeding);
    expect(b.queries).toEqual([]);
    expect(busy.closes()).toEqual([]);
    await busy.driver.clearCredentials(busy.session);
  });

  it('pairing code: refused before the handshake, given after a QR, refused once paired', async () => {
    const t = setup();
    const conn = await t.connect();
    const sock = t.sockets.last();
    await expect(conn.requestPairingCode('5511999990000')).rejects.toMatchObject({ reason: 'not_ready' });
    sock.qr('2@qr');
    await expect(conn.requestPairingCode('12')).rejects.toMatchObject({ reason: 'invalid_phone' });
    expect(await conn.requestPairingCode('+55 (11) 99999-0000')).toBe('ABCD1234');
    expect(sock.pairingRequests).toEqual(['5511999990000']);

    sock.config.auth!.creds.me = { id: '5511999990000:3@s.whatsapp.net' };
    sock.config.auth!.creds.account = { details: Buffer.from([1]) };
    await expect(conn.requestPairingCode('5511999990000')).rejects.toBeInstanceOf(PairingCodeRefusedError);
    await expect(conn.requestPairingCode('5511999990000')).rejects.toMatchObject({ reason: 'registered' });
    expect(sock.pairingRequests).toHaveLength(1);
  });

  it('logout(): logs out at WhatsApp, forwards nothing, and wipes the credentials', async () => {
    const t = setup();
    const conn = await t.connect();
    const sock = t.sockets.last();
    sock.config.auth!.creds.me = { id: '5511999990000:3@s.whatsapp.net' };
    sock.config.auth!.creds.account = { details: Buffer.from([1]) };
    sock.emit('creds.update', {});
    await vi.waitFor(async () => expect(await createFileAuthStore({ dir, session: t.session }).isRegistered()).toBe(true));
    sock.open();
    await conn.logout();
    expect(sock.loggedOut).toBe(true);
    expect(t.closes()).toEqual([]);
    expect(await createFileAuthStore({ dir, session: t.session }).isRegistered()).toBe(false);
  });

  it('forwards notify and append upserts, receipts and LID mappings, and resolves a LID through the signal repository', async () => {
    const t = setup();
    const conn = await t.connect();
    const sock = t.sockets.last();
    sock.open();
    const msg = { key: { remoteJid: '123456789012345@lid', id: 'A1', fromMe: false }, message: { conversation: 'oi' } };
    sock.emit('messages.upsert', { type: 'notify', messages: [msg] });
    sock.emit('messages.upsert', { type: 'append', messages: [{ ...msg, key: { ...msg.key, id: 'A2' } }] });
    sock.emit('messages.update', [{ key: { id: 'OUT1', fromMe: true }, update: { status: 3 } }]);
    sock.emit('lid-mapping.update', { lid: '123456789012345@lid', pn: '5511988887777@s.whatsapp.net' });
    sock.emit('chats.upsert', []); // not part of the transport
    expect(t.events.map((e) => e.event)).toEqual(['connection.update', 'messages.upsert', 'messages.upsert', 'messages.update', 'lid-mapping.update']);
    expect((t.events[2]!.payload as { type: string }).type).toBe('append');
    sock.lids.set('123456789012345@lid', '5511988887777@s.whatsapp.net');
    expect(await conn.getPNForLID('123456789012345@lid')).toBe('5511988887777@s.whatsapp.net');
    expect(await conn.getPNForLID('999@lid')).toBeUndefined();
    const sent = await conn.sendMessage('5511988887777@s.whatsapp.net', { text: 'olá' }, { messageId: 'OUR-ID-1' });
    expect(sent?.key.id).toBe('OUR-ID-1');
    expect(sock.sent[0]!.options).toEqual({ messageId: 'OUR-ID-1' });
  });

  describe('media', () => {
    const image = (fileLength: number): WAMessage =>
      ({
        key: { remoteJid: '5511988887777@s.whatsapp.net', id: 'IMG1', fromMe: false },
        message: { ephemeralMessage: { message: { imageMessage: { url: 'https://mmg.whatsapp.net/x', mimetype: 'image/jpeg', fileLength } } } },
      }) as WAMessage;
    const streamOf = (bytes: number) => {
      const s = new PassThrough();
      for (let i = 0; i < bytes; i += 1000) s.write(Buffer.alloc(Math.min(1000, bytes - i), 7));
      s.end();
      return s;
    };

    it('downloads with re-upload on expiry, under the cap, through wrappers', async () => {
      let ctxSeen: Parameters<MediaDownloader>[3];
      const download = (async (_m: WAMessage, type: string, _o: unknown, ctx: Parameters<MediaDownloader>[3]) => {
        expect(type).toBe('stream');
        ctxSeen = ctx;
        return streamOf(2500);
      }) as unknown as MediaDownloader;
      const t = setup({ download });
      const conn = await t.connect();
      const got = await conn.downloadMedia(image(2500), { maxBytes: 10_000 });
      expect(got).toMatchObject({ ok: true, mime: 'image/jpeg' });
      expect(got.ok && got.data.length).toBe(2500);
      expect(ctxSeen!.reuploadRequest).toBe(t.sockets.last().updateMediaMessage);
    });

    it('past the cap: refused by the declared size without downloading, or cut off while streaming', async () => {
      const download = vi.fn(async () => streamOf(50_000)) as unknown as MediaDownloader;
      const t = setup({ download });
      const conn = await t.connect();
      expect(await conn.downloadMedia(image(20_000), { maxBytes: 10_000 })).toMatchObject({ ok: false, reason: 'too_large' });
      expect(download).not.toHaveBeenCalled();
      expect(await conn.downloadMedia(image(100), { maxBytes: 10_000 })).toMatchObject({ ok: false, reason: 'too_large' });
    });

    it('gone even after the re-upload request: expired; not media: unavailable', async () => {
      const download = (async () => {
        throw Object.assign(new Error('Failed to fetch stream'), { status: 410 });
      }) as unknown as MediaDownloader;
      const t = setup({ download });
      const conn = await t.connect();
      expect(await conn.downloadMedia(image(100), { maxBytes: 10_000 })).toMatchObject({ ok: false, reason: 'expired' });
      const text = { key: { id: 'T' }, message: { conversation: 'oi' } } as WAMessage;
      expect(await conn.downloadMedia(text, { maxBytes: 10_000 })).toMatchObject({ ok: false, reason: 'unavailable' });
    });
  });
});
