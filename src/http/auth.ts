/**
 * Reading a request's session: the bearer token (and, for EventSource, which cannot send headers,
 * the stream's other transports), checked by the sessions service. Which routes need a session and
 * which roles is declared in ./policies.ts and enforced by ./policy.ts, not here.
 *
 * @example
 * const session = await sessionOf(c, sessions, { stream: false }); // throws ApiError 401
 */
import type { Context } from 'hono';
import { ApiError } from './errors.ts';
import type { Session, Sessions } from '../services/sessions.ts';

export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m?.[1];
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/**
 * The token a request presents. `stream`: for EventSource, also the `access_token` query
 * parameter or the web app's `livia_token` cookie.
 */
export function requestToken(c: Context, opts: { stream?: boolean | undefined }): string | undefined {
  return (
    bearerToken(c.req.header('authorization')) ??
    (opts.stream ? (c.req.query('access_token') ?? cookieValue(c.req.header('cookie'), 'livia_token')) : undefined)
  );
}

export async function sessionOf(c: Context, sessions: Sessions, opts: { stream?: boolean | undefined }): Promise<Session> {
  const token = requestToken(c, opts);
  if (!token) throw new ApiError(401, 'unauthorized', 'Sign in first', undefined, { 'WWW-Authenticate': 'Bearer' });
  return sessions.authenticate(token);
}
