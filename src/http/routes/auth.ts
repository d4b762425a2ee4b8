/**
 * `POST /api/auth/login`, `POST /api/auth/logout` and `GET /api/auth/me`.
 */
import type { AuthService } from '../../services/auth.ts';
import { ApiError } from '../errors.ts';
import { bearer, body, createRoute, errors, json, router, z } from '../openapi.ts';
import { UserSchema } from './schemas.ts';

const LoginBody = z.object({
  email: z.string().trim().toLowerCase().email().max(254),
  password: z.string().min(1).max(200),
});

const login = createRoute({
  method: 'post',
  path: '/login',
  tags: ['auth'],
  request: body(LoginBody),
  responses: {
    200: json(z.object({ token: z.string(), user: UserSchema }), 'Signed in'),
    400: errors[400],
    401: errors[401],
    422: errors[422],
    429: errors[429],
  },
});

const me = createRoute({
  method: 'get',
  path: '/me',
  tags: ['auth'],
  security: bearer,
  responses: { 200: json(UserSchema, 'The signed-in user'), 401: errors[401] },
});

const logout = createRoute({
  method: 'post',
  path: '/logout',
  tags: ['auth'],
  security: bearer,
  responses: { 204: { description: 'This token is revoked; its open connections are closed' }, 401: errors[401] },
});

export function authRoutes(deps: { auth: AuthService }) {
  const r = router();
  r.openapi(login, async (c) => {
    const { email, password } = c.req.valid('json');
    try {
      return c.json(await deps.auth.login(email, password, c.var.clientIp), 200);
    } catch (err) {
      if (err instanceof ApiError) c.var.log.info({ email, code: err.code }, 'login refused');
      throw err;
    }
  });
  r.openapi(logout, async (c) => {
    await deps.auth.logout(c.var.session);
    return c.body(null, 204);
  });
  r.openapi(me, (c) => c.json(c.var.user, 200));
  return r;
}
