/**
 * Group commit. Every event that changed something becomes a Write: its snapshot, journal entry,
 * effects, timers and domain writes. Writes queued while transactions are in flight go into the
 * next one, so under load one round trip carries many events and an idle system adds no delay.
 * Up to `maxInFlight` transactions are on their way at once (a write waits for a free one, not for
 * the one ahead to commit, which under load is most of a turn's wait); an actor's writes are in one
 * of them at a time, so each actor's events still commit in their order. Different actors' events
 * have no order between them unless one was sent after the other's commit.
 *
 * Isolation: the batch is first written in one go (the fast path). If that transaction fails, it is
 * written again event by event, each in its own savepoint (the slow path): an event whose write
 * fails (a NUL byte, a constraint) is rolled back alone and handed to `onEventFailed`; the later
 * writes of the same actor in the batch were computed on top of it, so they are handed back too
 * (`onEventFailed` replays them). If the transaction itself fails (the connection), every write in
 * it is rejected through `onBatchFailed`.
 *
 * @example
 * const committer = new Committer({ sql, log, maxBatch: 1000, maxInFlight: 2, scheduleTimers, onCommitted, onEventFailed, onBatchFailed });
 * committer.push(write);
 */
import { writeActorBatch, type ActorBatch, type TimerRow } from '../db/actors.ts';
import type { Sql, TransactionSql } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { mergeBatches } from './plan.ts';
import type { ActorView, DomainWrite, WriteContext } from './types.ts';

export interface Write<A = unknown> {
  actor: A;
  /** The actor's key (`type/id`): writes of one actor keep their order. */
  key: string;
  batch: ActorBatch;
  domain: { fn: DomainWrite; ctx: WriteContext }[];
  view: ActorView;
  resolve(view: ActorView): void;
  reject(err: unknown): void;
  /** The owner's own notes (what it needs to replay the write). */
  meta?: unknown;
}

export interface CommitterOptions<A> {
  sql: Sql;
  log: Logger;
  maxBatch: number;
  /** Transactions on their way at once (1: strictly one after the other). */
  maxInFlight: number;
  /** Arms the jobs of timers in the caller's transaction (one statement for them all). */
  scheduleTimers(tx: TransactionSql, ts: readonly TimerRow[]): Promise<unknown>;
  /** Skip (reject) a write whose actor is being reloaded. */
  isStale(w: Write<A>): boolean;
  onCommitted(w: Write<A>): void;
  /** `failed` could not be written; `later` are the same actor's writes after it, not written. */
  onEventFailed(failed: Write<A>, err: unknown, later: Write<A>[]): void;
  onBatchFailed(writes: Write<A>[], err: unknown): void;
}

export class Committer<A> {
  readonly #o: CommitterOptions<A>;
  #queue: Write<A>[] = [];
  /** Keys of the actors with writes in a transaction now: their next writes wait for it. */
  readonly #busy = new Set<string>();
  #flights = 0;
  #scheduled = false;
  #idle: (() => void)[] = [];
  batches = 0;
  /** Writes committed, and time spent in transactions (ms; the longest one too): what a bench reads. */
  stats = { writes: 0, ms: 0, maxMs: 0, maxWrites: 0 };

  constructor(opts: CommitterOptions<A>) {
    this.#o = opts;
  }

