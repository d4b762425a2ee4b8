/**
 * Socket.io on the same HTTP server and port. A socket must present a valid JWT in
 * `handshake.auth.token`, or come from a page of this origin with the web app's session cookie; it joins `user:<id>` and `role:<ROLE>`, which is how events reach
 * exactly their recipients.
 *
 * @example
 * const io = attachSocketIo(server, { auth, lookup, log, corsOrigin: true, onConnection, onDisconnect });
 * io.to(userRoom(id)).emit('notification', n);
 */
import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import type { Role } from '../domain/roles.ts';
import type { Logger } from '../log.ts';
import type { Auth, UserLookup } from './auth.ts';
import { isSameOrigin } from './csrf.ts';
import { sessionCookie } from './session-cookie.ts';
import type { AuthUser } from './types.ts';

export const userRoom = (id: string) => `user:${id}`;
export const roleRoom = (role: Role) => `role:${role}`;

export interface SocketDeps {
  auth: Auth;
  lookup: UserLookup;
  log: Logger;
  corsOrigin: string | string[] | boolean;
  /** Other origins (FRONTEND_URL) whose pages may connect with the session cookie. */
  allowedOrigins?: readonly string[];
  /** A socket of this user connected; presence and per-socket handlers hang off this. */
  onConnection(socket: Socket, user: AuthUser): void;
  onDisconnect(socket: Socket, user: AuthUser): void;
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

export function attachSocketIo(server: HttpServer, deps: SocketDeps): Server {
  const io = new Server(server, {
    path: '/socket.io',
    cors: { origin: deps.corsOrigin },
    serveClient: false,
  });

  io.use(async (socket, next) => {
    try {
      const given = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      const headers = socket.handshake.headers;
      // The cookie rides along with any request the browser makes, so only this origin's pages may use it.
      const fromCookie =
        typeof given === 'string' && given !== ''
          ? undefined
          : isSameOrigin({ origin: headers.origin, host: headers.host, secFetchSite: header(headers['sec-fetch-site']) }, deps.allowedOrigins)
            ? sessionCookie(headers.cookie)
            : undefined;
      const token = typeof given === 'string' && given !== '' ? given : fromCookie;
      if (token === undefined) return next(new Error('unauthorized'));
      const claims = await deps.auth.verify(token);
      const user = await deps.lookup(claims.id);
      if (!user || !user.active) return next(new Error('unauthorized'));
      socket.data.user = { id: user.id, name: user.name, email: user.email, role: user.role } satisfies AuthUser;
      next();
    } catch {
      next(new Error('unauthorized'));
    }
  });

  io.on('connection', (socket) => {
    const user = socket.data.user as AuthUser;
    void socket.join([userRoom(user.id), roleRoom(user.role)]);
    socket.on('disconnect', () => deps.onDisconnect(socket, user));
    deps.onConnection(socket, user);
  });
  return io;
}
