/**
 * Response schemas shared by several routes, as they appear in the OpenAPI document.
 */
import { ROLES } from '../../domain/roles.ts';
import { z } from '../openapi.ts';

export const UserSchema = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    email: z.string(),
    role: z.enum(ROLES),
  })
  .openapi('User');

export const ConsultantSchema = UserSchema.extend({
  active: z.boolean(),
  max_open_leads: z.number().int(),
  open_leads: z.number().int(),
  online: z.boolean(),
  last_assigned_at: z.string().nullable(),
}).openapi('Consultant');

export const IdParam = z.object({
  id: z.string().uuid().openapi({ param: { name: 'id', in: 'path' } }),
});