  push(w: Write<A>): void {
    this.#queue.push(w);
    // The writes pushed in the same tick go together.
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#start();
    });
  }

  /** Takes the queued (not yet in flight) writes of one actor out of the queue, in order. */
  take(key: string): Write<A>[] {
    const mine = this.#queue.filter((w) => w.key === key);
    if (mine.length > 0) this.#queue = this.#queue.filter((w) => w.key !== key);
    return mine;
  }

  /** Resolves once everything queued so far has been written or rejected. */
  async idle(): Promise<void> {
    while (this.#flights > 0 || this.#queue.length > 0 || this.#scheduled) {
      await new Promise<void>((r) => this.#idle.push(r));
    }
  }

  /**
   * Starts transactions while fewer than `maxInFlight` are on their way, each with the queued
   * writes of actors that have none in flight (an actor's writes are in one transaction at a time,
   * so they commit in order; other actors' need not wait for it).
   */
  #start(): void {
    while (this.#flights < this.#o.maxInFlight && this.#queue.length > 0) {
      const batch: Write<A>[] = [];
      const rest: Write<A>[] = [];
      const held = new Set<string>();
      for (const w of this.#queue) {
        if (batch.length < this.#o.maxBatch && !this.#busy.has(w.key) && !held.has(w.key)) batch.push(w);
        else {
          rest.push(w);
          held.add(w.key);
        }
      }
      if (batch.length === 0) break;
      this.#queue = rest;
      const ok: Write<A>[] = [];
      for (const w of batch) {
        if (this.#o.isStale(w)) w.reject(new Error(`actor ${w.key} is reloading`));
        else ok.push(w);
      }
      if (ok.length === 0) continue;
      for (const w of ok) this.#busy.add(w.key);
      this.#flights++;
      void this.#write(ok).finally(() => {
        for (const w of ok) this.#busy.delete(w.key);
        this.#flights--;
        this.#start();
        if (this.#flights === 0 && this.#queue.length === 0) for (const r of this.#idle.splice(0)) r();
      });
    }
    if (this.#flights === 0 && this.#queue.length === 0) for (const r of this.#idle.splice(0)) r();
  }

  async #write(ok: Write<A>[]): Promise<void> {
    try {
      const t0 = performance.now();
      await this.#fast(ok);
      const ms = performance.now() - t0;
      this.stats.writes += ok.length;
      this.stats.ms += ms;
      this.stats.maxMs = Math.max(this.stats.maxMs, ms);
      this.stats.maxWrites = Math.max(this.stats.maxWrites, ok.length);
      this.batches++;
      for (const w of ok) this.#o.onCommitted(w);
    } catch (err) {
      this.#o.log.warn({ err: (err as Error)?.message, events: ok.length }, 'actor batch failed; writing it event by event');
      await this.#slow(ok);
    }
  }

  async #fast(writes: Write<A>[]): Promise<void> {
    const batch = mergeBatches(writes.map((w) => w.batch));
    // Issued together: postgres.js pipelines them on the transaction's connection (one round trip).
    // Nothing here depends on the order between the runtime's rows and the domain rows. The BEGIN
    // goes in the same round trip (sql.begin() would wait for it first): under load every round
    // trip of a transaction is time each of its events waits.
    const c = await this.#o.sql.reserve();
    try {
      const begun = c`begin`.execute();
      const tx = c as unknown as TransactionSql;
      // Every part settles before the ROLLBACK: nothing of this batch may be issued after it.
      try {
        await settleAll([begun, writeActorBatch(tx, batch), runDomainWrites(tx, writes), this.#o.scheduleTimers(tx, batch.timersArmed)]);
      } catch (err) {
        await c`rollback`.catch(() => {});
        throw err;
      }
      await c`commit`;
    } finally {
      c.release();
    }
  }

  async #slow(writes: Write<A>[]): Promise<void> {
    const committed: Write<A>[] = [];
    const failed: { w: Write<A>; err: unknown; later: Write<A>[] }[] = [];
    try {
      await this.#o.sql.begin(async (tx) => {
        const skip = new Set<string>();
        for (const [i, w] of writes.entries()) {
          if (skip.has(w.key)) continue;
          try {
            await tx.savepoint(async (sp) => {
              await writeActorBatch(sp, w.batch);
              await runDomainWrites(sp, [w]);
              await this.#o.scheduleTimers(sp, w.batch.timersArmed);
            });
            committed.push(w);
          } catch (err) {
            skip.add(w.key);
            failed.push({ w, err, later: writes.slice(i + 1).filter((x) => x.key === w.key) });
          }
        }
      });
    } catch (err) {
      this.#o.log.error({ err }, 'actor batch write failed');
      this.#o.onBatchFailed(writes, err);
      return;
    }
    this.batches++;
    for (const w of committed) this.#o.onCommitted(w);
    for (const f of failed) this.#o.onEventFailed(f.w, f.err, f.later);
  }
}

/**
 * Domain writes in event order per actor; different actors' chains are pipelined on the connection.
 * Actors whose every write in the batch is one write with `many` go through it together, in one
 * call (batch order keeps each actor's order).
 */
async function runDomainWrites(tx: TransactionSql, writes: Write<unknown>[]): Promise<void> {
  const chains = new Map<string, { fn: DomainWrite; ctx: WriteContext }[]>();
  for (const w of writes) {
    if (w.domain.length === 0) continue;
    const chain = chains.get(w.key);
    if (chain) chain.push(...w.domain);
    else chains.set(w.key, [...w.domain]);
  }
  if (chains.size === 0) return;
  const grouped = new Map<DomainWrite, Set<string>>();
  const alone: { fn: DomainWrite; ctx: WriteContext }[][] = [];
  for (const [key, chain] of chains) {
    const fn = chain[0]!.fn;
    if (fn.many && chain.every((d) => d.fn === fn)) {
      const keys = grouped.get(fn) ?? new Set<string>();
      keys.add(key);
      grouped.set(fn, keys);
    } else alone.push(chain);
  }
  const together = [...grouped].map(([fn, keys]) => {
    const ctxs: WriteContext[] = [];
    for (const w of writes) if (keys.has(w.key)) for (const d of w.domain) ctxs.push(d.ctx);
    return fn.many!(tx, ctxs);
  });
  await settleAll([
    ...together,
    ...alone.map(async (chain) => {
      for (const d of chain) await d.fn(tx, d.ctx);
    }),
  ]);
}

/** Like Promise.all, but rejects (with the first error) only once every promise has settled. */
async function settleAll(ps: Promise<unknown>[]): Promise<void> {
  const out = await Promise.allSettled(ps);
  const failed = out.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
