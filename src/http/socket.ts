/**
 * Socket.io on the same HTTP server and port. A socket must present a valid JWT in
 * `handshake.auth.token`; it joins `user:<id>` and `role:<ROLE>`, which is how events reach
 * exactly their recipients.
 *
 * @example
 * const io = attachSocketIo(server, { auth, lookup, log, onPresence });
 * io.to(userRoom(id)).emit('notification', n);
 */
import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import type { Role } from '../domain/roles.ts';
import type { Logger } from '../log.ts';
import type { Auth, UserLookup } from './auth.ts';
import type { AuthUser } from './types.ts';

export const userRoom = (id: string) => `user:${id}`;
export const roleRoom = (role: Role) => `role:${role}`;

export interface SocketDeps {
  auth: Auth;
  lookup: UserLookup;
  log: Logger;
  corsOrigin: string | string[] | boolean;
  /** A user's first socket connected (online) or their last one closed (offline). */
  onPresence(userId: string, online: boolean): void;
  /** Extra per-socket handlers (e.g. actor inspection subscriptions). */
  onConnection?(socket: Socket, user: AuthUser): void;
}

export function attachSocketIo(server: HttpServer, deps: SocketDeps): Server {
  const io = new Server(server, {
    path: '/socket.io',
    cors: { origin: deps.corsOrigin },
    serveClient: false,
  });
  const openSockets = new Map<string, number>();

  io.use(async (socket, next) => {
    try {
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string' || token === '') return next(new Error('unauthorized'));
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
    const n = (openSockets.get(user.id) ?? 0) + 1;
    openSockets.set(user.id, n);
    if (n === 1) deps.onPresence(user.id, true);
    socket.on('disconnect', () => {
      const left = (openSockets.get(user.id) ?? 1) - 1;
      if (left <= 0) {
        openSockets.delete(user.id);
        deps.onPresence(user.id, false);
      } else openSockets.set(user.id, left);
    });
    deps.onConnection?.(socket, user);
  });
  return io;
}
