/**
 * Inspection for developers: machine definitions, actors, one actor with its recent journal.
 * (Live snapshots stream over Socket.io: `actor:subscribe` → `actor:snapshot`.)
 */
import type { ActorSystem } from '../../actors/runtime.ts';
import { listSnapshots, recentJournal } from '../../db/actors.ts';
import type { Sql } from '../../db/client.ts';
import { ApiError } from '../errors.ts';
import { bearer, createRoute, errors, json, router, z } from '../openapi.ts';

const MachineSchema = z.object({ id: z.string(), version: z.number().int(), definition: z.unknown() }).openapi('Machine');
const ActorSummarySchema = z
  .object({ type: z.string(), id: z.string(), state: z.string(), status: z.string(), updated_at: z.string() })
  .openapi('ActorSummary');
const ActorDetailSchema = z
  .object({
    type: z.string(),
    id: z.string(),
    state: z.string(),
    value: z.unknown(),
    context: z.unknown(),
    status: z.string(),
    live: z.boolean(),
    failure: z.string().optional(),
    events: z.array(z.object({ seq: z.number().int(), type: z.string(), at: z.string() })),
  })
  .openapi('ActorDetail');

const name = z.string().min(1).max(200).regex(/^[\w.:@+-]+$/);

export function actorRoutes(deps: { sql: Sql; system: ActorSystem }) {
  const r = router();

  r.openapi(
    createRoute({
      method: 'get',
      path: '/machines',
      tags: ['actors'],
      security: bearer,
      responses: { 200: json(z.array(MachineSchema), 'Every actor type, its machine as JSON'), 401: errors[401] },
    }),
    (c) =>
      c.json(
        deps.system.definitions().map((d) => ({ id: d.type, version: d.version, definition: d.machine.toJSON() })),
        200,
      ),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/actors',
      tags: ['actors'],
      security: bearer,
      request: {
        query: z.object({
          type: name.optional(),
          state: z.string().max(200).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(200),
        }),
      },
      responses: { 200: json(z.array(ActorSummarySchema), 'Actors, most recently changed first'), 401: errors[401], 422: errors[422] },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await listSnapshots(deps.sql, { type: q.type, state: q.state, limit: q.limit });
      return c.json(
        rows.map((r) => ({ type: r.actor_type, id: r.actor_id, state: r.state, status: r.status, updated_at: r.updated_at.toISOString() })),
        200,
      );
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/actors/{type}/{id}',
      tags: ['actors'],
      security: bearer,
      request: { params: z.object({ type: name, id: name }) },
      responses: { 200: json(ActorDetailSchema, 'The actor and its last events'), 401: errors[401], 404: errors[404] },
    }),
    async (c) => {
      const { type, id } = c.req.valid('param');
      // The journal first: the state read after it is at least as new as the last event shown.
      const events = await recentJournal(deps.sql, type, id, 50);
      const view = await deps.system.inspect(type, id);
      if (!view) throw new ApiError(404, 'not_found', 'No such actor');
      return c.json(
        {
          type: view.type,
          id: view.id,
          state: view.state,
          value: view.value,
          context: view.context,
          status: view.status,
          live: view.live,
          ...(view.failure ? { failure: view.failure } : {}),
          events: events.map((e) => ({ seq: e.seq, type: e.event.type, at: e.created_at.toISOString() })),
        },
        200,
      );
    },
  );
  return r;
}
