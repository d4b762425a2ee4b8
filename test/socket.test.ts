/**
 * Socket.io handshake and presence, with the real socket.io-client against a real server.
 */
import { SignJWT } from 'jose';
import { io as connectClient, type Socket } from 'socket.io-client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

let s: TestServer;
let adminToken: string;
let consultantId: string;
let consultantToken: string;
const open: Socket[] = [];

afterEach(() => {
  for (const socket of open.splice(0)) socket.disconnect();
});

/** Connects and resolves once the handshake succeeded or failed, whichever comes first. */
function connect(auth: Record<string, unknown> | undefined, transports: ('websocket' | 'polling')[] = ['websocket']) {
  const socket = connectClient(s.url, { auth, transports, reconnection: false, forceNew: true, timeout: 10_000 });
  open.push(socket);
  return new Promise<{ socket: Socket; error?: Error }>((resolve) => {
    socket.once('connect', () => resolve({ socket }));
    socket.once('connect_error', (error) => resolve({ socket, error }));
  });
}

async function isOnline(id: string): Promise<boolean | undefined> {
  const res = await s.api('/api/consultants', { token: adminToken });
  expect(res.status).toBe(200);
  return ((await res.json()) as { id: string; online: boolean }[]).find((c) => c.id === id)?.online;
}

beforeAll(async () => {
  s = await startTestServer();
  adminToken = await s.login();
  const res = await s.api('/api/consultants', {
    token: adminToken,
    body: { name: 'Sofia', email: 'sofia@livia.test', password: 'sofia-pass-123', role: 'CONSULTANT' },
  });
  expect(res.status).toBe(201);
  consultantId = ((await res.json()) as { id: string }).id;
  consultantToken = await s.login('sofia@livia.test', 'sofia-pass-123');
});

describe('handshake', () => {
  it("the web app's session cookie authenticates a page of this origin, never another origin's", async () => {
    const host = new URL(s.url).host;
    const dial = (headers: Record<string, string>) => {
      const socket = connectClient(s.url, { transports: ['websocket'], reconnection: false, forceNew: true, extraHeaders: headers });
      open.push(socket);
      return new Promise<Error | undefined>((resolve) => {
        socket.once('connect', () => resolve(undefined));
        socket.once('connect_error', (error) => resolve(error));
      });
    };
    const cookie = `livia_session=${consultantToken}`;
    expect(await dial({ cookie, origin: `http://${host}` })).toBeUndefined();
    expect((await dial({ cookie, origin: 'https://evil.example' }))?.message).toBe('unauthorized');
    expect((await dial({ cookie }))?.message).toBe('unauthorized');
    expect((await dial({ cookie: 'livia_session=nope', origin: `http://${host}` }))?.message).toBe('unauthorized');
  });

  it('no token → connect_error "unauthorized"', async () => {
    for (const auth of [undefined, {}, { token: '' }, { token: 42 }]) {
      const { socket, error } = await connect(auth);
      expect(error?.message, JSON.stringify(auth)).toBe('unauthorized');
      expect(socket.connected).toBe(false);
    }
  });

  it('bad token → connect_error "unauthorized"', async () => {
    const expired = await new SignJWT({ role: 'CONSULTANT' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(consultantId)
      .setIssuer('livia')
      .setAudience('livia')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(s.server.config.jwtSecret));
    const foreign = await new SignJWT({ role: 'ADMIN' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(consultantId)
      .setIssuer('livia')
      .setAudience('livia')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-server-secret-but-long-enough'));
    for (const token of ['garbage', `${consultantToken}x`, expired, foreign]) {
      const { error } = await connect({ token });
      expect(error?.message).toBe('unauthorized');
    }
  });

  it('a valid token connects, over WebSocket and over long-polling', async () => {
    const ws = await connect({ token: consultantToken });
    expect(ws.error).toBeUndefined();
    expect(ws.socket.connected).toBe(true);

    const polling = await connect({ token: adminToken }, ['polling']);
    expect(polling.error).toBeUndefined();
    expect(polling.socket.connected).toBe(true);
  });

  it("deactivating a user cuts their open sockets, and their token no longer connects", async () => {
    const res = await s.api('/api/consultants', {
      token: adminToken,
      body: { name: 'Tiago', email: 'tiago@livia.test', password: 'tiago-pass-123', role: 'CONSULTANT' },
    });
    const id = ((await res.json()) as { id: string }).id;
    const token = await s.login('tiago@livia.test', 'tiago-pass-123');
    const before = await connect({ token });
    expect(before.error).toBeUndefined();
    const cut = new Promise<string>((resolve) => {
      before.socket.once('disconnect', (reason) => resolve(reason));
      setTimeout(() => resolve('still connected after 5 s'), 5000).unref();
    });

    expect((await s.api(`/api/consultants/${id}`, { method: 'PATCH', token: adminToken, body: { active: false } })).status).toBe(200);
    // The server closed the open socket (a client-side close would say "io client disconnect").
    expect(await cut).toBe('io server disconnect');
    expect(before.socket.connected).toBe(false);

    const after = await connect({ token });
    expect(after.error?.message).toBe('unauthorized');
  });
});

describe('presence', () => {
  it('GET /api/consultants shows online: true while connected and false after disconnect', async () => {
    expect(await isOnline(consultantId)).toBe(false);

    const { socket, error } = await connect({ token: consultantToken });
    expect(error).toBeUndefined();
    await expect.poll(() => isOnline(consultantId), { timeout: 5000 }).toBe(true);

    socket.disconnect();
    await expect.poll(() => isOnline(consultantId), { timeout: 5000 }).toBe(false);
  });

  it('stays online until the last of several sockets closes', async () => {
    const a = await connect({ token: consultantToken });
    const b = await connect({ token: consultantToken });
    expect(a.error ?? b.error).toBeUndefined();
    await expect.poll(() => isOnline(consultantId), { timeout: 5000 }).toBe(true);

    const serverSockets = () => s.server.io.of('/').sockets.size;
    const before = serverSockets();
    a.socket.disconnect();
    // The server has seen the disconnect…
    await expect.poll(serverSockets, { timeout: 5000 }).toBe(before - 1);
    // …and, with b still open, the consultant stays online.
    await new Promise((r) => setTimeout(r, 200));
    expect(await isOnline(consultantId)).toBe(true);

    b.socket.disconnect();
    await expect.poll(() => isOnline(consultantId), { timeout: 5000 }).toBe(false);
  });

  it("one user's sockets do not make another user online", async () => {
    const { error } = await connect({ token: adminToken });
    expect(error).toBeUndefined();
    const adminId = ((await (await s.api('/api/auth/me', { token: adminToken })).json()) as { id: string }).id;
    await expect.poll(() => isOnline(adminId), { timeout: 5000 }).toBe(true);
    expect(await isOnline(consultantId)).toBe(false);
  });
});
