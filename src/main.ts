/**
 * Composition root: config → database → migrations → jobs → actors → pipeline → HTTP. The one
 * place that reads the environment and wires modules together; each part lives in src/boot/. Run
 * directly (`tsx src/main.ts`, `deno run -A src/main.ts`) it starts the server and shuts it down on
 * SIGTERM/SIGINT.
 *
 * @example
 * const server = await startServer({ ...process.env, PORT: '0' });
 * await fetch(`${server.url}/health`);
 * await server.stop();
 */
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Server as SocketServer } from 'socket.io';
import { loadConfig, type Config, type Env } from './config.ts';
import type { Sql } from './db/client.ts';
import { poolUsage } from './db/bootstrap.ts';
import { queueDepths, startJobs, stopJobs, type PgBoss } from './db/jobs.ts';
import { createApp } from './http/app.ts';
import { createMetrics, registerIntakeMetrics } from './http/metrics.ts';
import { registerActorMetrics } from './http/actor-metrics.ts';
import { registerCrossInstanceMetrics } from './http/cross-instance-metrics.ts';
import { NotificationBus } from './http/notification-bus.ts';
import type { AppEnv } from './http/types.ts';
import { isOnline } from './actors/consultant.machine.ts';
import type { ActorSystem } from './actors/runtime.ts';
import { createLogger, type Logger } from './log.ts';
import { exitOnFatalErrors } from './fatal.ts';
import { ConsultantService } from './services/consultants.ts';
import type { Sessions } from './services/sessions.ts';
import { startActors } from './boot/actors.ts';
import { checkInstances, consultantPresence, createOwnership, linkForwarding, sessionLease, startOwnership } from './boot/ownership.ts';
import { onConsultantChanged } from './boot/consultant-changes.ts';
import { pushConversationById } from './boot/conversation-push.ts';
import { openDatabase } from './boot/database.ts';
import { ensureFirstAdmin } from './services/first-admin.ts';
import { firstStartBanner } from './startup-banner.ts';
import { closer, listen, loadWeb, SHUTDOWN_BUDGET_MS } from './boot/http-server.ts';
import type { Hub } from './boot/hub.ts';
import { wireLivia } from './boot/livia.ts';
import { buildPipeline } from './boot/pipeline.ts';
import { readinessChecks } from './boot/readiness.ts';
import { startRealtime } from './boot/realtime.ts';
import { startCrossInstance } from './boot/cross-instance.ts';
import { createSocketAdapter } from './db/socket-adapter.ts';
import { batchedPostgresLimiters, postgresLimiters } from './db/rate-limit-store.ts';
import { startSessions } from './boot/sessions.ts';
import { runUntilSignal } from './boot/signals.ts';
import { Teardown } from './boot/teardown.ts';
import { createWhatsApp, loadWhatsAppDriver } from './boot/whatsapp.ts';
import type { WhatsAppService } from './services/whatsapp/service.ts';
import type { SimulatorDriver } from './actors/whatsapp/simulator-driver.ts';

export interface RunningServer {
  url: string;
  port: number;
  config: Config;
  sql: Sql;
  boss: PgBoss;
  io: SocketServer;
  system: ActorSystem;
  whatsapp: WhatsAppService;
  sessions: Sessions;
  app: OpenAPIHono<AppEnv>;
  log: Logger;
  databaseUrl: string;
  stop(): Promise<void>;
}

