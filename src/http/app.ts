/**
 * The Hono application: hardening middleware, then one sub-app per resource, then the web app.
 *
 * @example
 * const app = createApp(deps);
 * const res = await app.request('/health'); // 200 {"status":"ok"}
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import type { Sql } from '../db/client.ts';
import type { Consultant } from '../db/consultants.ts';
import type { Logger } from '../log.ts';
import { requireAuth, type Auth, type UserLookup } from './auth.ts';
import { ApiError, errorBody, toErrorResponse } from './errors.ts';
import type { createMetrics } from './metrics.ts';
import { createLoginThrottle } from './rate-limit.ts';
import { useHardening } from './hardening.ts';
import { authRoutes } from './routes/auth.ts';
import { consultantRoutes } from './routes/consultants.ts';
import { actorRoutes } from './routes/actors.ts';
import { analyticsRoutes } from './routes/analytics.ts';
import { AnalyticsService } from '../services/analytics.ts';
import { leadRoutes } from './routes/leads.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import type { NotificationBus } from './notification-bus.ts';
import type { LeadPipeline } from '../services/lead-pipeline.ts';
import type { LeadService } from '../services/leads.ts';
import type { ActorSystem } from '../actors/runtime.ts';
import { opsRoutes, type ReadinessChecks } from './routes/ops.ts';
import type { AppEnv } from './types.ts';

export { BODY_LIMIT_BYTES } from './hardening.ts';

export interface AppDeps {
  log: Logger;
  sql: Sql;
  auth: Auth;
  /** Who a token's subject is now (deactivated users lose access at once). */
  lookupUser: UserLookup;
  isProduction: boolean;
  frontendUrl: string | undefined;
  rateLimitPerMinute: number;
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

  useHardening(app, deps);

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

  app.route('/api/webhooks', webhookRoutes({ secret: deps.webhookSecret, pipeline: deps.pipeline }));
  app.route('/api/leads', leadRoutes({ leads: deps.leads, requireAuth: authenticated }));
  app.route(
    '/api/notifications',
    notificationRoutes({
      sql: deps.sql,
      bus: deps.bus,
      requireAuth: authenticated,
      requireStreamAuth: requireAuth(deps.auth, deps.lookupUser, { streamToken: true }),
    }),
  );
  app.route('/api/analytics', analyticsRoutes({ analytics: new AnalyticsService({ sql: deps.sql }), requireAuth: authenticated }));
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
