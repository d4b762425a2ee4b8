/**
 * The WhatsApp simulator's controls (CONTRACT.md): a customer writes (text or media), what we sent to a
 * phone, and the customer reads it. ADMIN only; 404 unless WHATSAPP_DRIVER=simulator.
 */
import type { SimulatorDriver } from '../../actors/whatsapp/simulator-driver.ts';
import { ApiError } from '../errors.ts';
import { bearer, body, createRoute, errors, json, router, z } from '../openapi.ts';

const Phone = z.string().regex(/^\+?[\d\s().-]{8,24}$/, 'a phone number with country code');

const Inbound = z
  .object({
    session: z.string().min(1).max(32),
    from: Phone,
    text: z.string().max(4096).optional(),
    name: z.string().max(120).optional(),
    media: z
      .object({
        type: z.enum(['image', 'audio', 'voice', 'video', 'document', 'sticker']),
        mime: z.string().max(120).regex(/^[\w.+-]+\/[\w.+-]+(;\s*[\w.+-]+=[\w.+"-]+)*$/),
        base64: z.string().regex(/^[A-Za-z0-9+/=\s]*$/).max(8_000_000),
        file_name: z.string().max(200).optional(),
      })
      .optional(),
  })
  .strict()
  .refine((b) => b.text !== undefined || b.media !== undefined, { message: 'text or media is required' });

export function simulatorRoutes(deps: { simulator: SimulatorDriver | undefined; sessions: string[] }) {
  const r = router();
  const sim = () => {
    if (!deps.simulator) throw new ApiError(404, 'not_found', 'No such route');
    return deps.simulator;
  };

  r.openapi(
    createRoute({
      method: 'post',
      path: '/messages',
      tags: ['simulator'],
      security: bearer,
      request: body(Inbound),
      responses: { 202: json(z.object({ id: z.string() }), 'The customer message arrives on that session'), 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] },
    }),
    async (c) => {
      const s = sim();
      const b = c.req.valid('json');
      if (!deps.sessions.includes(b.session)) throw new ApiError(422, 'validation_failed', 'The request is not valid', [{ path: 'session', message: 'unknown session' }]);
      const id = await s
        .inject(b.session, {
          from: b.from,
          text: b.text,
          name: b.name,
          media: b.media && { type: b.media.type, mime: b.media.mime, base64: b.media.base64, fileName: b.media.file_name },
        })
        .catch((err: Error) => {
          throw new ApiError(422, 'validation_failed', 'The request is not valid', [{ path: 'from', message: err.message }]);
        });
      return c.json({ id }, 202);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/messages',
      tags: ['simulator'],
      security: bearer,
      request: { query: z.object({ to: Phone }) },
      responses: {
        200: json(z.array(z.object({ session: z.string(), to: z.string(), text: z.string().nullable(), at: z.string(), id: z.string(), read: z.boolean() })), 'What was sent to that phone, oldest first'),
        401: errors[401],
        403: errors[403],
        404: errors[404],
      },
    }),
    async (c) => c.json(await sim().sentTo(c.req.valid('query').to), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/read',
      tags: ['simulator'],
      security: bearer,
      request: body(z.object({ to: Phone }).strict()),
      responses: { 200: json(z.object({ read: z.number().int() }), 'READ receipts for what was sent to that phone'), 401: errors[401], 403: errors[403], 404: errors[404] },
    }),
    async (c) => c.json({ read: await sim().read(c.req.valid('json').to) }, 200),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/socket',
      tags: ['simulator'],
      security: bearer,
      responses: {
        200: json(z.object({ read_receipts: z.array(z.string()), logouts: z.array(z.string()) }), "What this instance's sockets did: read receipts sent (customers' message ids), logouts (sessions)"),
        401: errors[401],
        403: errors[403],
        404: errors[404],
      },
    }),
    (c) => c.json(sim().socketLog(), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/pairing',
      tags: ['simulator'],
      security: bearer,
      request: body(z.object({ session: z.string().min(1).max(32) }).strict()),
      responses: { 202: json(z.object({ status: z.literal('accepted') }), 'The session now waits for pairing, with a QR'), 401: errors[401], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    (c) => {
      const s = sim();
      const { session } = c.req.valid('json');
      if (!deps.sessions.includes(session)) throw new ApiError(404, 'not_found', 'Sessão não encontrada');
      if (!s.askPairing(session)) throw new ApiError(409, 'conflict', 'A sessão não está conectada');
      return c.json({ status: 'accepted' as const }, 202);
    },
  );
  return r;
}
