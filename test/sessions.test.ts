/**
 * Sessions follow the user, on a real server with real Socket.io and SSE clients: a demotion, a
 * deactivation and a password change each revoke the user's earlier tokens and cut their open
 * socket and SSE stream at once; logout revokes the one token it is given.
 */
import { io as connectClient, type Socket } from 'socket.io-client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { roleRoom } from '../src/http/socket.ts';
import { startTestServer, type TestServer } from './support/server.ts';

let s: TestServer;
let adminToken: string;
const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function createUser(email: string, role: 'MANAGER' | 'CONSULTANT', password = 'first-password-1'): Promise<string> {
  const res = await s.api('/api/consultants', { token: adminToken, body: { name: email.split('@')[0], email, password, role } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

function patch(id: string, body: Record<string, unknown>) {
  return s.api(`/api/consultants/${id}`, { method: 'PATCH', token: adminToken, body });
}

/** A connected socket, and a promise of the reason it is disconnected (or a timeout note). */
async function openSocket(token: string): Promise<{ socket: Socket; cut: Promise<string> }> {
  const socket = connectClient(s.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  cleanups.push(() => socket.disconnect());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const cut = new Promise<string>((resolve) => {
    socket.once('disconnect', (reason) => resolve(reason));
    setTimeout(() => resolve('still connected after 5 s'), 5000).unref();
  });
  return { socket, cut };
}

/** An open SSE stream, and a promise that settles with 'ended' when the server ends it. */
async function openStream(token: string): Promise<{ ended: Promise<string> }> {
  const controller = new AbortController();
  cleanups.push(() => controller.abort());
  const res = await fetch(`${s.url}/api/notifications/stream`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const ended = (async () => {
    const timeout = setTimeout(() => controller.abort(), 5000);
    try {
      for (;;) if ((await reader.read()).done) return 'ended';
    } catch {
      return 'still open after 5 s';
    } finally {
      clearTimeout(timeout);
    }
  })();
  return { ended };
}

async function meStatus(token: string): Promise<number> {
  return (await s.api('/api/auth/me', { token })).status;
}

async function inManagersRoom(userSocket: Socket): Promise<boolean> {
  const ids = (await s.server.io.in(roleRoom('MANAGER')).fetchSockets()).map((x) => x.id);
  return ids.includes(userSocket.id!);
}

beforeAll(async () => {
  s = await startTestServer();
  adminToken = await s.login();
});

describe('a change to the user ends their sessions at once', () => {
  it('demotion: the manager’s socket leaves the managers’ room, the stream ends, the old token is refused', async () => {
    const id = await createUser('demoted@sessions.test', 'MANAGER');
    const token = await s.login('demoted@sessions.test', 'first-password-1');
    const { socket, cut } = await openSocket(token);
    const { ended } = await openStream(token);
    expect(await inManagersRoom(socket)).toBe(true);

    expect((await patch(id, { role: 'CONSULTANT' })).status).toBe(200);
    expect(await cut).toBe('io server disconnect');
    expect(await ended).toBe('ended');
    expect(await inManagersRoom(socket)).toBe(false);
    expect(await meStatus(token)).toBe(401);
    expect((await s.api('/api/consultants', { token })).status).toBe(401);

    // Signing in again gives a consultant's session.
    const again = await s.login('demoted@sessions.test', 'first-password-1');
    const me = await s.api('/api/auth/me', { token: again });
    expect(((await me.json()) as { role: string }).role).toBe('CONSULTANT');
    expect((await s.api('/api/consultants', { token: again })).status).toBe(403);
  });

  it('deactivation: socket cut, stream ended, token refused, no new sign-in', async () => {
    const id = await createUser('leaving@sessions.test', 'CONSULTANT');
    const token = await s.login('leaving@sessions.test', 'first-password-1');
    const { cut } = await openSocket(token);
    const { ended } = await openStream(token);

    expect((await patch(id, { active: false })).status).toBe(200);
    expect(await cut).toBe('io server disconnect');
    expect(await ended).toBe('ended');
    expect(await meStatus(token)).toBe(401);
    expect((await s.api('/api/auth/login', { body: { email: 'leaving@sessions.test', password: 'first-password-1' } })).status).toBe(401);
  });

  it('password change: socket cut, stream ended, every earlier token refused; the new password works', async () => {
    const id = await createUser('rotated@sessions.test', 'CONSULTANT');
    const laptop = await s.login('rotated@sessions.test', 'first-password-1');
    const phone = await s.login('rotated@sessions.test', 'first-password-1');
    const { cut } = await openSocket(laptop);
    const { ended } = await openStream(phone);

    expect((await patch(id, { password: 'second-password-2' })).status).toBe(200);
    expect(await cut).toBe('io server disconnect');
    expect(await ended).toBe('ended');
    expect(await meStatus(laptop)).toBe(401);
    expect(await meStatus(phone)).toBe(401);
    const fresh = await s.login('rotated@sessions.test', 'second-password-2');
    expect(await meStatus(fresh)).toBe(200);
  });

  it('a change that revokes nothing (name, capacity) leaves sessions alone', async () => {
    const id = await createUser('renamed@sessions.test', 'CONSULTANT');
    const token = await s.login('renamed@sessions.test', 'first-password-1');
    const { socket } = await openSocket(token);
    expect((await patch(id, { name: 'Novo Nome', max_open_leads: 7 })).status).toBe(200);
    expect(await meStatus(token)).toBe(200);
    expect(socket.connected).toBe(true);
  });
});

describe('POST /api/auth/logout', () => {
  it('→ 204; that token is refused from then on, its socket and stream close; another token of the user goes on', async () => {
    await createUser('out@sessions.test', 'CONSULTANT');
    const token = await s.login('out@sessions.test', 'first-password-1');
    const other = await s.login('out@sessions.test', 'first-password-1');
    const { cut } = await openSocket(token);
    const { ended } = await openStream(token);
    const { socket: otherSocket } = await openSocket(other);

    const res = await s.api('/api/auth/logout', { method: 'POST', token });
    expect(res.status).toBe(204);
    expect(await cut).toBe('io server disconnect');
    expect(await ended).toBe('ended');
    expect(await meStatus(token)).toBe(401);
    expect((await s.api('/api/auth/logout', { method: 'POST', token })).status).toBe(401);
    // The revocation is stored: it holds past the session cache, for as long as the token lives.
    const [row] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from revoked_tokens`;
    expect(row!.n).toBeGreaterThanOrEqual(1);

    expect(await meStatus(other)).toBe(200);
    expect(otherSocket.connected).toBe(true);
  });

  it('without a token → 401', async () => {
    expect((await s.api('/api/auth/logout', { method: 'POST' })).status).toBe(401);
  });
});
