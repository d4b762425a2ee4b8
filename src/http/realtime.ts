/**
 * Live inspection over Socket.io: a socket sends `actor:subscribe {type, id}` and receives the
 * actor's current snapshot at once, then every committed change as `actor:snapshot`. Only ADMIN
 * and MANAGER sockets may subscribe; anyone else gets a `forbidden` ack and nothing else.
 *
 * @example
 * streamActorSnapshots(io, system);
 * io.on('connection', (socket) => handleActorSubscriptions(socket, system));
 */
import type { Server, Socket } from 'socket.io';
import { z } from 'zod';
import type { ActorSystem, ActorView } from '../actors/runtime.ts';
import { onEvent } from './socket.ts';

export const actorRoom = (type: string, id: string) => `actor:${type}:${id}`;

/** Who may watch actors: conversation actors hold customers' personal data. */

const subscription = z.object({ type: z.string().min(1).max(200), id: z.string().min(1).max(200) });

const payload = (v: ActorView) => ({ type: v.type, id: v.id, state: v.state, value: v.value, context: v.context, status: v.status });

/**
 * Emits each committed actor view to its room, when someone watches it: a socket of this instance,
 * or (`remote`) of another one (the room's sockets there get it through the Socket.io adapter).
 * Nobody watching anywhere: nothing is serialized or NOTIFYed.
 */
export function streamActorSnapshots(io: Server, system: ActorSystem, remote?: { watched(room: string): boolean }): () => void {
  return system.onChange((view) => {
    const room = actorRoom(view.type, view.id);
    // Skip the serialization work when nobody is watching this actor.
    if ((io.sockets.adapter.rooms.get(room)?.size ?? 0) === 0 && !remote?.watched(room)) return;
    io.to(room).emit('actor:snapshot', payload(view));
  });
}

/** Announced over the broadcast: an instance's sockets watch (or stopped watching) these actor rooms. */
export interface ActorWatch {
  i: string;
  rooms: string[];
  on: boolean;
}

/**
 * Live actor watching across instances: the actor's home emits its snapshots only while someone
 * watches, and a watcher may be on another instance. Each instance announces the actor rooms its
 * sockets join and leave (`publish`), and again every `refreshMs` (a home that started later, or
 * missed a NOTIFY, learns them then); the others keep what they heard for 3 × `refreshMs`, so the
 * watchers of an instance that died stop counting.
 *
 * @example
 * const watchers = watchActorsAcrossInstances(io, { instanceId, publish: (m) => broadcast.publish('actor.watch', m) });
 * broadcast.on('actor.watch', (m) => watchers.heard(m));
 * streamActorSnapshots(io, system, watchers);
 */
export function watchActorsAcrossInstances(
  io: Server,
  d: { instanceId: string; publish(m: ActorWatch): void; refreshMs?: number },
): { watched(room: string): boolean; heard(m: ActorWatch): void; stop(): void } {
  const refreshMs = d.refreshMs ?? 15_000;
  const elsewhere = new Map<string, Map<string, number>>();
  const isActorRoom = (room: unknown): room is string => typeof room === 'string' && room.startsWith('actor:');
  const adapter = io.of('/').adapter;
  const announce = (rooms: string[], on: boolean) => {
    // Chunks, so one message stays well under the NOTIFY payload limit.
    for (let i = 0; i < rooms.length; i += 40) d.publish({ i: d.instanceId, rooms: rooms.slice(i, i + 40), on });
  };
  adapter.on('create-room', (room: unknown) => {
    if (isActorRoom(room)) announce([room], true);
  });
  adapter.on('delete-room', (room: unknown) => {
    if (isActorRoom(room)) announce([room], false);
  });
  const timer = setInterval(() => announce([...adapter.rooms.keys()].filter(isActorRoom), true), refreshMs);
  timer.unref?.();
  return {
    watched(room) {
      const by = elsewhere.get(room);
      if (!by) return false;
      const now = Date.now();
      for (const [instance, until] of by) if (until < now) by.delete(instance);
      if (by.size === 0) elsewhere.delete(room);
      return by.size > 0;
    },
    heard(m) {
      if (m.i === d.instanceId) return;
      for (const room of m.rooms) {
        if (!isActorRoom(room)) continue;
        let by = elsewhere.get(room);
        if (m.on) {
          if (!by) elsewhere.set(room, (by = new Map()));
          by.set(m.i, Date.now() + 3 * refreshMs);
        } else if (by) {
          by.delete(m.i);
          if (by.size === 0) elsewhere.delete(room);
        }
      }
    },
    stop: () => clearInterval(timer),
  };
}

export function handleActorSubscriptions(socket: Socket, system: ActorSystem): void {
  onEvent(socket, 'actor:subscribe', async (raw, ack) => {
    const parsed = subscription.safeParse(raw);
    if (!parsed.success) {
      ack?.({ error: { code: 'validation_failed', message: 'Expected {type, id}' } });
      return;
    }
    const { type, id } = parsed.data;
    await socket.join(actorRoom(type, id));
    const view = await system.inspect(type, id).catch(() => undefined);
    if (view) socket.emit('actor:snapshot', payload(view));
    ack?.({ ok: true });
  });
  onEvent(socket, 'actor:unsubscribe', async (raw, ack) => {
    const parsed = subscription.safeParse(raw);
    if (parsed.success) await socket.leave(actorRoom(parsed.data.type, parsed.data.id));
    ack?.(parsed.success ? { ok: true } : { error: { code: 'validation_failed', message: 'Expected {type, id}' } });
  });
}
