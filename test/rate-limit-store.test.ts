/**
 * Rate limits counted in PostgreSQL (src/db/rate-limit-store.ts), two limiters standing for two
 * instances on one database: the exact one (every consume a round trip) and the batched one of the
 * webhook senders (counts flushed every few ms) both hold one limit for the two together.
 */
import pg from 'pg';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { describe, expect, it } from 'vitest';
import { migrate } from '../src/db/migrate.ts';
import { batchedPostgresLimiters, postgresLimiters } from '../src/db/rate-limit-store.ts';
import type { Limiter } from '../src/services/limiters.ts';
import { afterFile, testSql } from './support/db.ts';

async function setup() {
  const { sql, url } = await testSql();
  await migrate(sql, 'migrations');
  const pools = [new pg.Pool({ connectionString: url, max: 2 }), new pg.Pool({ connectionString: url, max: 2 })];
  afterFile(async () => {
    for (const p of pools) await p.end();
  });
  return pools;
}

async function accepted(limiters: Limiter[], n: number, key: string, pauseEvery = 0): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    try {
      await limiters[i % limiters.length]!.consume(key);
      ok++;
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
    }
    if (pauseEvery && i % pauseEvery === 0) await new Promise((r) => setTimeout(r, 20));
  }
  return ok;
}

/**
 * The batched limiter counts per clock minute: a test that straddles a minute's end starts afresh
 * halfway through and over-counts. Start with at least `needMs` left in the minute.
 */
async function startInsideAMinute(needMs = 8000): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 100));
}

describe('rate limits in PostgreSQL', () => {
  it('the exact limiter: two instances accept the limit once between them', async () => {
    const pools = await setup();
    const ls = pools.map((pool) => postgresLimiters({ pool })({ keyPrefix: 'client', points: 50, duration: 60 }));
    expect(await accepted(ls, 120, '203.0.113.1')).toBe(50);
  });

  it('the batched limiter: two instances accept about the limit between them (each alone would take it all)', async () => {
    const pools = await setup();
    const ls = pools.map((pool) => batchedPostgresLimiters({ pool, flushMs: 5 })({ keyPrefix: 'webhook-sender', points: 100, duration: 60 }));
    await startInsideAMinute();
    const ok = await accepted(ls, 300, 'sender-1', 5);
    // Per instance it would be 200; shared, over by at most what one flush interval lets through.
    expect(ok).toBeGreaterThanOrEqual(100);
    expect(ok).toBeLessThanOrEqual(110);
  });

  it('the batched limiter counts what it is still writing: a slow flush never lets one instance past the limit', async () => {
    const [pool] = await setup();
    // Every write to the shared row takes 300 ms, as on a busy database.
    const slow = { query: (...args: unknown[]) => new Promise((r) => setTimeout(r, 300)).then(() => (pool!.query as (...a: unknown[]) => unknown)(...args)) };
    const l = batchedPostgresLimiters({ pool: slow as unknown as pg.Pool, flushMs: 5 })({ keyPrefix: 'webhook-sender', points: 5, duration: 60 });
    await startInsideAMinute();
    // Spaced so that each flush is in flight when the next request comes.
    expect(await accepted([l], 12, 'sender-slow', 1)).toBe(5);
  });

  it('the batched limiter with the database gone counts per instance and does not throw', async () => {
    const pools = await setup();
    const dead = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', max: 1, connectionTimeoutMillis: 200 });
    const l = batchedPostgresLimiters({ pool: dead, flushMs: 5 })({ keyPrefix: 'webhook-sender', points: 20, duration: 60 });
    await startInsideAMinute();
    expect(await accepted([l], 50, 'sender-2', 5)).toBe(20);
    await dead.end();
    expect(pools.length).toBe(2);
  });
});
