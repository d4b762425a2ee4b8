/**
 * Events forwarded to an actor's home are delivered in the order they were stored
 * (src/actors/forwarding.ts). pg-boss hands a fetched batch back in no particular order (an UPDATE's
 * RETURNING), and a sync of what the database says delivered after a newer one would win: a
 * consultant's capacity stayed 3 after a change to 9. Real PostgreSQL and pg-boss: a sender stores
 * many events while the owner is not working its inbox, then the owner fetches them in one batch.
 */
import { afterAll, expect, it } from 'vitest';
import { ActorForwarding, type ForwardedEvent } from '../src/actors/forwarding.ts';
import { startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { createLogger } from '../src/log.ts';
import { testSql } from './support/db.ts';

const log = createLogger('silent');
let boss: PgBoss | undefined;

afterAll(async () => {
  if (boss) await stopJobs(boss, 1000).catch(() => {});
});

it('a batch fetched by the owner is delivered in the order it was sent', { timeout: 60_000 }, async () => {
  const { url } = await testSql();
  boss = await startJobs({ url, log, queues: [] });
  const delivered: number[] = [];
  const sender = new ActorForwarding({ boss, log, deliver: () => Promise.reject(new Error('not the owner')), holds: () => false });
  const owner = new ActorForwarding({
    boss,
    log,
    holds: () => true,
    deliver: async (e: ForwardedEvent) => {
      delivered.push((e.event as unknown as { n: number }).n);
      return { type: e.type, id: e.id, seq: delivered.length, live: true, state: 'x', value: 'x', status: 'active', context: {} } as never;
    },
  });
  await sender.prepare(['actors:consultant']);
  const n = 60;
  for (let i = 0; i < n; i++) {
    await sender.forward('actors:consultant', 'consultant', 'c1', { type: 'workload.synced', n: i } as never, { wait: false, durable: true });
  }
  await owner.serve('actors:consultant');
  await expect.poll(() => delivered.length, { timeout: 20_000 }).toBe(n);
  expect(delivered).toEqual([...Array(n).keys()]);
});
