/**
 * `POST /api/auth/login`, `POST /api/auth/logout` and `GET /api/auth/me`.
 *
 * The web app signs in with `session: "cookie"`: the token then goes only into the httpOnly session
 * cookie (see ../session-cookie.ts), never into the answer, so no page script ever holds it.
 */
import { decodeJwt } from 'jose';
import type { AuthService } from '../../services/auth.ts';
import { ApiError } from '../errors.ts';
import { clearSessionCookie, setSessionCookie } from '../session-cookie.ts';
import { bearer, body, createRoute, errors, json, router, z } from '../openapi.ts';
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
  responses: { 204: { description: 'This token is revoked, its open connections are closed and the session cookie cleared' }, 401: errors[401] },
});

export function authRoutes(deps: {
  auth: AuthService;
  /** Production: the session cookie is sent over HTTPS only. */
  secureCookie: boolean;
}) {
  const r = router();
  r.openapi(login, async (c) => {
    const { email, password, session } = c.req.valid('json');
    try {
      const signedIn = await deps.auth.login(email, password, c.var.clientIp);
      if (session === 'token') return c.json(signedIn, 200);
      // The cookie dies with the token it holds.
      const exp = decodeJwt(signedIn.token).exp;
      const maxAgeSeconds = exp ? Math.max(0, exp - Math.floor(Date.now() / 1000)) : 3600;
      setSessionCookie(c, signedIn.token, { secure: deps.secureCookie, maxAgeSeconds });
      return c.json({ user: signedIn.user }, 200);
    } catch (err) {
      if (err instanceof ApiError) c.var.log.info({ email, code: err.code }, 'login refused');
      throw err;
    }
  });
  r.openapi(logout, async (c) => {
    await deps.auth.logout(c.var.session);
    clearSessionCookie(c, { secure: deps.secureCookie });
    return c.body(null, 204);
  });
  r.openapi(me, (c) => c.json(c.var.user, 200));
  return r;
}
