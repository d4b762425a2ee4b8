/**
 * Rate limit counters in PostgreSQL (rate-limiter-flexible's RateLimiterPostgres on a `pg` pool,
 * table `rate_limits`, migration 015), so every instance on the database counts against one limit.
 *
 * While the database does not answer (the monitor says so, or the statement fails or times out
 * within `timeoutMs`), each limiter counts in this process's memory instead (its insurance
 * limiter): limits hold per instance, requests are neither refused for it nor waiting on it, and
 * nothing throws. The shared count resumes when the database answers again.
 *
 * @example
 * const make = postgresLimiters({ pool, databaseAvailable: () => monitor.isUp });
 * const limiter = make({ keyPrefix: 'client', points: 200, duration: 60 });
 * await limiter.consume(ip); // rejects with a RateLimiterRes past the limit
 */
import type pg from 'pg';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Limiter, LimiterOptions, MakeLimiter } from '../services/limiters.ts';

export function postgresLimiters(o: { pool: pg.Pool; databaseAvailable?: () => boolean }): MakeLimiter {
  return (opts: LimiterOptions): Limiter => {
    const memory = new RateLimiterMemory({ keyPrefix: opts.keyPrefix, points: opts.points, duration: opts.duration });
    const shared = new RateLimiterPostgres({
      storeClient: o.pool,
      storeType: 'pool',
      tableName: 'rate_limits',
      tableCreated: true,
      keyPrefix: opts.keyPrefix,
      points: opts.points,
      duration: opts.duration,
      insuranceLimiter: memory,
    });
    const pick = () => (o.databaseAvailable && !o.databaseAvailable() ? memory : shared);
    return {
      consume: (key, points = 1) => pick().consume(key, points),
      reward: (key, points = 1) => pick().reward(key, points),
      delete: (key) => pick().delete(key),
    };
  };
}

/**
 * A shared limit for hot keys (every signed webhook of a sender hits one key): a database round
 * trip per request on one row would serialize the webhook path on that row's lock. Here each
 * instance counts locally and adds its count to the shared row every `flushMs`, learning the total
 * of all instances back in the same statement; a request is allowed while the last known total
 * plus what this instance counted since stays under the limit. Across instances the limit may be
 * overshot by what the others accepted within one flush interval. While the database does not
 * answer, the local count alone applies (a per-instance limit); nothing throws or waits.
 *
 * @example
 * const make = batchedPostgresLimiters({ pool });
 * const senders = make({ keyPrefix: 'webhook-sender', points: 60_000, duration: 60 });
 */
export function batchedPostgresLimiters(o: { pool: pg.Pool; flushMs?: number; log?: { warn(obj: object, msg: string): void } }): MakeLimiter {
  return (opts: LimiterOptions): Limiter => {
    const durationMs = opts.duration * 1000;
    interface Slot {
      window: number;
      /** The shared total as last read back. */
      known: number;
      /** Counted here, on its way to the shared row (not in `known` yet). */
      sending: number;
      /** Counted here since. */
      pending: number;
    }
    const slots = new Map<string, Slot>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let flushing = false;
    const windowOf = (t: number) => Math.floor(t / durationMs);
    const slot = (key: string): Slot => {
      const w = windowOf(Date.now());
      let s = slots.get(key);
      if (!s || s.window !== w) slots.set(key, (s = { window: w, known: 0, sending: 0, pending: 0 }));
      return s;
    };
    const flush = async () => {
      timer = undefined;
      if (flushing) return schedule();
      const batch = [...slots.entries()].filter(([, s]) => s.pending !== 0);
      if (batch.length === 0) return;
      flushing = true;
      const sent = batch.map(([key, s]) => ({ key: `${opts.keyPrefix}:${key}:${s.window}`, slot: s, n: s.pending }));
      for (const b of sent) {
        b.slot.pending = 0;
        b.slot.sending += b.n;
      }
      try {
        const { rows } = await o.pool.query<{ key: string; points: number }>(
          `insert into rate_limits (key, points, expire)
           select k, n, e from unnest($1::text[], $2::int[], $3::bigint[]) as t(k, n, e)
           on conflict (key) do update set points = rate_limits.points + excluded.points
           returning key, points`,
          [sent.map((b) => b.key), sent.map((b) => b.n), sent.map((b) => (b.slot.window + 1) * durationMs)],
        );
        const totals = new Map(rows.map((r) => [r.key, r.points]));
        for (const b of sent) {
          b.slot.known = totals.get(b.key) ?? b.slot.known + b.n;
          b.slot.sending -= b.n;
        }
      } catch (err) {
        // Counted here instead: the local count keeps applying; the shared row misses it.
        for (const b of sent) {
          b.slot.known += b.n;
          b.slot.sending -= b.n;
        }
        o.log?.warn({ err: (err as Error).message }, 'shared rate limit count not written; counting in this instance');
      } finally {
        flushing = false;
      }
      for (const [key, s] of slots) if (s.window < windowOf(Date.now()) && s.pending === 0 && s.sending === 0) slots.delete(key);
    };
    const schedule = () => {
      timer ??= setTimeout(() => void flush(), o.flushMs ?? 50);
      timer.unref?.();
    };
    // What this instance knows was consumed: the shared total, plus its own counts still on their way.
    const used = (s: Slot) => s.known + s.sending + s.pending;
    const result = (s: Slot, remaining: number) =>
      new RateLimiterRes(Math.max(0, remaining), (s.window + 1) * durationMs - Date.now(), used(s), used(s) === 1);
    return {
      async consume(key, points = 1) {
        const s = slot(key);
        if (used(s) + points > opts.points) throw result(s, 0);
        s.pending += points;
        schedule();
        return result(s, opts.points - used(s));
      },
      async reward(key, points = 1) {
        const s = slot(key);
        s.pending -= points;
        schedule();
        return result(s, opts.points - used(s));
      },
      async delete(key) {
        slots.delete(key);
        await o.pool.query('delete from rate_limits where key like $1', [`${opts.keyPrefix}:${key}:%`]).catch(() => {});
        return true;
      },
    };
  };
}
