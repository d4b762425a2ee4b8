/**
 * The Hono application: hardening middleware, the route policies, then one sub-app per resource,
 * then the web app. Every route registered here must have a policy in ./policies.ts, or
 * createApp throws.
 *
 * @example
 * const app = createApp(deps);
 * const res = await app.request('/health'); // 200 {"status":"ok"}
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono, MiddlewareHandler } from 'hono';
import type { Sql } from '../db/client.ts';
import type { ActorSystem } from '../actors/runtime.ts';
import type { AuthService } from '../services/auth.ts';
import type { ConsultantService } from '../services/consultants.ts';
import type { LeadPipeline } from '../services/lead-pipeline.ts';
import type { LeadService } from '../services/leads.ts';
import { NotificationService } from '../services/notifications.ts';
import type { Sessions } from '../services/sessions.ts';
import { csrfGuard } from './csrf.ts';
import { ApiError, errorBody, toErrorResponse } from './errors.ts';
import { useHardening, type HardeningDeps } from './hardening.ts';
import type { MakeLimiter } from './rate-limit.ts';
import type { createMetrics } from './metrics.ts';
import type { NotificationBus } from './notification-bus.ts';
import { ROUTE_POLICIES } from './policies.ts';
import { assertEveryRouteHasPolicy, enforcePolicies, type PolicyTable } from './policy.ts';
import { actorRoutes } from './routes/actors.ts';
import { analyticsRoutes } from './routes/analytics.ts';
import { AnalyticsService } from '../services/analytics.ts';
import { authRoutes } from './routes/auth.ts';
import { consultantRoutes } from './routes/consultants.ts';
import { leadRoutes } from './routes/leads.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { opsRoutes, type Liveness, type ReadinessChecks } from './routes/ops.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { whatsappRoutes } from './routes/whatsapp.ts';
import { simulatorRoutes } from './routes/simulator.ts';
import { conversationRoutes } from './routes/conversations.ts';
import { customerRoutes } from './routes/customers.ts';
import { ConversationService } from '../services/conversations.ts';
import { CustomerDataService } from '../services/customer-data.ts';
import type { WhatsAppService } from '../services/whatsapp/service.ts';
import type { SimulatorDriver } from '../actors/whatsapp/simulator-driver.ts';
import type { AppEnv } from './types.ts';

export { BODY_LIMIT_BYTES } from './hardening.ts';

export interface AppDeps extends HardeningDeps {
  sql: Sql;
  sessions: Sessions;
  auth: AuthService;
  consultants: ConsultantService;
  /** Signed webhooks per minute per sender key. */
  webhookRateLimitPerMinute: number;
  metrics: ReturnType<typeof createMetrics>;
  /** Bearer token for /metrics; unset: open in development, off in production. */
  metricsToken: string | undefined;
  checks: ReadinessChecks;
  isShuttingDown(): boolean;
  isOnline(consultantId: string): boolean;
  system: ActorSystem;
  webhookSecret: string;
  pipeline: LeadPipeline;
  leads: LeadService;
  bus: NotificationBus;
  /** Where the per-sender webhook limit counts (a hot key: batched; default: `limiters`). */
  senderLimiters?: MakeLimiter | undefined;
  /** What `/health` reports (503 while the server cannot do its job). */
  liveness?: Liveness;
  /** The web app (static files and Qwik City SSR), mounted after every API route. */
  web?: Hono | undefined;
  whatsapp?: WhatsAppService | undefined;
  /** Set only when WHATSAPP_DRIVER=simulator (its routes answer 404 otherwise). */
  simulator?: SimulatorDriver | undefined;
  /** Defaults to ROUTE_POLICIES; tests may pass another table. */
  policies?: PolicyTable;
  /** CSV exports streaming at once (each holds a pool connection); default in AnalyticsService. */
  maxExports?: number;
  /** A conversation changed outside its actor (an LGPD erasure): push its `conversation:updated`. */
  conversationChanged?: (id: string) => void;
}

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  const policies = deps.policies ?? ROUTE_POLICIES;
  const { clientLimit } = useHardening(app, deps);
  // Before any session is read: a cookie-authenticated mutation from another site stops here.
  app.use('/api/*', csrfGuard({ allowedOrigins: deps.frontendUrl ? [deps.frontendUrl] : [] }));
  app.use(enforcePolicies({ policies, sessions: deps.sessions, metricsToken: deps.metricsToken, isProduction: deps.isProduction }));
  mountApi(app, deps, clientLimit);
  app.all('/api/*', () => {
    throw new ApiError(404, 'not_found', 'No such route');
  });
  if (deps.web) {
    // Server-side page loaders call the API in process, with the page request's cookie and client.
    app.use('*', async (c, next) => {
      c.set('internalApi', (request: Request) => app.fetch(request, c.env));
      await next();
    });
    app.route('/', deps.web);
  }
  assertEveryRouteHasPolicy(app.routes, policies);

  app.notFound((c) => c.json(errorBody('not_found', 'No such route'), 404));
  app.onError((err, c) => {
    const res = toErrorResponse(c, err);
    // 503 is the database being away or busy (logged once by the monitor), not a bug of ours.
    if (res.status === 503) (c.get('log') ?? deps.log).debug({ err: (err as Error)?.message }, 'refused: database unavailable');
    else if (res.status >= 500) (c.get('log') ?? deps.log).error({ err }, 'unhandled error');
    return res;
  });
  return app;
}

