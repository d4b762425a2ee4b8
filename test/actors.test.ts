/**
 * The actor runtime against a real PostgreSQL and a real pg-boss: mailbox order, group commit,
 * supervision, journal replay, passivation, version migration, durable timers and the outbox.
 *
 * Nothing here waits on the clock to prove a point: the tests wait for a fact in the database
 * (a job completed, an outbox row done) and then check the outcome.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assign, initialTransition, setup, transition, type AnyMachineSnapshot } from 'xstate';
import {
  ActorCrashedError,
  ActorFailedError,
  ActorSystem,
  TIMER_QUEUE,
  type ActorDefinition,
  type ActorView,
  type EffectContext,
} from '../src/actors/runtime.ts';
import { journalFor, loadSnapshot } from '../src/db/actors.ts';
import type { Sql } from '../src/db/client.ts';
import { startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { testSql } from './support/db.ts';

// ---------------------------------------------------------------------------------------------
// The test machine: a counter that can crash, arm a durable timer, and name an effect.

interface CounterContext {
  count: number;
  rings: number;
  notes: number[];
  delayMs?: number;
}
type CounterEvent =
  | { type: 'inc'; n?: number }
  | { type: 'boom' }
  | { type: 'arm'; delayMs: number }
  | { type: 'disarm' }
  | { type: 'ring' }
  | { type: 'notify'; n: number; fail?: number };

/** The event XState names the `after: { ALARM }` transition of state `waiting` by. */
const RING = 'xstate.after.ALARM.counter.waiting';

const counterMachine = setup({
  types: { context: {} as CounterContext, events: {} as CounterEvent },
  delays: { ALARM: ({ context }) => context.delayMs ?? 0 },
  actions: {
    'test.notify': (_, _params: { n: number; fail: number }) => {},
  },
}).createMachine({
  id: 'counter',
  context: { count: 0, rings: 0, notes: [] },
  initial: 'idle',
  on: {
    inc: { actions: assign({ count: ({ context }) => context.count + 1 }) },
    boom: {
      actions: assign(() => {
        throw new Error('boom');
      }),
    },
    notify: {
      actions: [
        assign({ notes: ({ context, event }) => [...context.notes, event.n] }),
        { type: 'test.notify', params: ({ event }) => ({ n: event.n, fail: event.fail ?? 0 }) },
      ],
    },
  },
  states: {
    idle: { on: { arm: { target: 'waiting', actions: assign({ delayMs: ({ event }) => event.delayMs }) } } },
    waiting: {
      // Plain XState: the runtime makes this a durable timer, cancelled when the state is left.
      after: { ALARM: { target: 'rang', actions: assign({ rings: ({ context }) => context.rings + 1 }) } },
      on: { disarm: 'idle' },
    },
    rang: { on: { arm: { target: 'waiting', actions: assign({ delayMs: ({ event }) => event.delayMs }) } } },
  },
});

/** Handlers that do nothing, for the types these tests use without watching effects. */
const NO_EFFECTS = { 'test.notify': () => {} };

/** What the effect handler saw: calls per effect id, and whether its commit was visible. */
const effectCalls = new Map<string, { n: number; calls: number; committedFirst: boolean[] }>();

let sql: Sql;
let boss: PgBoss;
let system: ActorSystem;
const log = createLogger('silent');

function counterDef(overrides: Partial<ActorDefinition> = {}): ActorDefinition {
  return {
    type: 'counter',
    version: 1,
    machine: counterMachine,
    effects: {
      'test.notify': async (p: { n: number; fail: number }, ctx: EffectContext) => {
        const entry = effectCalls.get(ctx.effectId) ?? { n: p.n, calls: 0, committedFirst: [] };
        entry.calls++;
        effectCalls.set(ctx.effectId, entry);
        // Effects run after the commit: the snapshot that named this effect is already on disk.
        const row = await loadSnapshot(sql, ctx.actorType, ctx.actorId);
        entry.committedFirst.push(!!row && row.seq >= ctx.seq);
        if (entry.calls <= p.fail) throw new Error(`effect ${p.n} fails on call ${entry.calls}`);
      },
    },
    ...overrides,
  };
}

