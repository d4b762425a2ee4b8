/**
 * The web app's session: the JWT from sign-in, kept in an httpOnly, SameSite=Strict cookie that
 * page scripts cannot read (Secure in production). API clients keep using `Authorization: Bearer`.
 *
 * @example
 * setSessionCookie(c, token, { secure: isProduction, maxAgeSeconds: 3600 });
 * const token = sessionCookie(c.req.header('cookie'));
 */
import type { Context } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';

export const SESSION_COOKIE = 'livia_session';

export function setSessionCookie(c: Context, token: string, opts: { secure: boolean; maxAgeSeconds: number }): void {
  setCookie(c, SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'Strict',
    secure: opts.secure,
    maxAge: opts.maxAgeSeconds,
  });
}

export function clearSessionCookie(c: Context, opts: { secure: boolean }): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'Strict', secure: opts.secure });
}

/** The session token in a raw `Cookie` header (HTTP requests and the Socket.io handshake alike). */
export function sessionCookie(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    try {
      return value === '' ? undefined : decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
