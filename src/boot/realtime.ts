/**
 * Socket.io on the HTTP server: each socket's presence reaches its consultant actor, and sockets
 * may watch actors live.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as SocketServer } from 'socket.io';
import type { Config } from '../config.ts';
import type { Sql } from '../db/client.ts';
import { addPresenceSocket, removePresenceSocket } from '../db/presence.ts';
import { CONSULTANT } from '../actors/consultant.ts';
import type { ActorSystem } from '../actors/runtime.ts';
import type { Broadcast } from '../db/broadcast.ts';
import { handleActorSubscriptions, streamActorSnapshots, watchActorsAcrossInstances, type ActorWatch } from '../http/realtime.ts';
import { attachSocketIo, type SocketDeps } from '../http/socket.ts';
import type { Logger } from '../log.ts';
import type { Sessions } from '../services/sessions.ts';
import type { Hub } from './hub.ts';
import type { Teardown } from './teardown.ts';

export function startRealtime(
  server: HttpServer,
  d: {
    sessions: Sessions;
    log: Logger;
    config: Config;
    system: ActorSystem;
    hub: Hub;
    teardown: Teardown;
    /** Socket.io's adapter across instances (src/db/socket-adapter.ts); in memory without one. */
    adapter?: SocketDeps['adapter'];
    onClose(): void;
    /** Several instances: each socket is recorded under this instance, so its death drops it. */
    sql?: Sql;
    instance?: { instanceId: string; boot: string };
    /** Several instances: actor watchers on other instances are heard of through it. */
    broadcast?: Broadcast;
  },
): SocketServer {
  const { system, log } = d;
  const presence = async (type: 'presence.connected' | 'presence.disconnected', userId: string, socketId: string) => {
    try {
      // Recorded before the actor hears of it, forgotten after: the sweep never drops a live socket.
      if (d.sql && d.instance && type === 'presence.connected') await addPresenceSocket(d.sql, { socketId, userId, ...d.instance });
      await system.send(CONSULTANT, userId, { type, socketId }, { durable: true });
      if (d.sql && type === 'presence.disconnected') await removePresenceSocket(d.sql, socketId);
    } catch (err) {
      log.warn({ err }, 'presence update failed');
    }
  };
  const io = attachSocketIo(server, {
    sessions: d.sessions,
    log,
    adapter: d.adapter,
    corsOrigin: d.config.isProduction ? (d.config.frontendUrl ?? false) : true,
    allowedOrigins: d.config.frontendUrl ? [d.config.frontendUrl] : [],
    onConnection: (socket, user) => {
      handleActorSubscriptions(socket, system);
      void presence('presence.connected', user.id, socket.id);
    },
    onDisconnect: (socket, user) => {
      if (!d.hub.shuttingDown) void presence('presence.disconnected', user.id, socket.id);
    },
  });
  d.hub.io = io;
  if (d.broadcast && d.instance) {
    const broadcast = d.broadcast;
    const watchers = watchActorsAcrossInstances(io, { instanceId: d.instance.instanceId, publish: (m) => broadcast.publish('actor.watch', m) });
    const off = broadcast.on<ActorWatch>('actor.watch', (m) => watchers.heard(m));
    d.teardown.push(async () => {
      off();
      watchers.stop();
    }, 'actor watchers');
    streamActorSnapshots(io, system, watchers);
  } else {
    streamActorSnapshots(io, system);
  }
  d.teardown.push(async () => {
    d.onClose();
    // This instance's sockets only: through the adapter, io.disconnectSockets would end every instance's.
    io.local.disconnectSockets(true);
    // Stops the adapter's listening connection, heartbeat and cleanup timers.
    await Promise.resolve(io.of('/').adapter.close()).catch(() => {});
  }, 'Socket.io');
  return io;
}
