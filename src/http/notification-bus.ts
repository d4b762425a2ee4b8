/**
 * In-process fan-out of notifications to open SSE streams, by recipient. (Socket.io clients get
 * theirs through rooms; across several instances the Postgres adapter would carry both.)
 *
 * @example
 * const off = bus.subscribe(userId, (n) => send(n));
 * bus.publish(notification);
 */
import type { NotificationRow } from '../db/notifications.ts';

type Listener = (n: NotificationRow | null) => void;

export class NotificationBus {
  #byUser = new Map<string, Set<Listener>>();

  subscribe(userId: string, listener: Listener): () => void {
    let set = this.#byUser.get(userId);
    if (!set) this.#byUser.set(userId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#byUser.delete(userId);
    };
  }

  publish(n: NotificationRow): void {
    for (const l of this.#byUser.get(n.recipient_id) ?? []) l(n);
  }

  /** Tells every stream to end (null), so shutdown does not wait on open connections. */
  close(): void {
    for (const set of this.#byUser.values()) for (const l of set) l(null);
  }
}
