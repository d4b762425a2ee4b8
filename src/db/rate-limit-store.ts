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
import { RateLimiterMemory, RateLimiterPostgres } from 'rate-limiter-flexible';
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
