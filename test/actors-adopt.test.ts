/**
 * A new home fires its actors' due timers itself (src/actors/runtime.ts, adopt): the timer's job may
 * be held by the previous owner, fetched by a process that was then killed or paused, and pg-boss
 * hands it out again only when it expires, minutes later. Real PostgreSQL and pg-boss; the job is
 * marked fetched the way a dying process leaves it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { ActorSystem, type ActorDefinition } from '../src/actors/runtime.ts';
import type { ActorHomes } from '../src/actors/types.ts';
import { loadSnapshot } from '../src/db/actors.ts';
import type { Sql } from '../src/db/client.ts';
import { startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { testSql } from './support/db.ts';

const log = createLogger('silent');
let sql: Sql;
let boss: PgBoss;
const systems: ActorSystem[] = [];

beforeAll(async () => {
  const db = await testSql();
  sql = db.sql;
  await migrate(sql, 'migrations');
  boss = await startJobs({ url: db.url, log, queues: [] });
});

afterAll(async () => {
  for (const s of systems) await s.stop();
  if (boss) await stopJobs(boss);
});

const bell = setup({ types: { context: {} as { rings: number }, events: {} as { type: 'arm' } } }).createMachine({
  id: 'bell',
  context: { rings: 0 },
  initial: 'idle',
  states: {
    idle: { on: { arm: 'waiting' } },
    waiting: { after: { 1500: { target: 'rang', actions: assign({ rings: ({ context }) => context.rings + 1 }) } } },
    rang: {},
  },
});
const def: ActorDefinition = { type: 'bell', version: 1, machine: bell };

/** One lease, `L`, held by whichever system is asked (the test plays the lease's rounds). */
const homes: ActorHomes = {
  leaseOf: (type) => (type === 'bell' ? 'L' : undefined),
  holds: () => true,
  forward: () => Promise.reject(new Error('not forwarded in this test')),
  call: () => Promise.reject(new Error('not called in this test')),
  claim: async () => true,
};

function newSystem(): ActorSystem {
  const s = new ActorSystem({ sql, boss, log, homes, outboxSweepMs: 100 });
  s.register(def);
  systems.push(s);
  return s;
}

it("a new home fires a due timer whose job the previous owner fetched and never finished", { timeout: 30_000 }, async () => {
  const first = newSystem();
  await first.start();
  await first.send('bell', 'b1', { type: 'arm' });
  // The previous owner fetched the timer's job and died (or froze) before delivering it.
  await first.stop();
  const held = await sql`update pgboss.job set state = 'active', started_on = now() where name = 'actor.timer' and data->>'id' = 'b1' and state < 'active' returning id`;
  expect(held).toHaveLength(1);

  const next = newSystem();
  await next.start();
  await next.adopt('L');
  await expect.poll(async () => (await loadSnapshot(sql, 'bell', 'b1'))?.state, { timeout: 10_000 }).toBe('rang');
  // Fired once: the late job, whenever it runs, finds the timer gone.
  expect(((await loadSnapshot(sql, 'bell', 'b1'))!.snapshot as { context: { rings: number } }).context.rings).toBe(1);
});