export async function startServer(env: Env): Promise<RunningServer> {
  const log = createLogger(env.LOG_LEVEL ?? 'info');
  // Generated secrets are shown once in the start-up banner, never in a log line.
  const generated = new Map<string, string>();
  const config = await loadConfig(env, (what, value) => {
    generated.set(what, value);
    log.warn({ generated: what }, `${what} was not set; generated one and saved it in DATA_DIR/secrets.json`);
  });
  log.level = config.logLevel;
  const teardown = new Teardown(log);
  const hub: Hub = { shuttingDown: false };
  try {
    const { sql, databaseUrl, embedded, monitor, timeouts } = await openDatabase(config, log, teardown);
    const boss = await startJobs({ url: databaseUrl, log, queues: [] });
    teardown.push(() => stopJobs(boss), 'pg-boss');
    const firstAdmin = await ensureFirstAdmin(sql, { email: config.adminEmail, password: config.adminPassword });
    if (firstAdmin) log.info({ email: firstAdmin.email, generatedPassword: !!firstAdmin.generatedPassword }, 'created the first administrator');

    // Socket.io's Postgres adapter and the rate limits share a small pg pool: every instance on
    // this database sees the same rooms and counts against the same limits.
    const shared = createSocketAdapter({ url: databaseUrl, log });
    teardown.push(() => shared.close(), 'Socket.io adapter pool');
    const limiters = postgresLimiters({ pool: shared.pool, databaseAvailable: () => monitor.isUp });
    // Several instances: leases say who owns each WhatsApp session and where each actor lives.
    await checkInstances(sql, config, log);
    const own = createOwnership({ sql, boss, log, config });
    const { sessions, auth } = await startSessions({ sql, config, log, teardown, limiters });
    const waDriver = await loadWhatsAppDriver({ config, sql, log });
    let whatsapp!: WhatsAppService;
    let livia!: ReturnType<typeof wireLivia>;
    const system = await startActors({
      sql, boss, log, config, hub, teardown, homes: own.homes,
      beforeStart: (system) => {
        own.attach(system);
        livia = wireLivia({ config, sql, system, log, hub, whatsapp: () => whatsapp });
        whatsapp = createWhatsApp({
          sql, system, log, config, hub, loaded: waDriver, teardown, conversations: livia,
          owns: (s) => own.leases.holds(sessionLease(s)),
          owners: () => own.sessionOwners(config.whatsapp.sessions),
          remote: { call: (s, op, args, o) => own.forwarding.call(sessionLease(s), op, args, o), handle: (op, fn) => own.forwarding.handle(op, fn) },
        });
      },
    });
    const consultantOnline = consultantPresence({ sql, system, log, teardown, isOnline: (s) => isOnline(s as never) });
    const metrics = createMetrics({
      instance: config.instanceId,
      pool: { max: config.dbPoolMax, read: () => poolUsage(sql) },
      connections: () => ({ socket: sessions.live.count('socket'), sse: sessions.live.count('sse') }),
      queues: () => queueDepths(boss),
    });
    const bus = new NotificationBus();
    const { pipeline, leads } = buildPipeline({ sql, databaseUrl, boss, log, config, system, bus, hub, teardown, observeStep: metrics.observeStep, timeouts, isOnline: consultantOnline });
    const cross = await startCrossInstance({ config, sql, databaseUrl, log, teardown, sessions, bus, whatsapp, adapter: shared, boot: own.boot });
    linkForwarding(own, cross.broadcast);
    await whatsapp.start();
    // Wins the leases it can: opens those sessions, redelivers Lívia's stored messages, drops dead presence.
    await startOwnership(own, { sql, system, log, config, sessions: config.whatsapp.sessions, whatsapp, livia, teardown });
    registerActorMetrics(metrics.registry, { sql, system });
    registerIntakeMetrics(metrics.registry, pipeline);
    registerCrossInstanceMetrics(metrics.registry, { adapter: shared, broadcast: cross.broadcast, forwarding: own.forwarding });

    const app = createApp({
      log,
      sql,
      sessions,
      auth,
      consultants: new ConsultantService({ sql, onChanged: onConsultantChanged({ system, hub, sessions }) }),
      metricsToken: config.metricsToken,
      isProduction: config.isProduction,
      frontendUrl: config.frontendUrl,
      rateLimitPerMinute: config.rateLimitPerMinute,
      limiters,
      senderLimiters: batchedPostgresLimiters({ pool: shared.pool, log }),
      webhookRateLimitPerMinute: config.webhookRateLimitPerMinute,
      trustProxyHops: config.trustProxyHops,
      metrics,
      isShuttingDown: () => hub.shuttingDown,
      isOnline: consultantOnline,
      system,
      webhookSecret: config.webhookSecret,
      pipeline,
      leads,
      bus,
      web: await loadWeb(config.uiDir, log),
      checks: readinessChecks({ sql, boss, system, config, monitor, whatsapp, intake: pipeline }),
      whatsapp,
      simulator: waDriver.driver?.name === 'simulator' ? (waDriver.driver as SimulatorDriver) : undefined,
      databaseAvailable: () => monitor.isUp,
      requestDeadlineMs: config.requestDeadlineMs,
      liveness: () => (monitor.isUp ? { status: 'ok' } : { status: 'unavailable', database: monitor.state }),
      // A CSV export holds a pool connection while it streams: a quarter of the pool at most.
      maxExports: Math.max(1, Math.floor(config.dbPoolMax / 4)),
      conversationChanged: (id) => void pushConversationById(sql, hub, id).catch((err) => log.warn({ err }, 'pushing conversation:updated failed')),
    });

    // Everything is running before the port opens: a 200 from /ready means fully started.
    await pipeline.start();
    const server = await listen(app.fetch, config.port, config.host);
    const port = (server.address() as AddressInfo).port;
    teardown.push(closer(server), 'HTTP server');
    const io = startRealtime(server, { sessions, log, config, system, hub, teardown, adapter: shared.factory, onClose: () => bus.close(), sql, instance: { instanceId: own.instanceId, boot: own.boot }, broadcast: cross.broadcast });
    log.info({ port, embedded }, `Lívia listening on http://localhost:${port}`);
    const banner = firstStartBanner({ port, env, nodeEnv: config.nodeEnv, firstAdmin, generated });
    if (banner) process.stdout.write(banner);

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        hub.shuttingDown = true;
        log.info('shutting down');
        // Inside the signal handler's budget, with time left to exit.
        await teardown.run({ budgetMs: SHUTDOWN_BUDGET_MS - 1500 });
        log.info('stopped');
      })());
    return { url: `http://127.0.0.1:${port}`, port, config, sql, boss, io, system, whatsapp, sessions, app, log, databaseUrl, stop };
  } catch (err) {
    await teardown.run();
    throw err;
  }
}

/** Runs the server as a program until SIGTERM/SIGINT (`npm start` comes here via scripts/start.mjs). */
export function main(): Promise<void> {
  exitOnFatalErrors(createLogger('info'));
  return runUntilSignal(() => startServer(process.env));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
