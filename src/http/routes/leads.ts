/**
 * Leads: list with filters and keyset pagination, detail with the interaction timeline, and
 * PATCH with optimistic concurrency and the pipeline's transitions.
 */
import { LEAD_STATUSES, TEMPERATURES } from '../../domain/lead-status.ts';
import type { LeadService } from '../../services/leads.ts';
import { ApiError } from '../errors.ts';
import { bearer, body, createRoute, errors, json, router, z } from '../openapi.ts';
import { interactionView, leadView } from '../views.ts';
import { IdParam } from './schemas.ts';

const LeadSchema = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    phone: z.string().nullable(),
    email: z.string().nullable(),
    source: z.string(),
    status: z.enum(LEAD_STATUSES),
    ai_score: z.number().int().nullable(),
    ai_temperature: z.enum(TEMPERATURES).nullable(),
    ai_classifier: z.enum(['groq', 'rules']).nullable(),
    consultant_id: z.string().uuid().nullable(),
    consultant: z.object({ id: z.string().uuid(), name: z.string() }).nullable(),
    version: z.number().int(),
    created_at: z.string(),
    updated_at: z.string(),
    assigned_at: z.string().nullable(),
  })
  .passthrough()
  .openapi('Lead');

const InteractionSchema = z
  .object({
    id: z.number().int(),
    type: z.string(),
    actor: z.object({ type: z.enum(['user', 'system', 'livia']), id: z.string().nullable(), name: z.string().nullable() }),
    data: z.record(z.string(), z.unknown()),
    created_at: z.string(),
  })
  .openapi('Interaction');

const FilterQuery = z.object({
  consultant_id: z.string().uuid().optional(),
  temperature: z.enum(TEMPERATURES).optional(),
  source: z.string().trim().min(1).max(100).optional(),
  q: z.string().trim().min(1).max(100).optional(),
});

const ListQuery = FilterQuery.extend({
  status: z.enum(LEAD_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

const PatchBody = z
  .object({
    version: z.number().int().min(1),
    status: z.enum(LEAD_STATUSES).optional(),
    consultant_id: z.string().uuid().optional(),
    note: z.string().trim().min(1).max(5000).optional(),
  })
  .strict();

/** Cursor: the last row's (created_at, id), opaque to clients. */
const encodeCursor = (createdAt: string, id: string) => Buffer.from(`${createdAt}|${id}`).toString('base64url');
function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(at ?? '');
  if (!id || Number.isNaN(createdAt.getTime()) || !z.string().uuid().safeParse(id).success) {
    throw new ApiError(422, 'validation_failed', 'The request is not valid', [{ path: 'cursor', message: 'not a cursor from this API' }]);
  }
  return { createdAt, id };
}

export function leadRoutes(deps: { leads: LeadService }) {
  const r = router();

  r.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['leads'],
      security: bearer,
      request: { query: ListQuery },
      responses: {
        200: json(z.object({ items: z.array(LeadSchema), next_cursor: z.string().nullable() }), 'Newest first'),
        401: errors[401],
        422: errors[422],
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await deps.leads.list(c.var.user, {
        status: q.status,
        consultantId: q.consultant_id,
        temperature: q.temperature,
        source: q.source,
        q: q.q,
        after: q.cursor ? decodeCursor(q.cursor) : undefined,
        limit: q.limit + 1,
      });
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      const next = rows.length > q.limit && last ? encodeCursor(last.created_at.toISOString(), last.id) : null;
      return c.json({ items: page.map(leadView), next_cursor: next }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/counts',
      tags: ['leads'],
      security: bearer,
      request: { query: FilterQuery },
      responses: {
        200: json(z.object(Object.fromEntries(LEAD_STATUSES.map((s) => [s, z.number().int()]))), 'Leads per status under the filter'),
        401: errors[401],
        422: errors[422],
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const counts = await deps.leads.counts(c.var.user, { consultantId: q.consultant_id, temperature: q.temperature, source: q.source, q: q.q });
      return c.json(Object.fromEntries(LEAD_STATUSES.map((s) => [s, counts[s] ?? 0])), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['leads'],
      security: bearer,
      request: { params: IdParam },
      responses: {
        200: json(LeadSchema.extend({ interactions: z.array(InteractionSchema) }), 'The lead and its timeline'),
        401: errors[401],
        404: errors[404],
      },
    }),
    async (c) => {
      const { lead, interactions } = await deps.leads.get(c.var.user, c.req.valid('param').id);
      return c.json({ ...leadView(lead), interactions: interactions.map(interactionView) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'patch',
      path: '/{id}',
      tags: ['leads'],
      security: bearer,
      request: { params: IdParam, ...body(PatchBody) },
      responses: {
        200: json(LeadSchema, 'Updated'),
        401: errors[401],
        403: errors[403],
        404: errors[404],
        409: errors[409],
        422: errors[422],
      },
    }),
    async (c) => {
      const updated = await deps.leads.update(c.var.user, c.req.valid('param').id, c.req.valid('json'));
      return c.json(leadView(updated), 200);
    },
  );
  return r;
}
