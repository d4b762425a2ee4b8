/**
 * Prometheus metrics (prom-client), one registry per app so several apps can live in one process:
 * HTTP latency, database pool usage, Socket.io connections and SSE streams, pipeline step latency
 * (observed by the pipeline through `observeStep`), how long intake has waited on the database
 * (`registerIntakeMetrics`), and the job queues' depth.
 *
 * @example
 * const metrics = createMetrics({ pool, connections, queues });
 * pipeline deps: { observeStep: metrics.observeStep }
 * app.use(metrics.middleware);
 * app.get('/metrics', async (c) => c.text(await metrics.render()));
 */
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface PoolStats {
  max: number;
  /** Connections this app holds open on the server, and how many of them are running a query. */
  read(): Promise<{ open: number; active: number }>;
}

export interface MetricsSources {
  pool: PoolStats;
  /** Open real-time connections right now. */
  connections?(): { socket: number; sse: number };
  /** Jobs waiting (created or retrying) per queue. */
  queues?(): Promise<Record<string, number>>;
  /** This instance's name (INSTANCE_ID): every series gets an `instance` label. */
  instance?: string;
}

export function createMetrics(opts: MetricsSources) {
  const registry = new Registry();
  if (opts.instance) registry.setDefaultLabels({ instance: opts.instance });
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new Gauge({
    name: 'db_pool_connections',
    help: 'PostgreSQL connections of this app by state (open, active) and the pool maximum',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      this.set({ state: 'max' }, opts.pool.max);
      try {
        const s = await opts.pool.read();
        this.set({ state: 'open' }, s.open);
        this.set({ state: 'active' }, s.active);
      } catch {
        // The database being down is what /ready reports; metrics still render.
      }
    },
  });

  new Gauge({
    name: 'realtime_connections',
    help: 'Open real-time connections by kind (socket: Socket.io, sse: notification streams)',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      const c = opts.connections?.() ?? { socket: 0, sse: 0 };
      this.set({ kind: 'socket' }, c.socket);
      this.set({ kind: 'sse' }, c.sse);
    },
  });
  new Gauge({
    name: 'job_queue_depth',
    help: 'Jobs waiting in each pg-boss queue (created or retrying)',
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      try {
        for (const [queue, n] of Object.entries((await opts.queues?.()) ?? {})) this.set({ queue }, n);
      } catch {
        // As for the pool: /ready reports the jobs being down.
      }
    },
  });
  const steps = new Histogram({
    name: 'pipeline_step_duration_seconds',
    help: 'Lead pipeline step duration (classify: one batch; assign: one assignment run)',
    labelNames: ['step'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const stepSeries = new Map<string, { observe(seconds: number): void }>();
  // One labelled child per (method, route, status), made once: a request no longer builds a label
  // object and a timer closure (prom-client still checks and hashes the labels per observation).
  const series = new Map<string, { observe(seconds: number): void }>();
  const middleware: MiddlewareHandler = async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    // The matched pattern, not the raw path, keeps label cardinality bounded. After next() the
    // route index points at the handler that answered (or threw); the last matched route would
    // be a catch-all ('/*') for nearly every request.
    const status = c.res.status;
    const route = status === 404 ? 'unmatched' : routePath(c);
    const method = c.req.method;
    const key = `${method} ${status} ${route}`;
    let child = series.get(key);
    if (!child) series.set(key, (child = duration.labels({ method, route, status: String(status) })));
    child.observe(seconds);
  };

  return {
    registry,
    middleware,
    observeStep: (step: string, seconds: number) => {
      // Called per lead at intake: one labelled child per step, as for requests.
      let child = stepSeries.get(step);
      if (!child) stepSeries.set(step, (child = steps.labels({ step })));
      child.observe(seconds);
    },
    contentType: registry.contentType,
    render: () => registry.metrics(),
  };
}

/** The intake's stall gauge, once the pipeline exists (it is built after the metrics it reports to). */
export function registerIntakeMetrics(registry: Registry, intake: { intakeWaitingMs(): number }): void {
  new Gauge({
    name: 'pipeline_intake_waiting_seconds',
    help: 'How long the oldest intake statement in flight has waited for its answer (0: none waits); /ready is down past the statement timeout',
    registers: [registry],
    collect() {
      this.set(intake.intakeWaitingMs() / 1000);
    },
  });
}
