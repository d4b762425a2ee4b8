/**
 * Leases: exactly one owner per named thing (a WhatsApp session, a home of actors) among the
 * instances sharing one database. A lease row carries an owner, a fencing epoch that grows at each
 * change of owner, and an expiry on the database clock (src/db/leases.ts).
 *
 * The owner trusts its own monotonic clock, not the database, to know when to stop: it remembers
 * when it *started* its last successful renewal, and counts itself the owner only until that
 * moment + ttl − margin. Past it (the database is unreachable, the process was paused, timers
 * fire late after SIGCONT) `holds()` answers false at once, synchronously, before any timer runs,
 * and the guard tells the lease's hooks to close the socket and drop the actors. The database
 * lets another instance take the lease only after ttl, measured from a moment no earlier than
 * that start: so the old owner has stopped before the new one can begin.
 *
 * @example
 * const leases = new Leases({ sql, log, owner: 'a', boot: 'b1', ttlMs: 10_000 });
 * leases.want('whatsapp:livia', { acquired: (epoch) => openSocket(), lost: () => closeSocket() });
 * await leases.start();
 * if (leases.holds('whatsapp:livia')) await conn.sendMessage(...);
 */
import { performance } from 'node:perf_hooks';
import type { Sql } from '../db/client.ts';
import { acquireLease, beatInstance, releaseLease, removeInstance, renewLease } from '../db/leases.ts';
import type { Logger } from '../log.ts';

export interface LeaseHooks {
  /** This instance became the owner under `epoch`. */
  acquired(epoch: number): unknown;
  /** It no longer is (not renewed in time, taken, or shutting down): stop using the thing now. */
  lost(reason: string): unknown;
}

export interface LeaseOptions {
  sql: Sql;
  log: Logger;
  /** This instance's id (INSTANCE_ID). */
  owner: string;
  /** Changes at each start of the process. */
  boot: string;
  ttlMs: number;
  /** At the first attempt, take every lease whose holder is dead without waiting for its expiry (INSTANCES=1: the previous life of this instance). */
  stealAtStart?: boolean;
  /** Monotonic milliseconds (performance.now); advances while the process is stopped. */
  clock?: () => number;
}

interface Held {
  epoch: number;
  /** Monotonic time the last successful renewal (or the acquisition) was started. */
  since: number;
}

export interface LeaseState {
  name: string;
  held: boolean;
  epoch?: number;
  /** Milliseconds this instance still counts itself the owner. */
  validForMs?: number;
}

export class Leases {
  readonly #o: LeaseOptions;
  readonly #clock: () => number;
  readonly #wanted = new Map<string, LeaseHooks>();
  readonly #held = new Map<string, Held>();
  #loop: ReturnType<typeof setInterval> | undefined;
  #guard: ReturnType<typeof setInterval> | undefined;
  #ticking: Promise<void> | undefined;
  #first = true;
  #hooksRunning: Promise<unknown>[] = [];
  #stopped = false;

  constructor(o: LeaseOptions) {
    this.#o = o;
    this.#clock = o.clock ?? (() => performance.now());
  }

  get owner(): string {
    return this.#o.owner;
  }

  get ttlMs(): number {
    return this.#o.ttlMs;
  }

  /** How long after its last renewal started an owner stops trusting its lease. */
  get safeMs(): number {
    return this.#o.ttlMs - Math.max(1000, Math.round(this.#o.ttlMs * 0.3));
  }

  /** Asks for a lease; the hooks run each time it is won or lost. Call before start(). */
  want(name: string, hooks: LeaseHooks): void {
    this.#wanted.set(name, hooks);
  }

  /** Whether this instance owns `name` right now (synchronous: check it right before acting). */
  holds(name: string): boolean {
    const h = this.#held.get(name);
    if (!h) return false;
    if (this.#clock() - h.since < this.safeMs) return true;
    this.#lose(name, 'not renewed in time');
    return false;
  }

  epoch(name: string): number | undefined {
    return this.holds(name) ? this.#held.get(name)!.epoch : undefined;
  }

  states(): LeaseState[] {
    const now = this.#clock();
    return [...this.#wanted.keys()].map((name) => {
      const h = this.holds(name) ? this.#held.get(name) : undefined;
      return h ? { name, held: true, epoch: h.epoch, validForMs: Math.max(0, Math.round(h.since + this.safeMs - now)) } : { name, held: false };
    });
  }

