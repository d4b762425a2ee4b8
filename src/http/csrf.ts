/**
 * CSRF protection for requests authenticated by the session cookie: a state-changing request must
 * come from a page of this origin (or the configured front end). Browsers send `Origin` on every
 * cross-origin request and on every same-origin non-GET fetch, so a missing or foreign `Origin` on a
 * cookie-authenticated mutation is refused. Bearer-token requests are not affected: a browser never
 * attaches a bearer token on its own.
 *
 * @example
 * if (!isSafeMethod(c.req.method) && !isSameOrigin(c.req.header('origin'), c.req.header('host'), allowed)) throw ...
 */

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

/**
 * True when `origin` names this server (same host and port, whatever the scheme, since a
 * TLS-terminating proxy makes the request arrive as http://) or one of the `allowed` origins.
 */
export function isSameOrigin(origin: string | undefined, host: string | undefined, allowed: readonly string[] = []): boolean {
  if (!origin || origin === 'null') return false;
  if (allowed.includes(origin)) return true;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  return host !== undefined && parsed.host.toLowerCase() === host.toLowerCase();
}
