/**
 * Issue 3: the actor runtime with persistence.
 *
 *  (a) events/s through the actor system (many actors; one actor) against raw single-row INSERTs
 *      with postgres.js on the same database, at the same number in flight;
 *  (b) p50/p99 of the first event to a passivated actor (rehydration), against an event to a live one;
 *  (c) heap per live and per passivated conversation-sized actor, against the same data held as
 *      plain parsed JSON objects;
 *  (d) time to be ready after a restart with BENCH_ACTORS snapshots in the table, against the same
 *      with an empty table.
 *  (e) issue 7: (a) again with one domain write per event (the inbound message stored in the event's
 *      transaction), and the firing lateness (p50/p99) of durable `after` timers.
 */
import { fileURLToPath } from 'node:url';
import { ActorSystem, TIMER_QUEUE } from '../src/actors/runtime.ts';
import { createSql, type Sql } from '../src/db/client.ts';
import { startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import {
  ALARM,
  alarmActor,
  CONVERSATION,
  CONVERSATION_WRITING,
  conversationActor,
  conversationMachine,
  initialContext,
  message,
  writingConversationActor,
} from './conversation.machine.ts';
import { closedLoop, fmt, pool, progress, row, summarize, type BenchOptions, type BenchResult, type Row } from './lib/common.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));
/** Long enough that nothing passivates by itself during a run; passivation is called explicitly. */
const IDLE_MS = 24 * 3600_000;
/** Pool size of the app's default (DB_POOL_MAX), for the runtime and for the raw baseline alike. */
const POOL_MAX = 20;
const EVERYONE = Number.MAX_SAFE_INTEGER;

interface Ctx {
  opts: BenchOptions;
  sql: Sql;
  raw: Sql;
  boss: PgBoss;
  log: ReturnType<typeof createLogger>;
  rows: Row[];
  notes: string[];
  details: Record<string, unknown>;
}

async function newSystem(c: Ctx): Promise<ActorSystem> {
  const system = new ActorSystem({ sql: c.sql, boss: c.boss, log: c.log, idleMs: IDLE_MS });
  system.register(conversationActor());
  system.register(writingConversationActor());
  system.register(alarmActor());
  await system.start();
  return system;
}

async function stopSystem(c: Ctx, system: ActorSystem): Promise<void> {
  await system.stop();
  // A stopped system leaves its timer worker registered on the shared pg-boss; a real process
  // exit would drop it.
  await c.boss.offWork(TIMER_QUEUE);
}

async function truncate(sql: Sql): Promise<void> {
  await sql`truncate actor_snapshots, actor_journal, actor_outbox, actor_timers`;
  await sql`create table if not exists bench_messages (conversation_id text not null, seq bigint not null, text text not null, at timestamptz not null)`;
  await sql`truncate bench_messages`;
}

const gc = (): boolean => {
  if (typeof globalThis.gc !== 'function') return false;
  globalThis.gc();
  globalThis.gc();
  return true;
};
const heap = () => process.memoryUsage().heapUsed;

export async function runActors(opts: BenchOptions, db: { url: string }): Promise<BenchResult> {
  const log = createLogger('warn');
  const sql = createSql(db.url, { max: POOL_MAX, applicationName: 'livia-bench' });
  const raw = createSql(db.url, { max: POOL_MAX, applicationName: 'livia-bench-raw' });
  await migrate(sql, MIGRATIONS_DIR);
  const boss = await startJobs({ url: db.url, log, queues: [] });
  const c: Ctx = { opts, sql, raw, boss, log, rows: [], notes: [], details: {} };
  try {
    await throughput(c);
    await timerLateness(c);
    await rehydration(c);
    const template = await memory(c);
    await restart(c, template);
  } finally {
    await stopJobs(boss).catch(() => {});
    await raw.end({ timeout: 5 });
    await sql.end({ timeout: 5 });
  }
  return { name: 'actors', rows: c.rows, notes: c.notes, details: c.details };
}

/** (a) Events/s with persistence against raw single-row INSERTs, same database, same in flight. */
async function throughput(c: Ctx): Promise<void> {
  const { opts, sql, raw } = c;
  await truncate(sql);
  await raw`drop table if exists bench_raw`;
  await raw`create table bench_raw (
    id bigint generated always as identity primary key,
    actor_id text not null, seq bigint not null, payload jsonb not null,
    created_at timestamptz not null default now())`;
  const payload = raw.json(initialContext('raw') as never);
  const C = opts.concurrency;

  const rawRun = async (concurrency: number, t: { warmupMs: number; durationMs: number }) => {
    progress(`actors: raw single-row INSERTs, ${concurrency} in flight`);
    const r = await closedLoop({
      concurrency,
      ...t,
      worker: (i, n) => raw`insert into bench_raw (actor_id, seq, payload) values (${`a${i}`}, ${n}, ${payload})`,
    });
    if (r.errors) progress(`raw: ${r.errors} errors (first: ${(r.firstError as Error)?.message})`);
    return r;
  };

  const system = await newSystem(c);
  let acked = 0;
  const sendRun = async (label: string, ids: string[], concurrency: number, t: { warmupMs: number; durationMs: number }, type = CONVERSATION) => {
    progress(`actors: ${label}`);
    const before = { ...system.stats };
    const r = await closedLoop({
      concurrency,
      ...t,
      worker: async (_i, n) => {
        await system.send(type, ids[n % ids.length]!, message(n) as never);
        if (type === CONVERSATION) acked++;
      },
    });
    if (r.errors) progress(`${label}: ${r.errors} errors (first: ${(r.firstError as Error)?.message})`);
    const batches = system.stats.batches - before.batches;
    const events = system.stats.events - before.events;
    return { ...r, eventsPerCommit: batches ? events / batches : Number.NaN };
  };

  try {
    const many = Array.from({ length: opts.throughputActors }, (_, i) => `tp-${i}`);
    const single = ['tp-single'];
    // Create (and persist) every actor first, so the runs measure events, not first loads.
    await pool([...many, ...single], C, (id) => system.send(CONVERSATION, id, message(0) as never).then(() => acked++));
    await pool(many, C, (id) => system.send(CONVERSATION_WRITING, id, message(0) as never));

    // The three take turns in rounds (raw, many, single, raw, ...), so that a burst of other load
    // on the machine falls on all of them rather than on one.
    const rounds = opts.quick ? 1 : 3;
    const perRound = { warmupMs: opts.warmupMs, durationMs: Math.round(opts.durationMs / rounds) };
    const runs: Record<'raw' | 'many' | 'single' | 'writing', Array<{ ops: number; ms: number; perSecond: number; eventsPerCommit?: number }>> = {
      raw: [],
      many: [],
      single: [],
      writing: [],
    };
    for (let round = 1; round <= rounds; round++) {
      progress(`actors: throughput round ${round}/${rounds}`);
      runs.raw.push(await rawRun(C, perRound));
      runs.many.push(await sendRun(`${C} in flight over ${many.length} actors`, many, C, perRound));
      runs.single.push(await sendRun(`${C} in flight to 1 actor`, single, C, perRound));
      runs.writing.push(await sendRun(`${C} in flight over ${many.length} actors, one domain write each`, many, C, perRound, CONVERSATION_WRITING));
    }
    const rate = (rs: { ops: number; ms: number }[]) => (rs.reduce((a, r) => a + r.ops, 0) / rs.reduce((a, r) => a + r.ms, 0)) * 1000;
    const perCommit = (rs: { eventsPerCommit?: number }[]) => rs.reduce((a, r) => a + (r.eventsPerCommit ?? 0), 0) / rs.length;
    const spread = (rs: { perSecond: number }[]) => rs.map((r) => fmt(r.perSecond)).join(' / ');
    // Informational: one in flight, i.e. the latency of one event against one INSERT.
    const short = { warmupMs: opts.warmupMs, durationMs: Math.min(opts.durationMs, 2000) };
    const raw1x = await rawRun(1, short);
    const seq1 = await sendRun('1 in flight to 1 actor', single, 1, short);

    // Every acknowledged event must be in the journal, once (plus one init row per actor).
    const [{ n: journal } = { n: 0 }] = await sql<{ n: number }[]>`
      select count(*)::int as n from actor_journal where actor_type = ${CONVERSATION}`;
    const expected = acked + many.length + single.length;
    if (journal < expected) throw new Error(`journal has ${journal} rows, expected at least ${expected}`);

    const rawRate = rate(runs.raw);
    const baseline = { label: `raw INSERT, ${C} in flight`, value: rawRate };
    const goal = '≥ 1.0 (< 0.5 is a defect)';
    c.rows.push(
      row({
        bench: 'actors',
        metric: `raw single-row INSERT, ${C} in flight (baseline)`,
        value: rawRate,
        unit: 'rows/s',
        note: rounds > 1 ? `rounds: ${spread(runs.raw)}` : undefined,
      }),
      row({
        bench: 'actors',
        metric: `actor events, ${C} in flight over ${many.length} actors`,
        value: rate(runs.many),
        unit: 'events/s',
        baseline,
        goal,
        note: `${fmt(perCommit(runs.many), 1)} events per commit${rounds > 1 ? `; rounds: ${spread(runs.many)}` : ''}`,
      }),
      row({
        bench: 'actors',
        metric: `actor events, ${C} in flight to 1 actor`,
        value: rate(runs.single),
        unit: 'events/s',
        baseline,
        goal,
        note: `${fmt(perCommit(runs.single), 1)} events per commit${rounds > 1 ? `; rounds: ${spread(runs.single)}` : ''}`,
      }),
      row({
        bench: 'actors',
        metric: `actor events with one domain write each, ${C} in flight over ${many.length} actors`,
        value: rate(runs.writing),
        unit: 'events/s',
        baseline,
        goal: '≥ 0.8',
        note: `${fmt(perCommit(runs.writing), 1)} events per commit${rounds > 1 ? `; rounds: ${spread(runs.writing)}` : ''}`,
      }),
      row({ bench: 'actors', metric: 'raw single-row INSERT, 1 in flight (info)', value: raw1x.perSecond, unit: 'rows/s' }),
      row({
        bench: 'actors',
        metric: 'actor events, 1 in flight to 1 actor (info)',
        value: seq1.perSecond,
        unit: 'events/s',
        baseline: { label: 'raw INSERT, 1 in flight', value: raw1x.perSecond },
        note: 'no goal: one event is a transaction of several statements',
      }),
    );
    c.details.throughput = { rounds: runs, raw1x, seq1, journal, acked };
    c.notes.push(
      `actors (a): each event runs the transition, then upserts the snapshot (~${JSON.stringify(initialContext('x')).length} B context) ` +
        'and appends to the journal in a group-committed transaction before its send() resolves; the raw baseline inserts one ' +
        `row with the same context as jsonb per statement (autocommit). Both use a postgres.js pool of ${POOL_MAX}.`,
    );
  } finally {
    await stopSystem(c, system);
    await raw`drop table if exists bench_raw`;
  }
}

/**
 * (e) Durable `after` timers: actors armed with due times spread over a few seconds; lateness is
 * the time from a timer's due time to the commit of the transition it fired (seen by a listener).
 * Twice: fired by the process that armed them (an in-memory timeout, with the pg-boss job as the
 * backstop), and by a new process after a restart, where only the job (polled every 0.5 s) can.
 */
async function timerLateness(c: Ctx): Promise<void> {
  const { opts, sql } = c;
  await truncate(sql);
  const n = opts.quick ? 100 : 400;
  const spreadMs = opts.quick ? 2000 : 4000;
  const live = await lateness(c, n, spreadMs, 'live', false);
  const restarted = await lateness(c, n, spreadMs, 'restarted', true);
  const [{ dup } = { dup: 0 }] = await sql<{ dup: number }[]>`
    select count(*)::int - count(distinct actor_id)::int as dup from actor_journal where actor_type = ${ALARM} and event->>'type' like 'xstate.after.%'`;
  if (dup !== 0) throw new Error(`${dup} timers fired more than once`);
  c.rows.push(
    row({ bench: 'actors', metric: `after timer lateness p50, live process (${n} timers)`, value: live.p50, unit: 'ms', note: `p99 ${fmt(live.p99)} ms, max ${fmt(live.max)} ms; in-memory timeout, job as backstop; each fired once` }),
    row({ bench: 'actors', metric: `after timer lateness p50, after a restart (${n} timers)`, value: restarted.p50, unit: 'ms', note: `p99 ${fmt(restarted.p99)} ms, max ${fmt(restarted.max)} ms; pg-boss job only (polls every 500 ms)` }),
  );
  c.details.timers = { n, spreadMs, live, restarted };
}

async function lateness(c: Ctx, n: number, spreadMs: number, prefix: string, restart: boolean) {
  const { opts, sql } = c;
  const fired = new Map<string, number>();
  const listen = (s: ActorSystem) =>
    s.onChange((v) => {
      if (v.type === ALARM && v.state === 'fired' && !fired.has(v.id)) fired.set(v.id, Date.now());
    });
  let system = await newSystem(c);
  let off = listen(system);
  try {
    progress(`actors: ${n} durable after timers over ${spreadMs} ms (${prefix})`);
    const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
    await pool(ids, opts.concurrency, (id, i) => system.send(ALARM, id, { type: 'arm', delayMs: 1500 + Math.round((i / n) * spreadMs) }));
    if (restart) {
      off();
      await stopSystem(c, system);
      system = await newSystem(c);
      off = listen(system);
    }
    const deadline = Date.now() + spreadMs + 30_000;
    while (fired.size < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (fired.size < n) throw new Error(`only ${fired.size} of ${n} timers fired (${prefix})`);
    // Due times from the timer jobs themselves (a fired timer's row is gone; its job stays).
    const due = new Map(
      (await sql<{ id: string; start_after: Date }[]>`
        select data->>'id' as id, start_after from pgboss.job
        where name = ${TIMER_QUEUE} and data->>'type' = ${ALARM} and starts_with(data->>'id', ${`${prefix}-`})`).map((r) => [r.id, r.start_after.getTime()]),
    );
    if (due.size !== n) throw new Error(`${due.size} timer jobs for ${n} timers`);
    return summarize(ids.map((id) => fired.get(id)! - due.get(id)!));
  } finally {
    off();
    await stopSystem(c, system);
  }
}

/** (b) First event to a passivated actor against an event to a live one, one at a time. */
async function rehydration(c: Ctx): Promise<void> {
  const { opts, sql } = c;
  await truncate(sql);
  const system = await newSystem(c);
  try {
    const n = Math.min(opts.actors, Math.max(2000, opts.samples * 4));
    const ids = Array.from({ length: n }, (_, i) => `rh-${i}`);
    progress(`actors: rehydration, ${n} actors, ${opts.samples} samples`);
    await pool(ids, opts.concurrency, (id) => system.send(CONVERSATION, id, message(0) as never));
    const pick = shuffle(ids).slice(0, opts.samples);

    const time = async (fn: (id: string, i: number) => Promise<unknown>) => {
      const out: number[] = [];
      for (let i = 0; i < pick.length; i++) {
        const t0 = performance.now();
        await fn(pick[i]!, i);
        out.push(performance.now() - t0);
      }
      return summarize(out);
    };
    const warm = await time((id, i) => system.send(CONVERSATION, id, message(i + 1) as never));
    const dropped = system.passivateIdle(EVERYONE);
    if (system.liveCount !== 0) throw new Error(`${system.liveCount} actors still live after passivation`);
    const before = system.stats.rehydrations;
    const cold = await time((id, i) => system.send(CONVERSATION, id, message(i + 1000) as never));
    const rehydrated = system.stats.rehydrations - before;
    const select = await time((id) => sql`select * from actor_snapshots where actor_type = ${CONVERSATION} and actor_id = ${id}`);

    c.rows.push(
      row({ bench: 'actors', metric: 'event to a live actor p50 (baseline)', value: warm.p50, unit: 'ms', note: `p99 ${warm.p99.toFixed(2)} ms` }),
      row({
        bench: 'actors',
        metric: 'event to a passivated actor (rehydrate) p50',
        value: cold.p50,
        unit: 'ms',
        baseline: { label: 'live p50', value: warm.p50 },
      }),
      row({
        bench: 'actors',
        metric: 'event to a passivated actor (rehydrate) p99',
        value: cold.p99,
        unit: 'ms',
        baseline: { label: 'live p99', value: warm.p99 },
      }),
      row({ bench: 'actors', metric: 'snapshot select by key p50 (info)', value: select.p50, unit: 'ms', note: `p99 ${select.p99.toFixed(2)} ms` }),
    );
    c.details.rehydration = { actors: n, passivated: dropped, rehydrated, warm, cold, select };
    c.notes.push(
      'actors (b): one send at a time to distinct random actors; a rehydrating send loads the snapshot, resolves it, ' +
        'runs the transition and commits, a live send only transitions and commits.',
    );
  } finally {
    await stopSystem(c, system);
  }
}

/** (c) Heap per live and per passivated actor. Returns a persisted snapshot to use as a template. */
async function memory(c: Ctx): Promise<unknown> {
  const { opts, sql } = c;
  await truncate(sql);
  const n = opts.actors;
  const ids = Array.from({ length: n }, (_, i) => `mem-${i}`);
  const system = await newSystem(c);
  try {
    // Warm up first (JIT-compiled code, pools, caches are a fixed cost, not a per-actor one): create
    // and passivate a few thousand other actors before the baseline is taken.
    const warmIds = Array.from({ length: Math.min(2000, n) }, (_, i) => `mem-warm-${i}`);
    await pool(warmIds, 200, (id) => system.send(CONVERSATION, id, message(1) as never));
    system.passivateIdle(EVERYONE);
    const hasGc = gc();
    if (!hasGc) c.notes.push('actors (c): global.gc is not available (run node with --expose-gc): heap deltas include garbage.');
    const base = heap();
    progress(`actors: memory, creating ${n} live actors`);
    const t0 = performance.now();
    await pool(ids, 200, (id) => system.send(CONVERSATION, id, message(1) as never));
    const createMs = performance.now() - t0;
    gc();
    const live = heap();
    if (system.liveCount !== n) throw new Error(`expected ${n} live actors, found ${system.liveCount}`);
    const snap = system.peek(CONVERSATION, ids[0]!)!;
    const persisted = conversationMachine.getPersistedSnapshot(snap);
    const json = JSON.stringify(persisted);
    const contextBytes = JSON.stringify(snap.context).length;

    system.passivateIdle(EVERYONE);
    gc();
    const passivated = heap();

    // Baseline: the same data held as plain objects parsed from the persisted JSON.
    const plain = new Map<string, unknown>();
    for (const id of ids) plain.set(id, JSON.parse(json.replaceAll(ids[0]!, id)));
    gc();
    const plainHeap = heap();
    plain.clear();
    gc();

    const perLive = (live - base) / n;
    const perPassivated = (passivated - base) / n;
    const perPlain = (plainHeap - passivated) / n;
    c.rows.push(
      row({ bench: 'actors', metric: `plain object of the persisted snapshot (baseline), ×${n}`, value: perPlain, unit: 'B/actor', note: `JSON ${json.length} B, context ${contextBytes} B` }),
      row({ bench: 'actors', metric: `heap per live actor, ×${n}`, value: perLive, unit: 'B/actor', baseline: { label: 'plain object', value: perPlain } }),
      row({
        bench: 'actors',
        metric: `heap per passivated actor, ×${n}`,
        value: perPassivated,
        unit: 'B/actor',
        note: `~0 expected (memory grows with live actors only); ${fmt((passivated - base) / 2 ** 20, 1)} MiB in all`,
      }),
      row({ bench: 'actors', metric: `create ${n} fresh actors (1 event each), 200 in flight (info)`, value: (n / createMs) * 1000, unit: 'actors/s', note: `${fmt(createMs / 1000, 1)} s` }),
    );
    c.details.memory = { actors: n, gc: hasGc, base, live, passivated, plainHeap, perLive, perPassivated, perPlain, snapshotJsonBytes: json.length, contextBytes, createMs };
    c.notes.push(
      'actors (c): process.memoryUsage().heapUsed after a forced full GC, before creating the actors, with all of them live, ' +
        'and after passivating all; the baseline holds the same persisted snapshots as JSON.parse()d plain objects.',
    );
    return persisted;
  } finally {
    await stopSystem(c, system);
  }
}

/** (d) Ready after a restart with many snapshots in the table, against an empty table. */
async function restart(c: Ctx, template: unknown): Promise<void> {
  const { opts, sql } = c;
  await truncate(sql);
  const n = opts.actors;
  const ready = async (probe: string) => {
    const t0 = performance.now();
    const system = new ActorSystem({ sql, boss: c.boss, log: c.log, idleMs: IDLE_MS });
    system.register(conversationActor());
    await system.start();
    const startMs = performance.now() - t0;
    await system.send(CONVERSATION, probe, message(99) as never);
    const totalMs = performance.now() - t0;
    await stopSystem(c, system);
    return { startMs, firstSendMs: totalMs - startMs, totalMs };
  };

  progress('actors: restart with an empty snapshot table');
  const empty = await ready('empty-probe');
  await truncate(sql);

  progress(`actors: inserting ${n} snapshots`);
  const t0 = performance.now();
  await sql`
    insert into actor_snapshots (actor_type, actor_id, machine_version, seq, state, snapshot, status)
    select ${CONVERSATION}, 'rs-' || g, 1, 1, 'open',
           jsonb_set(${sql.json(template as never)}::jsonb, '{context,conversationId}', to_jsonb('rs-' || g)), 'active'
    from generate_series(1, ${n}::int) g`;
  await sql`analyze actor_snapshots`;
  const insertMs = performance.now() - t0;
  const [{ count } = { count: 0 }] = await sql<{ count: number }[]>`select count(*)::int as count from actor_snapshots`;

  progress(`actors: restart with ${count} snapshots`);
  const probe = `rs-${1 + Math.floor(Math.random() * n)}`;
  const full = await ready(probe);
  const [after] = await sql<{ seq: string }[]>`select seq from actor_snapshots where actor_type = ${CONVERSATION} and actor_id = ${probe}`;
  if (Number(after?.seq) !== 2) throw new Error(`probe actor ${probe} was not rehydrated from its snapshot (seq ${after?.seq})`);

  c.rows.push(
    row({ bench: 'actors', metric: 'ready after restart, empty table (baseline)', value: empty.totalMs, unit: 'ms', note: `start() ${empty.startMs.toFixed(0)} ms + first send ${empty.firstSendMs.toFixed(0)} ms` }),
    row({
      bench: 'actors',
      metric: `ready after restart, ${count} snapshots`,
      value: full.totalMs,
      unit: 'ms',
      baseline: { label: 'empty table', value: empty.totalMs },
      goal: '< 2000 ms',
      note: `start() ${full.startMs.toFixed(0)} ms + first send ${full.firstSendMs.toFixed(0)} ms`,
    }),
  );
  c.details.restart = { snapshots: count, insertMs, empty, full };
  c.notes.push(
    `actors (d): ${count} snapshots inserted with one INSERT … SELECT generate_series in ${fmt(insertMs / 1000, 1)} s; then timed ` +
      'new ActorSystem() + register() + start() (pg-boss queue and worker, outbox sweep) and the first send to a random one of them. ' +
      'pg-boss itself was already started, as it is before the actor system in src/main.ts.',
  );
  await truncate(sql);
}

function shuffle<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
