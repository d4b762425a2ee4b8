/**
 * What keeps a Lívia turn short under load (issue 12), against a real PostgreSQL and pg-boss:
 *
 * - an effect whose run ends by sending an event back (`completes: ctx.effectId`) is marked done in
 *   that event's transaction, so the effect after it runs without waiting for a done mark of its own;
 *   when the event changes nothing (nothing is written), the runner marks it done as before;
 * - the group commit has more than one transaction on its way: one actor's slow transaction does not
 *   hold back another actor's writes, while the same actor's next write waits for it (in order);
 * - xstate's transition() builds a throwaway actor per event, without input: the machines' context
 *   factories do not throw there (a caught exception per event was a tenth of the CPU under load).
 *
 * The tests wait for facts, never for a duration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assign, createActor, setup, transition } from 'xstate';
import { consultantMachine } from '../src/actors/consultant.machine.ts';
import { createConversationMachine } from '../src/actors/conversation.machine.ts';
import { whatsappSessionMachine } from '../src/actors/whatsapp-session.machine.ts';
import { parseHours } from '../src/domain/business-hours.ts';
import { ActorSystem, type ActorDefinition, type EffectContext } from '../src/actors/runtime.ts';
import { journalFor } from '../src/db/actors.ts';
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
  await sql`create table test_turn_notes (id serial primary key, actor_id text not null, seq bigint not null, body text not null)`;
  boss = await startJobs({ url: db.url, log, queues: [] });
});

afterAll(async () => {
  for (const s of systems) await s.stop();
  if (boss) await stopJobs(boss);
});

function newSystem(defs: ActorDefinition[], opts: Partial<ConstructorParameters<typeof ActorSystem>[0]> = {}): ActorSystem {
  const system = new ActorSystem({ sql, boss, log, outboxSweepMs: 100, effectRetryBaseMs: 20, effectTimeoutMs: 2000, effectAttempts: 3, ...opts });
  for (const d of defs) system.register(d);
  systems.push(system);
  return system;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const doneAt = async (effectId: string) => (await sql<{ done_at: Date | null }[]>`select done_at from actor_outbox where id = ${effectId}`)[0]?.done_at ?? null;

describe('an effect marked done with the event it sends back', () => {
  const asker = setup({
    types: {
      context: {} as { answers: number },
      events: {} as { type: 'ask'; q: string } | { type: 'answered'; q: string } | { type: 'noop' },
    },
    actions: {
      'ask.think': (_, _p: { q: string }) => {},
      'ask.say': (_, _p: { q: string }) => {},
    },
  }).createMachine({
    id: 'asker',
    context: { answers: 0 },
    initial: 'idle',
    states: {
      idle: { on: { ask: { target: 'asking', actions: { type: 'ask.think', params: ({ event }) => ({ q: event.q }) } } } },
      asking: {
        on: {
          answered: {
            target: 'idle',
            actions: [assign({ answers: ({ context }) => context.answers + 1 }), { type: 'ask.say', params: ({ event }) => ({ q: event.q }) }],
          },
        },
      },
    },
  });
  /** What each think saw right after its send resolved: whether its own row was already done. */
  const seen = new Map<string, { effectId: string; doneAfterSend: boolean }>();
  const said: string[] = [];
  let system: ActorSystem;

  beforeAll(async () => {
    system = newSystem([
      {
        type: 'asker',
        version: 1,
        machine: asker,
        effects: {
          'ask.think': async (p: { q: string }, ctx: EffectContext) => {
            // 'stale': what it sends changes nothing (the actor is no longer asking), so nothing is written.
            const event = p.q === 'stale' ? { type: 'noop' } : { type: 'answered', q: p.q };
            await system.send('asker', ctx.actorId, event, { completes: ctx.effectId });
            seen.set(p.q, { effectId: ctx.effectId, doneAfterSend: (await doneAt(ctx.effectId)) !== null });
          },
          'ask.say': async (p: { q: string }) => {
            said.push(p.q);
          },
        },
      },
    ]);
    await system.start();
  });

  it('is done once its event commits, and the next effect runs without a done mark of its own', async () => {
    const before = { ...system.effectStats };
    await system.send('asker', 'a1', { type: 'ask', q: 'one' });
    await until('the answer said', async () => said.includes('one'));
    // Done in the event's transaction: already so when the send resolved, before the run returned.
    expect(seen.get('one')).toMatchObject({ doneAfterSend: true });
    expect(system.effectStats.doneWithEvent - before.doneWithEvent).toBe(1);
    await until('every effect done', async () => (await sql`select 1 from actor_outbox where actor_id = 'a1' and done_at is null`).length === 0);
    expect((await journalFor(sql, 'asker', 'a1')).map((j) => (j.event as { type: string }).type)).toEqual(['xstate.init', 'ask', 'answered']);
  });

  it('is marked done by the runner when the event it sends changes nothing', async () => {
    const before = { ...system.effectStats };
    await system.send('asker', 'a2', { type: 'ask', q: 'stale' });
    const effectId = await until('the think ran', async () => seen.get('stale')?.effectId);
    expect(seen.get('stale')?.doneAfterSend).toBe(false);
    await until('the think marked done', async () => (await doneAt(effectId)) !== null);
    expect(system.effectStats.doneWithEvent - before.doneWithEvent).toBe(0);
    expect(system.effectStats.done - before.done).toBe(1);
  });
});

