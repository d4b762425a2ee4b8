/**
 * The middleware every request passes before any route: request id and log line, metrics,
 * security headers, CORS, the client address, the per-client rate limit, the body limit, and the
 * refusal of NUL characters PostgreSQL cannot store.
 *
 * @example
 * const app = new OpenAPIHono<AppEnv>();
 * useHardening(app, deps);
 */
import type { Hono, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { NONCE, secureHeaders } from 'hono/secure-headers';
import type { Logger } from '../log.ts';
import { ApiError, errorBody } from './errors.ts';
import { rateLimit, resolveClientIp, type MakeLimiter } from './rate-limit.ts';
import { databaseGate, requestDeadline } from './backpressure.ts';
import { unlessSignedWebhook } from './webhook-rate-limit.ts';
import type { AppEnv } from './types.ts';

export const BODY_LIMIT_BYTES = 10 * 1024 * 1024;
const CORS_EXPOSE = ['X-Request-Id', 'Retry-After'] as const;

export interface HardeningDeps {
  log: Logger;
  metrics: { middleware: MiddlewareHandler };
  isProduction: boolean;
  frontendUrl: string | undefined;
  rateLimitPerMinute: number;
  /** Where limits count (default: this process's memory; several instances: PostgreSQL). */
  limiters?: MakeLimiter | undefined;
  /** Reverse proxies in front of us whose X-Forwarded-For entries are trusted (0: none). */
  trustProxyHops: number;
  /** Whether the database answers now: API requests are refused (503) at once while it does not. */
  databaseAvailable?: (() => boolean) | undefined;
  /** A request still waiting for the database after this long is answered 503. */
  requestDeadlineMs?: number | undefined;
}

/** Returns the per-client rate limit, which the webhook route charges for signatures that fail. */
export function useHardening(app: Hono<AppEnv>, deps: HardeningDeps): { clientLimit: MiddlewareHandler<AppEnv> } {
  app.use(requestId({ headerName: 'X-Request-Id' }));
  app.use(requestLog(deps.log));
  app.use(deps.metrics.middleware);
  app.use(
    secureHeaders({
      // In development Vite and devtools need a looser page; production gets a strict policy.
      contentSecurityPolicy: deps.isProduction
        ? {
            defaultSrc: ["'self'"],
            scriptSrc: ["'self'", NONCE],
            styleSrc: ["'self'", "'unsafe-inline'"],
            // blob: the inbox shows WhatsApp media fetched with the bearer token (images, voice notes).
            imgSrc: ["'self'", 'data:', 'blob:'],
            mediaSrc: ["'self'", 'blob:'],
            connectSrc: ["'self'", ...(deps.frontendUrl ? [deps.frontendUrl] : [])],
            frameAncestors: ["'none'"],
            objectSrc: ["'none'"],
            baseUri: ["'self'"],
          }
        : undefined,
      strictTransportSecurity: deps.isProduction ? 'max-age=31536000; includeSubDomains' : false,
      crossOriginEmbedderPolicy: false,
    }),
  );
  const corsOrigin = deps.isProduction ? (origin: string) => (deps.frontendUrl && origin === deps.frontendUrl ? origin : null) : () => '*';
  const preflight = cors({
    // Production: only the configured front end (none means same origin only). Development: any.
    origin: deps.isProduction ? (origin) => corsOrigin(origin) : '*',
    allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Webhook-Timestamp', 'X-Webhook-Signature', 'Last-Event-ID'],
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    exposeHeaders: [...CORS_EXPOSE],
    maxAge: 600,
  });
  // Preflights go to Hono's cors. Other requests get the same headers set on the answer after the
  // route: Hono's cors sets them on `c.res` before the route, and a response that already exists
  // makes the route's own answer be merged into it, which turns the Node adapter's light response
  // into a full web Response read back through a ReadableStream (measured: most of the undici and
  // webstreams time of a lead webhook).
  app.use('/api/*', async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    const allowOrigin = corsOrigin(c.req.header('origin') || '');
    await next();
    const h = c.res.headers;
    if (allowOrigin) h.set('Access-Control-Allow-Origin', allowOrigin);
    h.set('Access-Control-Expose-Headers', CORS_EXPOSE.join(','));
    if (deps.isProduction) h.append('Vary', 'Origin');
  });
  app.use(resolveClientIp(deps.trustProxyHops));
  // Signed webhooks have a limit of their own per sender key (their route charges bad signatures here).
  const clientLimit = rateLimit({ perMinute: deps.rateLimitPerMinute, limiters: deps.limiters });
  app.use(unlessSignedWebhook(clientLimit));
  if (deps.databaseAvailable) app.use('/api/*', databaseGate(deps.databaseAvailable));
  if (deps.requestDeadlineMs) app.use('/api/*', requestDeadline(deps.requestDeadlineMs));
  const limitBody = bodyLimit({
    maxSize: BODY_LIMIT_BYTES,
    onError: (c) => c.json(errorBody('payload_too_large', 'The request body is over 10 MB'), 413),
  });
  // A declared Content-Length is checked as a number (Node's parser never reads past it); only a
  // chunked body is counted as it streams. Touching the body in a middleware would make the Node
  // adapter build a full Request for every call, which costs most of a fast route's time.
  app.use((c, next) => {
    if (c.req.header('transfer-encoding') !== undefined) return limitBody(c, next);
    const length = c.req.header('content-length');
    if (length !== undefined && Number(length) > BODY_LIMIT_BYTES) {
      return Promise.resolve(c.json(errorBody('payload_too_large', 'The request body is over 10 MB'), 413));
    }
    return next();
  });

  // PostgreSQL refuses NUL in text and jsonb: refuse it up front as invalid input, not a 500.
  app.use('/api/*', async (c, next) => {
    // Webhooks check their signature first and validate control characters themselves.
    const isWebhook = c.req.path.startsWith('/api/webhooks/');
    if (!isWebhook && ['POST', 'PATCH', 'PUT'].includes(c.req.method) && /json/i.test(c.req.header('content-type') ?? '')) {
      const text = await c.req.text();
      if (text.includes('\\u0000') || text.includes('\u0000')) {
        throw new ApiError(422, 'validation_failed', 'The request is not valid', [{ path: '', message: 'must not contain NUL characters' }]);
      }
    }
    await next();
  });
  return { clientLimit };
}

function requestLog(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const child = log.child({ reqId: c.get('requestId') });
    c.set('log', child);
    await next();
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const line = { method: c.req.method, path: c.req.path, status: c.res.status, ms };
    if (c.res.status >= 500 && c.res.status !== 503) child.error(line, 'request');
    else child.info(line, 'request');
  };
}
