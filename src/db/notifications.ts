/**
 * In-app notifications: stored per recipient with read/unread. Each row also gets its recipient's
 * next `seq` (a trigger, migration 004) under a per-recipient counter lock held until commit, so a
 * recipient's rows commit in `seq` order: SSE uses it as the event id, and `Last-Event-ID` resumes
 * exactly where a client left off, with nothing committed later below it.
 *
 * @example
 * const missed = await notificationsAfter(sql, userId, 41);
 */
import type { Queryable } from './client.ts';

export interface NotificationRow {
  id: number;
  /** Per-recipient, in commit order (not contiguous: a deduplicated insert leaves a hole). */
  seq: number;
  recipient_id: string;
  type: string;
  title: string;
  body: string;
  lead_id: string | null;
  read_at: Date | null;
  created_at: Date;
}

const columns = ['id', 'seq', 'recipient_id', 'type', 'title', 'body', 'lead_id', 'read_at', 'created_at'];
const withNumberId = (r: NotificationRow) => ({ ...r, id: Number(r.id), seq: Number(r.seq) });

export async function insertNotification(
  sql: Queryable,
  n: { recipientId: string; type: string; title: string; body: string; leadId: string | null; dedupeKey?: string },
): Promise<NotificationRow | undefined> {
  const [row] = await sql<NotificationRow[]>`
    insert into notifications (recipient_id, type, title, body, lead_id, dedupe_key)
    values (${n.recipientId}, ${n.type}, ${n.title}, ${n.body}, ${n.leadId}, ${n.dedupeKey ?? null})
    on conflict do nothing
    returning ${sql(columns)}`;
  return row && withNumberId(row);
}

export async function listNotifications(sql: Queryable, recipientId: string, limit: number): Promise<NotificationRow[]> {
  const rows = await sql<NotificationRow[]>`
    select ${sql(columns)} from notifications where recipient_id = ${recipientId}
    order by id desc limit ${limit}`;
  return rows.map(withNumberId);
}

/** The recipient's last committed `seq` (0 before the first notification). */
export async function lastNotificationSeq(sql: Queryable, recipientId: string): Promise<number> {
  const [row] = await sql<{ last_seq: string }[]>`select last_seq from notification_counters where recipient_id = ${recipientId}`;
  return row ? Number(row.last_seq) : 0;
}

/** The recipient's notifications after `afterSeq`, in `seq` (commit) order. */
export async function notificationsAfter(sql: Queryable, recipientId: string, afterSeq: number, limit = 500): Promise<NotificationRow[]> {
  const rows = await sql<NotificationRow[]>`
    select ${sql(columns)} from notifications where recipient_id = ${recipientId} and seq > ${afterSeq}
    order by seq limit ${limit}`;
  return rows.map(withNumberId);
}

export async function markNotificationRead(sql: Queryable, id: number, recipientId: string, read: boolean): Promise<NotificationRow | undefined> {
  const [row] = await sql<NotificationRow[]>`
    update notifications set read_at = case when ${read} then coalesce(read_at, now()) else null end
    where id = ${id} and recipient_id = ${recipientId}
    returning ${sql(columns)}`;
  return row && withNumberId(row);
}

/** Marks every unread notification of this recipient as read; answers how many changed. */
export async function markAllNotificationsRead(sql: Queryable, recipientId: string): Promise<number> {
  const result = await sql`update notifications set read_at = now() where recipient_id = ${recipientId} and read_at is null`;
  return result.count;
}

/** The recipient's newest notification (a stream that is behind it catches up from its `seq`). */
export async function latestNotification(sql: Queryable, recipientId: string): Promise<NotificationRow | undefined> {
  const [row] = await sql<NotificationRow[]>`
    select ${sql(columns)} from notifications where recipient_id = ${recipientId} order by seq desc limit 1`;
  return row && withNumberId(row);
}
