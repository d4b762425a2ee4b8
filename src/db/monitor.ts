/**
 * Watches whether PostgreSQL answers, on a connection of its own, so the server knows within a
 * second or two that the database is gone (cut, restarting, stalled) and can refuse work at once
 * with 503 rather than let each request wait out its timeout, and knows as soon as it is back.
 *
 * A probe is `select 1`, on the monitor's own single connection (never queued behind the request
 * pools, however stuck they are). One that fails, or has not answered within `timeoutMs` (its own
 * timer, not the next tick), marks the database down; the first one that answers marks it up. So
 * a stall closes the gate at most `intervalMs + timeoutMs` after it starts. A probe stuck on a dead
 * connection for longer than `stuckMs` has its client thrown away and a new one made.
 *
 * @example
 * const monitor = new DatabaseMonitor({ url, log });
 * monitor.start();
 * if (!monitor.isUp) throw new DatabaseUnavailableError('unreachable');
 */
import postgres from 'postgres';
import type { Logger } from '../log.ts';
import type { Sql } from './client.ts';
import { watchdog } from './faults.ts';

export interface MonitorOptions {
  url: string;
  log: Logger;
  intervalMs?: number;
  timeoutMs?: number;
  stuckMs?: number;
}

export type DatabaseState = { up: true } | { up: false; since: number; reason: string };

export class DatabaseMonitor {
  readonly #o: Required<MonitorOptions>;
  #sql: Sql | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #probe: { started: number; client: Sql } | undefined;
  #state: DatabaseState = { up: true };
  #listeners = new Set<(s: DatabaseState) => void>();

  constructor(opts: MonitorOptions) {
    this.#o = { intervalMs: 1000, timeoutMs: 2000, stuckMs: 10_000, ...opts, log: opts.log.child({ component: 'db-monitor' }) };
  }

  get isUp(): boolean {
    return this.#state.up;
  }

  get state(): DatabaseState {
    return this.#state;
  }

  onChange(listener: (s: DatabaseState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#tick(), this.#o.intervalMs);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const sql = this.#sql;
    this.#sql = undefined;
    await sql?.end({ timeout: 0 }).catch(() => {});
  }

  /** A request saw the database fail: report it down now; the next probe says whether it is back. */
  markDown(reason: string): void {
    this.#set({ up: false, since: Date.now(), reason });
  }

  /** Probes now rather than at the next tick (say, right after the database was restarted). */
  probeNow(): void {
    if (!this.#probe) this.#tick();
  }

  #client(): Sql {
    this.#sql ??= postgres(this.#o.url, {
      max: 1,
      idle_timeout: 0,
      connect_timeout: Math.ceil(this.#o.timeoutMs / 1000),
      onnotice: () => {},
      connection: { application_name: 'livia-monitor', statement_timeout: this.#o.timeoutMs },
    });
    return this.#sql;
  }

  #tick(retry = false): void {
    const now = Date.now();
    if (this.#probe) {
      const age = now - this.#probe.started;
      // Decided after the I/O already waiting is read: a stalled event loop is not a silence.
      const probe = this.#probe;
      if (age > this.#o.timeoutMs) setImmediate(() => this.#probe === probe && this.markDown('no answer'));
      if (age > this.#o.stuckMs && this.#sql === this.#probe.client) {
        // The connection is wedged (a stall that swallowed our packets): start over on a new one.
        const old = this.#sql;
        this.#sql = undefined;
        this.#probe = undefined;
        void old.end({ timeout: 0 }).catch(() => {});
      }
      return;
    }
    const client = this.#client();
    const probe = { started: now, client };
    this.#probe = probe;
    // Down the moment the probe is late: waiting for the next tick could add up to an interval.
    // (After the I/O already waiting is read: an event loop that stalled on a busy machine did not
    // see the database go silent.)
    const late = watchdog(
      this.#o.timeoutMs,
      () => this.#probe !== probe,
      () => this.markDown('no answer'),
    );
    client`select 1`.then(
      () => {
        clearTimeout(late);
        if (this.#probe === probe) this.#probe = undefined;
        this.#set({ up: true });
      },
      (err: { code?: string; message?: string }) => {
        clearTimeout(late);
        if (this.#probe === probe) this.#probe = undefined;
        // Only our own connection may have been cut (the pools' are fine): ask once more, on a new
        // connection, before refusing every request.
        if (this.#state.up && !retry && !this.#probe) return this.#tick(true);
        this.markDown(err.code ?? err.message ?? 'error');
      },
    );
  }

  #set(next: DatabaseState): void {
    const was = this.#state;
    if (was.up === next.up) return;
    this.#state = next;
    if (next.up) this.#o.log.info({ downMs: Date.now() - (was as { since: number }).since }, 'database is reachable again');
    else this.#o.log.warn({ reason: next.reason }, 'database is unreachable');
    for (const l of this.#listeners) l(next);
  }
}
