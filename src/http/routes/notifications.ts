/**
 * Notifications: list, mark read, and a Server-Sent Events stream whose event ids are the
 * recipient's notification sequence, so `Last-Event-ID` resumes exactly after the last one seen.
 */
import { streamSSE } from 'hono/streaming';
import type { NotificationService } from '../../services/notifications.ts';
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
  notifications: NotificationService;
  /** Open streams are registered here, so a revoked session's stream ends at once. */
  live: LiveConnections;
  heartbeatMs?: number;
}) {
  const r = router();
  r.get('/stream', async (c) => {
    const user = c.var.user;
    const header = c.req.header('last-event-id') ?? c.req.query('last_event_id');
    const resumeFrom = header !== undefined && /^\d{1,15}$/.test(header) ? Number(header) : undefined;
    const feed = await deps.notifications.feed(user.id, resumeFrom);
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => feed.close());
      const forget = deps.live.open(
        { userId: user.id, jti: c.var.session.jti, kind: 'sse', ver: c.var.session.tokenVersion, role: user.role },
        () => feed.close(),
      );
      try {
        await stream.write(`retry: 3000\n\n`);
        for (;;) {
          const batch = await feed.next(deps.heartbeatMs ?? HEARTBEAT_MS);
          if (batch === 'closed') break;
          if (batch.length === 0) await stream.write(`: heartbeat\n\n`);
          for (const n of batch) {
            await stream.writeSSE({ id: String(n.seq), event: 'notification', data: JSON.stringify(notificationView(n)) });
          }
        }
      } finally {
        feed.close();
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
      const rows = await deps.notifications.list(c.var.user.id, c.req.valid('query').limit);
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
    async (c) => c.json({ updated: await deps.notifications.markAllRead(c.var.user.id) }, 200),
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
      const row = await deps.notifications.markRead(c.var.user.id, c.req.valid('param').id, c.req.valid('json').read);
      return c.json(notificationView(row), 200);
    },
  );
  return r;
}
