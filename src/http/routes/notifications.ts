/**
 * Notifications: list, mark read, and a Server-Sent Events stream that resumes from `Last-Event-ID`.
 */
import { streamSSE } from 'hono/streaming';
import type { Sql } from '../../db/client.ts';
import { listNotifications, markAllNotificationsRead, markNotificationRead, notificationsAfter, type NotificationRow } from '../../db/notifications.ts';
import { ApiError } from '../errors.ts';
import type { NotificationBus } from '../notification-bus.ts';
import { bearer, body, createRoute, errors, json, router, z } from '../openapi.ts';
import { notificationView } from '../views.ts';
import type { LiveConnections } from '../../services/live-connections.ts';

const NotificationSchema = z
  .object({
    id: z.number().int(),
    type: z.string(),
    title: z.string(),
    body: z.string(),
    lead_id: z.string().nullable(),
    read: z.boolean(),
    created_at: z.string(),
  })
  .openapi('Notification');

export const HEARTBEAT_MS = 15_000;

export function notificationRoutes(deps: {
  sql: Sql;
  bus: NotificationBus;
  /** Open streams are registered here, so a revoked session's stream ends at once. */
  live: LiveConnections;
  heartbeatMs?: number;
}) {
  const r = router();
  r.get('/stream', (c) => {
    const user = c.var.user;
    const header = c.req.header('last-event-id') ?? c.req.query('last_event_id');
    const resumeFrom = header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
    return streamSSE(c, async (stream) => {
      const queue: NotificationRow[] = [];
      let wake: (() => void) | undefined;
      let closed = false;
      // Subscribe before replaying, so nothing published in between is missed (ids dedupe).
      const off = deps.bus.subscribe(user.id, (n) => {
        if (n) queue.push(n);
        else closed = true;
        wake?.();
      });
      const end = () => {
        closed = true;
        wake?.();
      };
      stream.onAbort(end);
      const forget = deps.live.open({ userId: user.id, jti: c.var.session.jti, kind: 'sse' }, end);
      let lastId = resumeFrom ?? 0;
      const send = async (n: NotificationRow) => {
        if (n.id <= lastId) return;
        lastId = n.id;
        await stream.writeSSE({ id: String(n.id), event: 'notification', data: JSON.stringify(notificationView(n)) });
      };
      try {
        await stream.write(`retry: 3000\n\n`);
        if (resumeFrom !== undefined) for (const n of await notificationsAfter(deps.sql, user.id, resumeFrom)) await send(n);
        while (!closed) {
          while (queue.length > 0) await send(queue.shift()!);
          const woke = await new Promise<boolean>((resolve) => {
            wake = () => resolve(true);
            setTimeout(() => resolve(false), deps.heartbeatMs ?? HEARTBEAT_MS);
          });
          wake = undefined;
          if (!woke && !closed) await stream.write(`: heartbeat\n\n`);
        }
      } finally {
        off();
        forget();
      }
    });
  });

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['notifications'],
      security: bearer,
      request: { query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }) },
      responses: { 200: json(z.array(NotificationSchema), 'Newest first'), 401: errors[401] },
    }),
    async (c) => {
      const rows = await listNotifications(deps.sql, c.var.user.id, c.req.valid('query').limit);
      return c.json(rows.map(notificationView), 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'post',
      path: '/read-all',
      tags: ['notifications'],
      security: bearer,
      responses: { 200: json(z.object({ updated: z.number().int() }), 'Every notification of mine is read'), 401: errors[401] },
    }),
    async (c) => c.json({ updated: await markAllNotificationsRead(deps.sql, c.var.user.id) }, 200),
  );
  r.openapi(
    createRoute({
      method: 'patch',
      path: '/{id}',
      tags: ['notifications'],
      security: bearer,
      request: { params: z.object({ id: z.coerce.number().int().positive() }), ...body(z.object({ read: z.boolean() }).strict()) },
      responses: { 200: json(NotificationSchema, 'Updated'), 401: errors[401], 404: errors[404], 422: errors[422] },
    }),
    async (c) => {
      const row = await markNotificationRead(deps.sql, c.req.valid('param').id, c.var.user.id, c.req.valid('json').read);
      if (!row) throw new ApiError(404, 'not_found', 'Notification not found');
      return c.json(notificationView(row), 200);
    },
  );
  return r;
}
