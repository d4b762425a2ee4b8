/**
 * Failing fast while the database cannot take work. Two middlewares for the API:
 *
 * - `databaseGate`: while the database monitor says PostgreSQL is unreachable, requests are
 *   answered 503 with `Retry-After` at once, without touching the pool (whose queue would
 *   otherwise grow with every request during an outage).
 * - `requestDeadline`: a request still waiting after the deadline is answered 503 with
 *   `Retry-After`. It bounds what the statement timeout cannot: a stalled network, where no
 *   answer (not even an error) comes back from the server.
 *
 * @example
 * app.use('/api/*', databaseGate(() => monitor.isUp));
 * app.use('/api/*', requestDeadline(6000));
 */
import type { MiddlewareHandler } from 'hono';
import { RETRY_AFTER_SECONDS } from '../db/faults.ts';
import { ApiError } from './errors.ts';
import type { AppEnv } from './types.ts';

/** Routes that never need the database: the API's own description. */
const NO_DATABASE = new Set(['/api/openapi.json', '/api/docs', '/api/docs.js']);

export function unavailable(message = 'The database is unavailable right now; try again shortly'): ApiError {
  return new ApiError(503, 'service_unavailable', message, { retry_after_seconds: RETRY_AFTER_SECONDS }, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
}

export function databaseGate(isUp: () => boolean): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!isUp() && !NO_DATABASE.has(c.req.path)) throw unavailable();
    await next();
  };
}

export function requestDeadline(ms: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), ms);
    });
    // The handler goes on after we answer (a query cannot be taken back); whatever it ends with
    // then is dropped here, never left as an unhandled rejection.
    const handled = next().then(
      () => 'done' as const,
      (err: unknown) => ({ err }),
    );
    try {
      const winner = await Promise.race([handled, expired]);
      if (winner === 'expired') {
        c.var.log?.warn({ path: c.req.path, ms }, 'request ran past its deadline; answered 503');
        throw unavailable();
      }
      if (winner !== 'done') throw winner.err;
    } finally {
      clearTimeout(timer);
    }
  };
}
