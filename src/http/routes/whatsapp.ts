/**
 * The WhatsApp inbox and sessions (CONTRACT.md). A CONSULTANT sees only the chats linked to their own
 * leads (lists, messages, sends, reads and media); managers and admins see all. Session actions are
 * ADMIN's (policies.ts). Sends answer 202 with the message pending: the session actor sends it.
 */
import type { WhatsAppService } from '../../services/whatsapp/service.ts';
import { ApiError } from '../errors.ts';
import { bearer, body, createRoute, errors, json, router, z } from '../openapi.ts';

const SessionSchema = z
  .object({
    name: z.string(),
    status: z.enum(['connecting', 'pairing', 'open', 'reconnecting', 'loggedOut', 'replaced', 'failed']),
    qr: z.string().optional().openapi({ description: 'PNG data URL while pairing' }),
    phone: z.string().optional(),
    reason: z.string().optional(),
    since: z.string().optional(),
  })
  .openapi('WhatsAppSession');

const ChatSchema = z
  .object({
    id: z.string(),
    session: z.string(),
    phone: z.string().nullable(),
    name: z.string().nullable(),
    lead_id: z.string().nullable(),
    unread: z.number().int(),
    last_message: z
      .object({ text: z.string().nullable(), kind: z.string(), direction: z.enum(['in', 'out']), status: z.string(), at: z.string() })
      .nullable(),
  })
  .openapi('WhatsAppChat');

const MessageSchema = z
  .object({
    id: z.string(),
    chat_id: z.string(),
    direction: z.enum(['in', 'out']),
    kind: z.string(),
    text: z.string().nullable(),
    status: z.string(),
    failure: z.string().nullable(),
    at: z.string(),
    quoted: z.object({ id: z.string(), text: z.string().nullable() }).nullable(),
    edited: z.boolean(),
    deleted: z.boolean(),
    media: z
      .object({ id: z.string(), type: z.string(), mime: z.string(), size: z.number().nullable(), status: z.string(), file_name: z.string().nullable(), url: z.string() })
      .optional(),
  })
  .openapi('WhatsAppMessage');

const SessionName = z.object({ name: z.string().min(1).max(32) });
const ChatId = z.object({ id: z.string().uuid() });
const Accepted = json(z.object({ status: z.literal('accepted') }), 'Accepted');
const MAX_TEXT = 4096;