  /** The first round (and the hooks of what it won) completes before start() returns. */
  async start(): Promise<void> {
    await this.#tick();
    await Promise.allSettled(this.#hooksRunning);
    this.#hooksRunning = [];
    const every = Math.max(100, Math.round(this.#o.ttlMs / 5));
    this.#loop = setInterval(() => void this.#tick(), every);
    // The guard is separate from the renewals: it fires even while a renewal hangs.
    this.#guard = setInterval(() => {
      for (const name of [...this.#held.keys()]) this.holds(name);
    }, Math.max(50, Math.min(250, Math.round(this.#o.ttlMs / 20))));
    for (const t of [this.#loop, this.#guard]) t.unref?.();
  }

  /** Lets every lease go (the next owner need not wait for the expiry) and leaves the instance list. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#loop);
    clearInterval(this.#guard);
    await this.#ticking?.catch(() => undefined);
    const held = [...this.#held.entries()];
    for (const [name] of held) this.#lose(name, 'shutdown');
    await Promise.allSettled(held.map(([name, h]) => releaseLease(this.#o.sql, { name, owner: this.#o.owner, epoch: h.epoch })));
    await removeInstance(this.#o.sql, { id: this.#o.owner, boot: this.#o.boot }).catch(() => undefined);
  }

  #tick(): Promise<void> {
    if (this.#ticking || this.#stopped) return this.#ticking ?? Promise.resolve();
    this.#ticking = this.#round()
      .catch((err) => this.#o.log.warn({ err: (err as Error).message }, 'lease round failed'))
      .finally(() => (this.#ticking = undefined));
    return this.#ticking;
  }

  async #round(): Promise<void> {
    const { sql, owner, boot, ttlMs } = this.#o;
    await beatInstance(sql, { id: owner, boot, ttlMs });
    const steal = this.#first && !!this.#o.stealAtStart;
    this.#first = false;
    await Promise.all(
      [...this.#wanted.keys()].map(async (name) => {
        const started = this.#clock();
        const h = this.#held.get(name);
        try {
          if (h) {
            const ok = await renewLease(sql, { name, owner, epoch: h.epoch, ttlMs });
            if (this.#held.get(name) !== h) return;
            if (ok) h.since = started;
            else this.#lose(name, 'taken by another instance');
            return;
          }
          const epoch = await acquireLease(sql, { name, owner, boot, ttlMs, steal });
          if (epoch === undefined || this.#stopped) return;
          this.#held.set(name, { epoch, since: started });
          this.#o.log.info({ lease: name, epoch }, 'lease acquired');
          // Not awaited: a slow hook (opening a socket) must not hold back the renewals.
          const hook = Promise.resolve()
            .then(() => this.#wanted.get(name)!.acquired(epoch))
            .catch((err) => this.#o.log.error({ err, lease: name }, 'lease acquired hook failed'));
          if (!this.#loop) this.#hooksRunning.push(hook);
        } catch (err) {
          this.#o.log.warn({ lease: name, err: (err as Error).message }, 'lease renewal failed');
        }
      }),
    );
  }

  #lose(name: string, reason: string): void {
    const h = this.#held.get(name);
    if (!h) return;
    this.#held.delete(name);
    if (reason !== 'shutdown') this.#o.log.warn({ lease: name, epoch: h.epoch, reason }, 'lease lost');
    try {
      void Promise.resolve(this.#wanted.get(name)?.lost(reason)).catch((err) => this.#o.log.error({ err, lease: name }, 'lease lost hook failed'));
    } catch (err) {
      this.#o.log.error({ err, lease: name }, 'lease lost hook failed');
    }
  }
}
