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

export function streamActorSnapshots(io: Server, system: ActorSystem): () => void {
  return system.onChange((view) => {
    const room = actorRoom(view.type, view.id);
    // Skip the serialization work when nobody is watching this actor.
    if ((io.sockets.adapter.rooms.get(room)?.size ?? 0) === 0) return;
    io.to(room).emit('actor:snapshot', payload(view));
  });
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
