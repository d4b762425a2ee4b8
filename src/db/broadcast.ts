/**
 * Messages between the instances on one database, over LISTEN/NOTIFY: what one instance changed
 * that another keeps in memory (a user's session check, an SSE stream's next notification, the
 * chat index).
 *
 * Sending batches: messages published within a few milliseconds travel in one NOTIFY (payloads
 * stay under PostgreSQL's 8000-byte limit), on the pool, after the change committed. Each carries
 * the sending instance's id, and an instance ignores its own.
 *
 * Receiving runs on a connection of its own, watched: a heartbeat (`select 1`) that fails or does
 * not answer in time throws the connection away, and LISTEN is sent again, with backoff, until it
 * holds. NOTIFYs sent while no connection listened are lost, so each time listening resumes after
 * a gap `onResumed` runs: the receivers flush what they cache and read the truth again. (postgres.js'
 * own `sql.listen` gives up for good when its reconnection fails, e.g. while the database is down.)
 * A database cut, restart or stall never throws out of here.
 *
 * @example
 * const b = new Broadcast({ url, sql, instanceId, log, onResumed: () => caches.flush() });
 * b.on('user', (m) => cache.invalidate(m.id));
 * await b.start();
 * b.publish('user', { id });
 */
import postgres from 'postgres';
import type { Logger } from '../log.ts';
import type { Sql } from './client.ts';
import { watchdog } from './faults.ts';

export const BROADCAST_CHANNEL = 'livia_broadcast';
const MAX_PAYLOAD = 7500;

interface Envelope {
  from: string;
  items: { k: string; m: unknown }[];
}

export interface BroadcastOptions {
  url: string;
  /** Sends one NOTIFY (default: on `sql`). */
  notify?: (channel: string, payload: string) => Promise<unknown>;
  /** The pool NOTIFYs are sent on without `notify`. */
  sql: Sql;
  instanceId: string;
  /** The listening connection's `application_name` (default `livia-listen`): the process's liveness mark. */
  applicationName?: string;
  log: Logger;
  /** Listening resumed after a gap: messages may have been missed. */
  onResumed?(): void;
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  flushMs?: number;
}

export class Broadcast {
  readonly #o: BroadcastOptions;
  readonly #log: Logger;
  #handlers = new Map<string, Set<(m: unknown) => void>>();
  #listener: Sql | undefined;
  #listening = false;
  #stopped = false;
  #reconnecting: Promise<void> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #outbox: { k: string; m: unknown }[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #sending: Promise<void> = Promise.resolve();
  /** Times listening resumed after a gap (tests and metrics). */
  resumed = 0;
  /** NOTIFYs that failed (their messages were lost for the others, who resync at their next gap). */
  notifyFailed = 0;

  constructor(o: BroadcastOptions) {
    this.#o = o;
    this.#log = o.log.child({ component: 'broadcast' });
  }

  get listening(): boolean {
    return this.#listening;
  }

  on<T>(kind: string, handler: (m: T) => void): () => void {
    let set = this.#handlers.get(kind);
    if (!set) this.#handlers.set(kind, (set = new Set()));
    const h = handler as (m: unknown) => void;
    set.add(h);
    return () => set.delete(h);
  }

