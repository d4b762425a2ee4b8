/**
 * `POST /api/auth/login`, `POST /api/auth/logout` and `GET /api/auth/me`.
 *
 * The web app signs in with `session: "cookie"`: the token then goes only into the httpOnly session
 * cookie, never into the answer, so no page script ever holds it.
 */
import type { MiddlewareHandler } from 'hono';
import type { Auth } from '../auth.ts';
import { findConsultantByEmail } from '../../db/consultants.ts';
import type { Sql } from '../../db/client.ts';
import { ApiError } from '../errors.ts';
import { clearSessionCookie, setSessionCookie } from '../session-cookie.ts';
import { bearer, body, createRoute, errors, json, router, z } from '../openapi.ts';
import type { LoginThrottle } from '../rate-limit.ts';
import type { AppEnv } from '../types.ts';
import { UserSchema } from './schemas.ts';

const LoginBody = z.object({
  email: z.string().trim().toLowerCase().email().max(254),
  password: z.string().min(1).max(200),
  session: z.enum(['token', 'cookie']).default('token'),
});

const login = createRoute({
  method: 'post',
  path: '/login',
  tags: ['auth'],
  request: body(LoginBody),
  responses: {
    200: json(z.object({ token: z.string().optional(), user: UserSchema }), 'Signed in (no token with session: "cookie")'),
    400: errors[400],
    401: errors[401],
    422: errors[422],
    429: errors[429],
  },
});

const logout = createRoute({
  method: 'post',
  path: '/logout',
  tags: ['auth'],
  security: bearer,
  responses: { 204: { description: 'Signed out; the session cookie is cleared' }, 401: errors[401] },
});

const me = createRoute({
  method: 'get',
  path: '/me',
  tags: ['auth'],
  security: bearer,
  responses: { 200: json(UserSchema, 'The signed-in user'), 401: errors[401] },
});

export function authRoutes(deps: {
  sql: Sql;
  auth: Auth;
  throttle: LoginThrottle;
  requireAuth: MiddlewareHandler<AppEnv>;
  /** Production: the session cookie is sent over HTTPS only. */
  secureCookie: boolean;
}) {
  const r = router();
  r.openapi(login, async (c) => {
    const { email, password, session } = c.req.valid('json');
    const ip = c.var.clientIp;
    await deps.throttle.check(email, ip);
    const user = await findConsultantByEmail(deps.sql, email);
    const ok = await deps.auth.checkPassword(password, user?.password_hash);
    if (!user || !ok || !user.active) {
      await deps.throttle.failed(email, ip);
      c.var.log.info({ email }, 'login failed');
      throw new ApiError(401, 'invalid_credentials', 'Wrong email or password');
    }
    await deps.throttle.succeeded(email);
    const publicUser = { id: user.id, name: user.name, email: user.email, role: user.role };
    const token = await deps.auth.sign(publicUser);
    if (session === 'cookie') {
      setSessionCookie(c, token, { secure: deps.secureCookie, maxAgeSeconds: deps.auth.ttlSeconds });
      return c.json({ user: publicUser }, 200);
    }
    return c.json({ token, user: publicUser }, 200);
  });
  r.use('/logout', deps.requireAuth);
  r.openapi(logout, (c) => {
    clearSessionCookie(c, { secure: deps.secureCookie });
    return c.body(null, 204);
  });
  r.use('/me', deps.requireAuth);
  r.openapi(me, (c) => c.json(c.var.user, 200));
  return r;
}
