/**
 * pg-boss's worker completes a job with a database call it does not await: when that call fails (a
 * cut, "too many clients"), its rejection went unhandled and crashed the server. Our patch
 * (patches/pg-boss+10.4.2.patch) reports it as an 'error' event; the job stays active and runs again
 * after it expires, as after a crash.
 */
import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../src/log.ts';
import { startJobs, stopJobs } from '../src/db/jobs.ts';
import { testSql } from './support/db.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

it('a job whose completion cannot reach the database is an error event, not an unhandled rejection', async () => {
  const { url } = await testSql();
  const target = new URL(url);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  target.hostname = '127.0.0.1';
  target.port = String(proxy.port);
  const boss = await startJobs({ url: target.toString(), log: createLogger('silent'), queues: [{ name: 'fragile', policy: 'standard' }] });
  const errors: { message?: string; queue?: string }[] = [];
  boss.on('error', (e: { message?: string; queue?: string }) => errors.push(e));
  let ran = 0;
  await boss.send('fragile', { n: 1 });
  await boss.work('fragile', { pollingIntervalSeconds: 0.5 }, async () => {
    ran++;
    // The database goes away while the job runs: completing it must fail.
    proxy.cut();
    await proxy.close();
  });
  await expect.poll(() => errors.some((e) => e.queue === 'fragile'), { timeout: 15_000 }).toBe(true);
  expect(ran).toBe(1);
  expect(unhandled).toEqual([]);
  await stopJobs(boss, 500).catch(() => {});
});
