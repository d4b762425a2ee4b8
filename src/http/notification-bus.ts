/**
 * In-process fan-out of notifications to open SSE streams, by recipient. (Socket.io clients get
 * theirs through rooms, which the Postgres adapter carries across instances; a notification
 * committed on another instance reaches this bus through src/boot/cross-instance.ts.)
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

  /** Whether a stream of this recipient is open here. */
  has(userId: string): boolean {
    return this.#byUser.has(userId);
  }

  /** The recipients with an open stream here. */
  recipients(): string[] {
    return [...this.#byUser.keys()];
  }

  /** Tells the other instances (set by the composition root when they share the database). */
  announce: (n: NotificationRow) => void = () => {};

  /** A notification committed here: to this instance's streams, and announced to the others. */
  publish(n: NotificationRow): void {
    this.deliver(n);
    this.announce(n);
  }

  /** To this instance's streams only. */
  deliver(n: NotificationRow): void {
    for (const l of this.#byUser.get(n.recipient_id) ?? []) l(n);
  }

  /** Tells every stream to end (null), so shutdown does not wait on open connections. */
  close(): void {
    for (const set of this.#byUser.values()) for (const l of set) l(null);
  }
}
