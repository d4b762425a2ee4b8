/**
 * A user's notifications: the list, marking read, and the feed an SSE stream sends from.
 *
 * The feed delivers each notification to its recipient once, in commit order, live and across
 * reconnects. It relies on the per-recipient `seq` (migration 004): a recipient's rows commit in
 * `seq` order, so once `seq` n is published every committed row below n is readable. Live
 * notifications may still be published out of order (each after its own commit, from different
 * code paths); when one arrives past the next expected `seq`, the feed reads what it missed from
 * the database first. Holes in the numbering (a deduplicated insert) only cost that read.
 *
 * @example
 * const feed = await notifications.feed(user.id, lastEventId);
 * for (;;) { const batch = await feed.next(15_000); if (batch === 'closed') break; ... }
 */
import type { Sql } from '../db/client.ts';
import {
  lastNotificationSeq,
  listNotifications,
  markAllNotificationsRead,
  markNotificationRead,
  notificationsAfter,
  type NotificationRow,
} from '../db/notifications.ts';
import { ServiceError } from './errors.ts';

/** Live notifications for one recipient (null: the stream must end, e.g. at shutdown). */
export type Subscribe = (recipientId: string, listener: (n: NotificationRow | null) => void) => () => void;

export interface NotificationFeed {
  /** The next notifications in order; [] after `idleMs` without any; 'closed' once the feed ended. */
  next(idleMs: number): Promise<NotificationRow[] | 'closed'>;
  close(): void;
}

export class NotificationService {
  constructor(private readonly d: { sql: Sql; subscribe: Subscribe }) {}

  list(recipientId: string, limit: number): Promise<NotificationRow[]> {
    return listNotifications(this.d.sql, recipientId, limit);
  }

  async markRead(recipientId: string, id: number, read: boolean): Promise<NotificationRow> {
    const row = await markNotificationRead(this.d.sql, id, recipientId, read);
    if (!row) throw new ServiceError('not_found', 'not_found', 'Notification not found');
    return row;
  }

  /** Marks every unread notification of this recipient read; answers how many changed. */
  markAllRead(recipientId: string): Promise<number> {
    return markAllNotificationsRead(this.d.sql, recipientId);
  }

  /**
   * Opens a feed after `afterSeq` (a `Last-Event-ID`), or, without one, after whatever is committed
   * now (a new stream starts with what happens next).
   */
  async feed(recipientId: string, afterSeq: number | undefined): Promise<NotificationFeed> {
    const live: NotificationRow[] = [];
    let closed = false;
    let wake: (() => void) | undefined;
    // Subscribe before reading the starting point, so nothing published in between is missed.
    const off = this.d.subscribe(recipientId, (n) => {
      if (n) live.push(n);
      else closed = true;
      wake?.();
    });
    let last = afterSeq ?? (await lastNotificationSeq(this.d.sql, recipientId));
    let replay = afterSeq !== undefined;
    const sql = this.d.sql;

    const catchUp = async (): Promise<NotificationRow[]> => {
      const out: NotificationRow[] = [];
      for (;;) {
        const rows = await notificationsAfter(sql, recipientId, last);
        out.push(...rows);
        if (rows.length > 0) last = rows[rows.length - 1]!.seq;
        if (rows.length < 500) return out;
      }
    };

    const drain = async (): Promise<NotificationRow[]> => {
      const out: NotificationRow[] = [];
      if (replay) {
        replay = false;
        out.push(...(await catchUp()));
      }
      while (live.length > 0) {
        const n = live.shift()!;
        if (n.seq <= last) continue;
        if (n.seq === last + 1) {
          last = n.seq;
          out.push(n);
        } else {
          // Something below n committed before it and has not been published here yet.
          out.push(...(await catchUp()));
        }
      }
      return out;
    };

    return {
      async next(idleMs) {
        for (;;) {
          const ready = await drain();
          if (ready.length > 0) return ready;
          if (closed) return 'closed';
          let timer: ReturnType<typeof setTimeout> | undefined;
          const woke = await new Promise<boolean>((resolve) => {
            wake = () => resolve(true);
            timer = setTimeout(() => resolve(false), idleMs);
          });
          clearTimeout(timer);
          wake = undefined;
          if (!woke) return closed ? 'closed' : [];
        }
      },
      close() {
        closed = true;
        off();
        wake?.();
      },
    };
  }
}
