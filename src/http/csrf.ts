/**
 * CSRF protection for requests authenticated by the session cookie: a state-changing request must
 * come from a page of this origin (or the configured front end). Browsers send `Origin` on every
 * cross-origin request and on every same-origin non-GET fetch, so a missing or foreign `Origin` on a
 * cookie-authenticated mutation is refused. Bearer-token requests are not affected: a browser never
 * attaches a bearer token on its own.
 *
 * @example
 * app.use('/api/*', csrfGuard({ allowedOrigins: [] }));
 */
import type { MiddlewareHandler } from 'hono';
import { bearerToken } from './auth.ts';
import { ApiError } from './errors.ts';
import { sessionCookie } from './session-cookie.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

/**
 * True when the request comes from a page of this server: its `Origin` names this host and port
 * (whatever the scheme, since a TLS-terminating proxy makes the request arrive as http://) or one
 * of the `allowed` origins; or, for a same-origin GET (which carries no `Origin`), the browser's
 * own `Sec-Fetch-Site: same-origin`.
 */
export function isSameOrigin(
  headers: { origin?: string | undefined; host?: string | undefined; secFetchSite?: string | undefined },
  allowed: readonly string[] = [],
): boolean {
  const { origin, host } = headers;
  if (origin === undefined) return headers.secFetchSite === 'same-origin';
  if (origin === 'null') return false;
  if (allowed.includes(origin)) return true;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  return host !== undefined && parsed.host.toLowerCase() === host.toLowerCase();
}

/**
 * Refuses (403 `csrf_rejected`) a state-changing request that carries the session cookie and no
 * bearer token unless it comes from this origin or `allowedOrigins`.
 *
 * @example
 * app.use('/api/*', csrfGuard({ allowedOrigins: frontendUrl ? [frontendUrl] : [] }));
 */
export function csrfGuard(opts: { allowedOrigins: readonly string[] }): MiddlewareHandler {
  return async (c, next) => {
    if (
      !isSafeMethod(c.req.method) &&
      bearerToken(c.req.header('authorization')) === undefined &&
      sessionCookie(c.req.header('cookie')) !== undefined &&
      !isSameOrigin({ origin: c.req.header('origin'), host: c.req.header('host'), secFetchSite: c.req.header('sec-fetch-site') }, opts.allowedOrigins)
    ) {
      throw new ApiError(403, 'csrf_rejected', 'A request with the session cookie must come from the web app');
    }
    await next();
  };
}
