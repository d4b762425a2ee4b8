/**
 * Reading a request's session: the bearer token, or the web app's session cookie, checked by the
 * sessions service. Which routes need a session and which roles is declared in ./policies.ts and
 * enforced by ./policy.ts, not here.
 *
 * @example
 * const session = await sessionOf(c, sessions); // throws ApiError 401
 */
import type { Context } from 'hono';
import { ApiError } from './errors.ts';
import { sessionCookie } from './session-cookie.ts';
import type { Session, Sessions } from '../services/sessions.ts';

export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m?.[1];
}

/**
 * The token a request presents: `Authorization: Bearer` (API clients), else the web app's httpOnly
 * session cookie, which also serves EventSource and server-rendered pages. A token in the URL is
 * never read (it would end up in logs and browser history). CSRF: see csrf.ts.
 */
export function requestToken(c: Context): string | undefined {
  return bearerToken(c.req.header('authorization')) ?? sessionCookie(c.req.header('cookie'));
}

export async function sessionOf(c: Context, sessions: Sessions): Promise<Session> {
  const token = requestToken(c);
  if (!token) throw new ApiError(401, 'unauthorized', 'Sign in first', undefined, { 'WWW-Authenticate': 'Bearer' });
  return sessions.authenticate(token);
}
