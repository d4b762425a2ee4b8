/**
 * Route policies: who may call each route, declared once per route in ./policies.ts and enforced
 * by one middleware in front of every route. A registered route without a policy stops createApp
 * (and fails test/route-policy.test.ts); a request that reaches one anyway is refused.
 *
 * @example
 * // src/http/policies.ts
 * 'GET /api/analytics/summary': roles('ADMIN', 'MANAGER'),
 */
import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { ROLES, type Role } from '../domain/roles.ts';
import type { Sessions } from '../services/sessions.ts';
import { bearerToken, sessionOf } from './auth.ts';
import { ApiError } from './errors.ts';
import type { AppEnv } from './types.ts';

export type Policy =
  /** No session needed (pages, login, health, the API description). */
  | { kind: 'anyone' }
  /** A valid session of one of `roles` (bearer token or the web app's cookie, EventSource included). */
  | { kind: 'session'; roles: readonly Role[] }
  /** No session: the route itself checks the HMAC signature first and answers 401 without it. */
  | { kind: 'signed-webhook' }
  /** Bearer METRICS_TOKEN when set; with none, open in development and off (404) in production. */
  | { kind: 'metrics-token' };

export const anyone: Policy = { kind: 'anyone' };
export const signedIn: Policy = { kind: 'session', roles: ROLES };
export const roles = (...allowed: Role[]): Policy => ({ kind: 'session', roles: allowed });
export const signedWebhook: Policy = { kind: 'signed-webhook' };
export const metricsToken: Policy = { kind: 'metrics-token' };

/** Keyed by `METHOD /path` as Hono registers it (`GET /api/leads/:id`). */
export type PolicyTable = Readonly<Record<string, Policy>>;

export const routeKey = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

/** The routes that answer requests: Hono's middleware (and `app.all` fallbacks) register as ALL. */
export function endpoints(routes: readonly { method: string; path: string }[]): string[] {
  return [...new Set(routes.filter((r) => r.method !== 'ALL').map((r) => routeKey(r.method, r.path)))];
}

/** Throws naming every registered route that has no policy. */
export function assertEveryRouteHasPolicy(routes: readonly { method: string; path: string }[], table: PolicyTable): void {
  const missing = endpoints(routes).filter((k) => !table[k]);
  if (missing.length > 0) throw new Error(`routes without a policy (add them to src/http/policies.ts): ${missing.join(', ')}`);
}

/** What a policy answers to a caller: let through, 401, 403 or 404. For the policy test and docs. */
export function expectedStatus(policy: Policy, who: Role | 'anonymous'): 'allowed' | 401 | 403 {
  switch (policy.kind) {
    case 'anyone':
      return 'allowed';
    case 'session':
      if (who === 'anonymous') return 401;
      return policy.roles.includes(who) ? 'allowed' : 403;
    case 'signed-webhook':
    case 'metrics-token':
      // A user's session grants neither: both want their own credential.
      return 401;
  }
}

export interface PolicyDeps {
  policies: PolicyTable;
  sessions: Sessions;
  metricsToken: string | undefined;
  isProduction: boolean;
}

export function enforcePolicies(d: PolicyDeps): MiddlewareHandler<AppEnv> {
  const metricsKey = d.metricsToken ? Buffer.from(d.metricsToken) : undefined;
  return async (c, next) => {
    const endpoint = matchedRoutes(c).find((r) => r.method !== 'ALL');
    // Nothing answers this path: the 404 handlers do, and need no session.
    if (!endpoint) return next();
    const policy = d.policies[routeKey(endpoint.method, endpoint.path)];
    if (!policy) throw new Error(`no policy for ${routeKey(endpoint.method, endpoint.path)}`);
    switch (policy.kind) {
      case 'anyone':
      case 'signed-webhook':
        return next();
      case 'metrics-token': {
        if (!metricsKey) {
          if (d.isProduction) throw new ApiError(404, 'not_found', 'No such route');
          return next();
        }
        const given = Buffer.from(bearerToken(c.req.header('authorization')) ?? '');
        if (given.length !== metricsKey.length || !timingSafeEqual(given, metricsKey)) {
          throw new ApiError(401, 'unauthorized', 'Metrics need the metrics token', undefined, { 'WWW-Authenticate': 'Bearer' });
        }
        return next();
      }
      case 'session': {
        const session = await sessionOf(c, d.sessions);
        if (!policy.roles.includes(session.user.role)) throw new ApiError(403, 'forbidden', 'Your role may not do this');
        c.set('user', session.user);
        c.set('session', session);
        c.set('log', c.get('log').child({ userId: session.user.id }));
        return next();
      }
    }
  };
}
