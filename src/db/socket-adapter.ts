/**
 * The Socket.io Postgres adapter (`@socket.io/postgres-adapter`, on `pg`): an event emitted to a
 * room on one instance reaches that room's sockets on every instance.
 *
 * The adapter takes its LISTEN connection from the pool it is given and keeps it checked out; pg's
 * pool removes its error listener from a checked-out client, so a database cut would raise an
 * unhandled 'error' and crash the process, and the dead client would never go back to the pool.
 * It gets instead a pool-like object whose `connect()` makes a client of its own, with an error
 * listener, that `release()` ends; the adapter reconnects it (every ~2 s) after an 'end'.
 * Publishing goes through a small pool with timeouts, whose errors the adapter reports to
 * `errorHandler` (logged): a database that is down, cut or stalled costs cross-instance delivery
 * while it lasts, never the process, and local delivery goes on.
 *
 * @example
 * const adapter = createSocketAdapter({ url, log });
 * io.adapter(adapter.factory);
 * await adapter.close();
 */
import { createAdapter } from '@socket.io/postgres-adapter';
import pg from 'pg';
import type { Logger } from '../log.ts';
import { watchdog } from './faults.ts';

export interface SocketAdapter {
  factory: ReturnType<typeof createAdapter>;
  /** The pg pool (shared with the rate limiters). */
  pool: pg.Pool;
  /**
   * Cross-instance events this instance failed to publish, and times its listening connection was
   * lost (what other instances emitted until it was back, ~2 s, is lost: NOTIFY is at most once).
   */
  stats: { publishFailed: number; listenGaps: number };
  close(): Promise<void>;
}


export function pgConfig(url: string, applicationName: string): pg.PoolConfig {
  return {
    connectionString: url,
    application_name: applicationName,
    // NOTIFY gives its transaction an id, so each commit would wait for a WAL flush. Neither a
    // notification nor a rate limit counter is worth that: lost in a crash, nothing is wrong.
    options: '-c synchronous_commit=off',
    connectionTimeoutMillis: 5000,
    query_timeout: 5000,
    statement_timeout: 5000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

/** A pg pool whose errors on idle clients are logged, not thrown. */
export function createPgPool(url: string, o: { max: number; log: Logger; applicationName: string }): pg.Pool {
  const pool = new pg.Pool({ ...pgConfig(url, o.applicationName), max: o.max, idleTimeoutMillis: 30_000 });
  pool.on('error', (err) => o.log.warn({ err: err.message }, 'idle PostgreSQL client failed'));
  return pool;
}

/** The statement the adapter publishes with (batched here). */
const NOTIFY = 'SELECT pg_notify($1, $2)';

export function createSocketAdapter(o: { url: string; log: Logger; poolMax?: number }): SocketAdapter {
  const log = o.log.child({ component: 'socket-adapter' });
  const pool = createPgPool(o.url, { max: o.poolMax ?? 4, log, applicationName: 'livia-socketio' });
  const stats = { publishFailed: 0, listenGaps: 0 };
  let closed = false;
  let current: pg.Client | undefined;
  // A stalled listening connection (no answer, no RST) is destroyed, so the adapter re-makes it.
  const heartbeat = setInterval(() => {
    const c = current;
    if (!c) return;
    let answered = false;
    const timer = watchdog(
      3000,
      () => answered,
      () => {
        log.warn('Socket.io adapter listening connection does not answer; reconnecting');
        (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      },
    );
    const done = () => {
      answered = true;
      clearTimeout(timer);
    };
    c.query('select 1').then(done, done);
  }, 5000);
  heartbeat.unref();
  const listenConfig = { ...pgConfig(o.url, 'livia-socketio-listen') };
  // No query_timeout on the listening client: LISTEN waits, and a stalled one is re-made on 'end'.
  delete listenConfig.query_timeout;
  const poolLike = {
    async connect() {
      if (closed) throw new Error('socket adapter closed');
      const client = new pg.Client(listenConfig);
      client.on('error', (err) => log.warn({ err: err.message }, 'Socket.io adapter listening connection failed; reconnecting'));
      try {
        await client.connect();
      } catch (err) {
        void client.end().catch(() => {});
        throw err;
      }
      client.on('end', () => {
        if (current !== client) return;
        current = undefined;
        if (closed) return;
        stats.listenGaps++;
        log.warn('Socket.io adapter listening connection closed: events from other instances are lost until it is back (~2 s)');
      });
      (client as pg.Client & { release(): void }).release = () => void client.end().catch(() => {});
      current = client;
      return client;
    },
    query: (text: string, values?: unknown[]) => (text === NOTIFY && values ? notify(values[0] as string, values[1] as string) : pool.query(text, values)),
  };
  // Emits made in the same turn of the event loop go out in one statement (one commit), in order.
  // The adapter delivers an emit to this instance's own sockets only once its publish settles
  // (socket.io-adapter's ClusterAdapter.broadcast awaits it): so a publish settles at once, and
  // local delivery never waits on the database (a round trip, or a stall's timeout) — a board
  // would see its own PATCH's event after the answer, and a keyboard user's focus was lost to the
  // re-render. A failed publish costs only cross-instance delivery, and is logged.
  let sent = 0;
  let batch: { channel: string; payload: string }[] = [];
  const notify = (channel: string, payload: string): Promise<void> => {
    if (batch.length === 0) setImmediate(flush);
    // PostgreSQL delivers identical (channel, payload) pairs of one transaction once: a counter
    // keeps two identical emits two (the adapter reads the fields it knows and ignores this one).
    const unique = payload.endsWith('}') ? `${payload.slice(0, -1)},"_n":${++sent}}` : payload;
    batch.push({ channel, payload: unique });
    return Promise.resolve();
  };
  const flush = () => {
    const items = batch;
    batch = [];
    pool
      .query('select pg_notify(c, p) from unnest($1::text[], $2::text[]) with ordinality as t(c, p, i) order by i', [items.map((i) => i.channel), items.map((i) => i.payload)])
      .catch((err: Error) => {
        stats.publishFailed += items.length;
        log.warn({ err: err.message, events: items.length }, 'Socket.io adapter: cross-instance message failed; other instances miss these events');
      });
  };
  const factory = createAdapter(poolLike as unknown as pg.Pool, {
    errorHandler: (err: Error) => log.warn({ err: err.message }, 'Socket.io adapter: cross-instance message failed'),
    // PostgreSQL refuses a NOTIFY payload of 8000 bytes or more, and one refused fails the whole
    // batch: larger messages go through the attachments table, with room for the counter above.
    payloadThreshold: 7900,
  } as Parameters<typeof createAdapter>[1]);
  return {
    factory,
    pool,
    stats,
    async close() {
      closed = true;
      clearInterval(heartbeat);
      await pool.end().catch(() => {});
    },
  };
}
