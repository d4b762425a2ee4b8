/**
 * The database monitor on real PostgreSQL, through a TCP proxy of our own: a stall (the proxy
 * stops carrying bytes, as with a frozen postgres) closes the gate as soon as the probe is late,
 * not at the next tick; the request pool being exhausted does not delay it (the probe has its own
 * connection); and the first answer after the stall opens the gate again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type Sql } from '../src/db/client.ts';
import { DatabaseMonitor } from '../src/db/monitor.ts';
import { createLogger } from '../src/log.ts';
import { createTestDatabase } from './support/db.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';

const TIMEOUT_MS = 300;
let proxy: TcpProxy;
let url: string;
let monitor: DatabaseMonitor;
let pool: Sql;

beforeAll(async () => {
  const target = new URL(await createTestDatabase());
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  target.host = `127.0.0.1:${proxy.port}`;
  url = target.toString();
  // No tick within the test: only probeNow() and the probe's own timer can move the gate.
  monitor = new DatabaseMonitor({ url, log: createLogger('silent'), intervalMs: 600_000, timeoutMs: TIMEOUT_MS, stuckMs: 600_000 });
  monitor.start();
  pool = createSql(url, { max: 2 });
});

afterAll(async () => {
  proxy.resume();
  await monitor.stop();
  await pool.end({ timeout: 1 }).catch(() => {});
  await proxy.close();
});

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!ok()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - started;
}

describe('DatabaseMonitor', () => {
  it('a stall closes the gate when the probe is late, with the request pool stuck too; the first answer opens it', async () => {
    monitor.probeNow();
    await new Promise((r) => setTimeout(r, 200));
    expect(monitor.isUp).toBe(true);
    // Both pool connections busy on queries that will not come back while the network is stalled.
    await pool`select 1`;
    proxy.pause();
    const stuck = [pool`select pg_sleep(0.01)`, pool`select pg_sleep(0.01)`, pool`select 1`].map((q) => q.catch(() => undefined));

    monitor.probeNow();
    const downAfter = await until('the gate closes', () => !monitor.isUp, 2000);
    expect(downAfter).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(downAfter).toBeLessThan(TIMEOUT_MS + 700);
    expect(monitor.state).toMatchObject({ up: false, reason: 'no answer' });

    proxy.resume();
    await until('the gate opens', () => monitor.isUp, 3000);
    await Promise.all(stuck);
  });
});
