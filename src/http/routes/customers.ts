/**
 * LGPD (ADMIN only, policies.ts): `GET /api/customers/:phone/export` answers everything held about
 * a phone as JSON; `DELETE /api/customers/:phone` erases the transcripts, WhatsApp messages and
 * media, the conversation actor's rows, and anonymizes the lead (204).
 */
import type { CustomerDataService } from '../../services/customer-data.ts';
import { bearer, createRoute, errors, json, router, z } from '../openapi.ts';

const Phone = z.object({ phone: z.string().min(8).max(32).openapi({ example: '+5511987654321', description: 'Any form of the phone; URL-encode the +' }) });

export function customerRoutes(deps: { customers: CustomerDataService }) {
  const r = router();
  r.openapi(
    createRoute({
      method: 'get',
      path: '/{phone}/export',
      tags: ['lgpd'],
      security: bearer,
      request: { params: Phone },
      responses: {
        200: json(z.record(z.string(), z.unknown()), 'leads, interactions, notifications, conversations, transcript, conversation_actor, whatsapp {chats, messages, media}, consent'),
        401: errors[401],
        403: errors[403],
        422: errors[422],
      },
    }),
    async (c) => c.json(await deps.customers.export(c.req.valid('param').phone), 200),
  );
  r.openapi(
    createRoute({
      method: 'delete',
      path: '/{phone}',
      tags: ['lgpd'],
      security: bearer,
      description: 'Erases the customer’s transcripts, WhatsApp messages and media and conversation state, anonymizes their leads (kept for counts), and records that an erasure happened, without the data.',
      request: { params: Phone },
      responses: { 204: { description: 'Erased' }, 401: errors[401], 403: errors[403], 422: errors[422] },
    }),
    async (c) => {
      await deps.customers.erase(c.req.valid('param').phone, c.var.user.id);
      return c.body(null, 204);
    },
  );
  return r;
}