beforeAll(async () => {
  const db = await testSql();
  sql = db.sql;
  await migrate(sql, 'migrations');
  boss = await startJobs({ url: db.url, log, queues: [] });
  system = new ActorSystem({ sql, boss, log, outboxSweepMs: 100 });
  system.register(counterDef());
  await system.start();
});

afterAll(async () => {
  await system?.stop();
  if (boss) await stopJobs(boss);
});

// ---------------------------------------------------------------------------------------------
// Helpers

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function expectContiguous(rows: { seq: number }[]): void {
  expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i));
}

async function armedTimerId(id: string): Promise<string | undefined> {
  const [row] = await sql<{ id: string }[]>`select id from actor_timers where actor_type = 'counter' and actor_id = ${id}`;
  return row?.id;
}

/** Waits until pg-boss has run the timer job to the end (it did or did not deliver an event). */
async function timerJobFinished(timerId: string): Promise<void> {
  await until(`timer job ${timerId} to finish`, async () => {
    const [row] = await sql<{ state: string }[]>`
      select state::text from pgboss.job where name = ${TIMER_QUEUE} and data->>'timerId' = ${timerId}`;
    return row?.state === 'completed' || (row?.state === 'failed' ? Promise.reject(new Error('timer job failed')) : false);
  });
}

// ---------------------------------------------------------------------------------------------

describe('mailbox', () => {
  it('keeps the order of 1,000 concurrent sends to one actor, and commits them in groups', async () => {
    const N = 1000;
    const batchesBefore = system.stats.batches;
    const answered: number[] = [];
    const views = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        system.send('counter', 'ordered', { type: 'inc', n: i }).then((v) => {
          answered.push(i);
          return v;
        }),
      ),
    );
    // Each answer reflects exactly the events before it, and answers come back in send order.
    views.forEach((v, i) => {
      expect(v.seq).toBe(i + 1);
      expect((v.context as CounterContext).count).toBe(i + 1);
    });
    expect(answered).toEqual(views.map((_, i) => i));

    const journal = await journalFor(sql, 'counter', 'ordered');
    expect(journal).toHaveLength(N + 1);
    expectContiguous(journal);
    expect(journal[0]!.event).toMatchObject({ type: 'xstate.init' });
    expect(journal.slice(1).map((j) => (j.event as { n: number }).n)).toEqual(views.map((_, i) => i));

    const row = await loadSnapshot(sql, 'counter', 'ordered');
    expect(row).toMatchObject({ seq: N, machine_version: 1, state: 'idle', status: 'active' });
    expect((row!.snapshot as { context: CounterContext }).context.count).toBe(N);
    // Group commit: far fewer transactions than events.
    expect(system.stats.batches - batchesBefore).toBeLessThan(N / 10);
  });

  it('keeps each actor in order under concurrent sends to many actors', async () => {
    const actors = 40;
    const perActor = 25;
    const sends: Promise<ActorView>[] = [];
    for (let i = 0; i < perActor; i++) {
      for (let a = 0; a < actors; a++) sends.push(system.send('counter', `many-${a}`, { type: 'inc', n: i }));
    }
    const views = await Promise.all(sends);
    for (const v of views) expect((v.context as CounterContext).count).toBe(v.seq);

    for (let a = 0; a < actors; a++) {
      const journal = await journalFor(sql, 'counter', `many-${a}`);
      expect(journal).toHaveLength(perActor + 1);
      expectContiguous(journal);
      expect(journal.slice(1).map((j) => (j.event as { n: number }).n)).toEqual(Array.from({ length: perActor }, (_, i) => i));
      const row = await loadSnapshot(sql, 'counter', `many-${a}`);
      expect(row?.seq).toBe(perActor);
      expect((row!.snapshot as { context: CounterContext }).context.count).toBe(perActor);
    }
  });

  it('answers a send to an unknown actor type with a rejection, not a throw', async () => {
    let thrown: unknown;
    let result: Promise<unknown> | undefined;
    try {
      result = system.send('no-such-type', 'x', { type: 'inc' });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeUndefined();
    await expect(result).rejects.toThrow(/unknown actor type/);
  });
});

