/**
 * Routers that validate with zod and describe themselves in the OpenAPI document.
 *
 * @example
 * const r = router();
 * r.openapi(createRoute({ method: 'get', path: '/x', responses: { 200: json(Schema, 'ok') } }), handler);
 */
import { OpenAPIHono, z } from '@hono/zod-openapi';
import { validationError } from './errors.ts';
import type { AppEnv } from './types.ts';

export { createRoute, z } from '@hono/zod-openapi';

export function router(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error);
    },
  });
}

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_failed' }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { content: { 'application/json': { schema } }, description };
}

export function body<T extends z.ZodType>(schema: T) {
  return { body: { content: { 'application/json': { schema } }, required: true } };
}

export const errors = {
  400: json(ErrorSchema, 'Malformed JSON'),
  401: json(ErrorSchema, 'Not signed in, or the token is invalid or expired'),
  403: json(ErrorSchema, 'Forbidden for this role'),
  404: json(ErrorSchema, 'Not found, or not visible to this user'),
  409: json(ErrorSchema, 'Conflict'),
  422: json(ErrorSchema, 'Validation failed; details lists each field'),
  429: json(ErrorSchema, 'Rate limited; see Retry-After'),
  503: json(ErrorSchema, 'The database is unavailable or too busy right now; retry after Retry-After seconds'),
} as const;

export const bearer = [{ Bearer: [] }];