describe('group commit with transactions in flight at once', () => {
  const noter = setup({ types: { context: {} as { n: number }, events: {} as { type: 'note'; body: string } } }).createMachine({
    id: 'turn-noter',
    context: { n: 0 },
    on: { note: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
  });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let blocked!: () => void;
  const inTransaction = new Promise<void>((r) => (blocked = r));
  const def: ActorDefinition = {
    type: 'turn-noter',
    version: 1,
    machine: noter,
    writes: {
      note: async (tx: TransactionSql, w) => {
        const body = String(w.event.body);
        if (body === 'slow') {
          blocked();
          await gate;
        }
        await tx`insert into test_turn_notes (actor_id, seq, body) values (${w.actorId}, ${w.seq}, ${body})`;
      },
    },
  };

  it('writes another actor’s event while one actor’s transaction is held up; that actor’s next event waits for it', async () => {
    const system = newSystem([def], { commitsInFlight: 2 });
    await system.start();
    const settled: string[] = [];
    const slow = system.send('turn-noter', 'held', { type: 'note', body: 'slow' }).then((v) => (settled.push('held:slow'), v));
    await inTransaction;
    const next = system.send('turn-noter', 'held', { type: 'note', body: 'after' }).then((v) => (settled.push('held:after'), v));
    // Another actor commits meanwhile (with a single transaction at a time it would wait for the gate).
    const other = await Promise.race([
      system.send('turn-noter', 'other', { type: 'note', body: 'quick' }),
      new Promise<'held back'>((r) => setTimeout(() => r('held back'), 5000)),
    ]);
    expect(other).toMatchObject({ seq: 1 });
    expect(settled).toEqual([]);
    release();
    const [a, b] = await Promise.all([slow, next]);
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(settled).toEqual(['held:slow', 'held:after']);
    const rows = await sql<{ actor_id: string; seq: string; body: string }[]>`select actor_id, seq, body from test_turn_notes order by id`;
    expect(rows.map((r) => `${r.actor_id}:${r.seq}:${r.body}`)).toEqual(['other:1:quick', 'held:1:slow', 'held:2:after']);
  });
});

describe('the throwaway actor of each transition()', () => {
  const conversation = createConversationMachine({
    monthlyRate: 0.0199,
    maxIncomeShare: 0.3,
    followUpMs: [3_600_000, 86_400_000],
    burstMs: 0,
    hours: parseHours('00:00-24:00', 'America/Sao_Paulo'),
  });

  it('starts without input and without an error, for every machine the app registers', () => {
    for (const machine of [conversation, consultantMachine, whatsappSessionMachine]) {
      // As transition() builds it: no input.
      const inert = (createActor as (m: unknown) => { getSnapshot(): { status: string } })(machine);
      expect(inert.getSnapshot().status, machine.id).toBe('active');
    }
    // And a transition still carries the real context.
    const [first] = transition(conversation, conversation.resolveState({ value: 'INTRO', context: { ...createActor(conversation, { input: { phone: '+5511987654321' } }).getSnapshot().context } }), {
      type: 'message.received',
      id: 'w1',
      text: 'oi',
      kind: 'text',
      at: new Date().toISOString(),
    });
    expect(first.context.phone).toBe('+5511987654321');
  });
});
