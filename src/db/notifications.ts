/**
 * In-app notifications: stored per recipient with read/unread, ordered by a growing id that SSE
 * uses as its event id (so `Last-Event-ID` resumes exactly where a client left off).
 *
 * @example
 * const missed = await notificationsAfter(sql, userId, 41);
 */
import type { Queryable } from './client.ts';

export interface NotificationRow {
  id: number;
  recipient_id: string;
  type: string;
  title: string;
  body: string;
  lead_id: string | null;
  read_at: Date | null;
  created_at: Date;
}

const columns = ['id', 'recipient_id', 'type', 'title', 'body', 'lead_id', 'read_at', 'created_at'];
const withNumberId = (r: NotificationRow) => ({ ...r, id: Number(r.id) });

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

export async function notificationsAfter(sql: Queryable, recipientId: string, afterId: number, limit = 500): Promise<NotificationRow[]> {
  const rows = await sql<NotificationRow[]>`
    select ${sql(columns)} from notifications where recipient_id = ${recipientId} and id > ${afterId}
    order by id limit ${limit}`;
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
