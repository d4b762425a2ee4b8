/**
 * Composition root: config → database → migrations → jobs → actors → HTTP. The one place that
 * reads the environment and wires modules together. Run directly (`tsx src/main.ts`,
 * `deno run -A src/main.ts`) it starts the server and shuts it down on SIGTERM/SIGINT.
 *
 * @example
 * const server = await startServer({ ...process.env, PORT: '0' });
 * await fetch(`${server.url}/health`);
 * await server.stop();
 */
import type { AddressInfo } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { serve } from '@hono/node-server';
import type { Server as SocketServer } from 'socket.io';
import { ConfigError, loadConfig, type Config, type Env } from './config.ts';
import { createSql, type Sql } from './db/client.ts';
import { countConsultants, findConsultantById, findConsultantsByIds, insertConsultant } from './db/consultants.ts';
import { startEmbeddedPostgres, type EmbeddedDb } from './db/embedded.ts';
import { startJobs, stopJobs, type PgBoss } from './db/jobs.ts';
import { migrate } from './db/migrate.ts';
import { createApp } from './http/app.ts';
import { createAuth, hashPassword } from './http/auth.ts';
import { createMetrics } from './http/metrics.ts';
import { cachedUserLookup } from './http/user-cache.ts';
import { attachSocketIo, roleRoom, userRoom } from './http/socket.ts';
import { NotificationBus } from './http/notification-bus.ts';
import { leadView, notificationView } from './http/views.ts';
import { createLeadClassifier } from './services/lead-classifier.ts';
import { LeadPipeline, type PipelineEvents } from './services/lead-pipeline.ts';
import { LeadService } from './services/leads.ts';
import type { LeadRow } from './db/leads.ts';
import { handleActorSubscriptions, streamActorSnapshots } from './http/realtime.ts';
import { registerActorMetrics } from './http/actor-metrics.ts';
import { ActorSystem } from './actors/runtime.ts';
import { CONSULTANT, consultantActor } from './actors/consultant.ts';
import { isOnline } from './actors/consultant.machine.ts';
import { actorIdsInState } from './db/actors.ts';
import { createLogger, type Logger } from './log.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));
const SHUTDOWN_BUDGET_MS = 10_000;

export interface RunningServer {
  url: string;
  port: number;
  config: Config;
  sql: Sql;
  boss: PgBoss;
  io: SocketServer;
  system: ActorSystem;
  log: Logger;
  databaseUrl: string;
  stop(): Promise<void>;
}

