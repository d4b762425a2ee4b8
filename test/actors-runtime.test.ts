/**
 * The runtime's guarantees for conversation and WhatsApp session actors (issue 7), against a real
 * PostgreSQL and a real pg-boss: plain XState `after` as durable timers, what register() refuses,
 * domain writes in the event's transaction, one bad event failing alone, effects in order with
 * timeouts, retries and dead letters, load errors, reset, resource hooks, pruning, no-op events.
 *
 * The tests wait for facts in the database, never for a duration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assign, createMachine, emit, enqueueActions, fromPromise, raise, sendTo, setup, spawnChild } from 'xstate';
import { CONSULTANT, consultantActor } from '../src/actors/consultant.ts';
import { actorDetail } from '../src/actors/inspection.ts';
import { KEEP_LAST_EVENTS, PRUNE_QUEUE, startActorPruning, stopActorPruning } from '../src/actors/pruning.ts';
import {
  ActorCrashedError,
  ActorFailedError,
  ActorSystem,
  ActorUnavailableError,
  EventRejectedError,
  UnsupportedMachineError,
  type ActorDefinition,
  type EffectContext,
} from '../src/actors/runtime.ts';
import { pruneActorTables } from '../src/db/actor-pruning.ts';
import { journalFor, loadSnapshot } from '../src/db/actors.ts';
import type { Sql, TransactionSql } from '../src/db/client.ts';
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
  await sql`create table test_notes (id serial primary key, actor_id text not null, seq bigint not null, body text not null)`;
  await sql`create table test_effect_runs (id serial primary key, effect_id uuid not null unique, actor_id text not null, n int not null)`;
  boss = await startJobs({ url: db.url, log, queues: [] });
});

afterAll(async () => {
  for (const s of systems) await s.stop();
  if (boss) await stopJobs(boss);
});

function newSystem(defs: ActorDefinition[], opts: Partial<ConstructorParameters<typeof ActorSystem>[0]> = {}): ActorSystem {
  const system = new ActorSystem({ sql, boss, log, outboxSweepMs: 100, effectRetryBaseMs: 20, effectTimeoutMs: 300, effectAttempts: 3, ...opts });
  for (const d of defs) system.register(d);
  systems.push(system);
  return system;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const types = async (type: string, id: string) => (await journalFor(sql, type, id)).map((j) => (j.event as { type: string }).type);

// ---------------------------------------------------------------------------------------------
// Durable timers from plain XState

const alarmMachine = setup({
  types: {
    context: {} as { delayMs: number; rings: number; pings: number },
    events: {} as { type: 'arm'; delayMs: number } | { type: 'disarm' } | { type: 'ping.later'; delayMs: number } | { type: 'ping' } | { type: 'boom' },
  },
  delays: { ALARM: ({ context }) => context.delayMs },
}).createMachine({
  id: 'alarm',
  context: { delayMs: 0, rings: 0, pings: 0 },
  initial: 'idle',
  on: {
    'ping.later': { actions: [assign({ delayMs: ({ event }) => event.delayMs }), raise({ type: 'ping' }, { delay: ({ context }) => context.delayMs, id: 'ping' })] },
    ping: { actions: assign({ pings: ({ context }) => context.pings + 1 }) },
    boom: {
      actions: assign(() => {
        throw new Error('boom');
      }),
    },
  },
  states: {
    idle: { on: { arm: { target: 'waiting', actions: assign({ delayMs: ({ event }) => event.delayMs }) } } },
    waiting: {
      after: { ALARM: { target: 'rang', actions: assign({ rings: ({ context }) => context.rings + 1 }) } },
      on: { disarm: 'idle' },
    },
    rang: { on: { arm: { target: 'waiting', actions: assign({ delayMs: ({ event }) => event.delayMs }) } } },
  },
});
const RING = 'xstate.after.ALARM.alarm.waiting';
const alarmDef: ActorDefinition = { type: 'alarm', version: 1, machine: alarmMachine };

describe('after delays are durable timers', () => {
  let system: ActorSystem;
  beforeAll(async () => {
    system = newSystem([alarmDef, { ...alarmDef, type: 'alarm-strict', restartBudget: { max: 0, windowMs: 60_000 } }]);
    await system.start();
  });

  const rang = (id: string) =>
    until(`${id} to ring`, async () => {
      const v = await system.inspect('alarm', id);
      return v?.state === 'rang' ? v : undefined;
    });
  const timerJobsDone = (id: string) =>
    until(`the timer jobs of ${id} to finish`, async () => {
      const rows = await sql<{ state: string }[]>`
        select state::text from pgboss.job where name = 'actor.timer' and data->>'id' = ${id}`;
      return rows.length > 0 && rows.every((r) => r.state === 'completed');
    });

  it('shows an armed timer with its due time in the actor detail', async () => {
    const before = Date.now();
    await system.send('alarm', 'inspected', { type: 'arm', delayMs: 600_000 });
    const detail = await actorDetail(sql, system, 'alarm', 'inspected', 10);
    expect(detail?.timers).toEqual([{ key: RING, event: RING, due_at: expect.any(String) }]);
    expect(Date.parse(detail!.timers[0]!.due_at)).toBeGreaterThanOrEqual(before + 600_000 - 1000);
  });

  it('fires once while the actor is live', async () => {
    await system.send('alarm', 'live', { type: 'arm', delayMs: 200 });
    const [timer] = await sql<{ key: string }[]>`select key from actor_timers where actor_id = 'live'`;
    expect(timer?.key).toBe(RING);
    expect((await rang('live')).context).toMatchObject({ rings: 1 });
    await timerJobsDone('live');
    expect((await types('alarm', 'live')).filter((t) => t === RING)).toHaveLength(1);
    expect(await sql`select 1 from actor_timers where actor_id = 'live'`).toHaveLength(0);
  });

  it('fires once after the actor was passivated', async () => {
    await system.send('alarm', 'sleepy', { type: 'arm', delayMs: 300 });
    expect(system.passivateIdle(Date.now() + 3_600_000)).toBeGreaterThan(0);
    expect(system.peek('alarm', 'sleepy')).toBeUndefined();
    expect((await rang('sleepy')).context).toMatchObject({ rings: 1 });
    await timerJobsDone('sleepy');
    expect((await types('alarm', 'sleepy')).filter((t) => t === RING)).toHaveLength(1);
  });

  it('is cancelled by leaving the state first', async () => {
    await system.send('alarm', 'left', { type: 'arm', delayMs: 200 });
    await system.send('alarm', 'left', { type: 'disarm' });
    expect(await sql`select 1 from actor_timers where actor_id = 'left'`).toHaveLength(0);
    await timerJobsDone('left');
    expect(await types('alarm', 'left')).toEqual(['xstate.init', 'arm', 'disarm']);
  });

  it('keeps a timer that fell due while its actor was failed, and fires it after a reset', async () => {
    await system.send('alarm-strict', 'failing', { type: 'arm', delayMs: 200 });
    await expect(system.send('alarm-strict', 'failing', { type: 'boom' })).rejects.toBeInstanceOf(ActorFailedError);
    await timerJobsDone('failing');
    expect(await sql`select 1 from actor_timers where actor_id = 'failing'`).toHaveLength(1);
    expect(await system.inspect('alarm-strict', 'failing')).toMatchObject({ status: 'failed', state: 'waiting' });
    await system.reset('alarm-strict', 'failing', 'admin');
    const v = await until('the kept timer to fire', async () => {
      const x = await system.inspect('alarm-strict', 'failing');
      return x?.state === 'rang' ? x : undefined;
    });
    expect(v).toMatchObject({ status: 'active', context: { rings: 1 } });
    expect(await sql`select 1 from actor_timers where actor_id = 'failing'`).toHaveLength(0);
  });

  it('makes a delayed raise to self durable too', async () => {
    await system.send('alarm', 'pinger', { type: 'ping.later', delayMs: 150 });
    const v = await until('the ping', async () => {
      const x = await system.inspect('alarm', 'pinger');
      return (x?.context as { pings: number }).pings === 1 ? x : undefined;
    });
    expect(v.state).toBe('idle');
    await timerJobsDone('pinger');
    expect((await types('alarm', 'pinger')).filter((t) => t === 'ping')).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------
// register()

describe('register() refuses what it cannot run durably', () => {
  const system = () => new ActorSystem({ sql, boss, log });
  const def = (machine: ActorDefinition['machine'], effects: ActorDefinition['effects'] = {}): ActorDefinition => ({ type: 't', version: 1, machine, effects });

  it.each([
    ['invoke of a promise', setup({ actors: { fetchIt: fromPromise(async () => 1) } }).createMachine({ id: 'inv', initial: 'a', states: { a: { invoke: { src: 'fetchIt' } } } }), /machine "inv".*state "inv\.a".*invoke of "fetchIt"/],
    ['spawnChild', setup({ actors: { child: createMachine({}) } }).createMachine({ id: 'sp', initial: 'a', states: { a: { entry: spawnChild('child') } } }), /machine "sp".*state "sp\.a".*spawnChild/],
    ['sendTo another actor', createMachine({ id: 'st', initial: 'a', states: { a: { on: { go: { actions: sendTo('other', { type: 'x' }) } } } } }), /machine "st".*state "st\.a".*sendTo/],
    ['emit', createMachine({ id: 'em', initial: 'a', states: { a: { entry: emit({ type: 'x' }) } } }), /machine "em".*state "em\.a".*emit/],
    ['an inline function action', createMachine({ id: 'fn', initial: 'a', states: { a: { entry: () => {} } } }), /machine "fn".*state "fn\.a".*inline function/],
    ['an effect with no handler', setup({ actions: { 'x.send': () => {} } }).createMachine({ id: 'nh', initial: 'a', states: { a: { entry: 'x.send' } } }), /machine "nh".*state "nh\.a".*"x\.send" has no effect handler/],
    ['an undefined named delay', createMachine({ id: 'dl', initial: 'a', states: { a: { after: { LATER: 'b' } }, b: {} } }), /machine "dl".*state "dl\.a".*delay "LATER"/],
  ])('refuses %s, naming machine, state and action', (_what, machine, message) => {
    expect(() => system().register(def(machine))).toThrow(UnsupportedMachineError);
    expect(() => system().register(def(machine))).toThrow(message);
  });

  it('refuses a handler whose name the machine never uses', () => {
    const machine = setup({ actions: { 'x.send': () => {} } }).createMachine({ id: 'ex', initial: 'a', states: { a: { entry: 'x.send' } } });
    expect(() => system().register(def(machine, { 'x.send': () => {}, 'x.typo': () => {} }))).toThrow(/machine "ex".*handler "x\.typo" has no action/);
    expect(() => system().register(def(machine, { 'x.send': () => {} }))).not.toThrow();
  });

  it('accepts assign, raise, cancel, log, guards and after', () => {
    expect(() => system().register(alarmDef)).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// Domain writes, isolation

const noteMachine = setup({
  types: { context: {} as { notes: number; last: string }, events: {} as { type: 'note.add'; body: string } | { type: 'note.fail' } | { type: 'set'; v: number } },
}).createMachine({
  id: 'noter',
  context: { notes: 0, last: '' },
  on: {
    'note.add': { actions: assign({ notes: ({ context }) => context.notes + 1, last: ({ event }) => event.body }) },
    'note.fail': { actions: assign({ notes: ({ context }) => context.notes + 1 }) },
    set: { actions: assign({ last: ({ event }) => String(event.v) }) },
  },
});

/** A repository function: it receives the event's transaction. */
async function insertNote(tx: TransactionSql, actorId: string, seq: number, body: string): Promise<void> {
  await tx`insert into test_notes (actor_id, seq, body) values (${actorId}, ${seq}, ${body})`;
}

