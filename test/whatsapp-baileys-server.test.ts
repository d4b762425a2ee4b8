/**
 * The whole server with `WHATSAPP_DRIVER=baileys`: the composition loads the Baileys driver, and
 * each session actor owns a real Baileys socket (postgres auth store), pointed by
 * `WHATSAPP_WS_URL` at a local WebSocket server standing where WhatsApp would be. That server
 * accepts the upgrade and never completes the handshake, so what is proven here is the socket
 * lifecycle through the durable actors: one socket per session, a dropped connection reconnected
 * after a backoff, a pairing code refused before the handshake (409, not a 500), logout wiping the
 * stored credentials with no reconnect, and reconnect on request.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPostgresAuthStore } from '../src/actors/whatsapp/auth-store-postgres.ts';
import { startTestServer, type TestServer } from './support/server.ts';

let ws: Server;
const upgrades: { path: string; socket: Socket; bytes: number }[] = [];
let s: TestServer;
let admin: string;

beforeAll(async () => {
  ws = createServer((_req, res) => res.writeHead(404).end());
  ws.on('upgrade', (req, socket: Socket) => {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const entry = { path: req.url ?? '', socket, bytes: 0 };
    socket.on('data', (d: Buffer) => (entry.bytes += d.length));
    socket.on('error', () => {});
    upgrades.push(entry);
  });
  await new Promise<void>((r) => ws.listen(0, '127.0.0.1', r));
  const port = (ws.address() as { port: number }).port;
  s = await startTestServer({
    WHATSAPP_DRIVER: 'baileys',
    WHATSAPP_SESSIONS: 'consultant',
    WHATSAPP_AUTH_STORE: 'postgres',
    WHATSAPP_WA_VERSION: 'bundled',
    WHATSAPP_WS_URL: `ws://127.0.0.1:${port}/ws/chat`,
  });
  admin = await s.login();
});
afterAll(async () => {
  for (const u of upgrades) u.socket.destroy();
  await new Promise((r) => ws.close(r));
});

const open = () => upgrades.filter((u) => !u.socket.destroyed && !u.socket.readableEnded);
async function status(): Promise<{ status: string; reason?: string }> {
  const list = (await (await s.api('/api/whatsapp/sessions', { token: admin })).json()) as { name: string; status: string; reason?: string }[];
  return list.find((x) => x.name === 'consultant')!;
}

describe('server with the Baileys driver', () => {
  it('loads the driver and opens one socket for the session, which stays connecting (no handshake)', async () => {
    await vi.waitFor(() => expect(upgrades).toHaveLength(1), { timeout: 15_000 });
    await vi.waitFor(() => expect(upgrades[0]!.bytes).toBeGreaterThan(0), { timeout: 10_000 }); // Baileys' noise hello
    expect(upgrades[0]!.path).toBe('/ws/chat');
    expect((await status()).status).toBe('connecting');
    const ready = (await (await s.api('/ready')).json()) as { checks: { whatsapp: { driver: string; sessions: Record<string, string> } } };
    expect(ready.checks.whatsapp).toMatchObject({ driver: 'baileys', sessions: { consultant: 'connecting' } });
  });

  it('a pairing code before the handshake is refused with 409, not a server error', async () => {
    const res = await s.api('/api/whatsapp/sessions/consultant/pairing-code', { token: admin, body: { phone: '+5511999990000' } });
    expect(res.status).toBe(409);
  });

  it('a connection WhatsApp drops is reconnected after a backoff, on one socket at a time', async () => {
    const before = upgrades.length;
    upgrades.at(-1)!.socket.destroy();
    await vi.waitFor(async () => expect((await status()).status).toBe('reconnecting'), { timeout: 10_000 });
    await vi.waitFor(() => expect(upgrades.length).toBe(before + 1), { timeout: 20_000 }); // backoff 1–3 s
    await vi.waitFor(async () => expect((await status()).status).toBe('connecting'), { timeout: 10_000 });
    expect(open()).toHaveLength(1);
  });

  it('logout ends the socket, wipes the stored credentials and does not reconnect; reconnect opens a new socket', async () => {
    // Credentials and keys as a paired session would have them in the postgres store.
    const stored = await createPostgresAuthStore({ sql: s.server.sql, session: 'consultant' }).open();
    stored.state.creds.me = { id: '5511999990000:12@s.whatsapp.net' };
    stored.state.creds.account = { details: Buffer.from([1]) };
    await stored.saveCreds();
    await stored.state.keys.set({ session: { '5511988887777.0': Buffer.from('record') } });
    expect(await createPostgresAuthStore({ sql: s.server.sql, session: 'consultant' }).isRegistered()).toBe(true);

    expect((await s.api('/api/whatsapp/sessions/consultant/logout', { method: 'POST', token: admin })).status).toBe(202);
    await vi.waitFor(async () => expect(await createPostgresAuthStore({ sql: s.server.sql, session: 'consultant' }).isRegistered()).toBe(false), {
      timeout: 10_000,
    });
    const [row] = await s.server.sql<{ keys: number }[]>`select count(*)::int as keys from whatsapp_auth_keys where session = 'consultant'`;
    expect(row?.keys).toBe(0);
    await vi.waitFor(async () => expect((await status()).status).toBe('loggedOut'), { timeout: 10_000 });
    await vi.waitFor(() => expect(open()).toHaveLength(0), { timeout: 10_000 });
    const count = upgrades.length;
    await new Promise((r) => setTimeout(r, 3500)); // past any backoff: still no socket
    expect(upgrades.length).toBe(count);

    expect((await s.api('/api/whatsapp/sessions/consultant/reconnect', { method: 'POST', token: admin })).status).toBe(202);
    await vi.waitFor(() => expect(upgrades.length).toBe(count + 1), { timeout: 15_000 });
    expect((await status()).status).toBe('connecting');
    expect(open()).toHaveLength(1);
  });
});
