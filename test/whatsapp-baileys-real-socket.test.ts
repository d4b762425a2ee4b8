/**
 * The driver with Baileys' real `makeWASocket` (ESM, rc14) and our auth store, against a local
 * WebSocket server that stands where WhatsApp would be (it accepts the upgrade and never completes
 * the noise handshake). What this proves without WhatsApp: the real socket takes our config and
 * auth state; our `end()` is a close without a status code that the driver keeps to itself; and a
 * connection the server drops reaches the session as a 428 close, once.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFileAuthStore } from '../src/actors/whatsapp/auth-store-file.ts';
import { createBaileysDriver } from '../src/actors/whatsapp/baileys-driver.ts';
import type { WhatsAppEventMap, WhatsAppEventName } from '../src/actors/whatsapp/transport.ts';
import { classifyDisconnect } from '../src/domain/whatsapp-disconnect.ts';
import { createLogger } from '../src/log.ts';

let dir: string;
let server: Server;
let port: number;
const upgrades: { socket: Socket; bytes: number }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livia-baileys-real-'));
  server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket: Socket) => {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const entry = { socket, bytes: 0 };
    socket.on('data', (d: Buffer) => (entry.bytes += d.length));
    socket.on('error', () => {});
    upgrades.push(entry);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const u of upgrades) u.socket.destroy();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

function setup(session: string) {
  const events: { event: WhatsAppEventName; payload: WhatsAppEventMap[WhatsAppEventName] }[] = [];
  const driver = createBaileysDriver({
    log: createLogger('silent'),
    authStore: (s) => createFileAuthStore({ dir, session: s }),
    waVersion: 'bundled',
    endTimeoutMs: 2000,
    socketConfig: { waWebSocketUrl: `ws://127.0.0.1:${port}/ws/chat`, connectTimeoutMs: 60_000, keepAliveIntervalMs: 60_000 },
  });
  const connect = () => driver.connect({ session, emit: (event, payload) => events.push({ event, payload }), getMessage: async () => undefined });
  const closes = () => events.filter((e) => e.event === 'connection.update' && (e.payload as { connection?: string }).connection === 'close');
  return { driver, events, connect, closes };
}

describe('Baileys driver with the real makeWASocket', () => {
  it('our end() closes without a status code and is not reported', async () => {
    const t = setup('real_end');
    const before = upgrades.length;
    const conn = await t.connect();
    // Baileys sends its noise hello as soon as the WebSocket opens.
    await vi.waitFor(() => expect(upgrades[before]?.bytes ?? 0).toBeGreaterThan(0), { timeout: 10_000 });
    await conn.end();
    expect(t.closes()).toEqual([]);
    // The server saw the socket go (Baileys' close frame, then the terminate past endTimeoutMs).
    await vi.waitFor(() => expect(upgrades[before]!.socket.destroyed || upgrades[before]!.socket.readableEnded).toBe(true), { timeout: 5000 });
  });

  it('a connection the server drops is one 428 close, classified for a backoff', async () => {
    const t = setup('real_drop');
    const before = upgrades.length;
    await t.connect();
    await vi.waitFor(() => expect(upgrades[before]?.bytes ?? 0).toBeGreaterThan(0), { timeout: 10_000 });
    upgrades[before]!.socket.destroy();
    await vi.waitFor(() => expect(t.closes()).toHaveLength(1), { timeout: 10_000 });
    const c = classifyDisconnect(t.closes()[0]!.payload as never);
    expect(c).toMatchObject({ statusCode: 428, action: 'backoff' });
    // The next socket of the session is a fresh one.
    const again = await t.connect();
    await vi.waitFor(() => expect(upgrades.length).toBe(before + 2), { timeout: 10_000 });
    await again.end();
    expect(t.closes()).toHaveLength(1);
  });
});