describe('supervision', () => {
  it('restarts a crashed actor from its last persisted snapshot', async () => {
    for (let i = 0; i < 3; i++) await system.send('counter', 'crashy', { type: 'inc' });
    await expect(system.send('counter', 'crashy', { type: 'boom' })).rejects.toBeInstanceOf(ActorCrashedError);

    const after = await system.inspect('counter', 'crashy');
    expect(after).toMatchObject({ status: 'active', seq: 3, state: 'idle' });
    expect((after!.context as CounterContext).count).toBe(3);

    const next = await system.send('counter', 'crashy', { type: 'inc' });
    expect(next.seq).toBe(4);
    expect((next.context as CounterContext).count).toBe(4);

    const journal = await journalFor(sql, 'counter', 'crashy');
    expectContiguous(journal);
    expect(journal.map((j) => (j.event as { type: string }).type)).not.toContain('boom');
  });

  it('keeps the events around a crash in order when they are sent together', async () => {
    const results = await Promise.allSettled([
      system.send('counter', 'crash-mid', { type: 'inc' }),
      system.send('counter', 'crash-mid', { type: 'inc' }),
      system.send('counter', 'crash-mid', { type: 'boom' }),
      system.send('counter', 'crash-mid', { type: 'inc' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(ActorCrashedError);
    const last = (results[3] as PromiseFulfilledResult<ActorView>).value;
    expect(last.seq).toBe(3);
    expect((last.context as CounterContext).count).toBe(3);
    const journal = await journalFor(sql, 'counter', 'crash-mid');
    expectContiguous(journal);
    expect(journal).toHaveLength(4);
  });

  it('marks an actor failed past its restart budget, and the rest of the system goes on', async () => {
    await system.send('counter', 'doomed', { type: 'inc' });
    for (let i = 0; i < 3; i++) {
      await expect(system.send('counter', 'doomed', { type: 'boom' })).rejects.toBeInstanceOf(ActorCrashedError);
    }
    await expect(system.send('counter', 'doomed', { type: 'boom' })).rejects.toBeInstanceOf(ActorFailedError);
    // Failed means failed: even a harmless event is refused now.
    await expect(system.send('counter', 'doomed', { type: 'inc' })).rejects.toBeInstanceOf(ActorFailedError);

    const view = await system.inspect('counter', 'doomed');
    expect(view?.status).toBe('failed');
    expect(view?.failure).toMatch(/boom/);
    expect((view!.context as CounterContext).count).toBe(1);
    const row = await loadSnapshot(sql, 'counter', 'doomed');
    expect(row).toMatchObject({ status: 'failed', seq: 1 });
    expect(row?.failure).toMatch(/boom/);

    const other = await system.send('counter', 'bystander', { type: 'inc' });
    expect((other.context as CounterContext).count).toBe(1);

    // A new process finds it failed too: no crash loop after a restart.
    const again = new ActorSystem({ sql, boss, log });
    again.register(counterDef());
    await expect(again.send('counter', 'doomed', { type: 'inc' })).rejects.toBeInstanceOf(ActorFailedError);
    await again.stop();
  });
});

describe('journal replay', () => {
  it('folding the journal through transition() gives the persisted snapshot', async () => {
    const id = 'replayed';
    const events: { type: string; [k: string]: unknown }[] = [
      { type: 'inc' },
      { type: 'notify', n: 1 },
      { type: 'arm', delayMs: 3_600_000 },
      { type: 'inc' },
      { type: 'notify', n: 2 },
      { type: 'disarm' },
      { type: 'inc' },
      { type: 'arm', delayMs: 3_600_000 },
    ];
    for (const e of events) await system.send('counter', id, e);
    await expect(system.send('counter', id, { type: 'boom' })).rejects.toBeInstanceOf(ActorCrashedError);

    const journal = await journalFor(sql, 'counter', id);
    expectContiguous(journal);
    let [snapshot] = initialTransition(counterMachine) as [AnyMachineSnapshot, unknown];
    for (const j of journal) {
      const event = j.event as { type: string };
      if (event.type === 'xstate.init') continue;
      [snapshot] = transition(counterMachine, snapshot as never, event as never) as [AnyMachineSnapshot, unknown];
    }
    const row = await loadSnapshot(sql, 'counter', id);
    const persisted = row!.snapshot as { value: unknown; context: unknown };
    expect(snapshot.value).toEqual(persisted.value);
    expect(snapshot.context).toEqual(persisted.context);
    expect(persisted.value).toBe('waiting');
    expect(persisted.context).toEqual({ count: 3, rings: 0, notes: [1, 2], delayMs: 3_600_000 });
    expect(row!.seq).toBe(journal.at(-1)!.seq);

    await system.send('counter', id, { type: 'disarm' });
  });
});

describe('passivation', () => {
  it('drops idle actors from memory and brings them back intact on their next event', async () => {
    const idleMs = 50;
    let now = 1_000_000;
    const passive = new ActorSystem({ sql, boss, log, idleMs, clock: () => now });
    passive.register(counterDef({ type: 'passive', effects: NO_EFFECTS, canPassivate: (s) => (s.context as CounterContext).count !== 99 }));
    for (let a = 0; a < 10; a++) {
      for (let i = 0; i <= a; i++) await passive.send('passive', `p${a}`, { type: 'inc' });
    }
    expect(passive.liveCount).toBe(10);

    // Not idle yet.
    now += idleMs - 1;
    expect(passive.passivateIdle()).toBe(0);
    expect(passive.liveCount).toBe(10);

    // An actor with an event in its mailbox is not idle, however long ago it last finished one.
    now += 1;
    const inFlight = passive.send('passive', 'p0', { type: 'inc' });
    const dropped = passive.passivateIdle();
    expect(dropped).toBe(9);
    expect(passive.liveCount).toBe(1);
    expect(passive.peek('passive', 'p0')).toBeDefined();
    expect(passive.peek('passive', 'p5')).toBeUndefined();
    await inFlight;
    expect(passive.passivateIdle()).toBe(0);
    now += idleMs;
    expect(passive.passivateIdle()).toBe(1);
    expect(passive.liveCount).toBe(0);
    expect(passive.stats.passivations).toBe(10);

    // Inspection of a passivated actor reads its snapshot without bringing it back.
    const cold = await passive.inspect('passive', 'p5');
    expect(cold).toMatchObject({ live: false, seq: 6, state: 'idle' });
    expect(passive.liveCount).toBe(0);

    const rehydrations = passive.stats.rehydrations;
    for (let a = 0; a < 10; a++) {
      const v = await passive.send('passive', `p${a}`, { type: 'inc' });
      const expected = a + 2 + (a === 0 ? 1 : 0);
      expect((v.context as CounterContext).count).toBe(expected);
      expect(v.seq).toBe(expected);
    }
    expect(passive.stats.rehydrations - rehydrations).toBe(10);
    expect(passive.liveCount).toBe(10);
    for (let a = 0; a < 10; a++) expectContiguous(await journalFor(sql, 'passive', `p${a}`));
    await passive.stop();
  });

  it('keeps an actor the definition says may not be passivated', async () => {
    const sticky = new ActorSystem({ sql, boss, log, idleMs: 50 });
    sticky.register(counterDef({ type: 'sticky', effects: NO_EFFECTS, canPassivate: (s) => s.value !== 'waiting' }));
    await sticky.send('sticky', 'a', { type: 'inc' });
    await sticky.send('sticky', 'b', { type: 'arm', delayMs: 3_600_000 });
    expect(sticky.passivateIdle(Date.now() + 1000)).toBe(1);
    expect(sticky.peek('sticky', 'a')).toBeUndefined();
    expect(sticky.peek('sticky', 'b')?.value).toBe('waiting');
    await sticky.send('sticky', 'b', { type: 'disarm' });
    await sticky.stop();
  });
});

describe('machine versions', () => {
  const v2Machine = setup({
    types: { context: {} as { total: number; label: string }, events: {} as { type: 'add'; by: number } },
  }).createMachine({
    id: 'migrating',
    context: { total: 0, label: 'fresh' },
    initial: 'counting',
    states: { counting: { on: { add: { actions: assign({ total: ({ context, event }) => context.total + event.by }) } } } },
  });
  const v3Machine = setup({
    types: { context: {} as { items: string[] }, events: {} as { type: 'push'; item: string } },
  }).createMachine({
    id: 'migrating',
    context: { items: [] },
    initial: 'empty',
    states: {
      empty: { on: { push: { target: 'full', actions: assign({ items: ({ event }) => [event.item] }) } } },
      full: {},
    },
  });

  it('migrates an older snapshot with the machine’s function, and starts fresh when there is none', async () => {
    const v1 = new ActorSystem({ sql, boss, log });
    v1.register(counterDef({ type: 'migrating', effects: NO_EFFECTS }));
    for (let i = 0; i < 4; i++) await v1.send('migrating', 'm1', { type: 'inc' });
    await v1.send('migrating', 'm2', { type: 'inc' });
    await v1.stop();
    expect(await loadSnapshot(sql, 'migrating', 'm1')).toMatchObject({ machine_version: 1, seq: 4 });

    const froms: number[] = [];
    const v2 = new ActorSystem({ sql, boss, log });
    v2.register({
      type: 'migrating',
      version: 2,
      machine: v2Machine,
      migrate: (persisted: { context: CounterContext }, from) => {
        froms.push(from);
        return { ...persisted, value: 'counting', context: { total: persisted.context.count * 10, label: `from v${from}` } };
      },
    });
    const migrated = await v2.send('migrating', 'm1', { type: 'add', by: 1 });
    expect(froms).toEqual([1]);
    expect(migrated).toMatchObject({ state: 'counting', context: { total: 41, label: 'from v1' }, seq: 6 });
    const m1 = await loadSnapshot(sql, 'migrating', 'm1');
    expect(m1).toMatchObject({ machine_version: 2, seq: 6, state: 'counting' });
    const journal = await journalFor(sql, 'migrating', 'm1');
    expectContiguous(journal);
    expect(journal[5]!.event).toMatchObject({ type: 'xstate.migrated', from: 1 });
    await v2.stop();

    // Version 3 brings no migration: the actor starts fresh, with the reason in its journal.
    const v3 = new ActorSystem({ sql, boss, log });
    v3.register({ type: 'migrating', version: 3, machine: v3Machine });
    const fresh = await v3.send('migrating', 'm1', { type: 'push', item: 'x' });
    expect(fresh).toMatchObject({ state: 'full', context: { items: ['x'] }, status: 'active' });
    const untouched = await v3.inspect('migrating', 'm2');
    expect(untouched?.live).toBe(false);
    const m2 = await v3.send('migrating', 'm2', { type: 'push', item: 'y' });
    expect(m2).toMatchObject({ state: 'full', context: { items: ['y'] } });
    const j1 = await journalFor(sql, 'migrating', 'm1');
    expectContiguous(j1);
    expect(j1.at(-2)!.event).toMatchObject({ type: 'xstate.reset' });
    expect(String((j1.at(-2)!.event as { reason: string }).reason)).toMatch(/version 2 to 3/);
    expect(await loadSnapshot(sql, 'migrating', 'm1')).toMatchObject({ machine_version: 3, state: 'full' });
    await v3.stop();
  });

  it('starts fresh, without a crash loop, when the migration throws', async () => {
    const v1 = new ActorSystem({ sql, boss, log });
    v1.register(counterDef({ type: 'migrating-bad', effects: NO_EFFECTS }));
    await v1.send('migrating-bad', 'x', { type: 'inc' });
    await v1.stop();

    const v2 = new ActorSystem({ sql, boss, log });
    v2.register({
      type: 'migrating-bad',
      version: 2,
      machine: v2Machine,
      migrate: () => {
        throw new Error('cannot migrate');
      },
    });
    const v = await v2.send('migrating-bad', 'x', { type: 'add', by: 2 });
    expect(v).toMatchObject({ state: 'counting', context: { total: 2, label: 'fresh' } });
    expectContiguous(await journalFor(sql, 'migrating-bad', 'x'));
    await v2.stop();
  });
});

describe('durable timers', () => {
  it('fires a timer through pg-boss and moves the actor, once', async () => {
    const armed = await system.send('counter', 'alarm', { type: 'arm', delayMs: 300 });
    expect(armed.state).toBe('waiting');
    const timerId = await armedTimerId('alarm');
    expect(timerId).toBeDefined();

    await timerJobFinished(timerId!);
    const view = await until('the alarm to ring', async () => {
      const v = await system.inspect('counter', 'alarm');
      return v?.state === 'rang' ? v : undefined;
    });
    expect((view.context as CounterContext).rings).toBe(1);
    const journal = await journalFor(sql, 'counter', 'alarm');
    expectContiguous(journal);
    expect(journal.filter((j) => (j.event as { type: string }).type === RING)).toHaveLength(1);
    expect(await armedTimerId('alarm')).toBeUndefined();
  });

  it('never fires a timer cancelled by leaving its state, and fires the re-armed one', async () => {
    // The cancelled timers are due well after their disarm, even on a loaded machine: a 200 ms one
    // could fire, rightly, before a slow disarm arrived.
    await system.send('counter', 'snooze', { type: 'arm', delayMs: 1500 });
    const first = await armedTimerId('snooze');
    const left = await system.send('counter', 'snooze', { type: 'disarm' });
    expect(left.state).toBe('idle');
    expect(await armedTimerId('snooze')).toBeUndefined();

    await timerJobFinished(first!);
    expect(await system.inspect('counter', 'snooze')).toMatchObject({ state: 'idle', seq: 2 });
    expect((await journalFor(sql, 'counter', 'snooze')).map((j) => (j.event as { type: string }).type)).toEqual([
      'xstate.init',
      'arm',
      'disarm',
    ]);

    // Arm, leave, arm again: only the last timer may fire.
    await system.send('counter', 'snooze', { type: 'arm', delayMs: 1500 });
    const second = await armedTimerId('snooze');
    await system.send('counter', 'snooze', { type: 'disarm' });
    await system.send('counter', 'snooze', { type: 'arm', delayMs: 300 });
    const third = await armedTimerId('snooze');
    expect(new Set([first, second, third]).size).toBe(3);
    await timerJobFinished(second!);
    await timerJobFinished(third!);
    const view = await until('the re-armed timer to fire', async () => {
      const v = await system.inspect('counter', 'snooze');
      return v?.state === 'rang' ? v : undefined;
    });
    expect((view.context as CounterContext).rings).toBe(1);
    const types = (await journalFor(sql, 'counter', 'snooze')).map((j) => (j.event as { type: string }).type);
    expect(types.filter((t) => t === RING)).toHaveLength(1);
  });

  it('delivers a timer to a passivated actor by rehydrating it', async () => {
    await system.send('counter', 'dozing', { type: 'inc' });
    await system.send('counter', 'dozing', { type: 'arm', delayMs: 300 });
    const timerId = await armedTimerId('dozing');
    const live = system.liveCount;
    expect(system.passivateIdle(Date.now() + 3_600_000)).toBeGreaterThan(0);
    expect(system.liveCount).toBeLessThan(live);
    expect(system.peek('counter', 'dozing')).toBeUndefined();
    await timerJobFinished(timerId!);
    const view = await until('the passivated actor to ring', async () => {
      const v = await system.inspect('counter', 'dozing');
      return v?.state === 'rang' ? v : undefined;
    });
    expect(view.context).toMatchObject({ count: 1, rings: 1 });
  });
});

describe('effects', () => {
  it('runs an effect once, after its commit, and retries a failing one from the outbox', async () => {
    const ok = await system.send('counter', 'fx', { type: 'notify', n: 1 });
    const flaky = await system.send('counter', 'fx', { type: 'notify', n: 2, fail: 1 });
    expect(ok.seq).toBe(1);
    expect(flaky.seq).toBe(2);

    const rows = await sql<{ id: string; seq: string; effect: { type: string; params: { n: number } } }[]>`
      select id, seq, effect from actor_outbox where actor_type = 'counter' and actor_id = 'fx' order by seq`;
    expect(rows.map((r) => [Number(r.seq), r.effect.type, r.effect.params.n])).toEqual([
      [1, 'test.notify', 1],
      [2, 'test.notify', 2],
    ]);
    const [okId, flakyId] = rows.map((r) => r.id) as [string, string];

    // The failure is recorded, then a later sweep runs it again under the same effect id.
    await until('the flaky effect to be retried and done', async () => {
      const [r] = await sql<{ done: boolean; attempts: number }[]>`
        select done_at is not null as done, attempts from actor_outbox where id = ${flakyId}`;
      return r?.done && r.attempts === 1;
    });
    await until('the first effect to be marked done', async () => {
      const [r] = await sql<{ done: boolean }[]>`select done_at is not null as done from actor_outbox where id = ${okId}`;
      return r?.done;
    });
    expect(effectCalls.get(okId)).toEqual({ n: 1, calls: 1, committedFirst: [true] });
    expect(effectCalls.get(flakyId)).toEqual({ n: 2, calls: 2, committedFirst: [true, true] });

    // The sweep that retried the flaky effect came after the first one was done, and left it alone.
    const [order] = await sql<{ okFirst: boolean }[]>`
      select (select done_at from actor_outbox where id = ${okId}) < (select done_at from actor_outbox where id = ${flakyId}) as "okFirst"`;
    expect(order?.okFirst).toBe(true);
    expect(effectCalls.get(okId)?.calls).toBe(1);
  });

  it('runs each of many effects exactly once while the outbox is swept as often as possible', async () => {
    // Its own database and system: a sweep on every tick, and effects that take a moment, so
    // sweeps and post-commit runs overlap as much as they can.
    const db = await testSql();
    await migrate(db.sql, 'migrations');
    const jobs = await startJobs({ url: db.url, log, queues: [] });
    const busy = new ActorSystem({ sql: db.sql, boss: jobs, log, outboxSweepMs: 1 });
    const calls = new Map<string, number>();
    busy.register(
      counterDef({
        effects: {
          'test.notify': async (_p: unknown, ctx: EffectContext) => {
            calls.set(ctx.effectId, (calls.get(ctx.effectId) ?? 0) + 1);
            await new Promise((r) => setTimeout(r, 2));
          },
        },
      }),
    );
    await busy.start();
    try {
      const N = 600;
      for (let round = 0; round < 6; round++) {
        await Promise.all(
          Array.from({ length: N / 6 }, (_, i) => busy.send('counter', `fx-${i % 20}`, { type: 'notify', n: round * 1000 + i })),
        );
      }
      await until('every effect to be marked done', async () => {
        const [r] = await db.sql<{ pending: number; total: number }[]>`
          select count(*) filter (where done_at is null)::int as pending, count(*)::int as total from actor_outbox`;
        return r?.total === N && r.pending === 0;
      });
      expect(calls.size).toBe(N);
      expect([...calls.values()].filter((c) => c !== 1)).toEqual([]);
    } finally {
      await busy.stop();
      await stopJobs(jobs);
    }
  });
});
