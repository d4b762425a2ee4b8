/**
 * Request rate limits, on rate-limiter-flexible. Limiters come from a `MakeLimiter`: in memory by
 * default (one process), or counted in PostgreSQL so every instance shares one limit
 * (src/db/rate-limit-store.ts).
 *
 * @example
 * app.use(rateLimit({ perMinute: 200, limiters: postgresLimiters({ pool }) }));
 */
import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { ApiError } from './errors.ts';
import type { AppEnv } from './types.ts';

/**
 * The client's address: the socket's peer, or behind `proxyHops` trusted reverse proxies the
 * address that many entries from the right of X-Forwarded-For (the left part is client-supplied
 * and could be forged).
 */
export function clientIp(c: Context, proxyHops = 0): string {
  let peer: string;
  try {
    peer = getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // app.request() in tests has no socket.
    peer = 'local';
  }
  if (proxyHops <= 0) return peer;
  const chain = (c.req.header('x-forwarded-for') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return chain[chain.length - proxyHops] ?? chain[0] ?? peer;
}

/** Resolves the client address once per request, for every limiter and log line after it. */
export function resolveClientIp(proxyHops: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set('clientIp', clientIp(c, proxyHops));
    await next();
  };
}

export { memoryLimiters, type Limiter, type LimiterOptions, type MakeLimiter } from '../services/limiters.ts';
import { memoryLimiters, type MakeLimiter } from '../services/limiters.ts';

function tooMany(res: RateLimiterRes, message: string): ApiError {
  const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  return new ApiError(429, 'rate_limited', message, { retry_after_seconds: retryAfter }, { 'Retry-After': String(retryAfter) });
}

export function rateLimit(opts: { perMinute: number; limiters?: MakeLimiter | undefined }): MiddlewareHandler<AppEnv> {
  const limiter = (opts.limiters ?? memoryLimiters)({ keyPrefix: 'client', points: opts.perMinute, duration: 60 });
  return async (c, next) => {
    try {
      const res = await limiter.consume(c.get('clientIp'));
      c.header('RateLimit-Limit', String(opts.perMinute));
      c.header('RateLimit-Remaining', String(res.remainingPoints));
    } catch (res) {
      if (res instanceof RateLimiterRes) throw tooMany(res, 'Too many requests, slow down');
      throw res;
    }
    await next();
  };
}