export function whatsappRoutes(deps: { whatsapp: WhatsAppService }) {
  const wa = deps.whatsapp;
  const r = router();

  r.openapi(
    createRoute({ method: 'get', path: '/sessions', tags: ['whatsapp'], security: bearer, responses: { 200: json(z.array(SessionSchema), 'Each session'), 401: errors[401] } }),
    async (c) => c.json(await wa.sessionViews(), 200),
  );
  for (const action of ['logout', 'reconnect'] as const) {
    r.openapi(
      createRoute({
        method: 'post',
        path: `/sessions/{name}/${action}`,
        tags: ['whatsapp'],
        security: bearer,
        request: { params: SessionName },
        responses: { 202: Accepted, 401: errors[401], 403: errors[403], 404: errors[404] },
      }),
      async (c) => {
        const { name } = c.req.valid('param');
        await (action === 'logout' ? wa.logout(name) : wa.reconnect(name));
        return c.json({ status: 'accepted' as const }, 202);
      },
    );
  }
  r.openapi(
    createRoute({
      method: 'post',
      path: '/sessions/{name}/pairing-code',
      tags: ['whatsapp'],
      security: bearer,
      request: { params: SessionName, ...body(z.object({ phone: z.string().regex(/^\+?[\d\s().-]{8,24}$/, 'a phone number with country code') }).strict()) },
      responses: { 200: json(z.object({ code: z.string() }), 'The code to type on the phone'), 401: errors[401], 403: errors[403], 404: errors[404], 409: errors[409], 422: errors[422] },
    }),
    async (c) => c.json({ code: await wa.pairingCode(c.req.valid('param').name, c.req.valid('json').phone) }, 200),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/chats',
      tags: ['whatsapp'],
      security: bearer,
      request: { query: z.object({ session: z.string().min(1).max(32).optional() }) },
      responses: { 200: json(z.array(ChatSchema), 'Chats, most recent first (a consultant: their leads only)'), 401: errors[401] },
    }),
    (c) => {
      const chats = wa.chats(c.var.user, c.req.valid('query').session);
      return c.json(
        chats.map((x) => ({ id: x.id, session: x.session, phone: x.phone, name: x.name, lead_id: x.lead_id, unread: x.unread, last_message: x.last_message })),
        200,
      );
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/chats/{id}/messages',
      tags: ['whatsapp'],
      security: bearer,
      request: {
        params: ChatId,
        query: z.object({ before: z.string().uuid().optional(), limit: z.coerce.number().int().min(1).max(200).default(50) }),
      },
      responses: { 200: json(z.array(MessageSchema), 'A page, oldest first; `before` = the first id for the previous page'), 401: errors[401], 404: errors[404] },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await wa.messages(c.var.user, c.req.valid('param').id, { before: q.before, limit: q.limit });
      return c.json(page.reverse(), 200);
    },
  );

  // JSON {text}, or multipart/form-data with `file` (an image or a document) and an optional `text`.
  r.post('/chats/:id/messages', async (c) => {
    const id = ChatId.safeParse({ id: c.req.param('id') });
    if (!id.success) throw new ApiError(404, 'not_found', 'Conversa não encontrada');
    const user = c.var.user;
    const type = c.req.header('content-type') ?? '';
    let text: string | null = null;
    let mediaId: string | null = null;
    if (/multipart\/form-data/i.test(type)) {
      const form = await c.req.parseBody().catch(() => {
        throw new ApiError(400, 'malformed', 'Malformed multipart body');
      });
      const file = form.file;
      const caption = typeof form.text === 'string' ? form.text : '';
      if (!(file instanceof File)) throw new ApiError(422, 'validation_failed', 'The request is not valid', [{ path: 'file', message: 'required' }]);
      if (caption.length > MAX_TEXT) throw new ApiError(422, 'validation_failed', 'The request is not valid', [{ path: 'text', message: 'too long' }]);
      const mime = file.type || 'application/octet-stream';
      mediaId = await wa.upload(user, id.data.id, {
        type: /^image\/(jpeg|png|webp)$/.test(mime) ? 'image' : 'document',
        mime,
        name: file.name.slice(0, 200) || 'arquivo',
        data: Buffer.from(await file.arrayBuffer()),
      });
      text = caption || null;
    } else {
      const parsed = z
        .object({ text: z.string().trim().min(1).max(MAX_TEXT) })
        .strict()
        .safeParse(await c.req.json().catch(() => undefined));
      if (!parsed.success) throw new ApiError(422, 'validation_failed', 'The request is not valid', parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
      await wa.chatFor(user, id.data.id);
      text = parsed.data.text;
    }
    return c.json(await wa.send({ chatId: id.data.id, text, mediaId, sentBy: user.id }), 202);
  });

  r.openapi(
    createRoute({
      method: 'post',
      path: '/chats/{id}/read',
      tags: ['whatsapp'],
      security: bearer,
      request: { params: ChatId },
      responses: { 200: json(z.object({ read: z.number().int() }), 'Marked read; read receipts sent'), 401: errors[401], 404: errors[404] },
    }),
    async (c) => c.json(await wa.markRead(c.var.user, c.req.valid('param').id), 200),
  );

  r.get('/media/:id', async (c) => {
    const id = z.string().uuid().safeParse(c.req.param('id'));
    if (!id.success) throw new ApiError(404, 'not_found', 'Mídia não encontrada');
    const m = await wa.media(c.var.user, id.data);
    const headers: Record<string, string> = {
      'content-type': m.mime,
      'content-length': String(m.data.length),
      'cache-control': 'private, max-age=3600',
      'x-content-type-options': 'nosniff',
    };
    // Images, audio and video play inline; anything else downloads (never rendered as a page).
    if (!/^(image|audio|video)\//.test(m.mime)) headers['content-disposition'] = `attachment; filename="${(m.fileName ?? 'arquivo').replace(/[^\w.-]/g, '_')}"`;
    return c.body(new Uint8Array(m.data), 200, headers);
  });

  return r;
}