const noteDef: ActorDefinition = {
  type: 'noter',
  version: 1,
  machine: noteMachine,
  writes: {
    'note.add': (tx, w) => insertNote(tx, w.actorId, w.seq, (w.event as unknown as { body: string }).body),
    'note.fail': async () => {
      throw new Error('the repository refused');
    },
  },
};

describe('domain writes and isolation', () => {
  let system: ActorSystem;
  beforeAll(async () => {
    system = newSystem([noteDef]);
    await system.start();
  });

  const notesOf = async (id: string) => (await sql<{ seq: string; body: string }[]>`select seq, body from test_notes where actor_id = ${id} order by seq`).map((r) => [Number(r.seq), r.body]);

  it('commits the domain row with the snapshot and journal entry', async () => {
    const v = await system.send('noter', 'n1', { type: 'note.add', body: 'olá' });
    expect(v.seq).toBe(1);
    expect(await notesOf('n1')).toEqual([[1, 'olá']]);
    expect(await types('noter', 'n1')).toEqual(['xstate.init', 'note.add']);
  });

  it('fails one event with a NUL byte in a batch of 50; the other 49 commit', async () => {
    const batches = system.stats.batches;
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => system.send('noter', `b${i}`, { type: 'note.add', body: i === 17 ? 'bad\u0000byte' : `ok ${i}` })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(49);
    const bad = results[17] as PromiseRejectedResult;
    expect(bad.status).toBe('rejected');
    expect(bad.reason).toBeInstanceOf(EventRejectedError);
    expect(String(bad.reason.message)).toMatch(/note\.add.*noter\/b17/);
    expect(system.stats.batches - batches).toBeLessThan(50);
    for (let i = 0; i < 50; i++) {
      if (i === 17) continue;
      expect(await notesOf(`b${i}`)).toEqual([[1, `ok ${i}`]]);
    }
    expect(await notesOf('b17')).toEqual([]);
    // The bad actor is where it was before the event, and takes the next one.
    const next = await system.send('noter', 'b17', { type: 'note.add', body: 'fine' });
    expect(next).toMatchObject({ seq: 1, context: { notes: 1, last: 'fine' } });
    expect(await notesOf('b17')).toEqual([[1, 'fine']]);
  });

  it('replays the same actor’s later events on the state before the bad one', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => system.send('noter', 'same', { type: 'note.add', body: i === 4 ? '\u0000' : `n${i}` })),
    );
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 10 }, (_, i) => (i === 4 ? 'rejected' : 'fulfilled')));
    const journal = await journalFor(sql, 'noter', 'same');
    expect(journal.map((j) => j.seq)).toEqual(journal.map((_, i) => i));
    expect(journal).toHaveLength(10);
    const row = await loadSnapshot(sql, 'noter', 'same');
    expect(row?.seq).toBe(9);
    expect((row!.snapshot as { context: { notes: number } }).context.notes).toBe(9);
    expect(await notesOf('same')).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9].map((n, i) => [i + 1, `n${n}`]));
  });

  it('fails an event whose repository function throws, with a clear error', async () => {
    await expect(system.send('noter', 'thrower', { type: 'note.fail' })).rejects.toThrow(/note\.fail.*the repository refused/);
    expect((await system.send('noter', 'thrower', { type: 'note.add', body: 'x' })).seq).toBe(1);
  });

  it('does not journal an event that changes neither state nor context', async () => {
    await system.send('noter', 'quiet', { type: 'set', v: 1 });
    const again = await system.send('noter', 'quiet', { type: 'set', v: 1 });
    expect(again.seq).toBe(1);
    expect(await types('noter', 'quiet')).toEqual(['xstate.init', 'set']);
  });

  it('does not journal a consultant’s workload.synced that changes nothing', async () => {
    const consultants = newSystem([consultantActor({ presenceChanged: () => {}, eligibilityChanged: () => {} })]);
    const synced = { type: 'workload.synced', openLeads: 2, maxOpenLeads: 5, lastAssignedAt: null };
    for (let i = 0; i < 5; i++) await consultants.send(CONSULTANT, 'c-quiet', synced);
    await consultants.send(CONSULTANT, 'c-quiet', { ...synced, openLeads: 3 });
    expect(await types(CONSULTANT, 'c-quiet')).toEqual(['xstate.init', 'workload.synced', 'workload.synced']);
  });

  it('refuses, as a crash, an action enqueueActions produced that has no handler', async () => {
    const machine = setup({ actions: { 'x.known': () => {} } }).createMachine({
      id: 'dyn',
      on: {
        go: { actions: enqueueActions(({ enqueue }) => enqueue({ type: 'x.unknown' } as never)) },
        ok: { actions: 'x.known' },
      },
    });
    const dyn = newSystem([{ type: 'dyn', version: 1, machine, effects: { 'x.known': () => {} } }]);
    await expect(dyn.send('dyn', 'd1', { type: 'go' })).rejects.toThrow(/action "x\.unknown" has no effect handler/);
    expect(await types('dyn', 'd1')).toEqual(['xstate.init']);
  });

  it('shows the state after each event in the history', async () => {
    const detail = await actorDetail(sql, system, 'alarm', 'live', 2);
    expect(detail?.events.map((e) => [e.type, e.state])).toEqual([
      ['arm', 'waiting'],
      [RING, 'rang'],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Load errors, reset, resource hooks

const crashMachine = setup({
  types: { context: {} as { count: number }, events: {} as { type: 'inc' } | { type: 'boom' } },
}).createMachine({
  id: 'crashy',
  context: { count: 0 },
  on: {
    inc: { actions: assign({ count: ({ context }) => context.count + 1 }) },
    boom: {
      actions: assign(() => {
        throw new Error('boom');
      }),
    },
  },
});

describe('supervision', () => {
  it('retries a load-time database error and does not spend the restart budget', async () => {
    const system = newSystem([{ type: 'crashy', version: 1, machine: crashMachine, restartBudget: { max: 1, windowMs: 60_000 } }], { loadAttempts: 2 });
    await system.send('crashy', 'loady', { type: 'inc' });
    system.passivateIdle(Date.now() + 3_600_000);
    await sql`alter table actor_snapshots rename to actor_snapshots_away`;
    try {
      for (let i = 0; i < 3; i++) await expect(system.send('crashy', 'loady', { type: 'inc' })).rejects.toBeInstanceOf(ActorUnavailableError);
    } finally {
      await sql`alter table actor_snapshots_away rename to actor_snapshots`;
    }
    expect(system.stats.loadErrors).toBe(6);
    const v = await system.send('crashy', 'loady', { type: 'inc' });
    expect(v).toMatchObject({ status: 'active', seq: 2, context: { count: 2 } });
    // The budget (one crash) is untouched: one crash restarts, the second fails.
    await expect(system.send('crashy', 'loady', { type: 'boom' })).rejects.toBeInstanceOf(ActorCrashedError);
    await expect(system.send('crashy', 'loady', { type: 'boom' })).rejects.toBeInstanceOf(ActorFailedError);
  });

  it('resets a failed actor from its last good snapshot, in the journal', async () => {
    const system = newSystem([{ type: 'crashy', version: 1, machine: crashMachine, restartBudget: { max: 0, windowMs: 60_000 } }]);
    await system.send('crashy', 'resettable', { type: 'inc' });
    await expect(system.send('crashy', 'resettable', { type: 'boom' })).rejects.toBeInstanceOf(ActorFailedError);
    expect((await loadSnapshot(sql, 'crashy', 'resettable'))?.status).toBe('failed');
    const reset = await system.reset('crashy', 'resettable', 'admin-1');
    expect(reset).toMatchObject({ status: 'active', seq: 2, context: { count: 1 } });
    expect(await loadSnapshot(sql, 'crashy', 'resettable')).toMatchObject({ status: 'active', failure: null, seq: 2 });
    const journal = await journalFor(sql, 'crashy', 'resettable');
    expect(journal.at(-1)?.event).toEqual({ type: 'actor.reset', by: 'admin-1' });
    expect((await system.send('crashy', 'resettable', { type: 'inc' })).context).toEqual({ count: 2 });
    expect(await system.reset('crashy', 'nobody', 'admin-1')).toBeUndefined();
  });

  it('runs a resource actor’s hooks across start, crash, reset and shutdown, and never passivates it', async () => {
    const calls: string[] = [];
    const def: ActorDefinition = {
      type: 'resource',
      version: 1,
      machine: crashMachine,
      idleMs: 1,
      start: (h) => void calls.push(`start ${h.actorId}`),
      stop: (h) => void calls.push(`stop ${h.actorId} ${h.reason}`),
    };
    const system = newSystem([def]);
    await system.start();
    await system.send('resource', 'r1', { type: 'inc' });
    await system.send('resource', 'r1', { type: 'inc' });
    expect(calls).toEqual(['start r1']);
    await expect(system.send('resource', 'r1', { type: 'boom' })).rejects.toBeInstanceOf(ActorCrashedError);
    expect(calls).toEqual(['start r1', 'stop r1 crash', 'start r1']);
    await system.reset('resource', 'r1', 'admin');
    expect(calls).toEqual(['start r1', 'stop r1 crash', 'start r1', 'stop r1 reset', 'start r1']);
    expect(system.passivateIdle(Date.now() + 3_600_000)).toBe(0);
    expect(system.peek('resource', 'r1')).toBeDefined();
    await system.stop();
    expect(calls.slice(5)).toEqual(['stop r1 shutdown']);

    // The next process brings it back: its resource must be reopened.
    const next = newSystem([def]);
    await next.start();
    expect(calls.slice(6)).toEqual(['start r1']);
    await next.stop();
    expect(calls.slice(7)).toEqual(['stop r1 shutdown']);
  });
});

// ---------------------------------------------------------------------------------------------
// Effects

const fxMachine = setup({
  types: {
    context: {} as { sent: number; discarded: number[] },
    events: {} as { type: 'send'; n: number } | { type: 'effect.discarded'; effectId: string; effect: string; params: { n: number }; by: string },
  },
  actions: { 'fx.call': (_, _p: { n: number }) => {} },
}).createMachine({
  id: 'fx',
  context: { sent: 0, discarded: [] },
  on: {
    send: { actions: [assign({ sent: ({ context }) => context.sent + 1 }), { type: 'fx.call', params: ({ event }) => ({ n: event.n }) }] },
    // The runtime tells the actor which of its effects an admin gave up.
    'effect.discarded': { actions: assign({ discarded: ({ context, event }) => [...context.discarded, event.params.n] }) },
  },
});

describe('effects', () => {
  /** How each n behaves per call: 'fail', 'hang', or 'ok'; missing means ok. */
  const script = new Map<number, string[]>();
  const calls: { n: number; effectId: string; attempt: number }[] = [];
  let system: ActorSystem;
  beforeAll(async () => {
    system = newSystem([
      {
        type: 'fx',
        version: 1,
        machine: fxMachine,
        effects: {
          'fx.call': {
            timeoutMs: 200,
            run: async (p: { n: number }, ctx: EffectContext) => {
              calls.push({ n: p.n, effectId: ctx.effectId, attempt: ctx.attempt });
              const what = script.get(p.n)?.shift() ?? 'ok';
              if (what === 'fail') throw new Error(`n ${p.n} fails`);
              if (what === 'hang') await new Promise((r) => setTimeout(r, 2000));
              await sql`insert into test_effect_runs (effect_id, actor_id, n) values (${ctx.effectId}, ${ctx.actorId}, ${p.n}) on conflict (effect_id) do nothing`;
            },
          },
        },
      },
    ]);
    await system.start();
  });

  const runs = async (id: string) => (await sql<{ n: number }[]>`select n from test_effect_runs where actor_id = ${id} order by id`).map((r) => r.n);

  it('runs effects exactly once and in order through a failure, a timeout and a retry; others are not held back', async () => {
    script.set(2, ['fail']);
    script.set(3, ['hang']);
    for (const n of [1, 2, 3, 4, 5]) await system.send('fx', 'ordered', { type: 'send', n });
    await system.send('fx', 'bystander', { type: 'send', n: 100 });
    await until('every effect done', async () => (await runs('ordered')).length === 5);
    expect(await runs('ordered')).toEqual([1, 2, 3, 4, 5]);
    expect(await runs('bystander')).toEqual([100]);
    const mine = calls.filter((c) => c.n < 100);
    expect(mine.map((c) => [c.n, c.attempt])).toEqual([
      [1, 1],
      [2, 1],
      [2, 2],
      [3, 1],
      [3, 2],
      [4, 1],
      [5, 1],
    ]);
    // One id per effect, kept across its retries.
    expect(new Set(mine.filter((c) => c.n === 2).map((c) => c.effectId)).size).toBe(1);
    const pending = await sql`select 1 from actor_outbox where actor_id = 'ordered' and done_at is null`;
    expect(pending).toHaveLength(0);
  });

  it('dead-letters an effect past its budget, holds back the later ones, and runs them after an admin retry', async () => {
    script.set(10, ['fail', 'fail', 'fail']);
    await system.send('fx', 'doomed', { type: 'send', n: 10 });
    await system.send('fx', 'doomed', { type: 'send', n: 11 });
    const detail = await until('the dead letter', async () => {
      const d = await actorDetail(sql, system, 'fx', 'doomed', 10);
      return d && d.dead_effects.length === 1 ? d : undefined;
    });
    expect(detail.dead_effects[0]).toMatchObject({ type: 'fx.call', attempts: 3, last_error: 'n 10 fails' });
    expect(await runs('doomed')).toEqual([]);
    // Sweeps come and go; the later effect stays behind the dead one.
    const sweepsLater = system.effectStats.failed;
    await until('another sweep', async () => {
      await new Promise((r) => setTimeout(r, 300));
      return true;
    });
    expect(system.effectStats.failed).toBe(sweepsLater);
    expect(await runs('doomed')).toEqual([]);

    const effectId = detail.dead_effects[0]!.id;
    await expect(system.retryEffect('fx', 'doomed', 'e2c8a0c2-0000-4000-8000-000000000000', 'admin-1')).resolves.toBe('not_found');
    const view = await system.retryEffect('fx', 'doomed', effectId, 'admin-1');
    expect(view).toMatchObject({ seq: 3 });
    await until('both effects done', async () => (await runs('doomed')).length === 2);
    expect(await runs('doomed')).toEqual([10, 11]);
    expect((await journalFor(sql, 'fx', 'doomed')).at(-1)?.event).toEqual({ type: 'actor.effect.retried', effectId, by: 'admin-1' });
    expect((await actorDetail(sql, system, 'fx', 'doomed', 10))?.dead_effects).toEqual([]);
  });

  it('discards a dead letter: kept with who and when, journalled, the actor told, and the later effects run', async () => {
    script.set(20, ['fail', 'fail', 'fail']);
    await system.send('fx', 'given-up', { type: 'send', n: 20 });
    await system.send('fx', 'given-up', { type: 'send', n: 21 });
    const detail = await until('the dead letter', async () => {
      const d = await actorDetail(sql, system, 'fx', 'given-up', 10);
      return d && d.dead_effects.length === 1 ? d : undefined;
    });
    expect(await runs('given-up')).toEqual([]);
    const effectId = detail.dead_effects[0]!.id;
    await expect(system.discardEffect('fx', 'given-up', 'e2c8a0c2-0000-4000-8000-000000000000', 'admin-1')).resolves.toBe('not_found');
    await expect(system.discardEffect('nope', 'given-up', effectId, 'admin-1')).resolves.toBe('not_found');
    const view = await system.discardEffect('fx', 'given-up', effectId, 'admin-1');
    if (view === 'not_found') throw new Error('not found');
    // The machine received `effect.discarded` with the effect's params.
    expect(view.context).toMatchObject({ sent: 2, discarded: [20] });
    await until('the later effect done', async () => (await runs('given-up')).length === 1);
    expect(await runs('given-up')).toEqual([21]);
    const events = (await journalFor(sql, 'fx', 'given-up')).map((j) => j.event);
    expect(events.at(-2)).toEqual({ type: 'actor.effect.discarded', effectId, by: 'admin-1' });
    expect(events.at(-1)).toMatchObject({ type: 'effect.discarded', effectId, effect: 'fx.call', params: { n: 20 }, by: 'admin-1' });
    const after = await actorDetail(sql, system, 'fx', 'given-up', 10);
    expect(after?.dead_effects).toEqual([]);
    expect(after?.discarded_effects).toEqual([
      expect.objectContaining({ id: effectId, type: 'fx.call', attempts: 3, last_error: 'n 20 fails', discarded_by: 'admin-1', discarded_by_name: null }),
    ]);
    expect(Date.now() - Date.parse(after!.discarded_effects[0]!.discarded_at)).toBeLessThan(60_000);
    // Discarded once: not dead any more, and never run.
    await expect(system.discardEffect('fx', 'given-up', effectId, 'admin-1')).resolves.toBe('not_found');
    await expect(system.retryEffect('fx', 'given-up', effectId, 'admin-1')).resolves.toBe('not_found');
    expect(calls.filter((c) => c.n === 20)).toHaveLength(3);
    // Pruning keeps it as long as the journal keeps its events, not just a day.
    await sql`update actor_outbox set done_at = now() - interval '2 days', discarded_at = now() - interval '2 days' where id = ${effectId}`;
    await pruneActorTables(sql, { journalDays: 30, keepLast: KEEP_LAST_EVENTS, doneEffectHours: 24 });
    expect(await sql`select 1 from actor_outbox where id = ${effectId}`).toHaveLength(1);
    await sql`update actor_outbox set done_at = now() - interval '40 days', discarded_at = now() - interval '40 days' where id = ${effectId}`;
    await pruneActorTables(sql, { journalDays: 30, keepLast: KEEP_LAST_EVENTS, doneEffectHours: 24 });
    expect(await sql`select 1 from actor_outbox where id = ${effectId}`).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Pruning

describe('pruning', () => {
  it('removes old journal entries but keeps the last events of each actor, and done effects', async () => {
    const system = newSystem([{ ...noteDef, type: 'pruned', writes: {} }]);
    for (let i = 0; i < 150; i++) await system.send('pruned', 'old', { type: 'set', v: i });
    for (let i = 0; i < 20; i++) await system.send('pruned', 'young', { type: 'set', v: i });
    await sql`update actor_journal set created_at = now() - interval '40 days' where actor_type = 'pruned'`;
    await system.send('pruned', 'old', { type: 'set', v: 1000 });
    await sql`update actor_outbox set done_at = now() - interval '2 days' where actor_id = 'ordered'`;
    const pendingBefore = await sql`select 1 from actor_outbox where done_at is null`;

    const pruned = await pruneActorTables(sql, { journalDays: 30, keepLast: KEEP_LAST_EVENTS, doneEffectHours: 24 });
    // 152 entries (seq 0..151), all but the newest aged past the retention: the last 100 stay.
    expect(pruned.journal).toBe(152 - KEEP_LAST_EVENTS);
    expect(pruned.effects).toBeGreaterThanOrEqual(5);
    const old = await journalFor(sql, 'pruned', 'old');
    expect(old.map((j) => j.seq)).toEqual(Array.from({ length: KEEP_LAST_EVENTS }, (_, i) => 151 - KEEP_LAST_EVENTS + 1 + i));
    expect(await journalFor(sql, 'pruned', 'young')).toHaveLength(21);
    expect(await sql`select 1 from actor_outbox where actor_id = 'ordered'`).toHaveLength(0);
    expect(await sql`select 1 from actor_outbox where done_at is null`).toHaveLength(pendingBefore.length);
    // The actor carries on after its journal was pruned.
    expect((await system.send('pruned', 'old', { type: 'set', v: 2000 })).seq).toBe(152);
  });

  it('is scheduled as a pg-boss job', async () => {
    await startActorPruning({ boss, sql, log, journalDays: 30 });
    const schedules = await boss.getSchedules();
    expect(schedules.map((s) => s.name)).toContain(PRUNE_QUEUE);
    await stopActorPruning(boss);
  });
});
