/**
 * Team management: `GET/POST /api/consultants`, `PATCH /api/consultants/:id` (ADMIN, MANAGER).
 */
import type { MiddlewareHandler } from 'hono';
import {
  findConsultantById,
  insertConsultant,
  listConsultants,
  updateConsultant,
  type Consultant,
} from '../../db/consultants.ts';
import type { Sql } from '../../db/client.ts';
import { canGrantRole, ROLES } from '../../domain/roles.ts';
import { hashPassword, requireRole } from '../auth.ts';
import { ApiError } from '../errors.ts';
import { bearer, body, createRoute, errors, json, router, z } from '../openapi.ts';
import type { AppEnv } from '../types.ts';
import { ConsultantSchema, IdParam } from './schemas.ts';

const NewConsultantBody = z.object({
  name: z.string().trim().min(1).max(200),
  email: z.string().trim().toLowerCase().email().max(254),
  password: z.string().min(8).max(200),
  role: z.enum(ROLES).default('CONSULTANT'),
  max_open_leads: z.number().int().min(0).max(10_000).optional(),
  active: z.boolean().optional(),
});

const PatchConsultantBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    role: z.enum(ROLES),
    active: z.boolean(),
    max_open_leads: z.number().int().min(0).max(10_000),
    password: z.string().min(8).max(200),
  })
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'Nothing to change' });

const list = createRoute({
  method: 'get',
  path: '/',
  tags: ['consultants'],
  security: bearer,
  responses: { 200: json(z.array(ConsultantSchema), 'The team'), 401: errors[401], 403: errors[403] },
});

const create = createRoute({
  method: 'post',
  path: '/',
  tags: ['consultants'],
  security: bearer,
  request: body(NewConsultantBody),
  responses: {
    201: json(ConsultantSchema, 'Created'),
    401: errors[401],
    403: errors[403],
    409: errors[409],
    422: errors[422],
  },
});

const patch = createRoute({
  method: 'patch',
  path: '/{id}',
  tags: ['consultants'],
  security: bearer,
  request: { params: IdParam, ...body(PatchConsultantBody) },
  responses: {
    200: json(ConsultantSchema, 'Updated'),
    401: errors[401],
    403: errors[403],
    404: errors[404],
    422: errors[422],
  },
});

export interface ConsultantDeps {
  sql: Sql;
  requireAuth: MiddlewareHandler<AppEnv>;
  isOnline(id: string): boolean;
  /** Told after any change, so workload and assignment can react (activation, capacity). */
  onChanged(c: Consultant): void | Promise<void>;
}

export function consultantRoutes(deps: ConsultantDeps) {
  const r = router();
  r.use('*', deps.requireAuth, requireRole('ADMIN', 'MANAGER'));
  const view = (c: Consultant) => ({
    id: c.id,
    name: c.name,
    email: c.email,
    role: c.role,
    active: c.active,
    max_open_leads: c.max_open_leads,
    open_leads: c.open_leads,
    online: deps.isOnline(c.id),
    last_assigned_at: c.last_assigned_at?.toISOString() ?? null,
  });

  r.openapi(list, async (c) => c.json((await listConsultants(deps.sql)).map(view), 200));

  r.openapi(create, async (c) => {
    const b = c.req.valid('json');
    if (!canGrantRole(c.var.user.role, b.role)) throw new ApiError(403, 'forbidden', 'Managers may only create consultants');
    const created = await insertConsultant(deps.sql, {
      name: b.name,
      email: b.email,
      passwordHash: await hashPassword(b.password),
      role: b.role,
      maxOpenLeads: b.max_open_leads,
      active: b.active,
    });
    if (!created) throw new ApiError(409, 'email_taken', 'A user with this email already exists');
    await deps.onChanged(created);
    return c.json(view(created), 201);
  });

  r.openapi(patch, async (c) => {
    const { id } = c.req.valid('param');
    const b = c.req.valid('json');
    const current = await findConsultantById(deps.sql, id);
    if (!current) throw new ApiError(404, 'not_found', 'Consultant not found');
    const self = id === c.var.user.id;
    if (self && (b.active === false || (b.role && b.role !== current.role))) {
      throw new ApiError(422, 'validation_failed', 'You cannot deactivate or demote yourself', [
        { path: b.active === false ? 'active' : 'role', message: 'not allowed on your own account' },
      ]);
    }
    // Managers may change consultants only, and only into consultants (their own name and
    // password excepted).
    if (!self && (!canGrantRole(c.var.user.role, current.role) || (b.role && !canGrantRole(c.var.user.role, b.role)))) {
      throw new ApiError(403, 'forbidden', 'Managers may only change consultants');
    }
    const updated = await updateConsultant(deps.sql, id, {
      name: b.name,
      role: b.role,
      active: b.active,
      maxOpenLeads: b.max_open_leads,
      passwordHash: b.password ? await hashPassword(b.password) : undefined,
    });
    if (!updated) throw new ApiError(404, 'not_found', 'Consultant not found');
    await deps.onChanged(updated);
    return c.json(view(updated), 200);
  });
  return r;
}
