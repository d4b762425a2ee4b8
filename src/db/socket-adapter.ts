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
 * An instance that is alone does not publish its broadcasts (a NOTIFY and a commit per emit, most of
 * the adapter's cost under load, for nobody). Alone means: no message from another instance (their
 * heartbeats come every 5 s, and a new one announces itself when it starts) for `aloneAfterMs`,
 * while this instance's listening connection has been up for as long and answered its last check,
 * and that check found no other instance's listening connection on this database. A paused or
 * starved instance is silent but still connected: it must hear, when it resumes, what changed
 * meanwhile (a revoked session, a job forwarded to it). The first message from another instance
 * ends it at once.
 *
 * @example
 * const adapter = createSocketAdapter({ url, log });
 * io.adapter(adapter.factory);
 * await adapter.close();
 */
import { createAdapter } from '@socket.io/postgres-adapter';
import pg from 'pg';
import { MessageType, type ClusterAdapterWithHeartbeat, type ClusterMessage } from 'socket.io-adapter';
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
  /** Broadcasts not published because no other instance was known (a counter, for tests). */
  skipped(): number;
  /** Whether no other instance is known now (see the file comment): nobody to tell anything. */
  alone(): boolean;
}

/** Another instance silent this long (three of its heartbeats) and this one is alone. */
const ALONE_AFTER_MS = 15_000;
const LISTEN_APP = 'livia-socketio-listen';
/** The listening connections of the other instances on this database (each has one, while it lives). */
const OTHERS_LISTENING = `select count(*)::int as n from pg_stat_activity
  where datname = current_database() and application_name = '${LISTEN_APP}' and pid <> pg_backend_pid()`;

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

export function createSocketAdapter(o: {
  url: string;
  log: Logger;
  poolMax?: number;
  /** See the file comment (default 15 s). */
  aloneAfterMs?: number;
  /** How often the listening connection is checked (default 5 s). */
  checkMs?: number;
  /** socket.io-adapter's heartbeat between instances (default 5 s, and 10 s to count one as gone). */
  heartbeatInterval?: number;
  heartbeatTimeout?: number;
}): SocketAdapter {
  const log = o.log.child({ component: 'socket-adapter' });
  const pool = createPgPool(o.url, { max: o.poolMax ?? 4, log, applicationName: 'livia-socketio' });
  const stats = { publishFailed: 0, listenGaps: 0 };
  const aloneAfterMs = o.aloneAfterMs ?? ALONE_AFTER_MS;
  const checkMs = o.checkMs ?? 5000;
  let closed = false;
  let current: pg.Client | undefined;
  /** When the current listening connection was made, and when it last answered a check. */
  let listeningSince = 0;
  let listenAnsweredAt = 0;
  /** When a message from another instance last arrived (the start counts as one). */
  let heardOthersAt = Date.now();
  /** Other instances' listening connections the last check saw (unknown, so some, until then). */
  let othersListening = 1;
  let skipped = 0;
  const alone = (): boolean => {
    const now = Date.now();
    return (
      current !== undefined &&
      othersListening === 0 &&
      now - heardOthersAt >= aloneAfterMs &&
      now - listeningSince >= aloneAfterMs &&
      now - listenAnsweredAt <= 2 * checkMs
    );
  };
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
    c.query<{ n: number }>(OTHERS_LISTENING).then(
      (r) => {
        answered = true;
        clearTimeout(timer);
        if (current !== c) return;
        listenAnsweredAt = Date.now();
        othersListening = r.rows[0]?.n ?? 1;
      },
      () => {
        answered = true;
        clearTimeout(timer);
      },
    );
  }, checkMs);
  heartbeat.unref();
  const listenConfig = { ...pgConfig(o.url, LISTEN_APP) };
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
      listeningSince = listenAnsweredAt = Date.now();
      othersListening = 1;
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
  const base = createAdapter(poolLike as unknown as pg.Pool, {
    errorHandler: (err: Error) => log.warn({ err: err.message }, 'Socket.io adapter: cross-instance message failed'),
    // PostgreSQL refuses a NOTIFY payload of 8000 bytes or more, and one refused fails the whole
    // batch: larger messages go through the attachments table, with room for the counter above.
    payloadThreshold: 7900,
    ...(o.heartbeatInterval !== undefined && { heartbeatInterval: o.heartbeatInterval }),
    ...(o.heartbeatTimeout !== undefined && { heartbeatTimeout: o.heartbeatTimeout }),
  } as Parameters<typeof createAdapter>[1]);
  // The adapter hands us only what another instance sent (its own messages are filtered out first).
  // A function, not an arrow: Socket.io calls it with `new`, and the object it returns is the adapter.
  const factory = function (nsp: Parameters<typeof base>[0]) {
    const adapter = base(nsp) as unknown as ClusterAdapterWithHeartbeat & {
      doPublish(m: ClusterMessage): Promise<string>;
      onMessage(m: ClusterMessage, offset?: string): void;
    };
    const onMessage = adapter.onMessage.bind(adapter);
    adapter.onMessage = (m, offset) => {
      heardOthersAt = Date.now();
      onMessage(m, offset);
    };
    const doPublish = adapter.doPublish.bind(adapter);
    // Only plain broadcasts: heartbeats must go out (that is how others learn of us), and requests
    // that wait for answers already count the instances they know.
    adapter.doPublish = (m) => {
      if (m.type === MessageType.BROADCAST && !(m.data as { requestId?: string }).requestId && alone()) {
        skipped++;
        return Promise.resolve('');
      }
      return doPublish(m);
    };
    return adapter;
  } as unknown as typeof base;
  return {
    factory,
    pool,
    stats,
    skipped: () => skipped,
    alone,
    async close() {
      closed = true;
      clearInterval(heartbeat);
      await pool.end().catch(() => {});
    },
  };
}
