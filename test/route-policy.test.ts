/**
 * The route-policy matrix: every route registered on the Hono app (the SSE stream among them),
 * and every Socket.io event a client may send, checked for each caller (anonymous, CONSULTANT,
 * MANAGER, ADMIN) against its declared policy, on a real server. A route without a policy fails
 * here (and createApp refuses to build).
 */
import { io as connectClient, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../src/domain/roles.ts';
import { ROUTE_POLICIES, SOCKET_POLICIES } from '../src/http/policies.ts';
import { assertEveryRouteHasPolicy, endpoints, expectedStatus } from '../src/http/policy.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const METRICS_TOKEN = 'metrics-token-for-the-matrix-0123';
const CALLERS = ['anonymous', 'CONSULTANT', 'MANAGER', 'ADMIN'] as const;
type Caller = (typeof CALLERS)[number];

let s: TestServer;
const users = new Map<Role, { id: string; name: string; email: string; role: Role }>();
const sockets: Socket[] = [];

/** A fresh token for each request: the matrix calls logout, which revokes the token it is given. */
async function tokenFor(who: Caller): Promise<string | undefined> {
  if (who === 'anonymous') return undefined;
  const u = users.get(who)!;
  const [row] = await s.server.sql<{ token_version: number }[]>`select token_version from consultants where id = ${u.id}`;
  return s.server.sessions.issue({ ...u, token_version: row!.token_version });
}

/** A concrete URL for a route pattern: ids that exist nowhere, so nothing is found or changed. */
function concrete(path: string): string {
  return path
    .replace(/:id\b/g, '00000000-0000-4000-8000-000000000000')
    .replace(/:type\b/g, 'consultant')
    .replace(/:[A-Za-z_]+/g, 'x')
    .replace(/\/\*$/, '/');
}

async function call(method: string, path: string, token: string | undefined): Promise<number> {
  const controller = new AbortController();
  const hasBody = method === 'POST' || method === 'PATCH' || method === 'PUT';
  const res = await fetch(`${s.url}${concrete(path)}`, {
    method,
    signal: controller.signal,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(hasBody ? { 'content-type': 'application/json' } : {}) },
    ...(hasBody ? { body: '{}' } : {}),
  });
  // Streams (SSE) never end by themselves: the status is all we need.
  controller.abort();
  return res.status;
}

beforeAll(async () => {
  s = await startTestServer({ METRICS_TOKEN });
  const admin = await s.login();
  for (const role of ['MANAGER', 'CONSULTANT'] as const) {
    const email = `${role.toLowerCase()}@policy.test`;
    const res = await s.api('/api/consultants', { token: admin, body: { name: role, email, password: 'policy-pass-1', role } });
    expect(res.status).toBe(201);
    const { id, name } = (await res.json()) as { id: string; name: string };
    users.set(role, { id, name, email, role });
  }
  const me = await s.api('/api/auth/me', { token: admin });
  users.set('ADMIN', { ...((await me.json()) as { id: string; name: string; email: string }), role: 'ADMIN' });
});

afterAll(() => {
  for (const socket of sockets) socket.disconnect();
});

describe('HTTP routes', () => {
  it('every registered route has a policy, and a route without one is refused at start', () => {
    const routes = s.server.app.routes;
    expect(() => assertEveryRouteHasPolicy(routes, ROUTE_POLICIES)).not.toThrow();
    expect(() => assertEveryRouteHasPolicy([...routes, { method: 'GET', path: '/api/new-thing' }], ROUTE_POLICIES)).toThrow(
      /GET \/api\/new-thing/,
    );
    // And no policy names a route that does not exist (a typo would leave the real one uncovered).
    const registered = new Set(endpoints(routes));
    const stale = Object.keys(ROUTE_POLICIES).filter((k) => !registered.has(k) && !/^\w+ \/\*$/.test(k));
    expect(stale).toEqual([]);
  });

  it('every route answers each caller as its policy says', async () => {
    const routes = endpoints(s.server.app.routes);
    expect(routes).toContain('GET /api/notifications/stream');
    const wrong: string[] = [];
    for (const key of routes) {
      const [method, path] = key.split(' ') as [string, string];
      const policy = ROUTE_POLICIES[key]!;
      for (const who of CALLERS) {
        const status = await call(method, path, await tokenFor(who));
        const expected = expectedStatus(policy, who);
        const ok = expected === 'allowed' ? status !== 401 && status !== 403 : status === expected;
        if (!ok) wrong.push(`${key} as ${who}: ${status}, expected ${expected}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('/metrics answers its own bearer token, and no user token', async () => {
    const res = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/http_request_duration_seconds/);
  });
});

describe('Socket.io', () => {
  function connect(token: string | undefined) {
    const socket = connectClient(s.url, { auth: token ? { token } : {}, transports: ['websocket'], reconnection: false, forceNew: true });
    sockets.push(socket);
    return new Promise<{ socket: Socket; error?: Error }>((resolve) => {
      socket.once('connect', () => resolve({ socket }));
      socket.once('connect_error', (error) => resolve({ socket, error }));
    });
  }

  it('connecting needs a session; each client event answers each role as SOCKET_POLICIES says', async () => {
    const anonymous = await connect(undefined);
    expect(anonymous.error?.message).toBe('unauthorized');
    const wrong: string[] = [];
    for (const role of ['CONSULTANT', 'MANAGER', 'ADMIN'] as const) {
      const { socket, error } = await connect(await tokenFor(role));
      expect(error).toBeUndefined();
      // The server side of this socket listens to exactly the events that have a policy.
      const serverSide = s.server.io.sockets.sockets.get(socket.id!)!;
      const listened = serverSide.eventNames().map(String).filter((e) => !['disconnect', 'disconnecting', 'error'].includes(e));
      expect(listened.sort()).toEqual(Object.keys(SOCKET_POLICIES).sort());
      for (const [event, policy] of Object.entries(SOCKET_POLICIES)) {
        const answer = (await socket.timeout(5000).emitWithAck(event, { type: 'consultant', id: users.get(role)!.id })) as {
          error?: { code: string };
        };
        const refused = answer?.error?.code === 'forbidden';
        const expected = expectedStatus(policy, role) !== 'allowed';
        if (refused !== expected) wrong.push(`${event} as ${role}: ${refused ? 'refused' : 'allowed'}`);
      }
      socket.disconnect();
    }
    expect(wrong).toEqual([]);
  });
});