  /** Listens; a database that is down now is retried in the background. */
  async start(): Promise<void> {
    await this.#listen().catch((err) => {
      this.#log.warn({ err: (err as Error).message }, 'LISTEN failed; retrying in the background');
      this.#lost();
    });
    const every = this.#o.heartbeatMs ?? 5000;
    this.#heartbeat = setInterval(() => void this.#beat(), every);
    this.#heartbeat.unref();
  }

  /** Sends `m` to every other instance (batched; never throws). */
  publish(kind: string, m: unknown): void {
    if (this.#stopped) return;
    this.#outbox.push({ k: kind, m });
    this.#flushTimer ??= setTimeout(() => {
      this.#flushTimer = undefined;
      this.#sending = this.#sending.then(() => this.#flush());
    }, this.#o.flushMs ?? 5);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
      this.#sending = this.#sending.then(() => this.#flush());
    }
    await Promise.race([this.#sending, new Promise((r) => setTimeout(r, 2000).unref())]);
    const l = this.#listener;
    this.#listener = undefined;
    await l?.end({ timeout: 0 }).catch(() => {});
  }

  async #flush(): Promise<void> {
    const items = this.#outbox.splice(0);
    const from = this.#o.instanceId;
    let batch: Envelope['items'] = [];
    let size = 0;
    const send = async () => {
      if (batch.length === 0) return;
      const payload = JSON.stringify({ from, items: batch } satisfies Envelope);
      batch = [];
      size = 0;
      try {
        if (this.#o.notify) await this.#o.notify(BROADCAST_CHANNEL, payload);
        else await this.#o.sql`select pg_notify(${BROADCAST_CHANNEL}, ${payload})`;
      } catch (err) {
        // The receivers recover what they missed when their listening resumes.
        this.notifyFailed++;
        this.#log.warn({ err: (err as Error).message }, 'NOTIFY failed; other instances catch up when they reconnect');
      }
    };
    for (const item of items) {
      const len = JSON.stringify(item).length + 1;
      if (len > MAX_PAYLOAD) {
        this.#log.error({ kind: item.k, bytes: len }, 'broadcast message too large; dropped (other instances see it at their next resync)');
        continue;
      }
      if (size + len > MAX_PAYLOAD) await send();
      batch.push(item);
      size += len;
    }
    await send();
  }

  #receive(payload: string): void {
    let env: Envelope;
    try {
      env = JSON.parse(payload) as Envelope;
    } catch {
      this.#log.warn('unreadable broadcast payload; ignored');
      return;
    }
    if (env.from === this.#o.instanceId) return;
    for (const { k, m } of env.items) {
      for (const h of this.#handlers.get(k) ?? []) {
        try {
          h(m);
        } catch (err) {
          this.#log.error({ err, kind: k }, 'broadcast handler failed');
        }
      }
    }
  }

  #newListener(): Sql {
    // `onnotify` and `onclose` are postgres.js options its types leave out (sql.listen uses them).
    const options = {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      connect_timeout: 5,
      fetch_types: false,
      onnotice: () => {},
      connection: { application_name: this.#o.applicationName ?? 'livia-listen' },
      onnotify: (channel: string, payload: string) => {
        if (channel === BROADCAST_CHANNEL) this.#receive(payload);
      },
      onclose: () => {
        if (this.#listening) this.#lost();
      },
    };
    return postgres(this.#o.url, options as postgres.Options<Record<string, never>>);
  }

  async #listen(): Promise<void> {
    this.#listener ??= this.#newListener();
    await this.#listener.unsafe(`listen ${BROADCAST_CHANNEL}`);
    this.#listening = true;
  }

  /** The listening connection is gone (or suspect): listen again until it holds, then resume. */
  #lost(): void {
    if (this.#stopped || this.#reconnecting) return;
    this.#listening = false;
    const old = this.#listener;
    this.#listener = undefined;
    void old?.end({ timeout: 0 }).catch(() => {});
    this.#reconnecting = (async () => {
      let delay = 250;
      while (!this.#stopped) {
        try {
          await this.#listen();
          break;
        } catch (err) {
          this.#log.debug({ err: (err as Error).message }, 'LISTEN failed; retrying');
          const l = this.#listener;
          this.#listener = undefined;
          void l?.end({ timeout: 0 }).catch(() => {});
          await new Promise((r) => setTimeout(r, delay).unref());
          delay = Math.min(delay * 2, 5000);
        }
      }
      this.#reconnecting = undefined;
      if (this.#stopped) return;
      this.resumed++;
      this.#log.info('listening to other instances again; resyncing');
      try {
        this.#o.onResumed?.();
      } catch (err) {
        this.#log.error({ err }, 'broadcast resync failed');
      }
    })();
  }

  async #beat(): Promise<void> {
    if (this.#stopped || !this.#listening || !this.#listener) return;
    const l = this.#listener;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let answered = false;
    const ok = await Promise.race([
      l`select 1`.then(
        () => (answered = true),
        () => false,
      ),
      // A stalled event loop must not take an answer waiting in the socket for a silence.
      new Promise<boolean>((r) => (timer = watchdog(this.#o.heartbeatTimeoutMs ?? 3000, () => answered, () => r(false)))),
    ]);
    clearTimeout(timer);
    if (!ok && l === this.#listener) {
      this.#log.warn('the listening connection does not answer; reconnecting');
      this.#lost();
    }
  }
}
