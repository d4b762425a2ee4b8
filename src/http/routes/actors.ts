/**
 * Inspection for developers: machine definitions (any signed-in user: no data in them), and, for
 * ADMIN and MANAGER only, actors, one actor with its history, and the admin actions (ADMIN): reset
 * a failed actor, retry or discard a dead-lettered effect. Conversation actors hold customers'
 * personal data.
 * (Live snapshots stream over Socket.io: `actor:subscribe` → `actor:snapshot`, same roles.)
 */
import { actorDetail, listActors } from '../../actors/inspection.ts';
import type { ActorSystem } from '../../actors/runtime.ts';
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
    seq: z.number().int(),
    live: z.boolean(),
    failure: z.string().optional(),
    events: z.array(z.object({ seq: z.number().int(), type: z.string(), at: z.string(), state: z.string().nullable() })),
    dead_effects: z.array(
      z.object({ id: z.string(), seq: z.number().int(), type: z.string(), attempts: z.number().int(), last_error: z.string().nullable(), dead_at: z.string() }),
    ),
    discarded_effects: z.array(
      z.object({
        id: z.string(),
        seq: z.number().int(),
        type: z.string(),
        attempts: z.number().int(),
        last_error: z.string().nullable(),
        dead_at: z.string(),
        discarded_at: z.string(),
        discarded_by: z.string().nullable(),
        discarded_by_name: z.string().nullable(),
      }),
    ),
    timers: z.array(z.object({ key: z.string(), event: z.string(), due_at: z.string() })),
  })
  .openapi('ActorDetail');
const ActorStateSchema = z
  .object({ type: z.string(), id: z.string(), state: z.string(), status: z.string(), seq: z.number().int(), context: z.unknown() })
  .openapi('ActorState');

const name = z.string().min(1).max(200).regex(/^[\w.:@+-]+$/);
const actorParams = z.object({ type: name, id: name });

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
      responses: { 200: json(z.array(ActorSummarySchema), 'Actors, most recently changed first'), 401: errors[401], 403: errors[403], 422: errors[422] },
    }),
    async (c) => c.json(await listActors(deps.sql, c.req.valid('query')), 200),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/actors/{type}/{id}',
      tags: ['actors'],
      security: bearer,
      request: { params: actorParams, query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(50) }) },
      responses: {
        200: json(
          ActorDetailSchema,
          'The actor, its last events with the state after each, its dead-lettered effects, the effects an admin discarded (who, when), its armed timers',
        ),
        401: errors[401],
        403: errors[403],
        404: errors[404],
        422: errors[422],
      },
    }),
    async (c) => {
      const { type, id } = c.req.valid('param');
      const detail = await actorDetail(deps.sql, deps.system, type, id, c.req.valid('query').limit);
      if (!detail) throw new ApiError(404, 'not_found', 'No such actor');
      const { failure, ...rest } = detail;
      return c.json({ ...rest, ...(failure ? { failure } : {}) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/actors/{type}/{id}/reset',
      tags: ['actors'],
      security: bearer,
      request: { params: actorParams },
      responses: { 200: json(ActorStateSchema, 'The actor, restarted from its last good snapshot'), 401: errors[401], 403: errors[403], 404: errors[404] },
    }),
    async (c) => {
      adminOnly(c.var.user.role);
      const { type, id } = c.req.valid('param');
      const view = await deps.system.reset(type, id, c.var.user.id);
      if (!view) throw new ApiError(404, 'not_found', 'No such actor');
      return c.json({ type: view.type, id: view.id, state: view.state, status: view.status, seq: view.seq, context: view.context }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/actors/{type}/{id}/effects/{effectId}/retry',
      tags: ['actors'],
      security: bearer,
      request: { params: actorParams.extend({ effectId: z.string().uuid() }) },
      responses: { 200: json(ActorStateSchema, 'The effect runs again, with a fresh retry budget'), 401: errors[401], 403: errors[403], 404: errors[404], 422: errors[422] },
    }),
    async (c) => {
      adminOnly(c.var.user.role);
      const { type, id, effectId } = c.req.valid('param');
      const view = await deps.system.retryEffect(type, id, effectId, c.var.user.id);
      if (view === 'not_found') throw new ApiError(404, 'not_found', 'No such dead-lettered effect');
      return c.json({ type: view.type, id: view.id, state: view.state, status: view.status, seq: view.seq, context: view.context }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/actors/{type}/{id}/effects/{effectId}/discard',
      tags: ['actors'],
      security: bearer,
      description:
        'The dead-lettered effect is given up: marked discarded (kept, with who and when, in `discarded_effects` and the journal), ' +
        "the actor's later effects run, and the actor receives the event `effect.discarded` `{effectId, effect, params, by}` " +
        '(a conversation whose `conversation.think` is discarded leaves `thinking`).',
      request: { params: actorParams.extend({ effectId: z.string().uuid() }) },
      responses: {
        200: json(ActorStateSchema, 'The actor after it was told of the discard'),
        401: errors[401],
        403: errors[403],
        404: errors[404],
        422: errors[422],
      },
    }),
    async (c) => {
      adminOnly(c.var.user.role);
      const { type, id, effectId } = c.req.valid('param');
      const view = await deps.system.discardEffect(type, id, effectId, c.var.user.id);
      if (view === 'not_found') throw new ApiError(404, 'not_found', 'No such dead-lettered effect');
      return c.json({ type: view.type, id: view.id, state: view.state, status: view.status, seq: view.seq, context: view.context }, 200);
    },
  );
  return r;
}

function adminOnly(role: string): void {
  if (role !== 'ADMIN') throw new ApiError(403, 'forbidden', 'Only an administrator may do this');
}
