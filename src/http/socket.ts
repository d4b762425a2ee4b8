/**
 * Socket.io on the same HTTP server and port. A socket must present a valid session token in
 * `handshake.auth.token`, or come from a page of this origin with the web app's session cookie; it joins `user:<id>` and `role:<ROLE>`, which is how events reach
 * exactly their recipients. Each socket is registered with the live connections, so a revoked
 * session (role change, deactivation, password change, logout) disconnects it at once, and with
 * it its place in the role's room. Client events are attached with `onEvent`, which enforces
 * SOCKET_POLICIES.
 *
 * @example
 * const io = attachSocketIo(server, { sessions, log, corsOrigin: true, onConnection, onDisconnect });
 * io.to(userRoom(id)).emit('notification', n);
 */
import type { Server as HttpServer } from 'node:http';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import type { Role } from '../domain/roles.ts';
import type { Logger } from '../log.ts';
import type { Session, Sessions } from '../services/sessions.ts';
import { isSameOrigin } from './csrf.ts';
import { SOCKET_POLICIES } from './policies.ts';
import { expectedStatus } from './policy.ts';
import { sessionCookie } from './session-cookie.ts';
import type { AuthUser } from './types.ts';

export const userRoom = (id: string) => `user:${id}`;
export const roleRoom = (role: Role) => `role:${role}`;

export interface SocketDeps {
  sessions: Sessions;
  log: Logger;
  corsOrigin: string | string[] | boolean;
  /** Other origins (FRONTEND_URL) whose pages may connect with the session cookie. */
  allowedOrigins?: readonly string[];
  /** A socket of this user connected; presence and per-socket handlers hang off this. */
  onConnection(socket: Socket, user: AuthUser): void;
  /** An adapter factory (`io.adapter(...)`): the Postgres adapter carries room emits to every instance. */
  adapter?: ServerOptions['adapter'] | undefined;
  onDisconnect(socket: Socket, user: AuthUser): void;
}

const firstHeader = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** `auth.token` (API clients), else the session cookie, which only this origin's pages may use. */
function handshakeToken(socket: Socket, allowedOrigins: readonly string[]): string | undefined {
  const given = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
  if (typeof given === 'string' && given !== '') return given;
  const h = socket.handshake.headers;
  // The cookie rides along with any request the browser makes; a page of another site must not ride on it.
  if (!isSameOrigin({ origin: h.origin, host: h.host, secFetchSite: firstHeader(h['sec-fetch-site']) }, allowedOrigins)) return undefined;
  return sessionCookie(h.cookie);
}

export function attachSocketIo(server: HttpServer, deps: SocketDeps): Server {
  const io = new Server(server, {
    path: '/socket.io',
    cors: { origin: deps.corsOrigin },
    serveClient: false,
    // Kanban updates are small JSON: compressing each frame for thousands of sockets costs CPU
    // and about 300 KB of zlib state per socket, for little saved.
    perMessageDeflate: false,
    httpCompression: false,
    ...(deps.adapter ? { adapter: deps.adapter } : {}),
  });

  io.use(async (socket, next) => {
    try {
      const token = handshakeToken(socket, deps.allowedOrigins ?? []);
      if (token === undefined) return next(new Error('unauthorized'));
      socket.data.session = await deps.sessions.authenticate(token);
      next();
    } catch {
      next(new Error('unauthorized'));
    }
  });

  io.on('connection', (socket) => {
    const session = socket.data.session as Session;
    const user = session.user;
    const forget = deps.sessions.live.open(
      { userId: user.id, jti: session.jti, kind: 'socket', ver: session.tokenVersion, role: user.role },
      () => socket.disconnect(true),
    );
    void socket.join([userRoom(user.id), roleRoom(user.role)]);
    socket.on('disconnect', () => {
      forget();
      deps.onDisconnect(socket, user);
    });
    deps.onConnection(socket, user);
  });
  return io;
}

/** The signed-in user of a connected socket. */
export function socketUser(socket: Socket): AuthUser {
  return (socket.data.session as Session).user;
}

/**
 * Attaches a client event handler behind its policy in SOCKET_POLICIES: a role the policy refuses
 * gets `{error: {code: 'forbidden'}}` as its acknowledgement and the handler never runs.
 */
export function onEvent(socket: Socket, event: string, handler: (payload: unknown, ack?: (r: unknown) => void) => void | Promise<void>): void {
  const policy = SOCKET_POLICIES[event];
  if (!policy) throw new Error(`socket event ${event} has no policy (add it to SOCKET_POLICIES in src/http/policies.ts)`);
  socket.on(event, (payload: unknown, ack?: unknown) => {
    const reply = typeof ack === 'function' ? (ack as (r: unknown) => void) : undefined;
    if (expectedStatus(policy, socketUser(socket).role) !== 'allowed') {
      reply?.({ error: { code: 'forbidden', message: 'Your role may not do this' } });
      return;
    }
    void Promise.resolve(handler(payload, reply)).catch(() => reply?.({ error: { code: 'internal_error', message: 'Something went wrong on our side' } }));
  });
}
