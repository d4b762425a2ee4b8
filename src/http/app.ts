/**
 * The Hono application: hardening middleware, then one sub-app per resource, then the web app.
 *
 * @example
 * const app = createApp(deps);
 * const res = await app.request('/health'); // 200 {"status":"ok"}
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { NONCE, secureHeaders } from 'hono/secure-headers';
import type { Sql } from '../db/client.ts';
import type { Consultant } from '../db/consultants.ts';
import type { Logger } from '../log.ts';
import { requireAuth, type Auth, type UserLookup } from './auth.ts';
import { ApiError, errorBody, toErrorResponse } from './errors.ts';
import type { createMetrics } from './metrics.ts';
import { createLoginThrottle, rateLimit, resolveClientIp } from './rate-limit.ts';
import { authRoutes } from './routes/auth.ts';
import { consultantRoutes } from './routes/consultants.ts';
import { actorRoutes } from './routes/actors.ts';
import { leadRoutes } from './routes/leads.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { unlessSignedWebhook } from './webhook-rate-limit.ts';
import type { NotificationBus } from './notification-bus.ts';
import type { LeadPipeline } from '../services/lead-pipeline.ts';
import type { LeadService } from '../services/leads.ts';
import { NotificationService } from '../services/notifications.ts';
import type { ActorSystem } from '../actors/runtime.ts';
import { opsRoutes, type ReadinessChecks } from './routes/ops.ts';
import type { AppEnv } from './types.ts';

export const BODY_LIMIT_BYTES = 10 * 1024 * 1024;

export interface AppDeps {
  log: Logger;
  sql: Sql;
  auth: Auth;
  /** Who a token's subject is now (deactivated users lose access at once). */
  lookupUser: UserLookup;
  isProduction: boolean;
  frontendUrl: string | undefined;
  rateLimitPerMinute: number;
  /** Signed webhooks per minute per sender key. */
  webhookRateLimitPerMinute: number;
  /** Reverse proxies in front of us whose X-Forwarded-For entries are trusted (0: none). */
  trustProxyHops: number;
  metrics: ReturnType<typeof createMetrics>;
  checks: ReadinessChecks;
  isShuttingDown(): boolean;
  isOnline(consultantId: string): boolean;
  system: ActorSystem;
  webhookSecret: string;
  pipeline: LeadPipeline;
  leads: LeadService;
  bus: NotificationBus;
  onConsultantChanged(c: Consultant): void | Promise<void>;
  /** The web app (static files and Qwik City SSR), mounted after every API route. */
  web?: Hono | undefined;
}

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

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
            imgSrc: ["'self'", 'data:'],
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
  app.use(
    '/api/*',
    cors({
      // Production: only the configured front end (none means same origin only). Development: any.
      origin: deps.isProduction ? (origin) => (deps.frontendUrl && origin === deps.frontendUrl ? origin : null) : '*',
      allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Webhook-Timestamp', 'X-Webhook-Signature', 'Last-Event-ID'],
      allowMethods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
      exposeHeaders: ['X-Request-Id', 'Retry-After'],
      maxAge: 600,
    }),
  );
  app.use(resolveClientIp(deps.trustProxyHops));
  // Signed webhooks have a limit of their own per sender key (their route charges bad signatures here).
  const clientLimit = rateLimit({ perMinute: deps.rateLimitPerMinute });
  app.use(unlessSignedWebhook(clientLimit));
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

  const authenticated = requireAuth(deps.auth, deps.lookupUser);
  app.openAPIRegistry.registerComponent('securitySchemes', 'Bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });

  app.route(
    '/',
    opsRoutes({
      checks: deps.checks,
      isShuttingDown: deps.isShuttingDown,
      metrics: deps.metrics,
      openApiDocument: () =>
        app.getOpenAPIDocument({
          openapi: '3.0.3',
          info: { title: 'Lívia API', version: '1', description: 'WhatsApp-first lead CRM' },
        }),
    }),
  );
  app.route('/api/auth', authRoutes({ sql: deps.sql, auth: deps.auth, throttle: createLoginThrottle(), requireAuth: authenticated }));
  app.route(
    '/api/consultants',
    consultantRoutes({ sql: deps.sql, requireAuth: authenticated, isOnline: deps.isOnline, onChanged: deps.onConsultantChanged }),
  );

  app.route(
    '/api/webhooks',
    webhookRoutes({ secret: deps.webhookSecret, pipeline: deps.pipeline, perSenderPerMinute: deps.webhookRateLimitPerMinute, clientLimit }),
  );
  app.route('/api/leads', leadRoutes({ leads: deps.leads, requireAuth: authenticated }));
  app.route(
    '/api/notifications',
    notificationRoutes({
      notifications: new NotificationService({ sql: deps.sql, subscribe: (id, listener) => deps.bus.subscribe(id, listener) }),
      requireAuth: authenticated,
      requireStreamAuth: requireAuth(deps.auth, deps.lookupUser, { streamToken: true }),
    }),
  );
  app.route('/api', actorRoutes({ sql: deps.sql, system: deps.system, requireAuth: authenticated }));

  app.all('/api/*', () => {
    throw new ApiError(404, 'not_found', 'No such route');
  });
  if (deps.web) app.route('/', deps.web);

  app.notFound((c) => c.json(errorBody('not_found', 'No such route'), 404));
  app.onError((err, c) => {
    const res = toErrorResponse(c, err);
    if (res.status >= 500) (c.var.log ?? deps.log).error({ err }, 'unhandled error');
    return res;
  });
  return app;
}

function requestLog(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const child = log.child({ reqId: c.var.requestId });
    c.set('log', child);
    await next();
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const line = { method: c.req.method, path: c.req.path, status: c.res.status, ms };
    if (c.res.status >= 500) child.error(line, 'request');
    else child.info(line, 'request');
  };
}