export async function startServer(env: Env): Promise<RunningServer> {
  const log = createLogger(env.LOG_LEVEL ?? 'info');
  const config = await loadConfig(env, (what, value) => {
    log.warn({ [what]: value }, `${what} was not set; generated one and saved it in DATA_DIR/secrets.json`);
  });
  log.level = config.logLevel;

  const cleanup: (() => Promise<void>)[] = [];
  const undo = async () => {
    for (const step of cleanup.reverse()) await step().catch((err) => log.error({ err }, 'cleanup failed'));
  };
  try {
    let embedded: EmbeddedDb | undefined;
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      embedded = await startEmbeddedPostgres({ dir: `${config.dataDir}/postgres`, password: config.embeddedDbPassword, log });
      cleanup.push(() => embedded!.stop());
      databaseUrl = await ensureDatabase(embedded.url, 'livia');
    }

    const sql = createSql(databaseUrl, { max: config.dbPoolMax });
    cleanup.push(() => sql.end({ timeout: 5 }));
    const applied = await migrate(sql, MIGRATIONS_DIR);
    if (applied.length > 0) log.info({ applied }, 'migrations applied');

    const boss = await startJobs({ url: databaseUrl, log, queues: [] });
    cleanup.push(() => stopJobs(boss));

    await ensureFirstAdmin(sql, config, log);
    const auth = await createAuth({ secret: config.jwtSecret, issuer: config.jwtIssuer, ttlSeconds: config.jwtTtlSeconds });
    const users = cachedUserLookup((id) => findConsultantById(sql, id), 5000);
    const lookup = users.lookup;

    // Effects run after their commit; io exists by then (it is attached before any socket connects).
    let io: SocketServer | undefined;
    // Late-bound: the pipeline needs presence from the actors, the actors' effects need the pipeline.
    let pipeline: LeadPipeline | undefined;
    const system = new ActorSystem({ sql, boss, log, idleMs: config.actorIdleMs, pruning: { journalDays: config.actorJournalDays } });
    system.register(
      consultantActor({
        presenceChanged: (p) => {
          io?.to([roleRoom('ADMIN'), roleRoom('MANAGER')]).emit('consultant:presence', p);
          if (p.online && config.assignmentRequiresPresence) void pipeline?.requestAssignment();
        },
        eligibilityChanged: () => void pipeline?.requestAssignment(),
      }),
    );
    await system.start();
    cleanup.push(() => system.stop());

    const bus = new NotificationBus();
    const leadRooms = (l: LeadRow) => [roleRoom('ADMIN'), roleRoom('MANAGER'), ...(l.consultant_id ? [userRoom(l.consultant_id)] : [])];
    const syncWorkload = async (ids: string[]) => {
      for (const c of await findConsultantsByIds(sql, ids)) {
        await system.send(CONSULTANT, c.id, {
          type: 'workload.synced',
          openLeads: c.open_leads,
          maxOpenLeads: c.max_open_leads,
          lastAssignedAt: c.last_assigned_at?.toISOString() ?? null,
        });
      }
    };
    const events: PipelineEvents = {
      leadCreated: (l) => io?.to(leadRooms(l)).emit('lead:created', leadView(l)),
      leadUpdated: (l) => io?.to(leadRooms(l)).emit('lead:updated', leadView(l)),
      notification: (n) => {
        io?.to(userRoom(n.recipient_id)).emit('notification', notificationView(n));
        bus.publish(n);
      },
      workloadChanged: (ids) => void syncWorkload(ids).catch((err) => log.warn({ err }, 'workload sync failed')),
    };
    const workSql = createSql(databaseUrl, { max: 4 });
    cleanup.push(() => workSql.end({ timeout: 5 }));
    pipeline = new LeadPipeline({
      sql,
      workSql,
      boss,
      log,
      classify: createLeadClassifier({ apiKey: config.groq.apiKey, baseUrl: config.groq.baseUrl, model: config.groq.model, log }),
      requiresPresence: config.assignmentRequiresPresence,
      isOnline: (id) => isOnline(system.peek(CONSULTANT, id)),
      events,
    });
    const leads = new LeadService({ sql, pipeline, events });
    const runningPipeline = pipeline;
    cleanup.push(() => runningPipeline.stop());
    // No socket survives a restart: consultants persisted as online start offline.
    for (const id of await actorIdsInState(sql, CONSULTANT, 'presence.online')) {
      await system.send(CONSULTANT, id, { type: 'presence.reset' });
    }
    const online = (id: string) => isOnline(system.peek(CONSULTANT, id));
    let shuttingDown = false;
    const metrics = createMetrics({
      pool: {
        max: config.dbPoolMax,
        async read() {
          const [row] = await sql<{ open: number; active: number }[]>`
            select count(*)::int as open, (count(*) filter (where state = 'active'))::int as active
            from pg_stat_activity where application_name = 'livia' and datname = current_database()`;
          return row ?? { open: 0, active: 0 };
        },
      },
    });

    registerActorMetrics(metrics.registry, { sql, system });

    const web = await loadWeb(config.uiDir, log);
    const app = createApp({
      log,
      sql,
      auth,
      isProduction: config.isProduction,
      frontendUrl: config.frontendUrl,
      rateLimitPerMinute: config.rateLimitPerMinute,
      trustProxyHops: config.trustProxyHops,
      metrics,
      isShuttingDown: () => shuttingDown,
      isOnline: online,
      system,
      webhookSecret: config.webhookSecret,
      pipeline,
      leads,
      bus,
      lookupUser: lookup,
      onConsultantChanged: async (c) => {
        users.invalidate(c.id);
        // A deactivated user loses access at once: their open sockets too, not just new requests.
        if (!c.active) io?.in(userRoom(c.id)).disconnectSockets(true);
        await system.send(CONSULTANT, c.id, { type: c.active ? 'consultant.activated' : 'consultant.deactivated' });
        await system.send(CONSULTANT, c.id, {
          type: 'workload.synced',
          openLeads: c.open_leads,
          maxOpenLeads: c.max_open_leads,
          lastAssignedAt: c.last_assigned_at?.toISOString() ?? null,
        });
        // Activation or more capacity may let waiting leads through.
        void runningPipeline.requestAssignment();
      },
      web,
      checks: {
        database: async () => {
          await sql`select 1`;
          return { status: 'ok' };
        },
        jobs: async () => {
          await boss.getQueues();
          return { status: 'ok' };
        },
        actors: async () => ({ status: system.isRunning ? 'ok' : 'down', live: system.liveCount }),
        whatsapp: async () => ({ status: 'disabled', driver: config.whatsappDriver }),
      },
    });

    // Everything is running before the port opens: a 200 from /ready means fully started.
    await pipeline.start();
    const server = await listen(app.fetch, config.port, config.host);
    const port = (server.address() as AddressInfo).port;
    const closeServer = closer(server);
    cleanup.push(closeServer);
    const sockets = attachSocketIo(server, {
      auth,
      lookup,
      log,
      corsOrigin: config.isProduction ? (config.frontendUrl ?? false) : true,
      onConnection: (socket, user) => {
        handleActorSubscriptions(socket, system);
        system.send(CONSULTANT, user.id, { type: 'presence.connected', socketId: socket.id }).catch((err) => log.warn({ err }, 'presence update failed'));
      },
      onDisconnect: (socket, user) => {
        if (shuttingDown) return;
        system.send(CONSULTANT, user.id, { type: 'presence.disconnected', socketId: socket.id }).catch((err) => log.warn({ err }, 'presence update failed'));
      },
    });
    io = sockets;
    streamActorSnapshots(sockets, system);
    cleanup.push(async () => {
      bus.close();
      sockets.disconnectSockets(true);
    });
    log.info({ port, embedded: !!embedded }, `Lívia listening on http://localhost:${port}`);

    let stopping: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      config,
      sql,
      boss,
      io: sockets,
      system,
      log,
      databaseUrl,
      stop() {
        stopping ??= (async () => {
          shuttingDown = true;
          log.info('shutting down');
          await undo();
          log.info('stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await undo();
    throw err;
  }
}

async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = createSql(adminUrl, { max: 1 });
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (!exists) await admin.unsafe(`create database "${name}"`).catch((err: { code?: string }) => {
      // Another process created it between our check and our create.
      if (err.code !== '42P04') throw err;
    });
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The first start creates the administrator; a generated password is printed this once. */
async function ensureFirstAdmin(sql: Sql, config: Config, log: Logger): Promise<void> {
  if ((await countConsultants(sql)) > 0) return;
  const password = config.adminPassword ?? randomBytes(12).toString('base64url');
  const created = await insertConsultant(sql, {
    name: 'Administrador',
    email: config.adminEmail,
    passwordHash: await hashPassword(password),
    role: 'ADMIN',
    maxOpenLeads: 0,
  });
  if (!created) return;
  if (config.adminPassword) log.info({ email: config.adminEmail }, 'created the first administrator');
  else {
    log.warn({ email: config.adminEmail }, 'created the first administrator with a generated password (shown once)');
    process.stderr.write(`\n  First administrator: ${config.adminEmail}\n  Password (shown once): ${password}\n\n`);
  }
}

async function loadWeb(uiDir: string, log: Logger) {
  try {
    const { webRoutes } = await import('./http/web.ts');
    return await webRoutes({ uiDir });
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'web app not available; serving the API only (run npm run build:ui)');
    return undefined;
  }
}

function listen(fetch: (req: Request, env?: unknown) => Response | Promise<Response>, port: number, hostname: string) {
  return new Promise<HttpServer>((resolve, reject) => {
    const server = serve({ fetch, port, hostname }, () => resolve(server as HttpServer)) as HttpServer;
    server.once('error', reject);
  });
}

/** Stop accepting, let in-flight requests finish, then cut whatever is left (SSE, keep-alive). */
function closer(server: HttpServer) {
  return () =>
    new Promise<void>((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_BUDGET_MS / 2);
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    });
}

async function main() {
  // Signals are handled from the first moment: one that arrives while starting stops the server
  // as soon as it is up (or lets the failed start exit), never killing it half-way.
  let requested: string | undefined;
  let onSignal = (signal: string) => {
    requested ??= signal;
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));

  let server: RunningServer;
  try {
    server = await startServer(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
    } else {
      process.stderr.write(`failed to start: ${(err as Error).message}\n`);
    }
    process.exit(1);
  }
  const shutdown = (signal: string) => {
    server.log.info({ signal }, 'signal received');
    const deadline = setTimeout(() => {
      server.log.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, SHUTDOWN_BUDGET_MS);
    server.stop().then(
      () => {
        clearTimeout(deadline);
        process.exit(0);
      },
      (err) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  onSignal = shutdown;
  if (requested) shutdown(requested);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
