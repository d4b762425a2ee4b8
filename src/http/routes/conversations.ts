/**
 * Lívia's conversations (CONTRACT.md): the list, one with its transcript, take over / give back, and
 * a consultant's message while HUMAN (sent on Lívia's number). A CONSULTANT sees and acts on only the
 * conversations whose lead is assigned to them (others are 404); managers and admins, all.
 */
import { STAGES } from '../../domain/qualification.ts';
import type { ConversationService } from '../../services/conversations.ts';
import { bearer, body, createRoute, errors, json, router, z } from '../openapi.ts';

const Conversation = z
  .object({
    id: z.string(),
    phone: z.string().openapi({ example: '+5511987654321' }),
    stage: z.enum(STAGES),
    data: z.record(z.string(), z.unknown()).openapi({ description: 'What Lívia collected: name, purpose, requested_amount, monthly_income, term_months, installment, consent, …' }),
    lead_id: z.string().nullable(),
    updated_at: z.string(),
  })
  .openapi('Conversation');

const ConversationDetail = Conversation.extend({
  messages: z.array(z.object({ role: z.enum(['customer', 'livia', 'consultant']), text: z.string(), at: z.string() })),
}).openapi('ConversationDetail');

const Id = z.object({ id: z.string().uuid() });

export function conversationRoutes(deps: { conversations: ConversationService }) {
  const svc = deps.conversations;
  const r = router();

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['conversations'],
      security: bearer,
      request: { query: z.object({ stage: z.enum(STAGES).optional() }) },
      responses: { 200: json(z.array(Conversation), 'Most recently updated first (a consultant: those of their leads)'), 401: errors[401], 422: errors[422] },
    }),
    async (c) => c.json(await svc.list(c.var.user, c.req.valid('query').stage), 200),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['conversations'],
      security: bearer,
      request: { params: Id },
      responses: { 200: json(ConversationDetail, 'The conversation and its transcript, oldest first'), 401: errors[401], 404: errors[404], 422: errors[422] },
    }),
    async (c) => c.json(await svc.get(c.var.user, c.req.valid('param').id), 200),
  );

  for (const action of ['takeover', 'release'] as const) {
    r.openapi(
      createRoute({
        method: 'post',
        path: `/{id}/${action}`,
        tags: ['conversations'],
        security: bearer,
        description: action === 'takeover' ? 'A consultant takes the chat from Lívia (stage HUMAN): Lívia falls silent.' : 'Gives the chat back to Lívia, at the stage it left.',
        request: { params: Id },
        responses: { 200: json(Conversation, 'The conversation after it'), 401: errors[401], 404: errors[404], 409: errors[409], 422: errors[422] },
      }),
      async (c) => {
        const id = c.req.valid('param').id;
        return c.json(await (action === 'takeover' ? svc.takeover(c.var.user, id) : svc.release(c.var.user, id)), 200);
      },
    );
  }

  r.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/messages',
      tags: ['conversations'],
      security: bearer,
      description: "While HUMAN: the consultant's message goes out on Lívia's number (exactly once) and joins the transcript.",
      request: { params: Id, ...body(z.object({ text: z.string().trim().min(1).max(4096) }).strict()) },
      responses: { 202: json(Conversation, 'Recorded; it is being sent'), 401: errors[401], 404: errors[404], 409: errors[409], 422: errors[422] },
    }),
    async (c) => c.json(await svc.message(c.var.user, c.req.valid('param').id, c.req.valid('json').text), 202),
  );

  return r;
}
