/**
 * Team management: `GET/POST /api/consultants`, `PATCH /api/consultants/:id` (ADMIN, MANAGER; see
 * src/http/policies.ts). The rules live in src/services/consultants.ts.
 */
import type { Consultant } from '../../db/consultants.ts';
import { ROLES } from '../../domain/roles.ts';
import type { ConsultantService } from '../../services/consultants.ts';
import { bearer, body, createRoute, errors, json, router, z } from '../openapi.ts';
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
  consultants: ConsultantService;
  isOnline(id: string): boolean;
}

export function consultantRoutes(deps: ConsultantDeps) {
  const r = router();
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

  r.openapi(list, async (c) => c.json((await deps.consultants.list()).map(view), 200));
  r.openapi(create, async (c) => c.json(view(await deps.consultants.create(c.var.user, c.req.valid('json'))), 201));
  r.openapi(patch, async (c) => {
    const updated = await deps.consultants.update(c.var.user, c.req.valid('param').id, c.req.valid('json'));
    return c.json(view(updated), 200);
  });
  return r;
}