/** One sub-app per resource. A new one needs its routes' policies in ./policies.ts. */
function mountApi(app: OpenAPIHono<AppEnv>, deps: AppDeps, clientLimit: MiddlewareHandler<AppEnv>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'Bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  const openApiDocument = () =>
    app.getOpenAPIDocument({ openapi: '3.0.3', info: { title: 'Lívia API', version: '1', description: 'WhatsApp-first lead CRM' } });
  app.route('/', opsRoutes({ checks: deps.checks, isShuttingDown: deps.isShuttingDown, liveness: deps.liveness, metrics: deps.metrics, openApiDocument }));
  app.route('/api/auth', authRoutes({ auth: deps.auth, secureCookie: deps.isProduction }));
  app.route('/api/consultants', consultantRoutes({ consultants: deps.consultants, isOnline: deps.isOnline }));
  app.route(
    '/api/webhooks',
    webhookRoutes({ secret: deps.webhookSecret, pipeline: deps.pipeline, perSenderPerMinute: deps.webhookRateLimitPerMinute, clientLimit, limiters: deps.senderLimiters ?? deps.limiters }),
  );
  app.route('/api/leads', leadRoutes({ leads: deps.leads }));
  const notifications = new NotificationService({ sql: deps.sql, subscribe: (id, listener) => deps.bus.subscribe(id, listener) });
  app.route('/api/notifications', notificationRoutes({ notifications, live: deps.sessions.live }));
  app.route('/api/analytics', analyticsRoutes({ analytics: new AnalyticsService({ sql: deps.sql, ...(deps.maxExports ? { maxExports: deps.maxExports } : {}) }) }));
  app.route('/api', actorRoutes({ sql: deps.sql, system: deps.system }));
  app.route('/api/conversations', conversationRoutes({ conversations: new ConversationService({ sql: deps.sql, system: deps.system }) }));
  app.route('/api/customers', customerRoutes({ customers: new CustomerDataService({
        sql: deps.sql,
        system: deps.system,
        erased: async () => deps.whatsapp?.reloadIndex(),
        ...(deps.conversationChanged ? { conversationChanged: deps.conversationChanged } : {}),
      }) }));
  if (deps.whatsapp) {
    app.route('/api/whatsapp', whatsappRoutes({ whatsapp: deps.whatsapp }));
    app.route('/api/simulator', simulatorRoutes({ simulator: deps.simulator, sessions: deps.whatsapp.sessions }));
  }
}
