/**
 * Rate limits for lead webhooks. Signed traffic is limited per sender key (a campaign's leads come
 * from one lead provider, often from one address), apart from the per-client limit that guards
 * everything else; a request that only claims to be signed (its signature fails) is charged to the
 * per-client limit like any unsigned one.
 *
 * @example
 * const clientLimit = rateLimit({ perMinute: 200 });
 * app.use(unlessSignedWebhook(clientLimit));
 * const senders = senderRateLimit({ perMinute: 60_000 });
 * await senders.consume(senderKey(secret)); // throws 429 past the limit
 */
import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { ApiError } from './errors.ts';
import { memoryLimiters, type MakeLimiter } from './rate-limit.ts';
import type { AppEnv } from './types.ts';

export const WEBHOOK_PATH = '/api/webhooks/leads';

/** A request that carries webhook signature headers; whether they hold is checked by the route. */
export function claimsSignedWebhook(c: Context): boolean {
  return c.req.path === WEBHOOK_PATH && c.req.header('x-webhook-signature') !== undefined;
}

/** Applies `limit` to everything but requests that claim a webhook signature (the route charges those). */
export function unlessSignedWebhook(limit: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> {
  return (c, next) => (claimsSignedWebhook(c) ? next() : limit(c, next));
}

/** Charges the per-client limit from inside a route (throws its 429 when over). */
export async function chargeClient(limit: MiddlewareHandler<AppEnv>, c: Context<AppEnv>): Promise<void> {
  await limit(c, async () => {});
}

/** A sender's key id: a short hash of its secret (the secret itself never becomes a map key or a log field). */
export function senderKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 16);
}

export function senderRateLimit(opts: { perMinute: number; limiters?: MakeLimiter | undefined }) {
  const limiter = (opts.limiters ?? memoryLimiters)({ keyPrefix: 'webhook-sender', points: opts.perMinute, duration: 60 });
  return {
    async consume(key: string): Promise<void> {
      try {
        await limiter.consume(key);
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res;
        const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
        throw new ApiError(429, 'rate_limited', 'Too many webhooks from this sender, slow down', { retry_after_seconds: retryAfter }, {
          'Retry-After': String(retryAfter),
        });
      }
    },
  };
}
