/**
 * Issue 11: WhatsApp on the simulator driver (BENCH_ONLY=whatsapp).
 *
 *  (a) inbound messages/s from the driver's `messages.upsert` to stored and routed (the
 *      `whatsapp:message` push), with p50/p99, closed loop over many customers, against raw
 *      single-row INSERTs of the same rows at the same number in flight;
 *  (b) outbound sends/s from the request (pending row committed with the session actor's event) to
 *      "sent" (the SERVER_ACK receipt stored and pushed), with p99, against the same raw INSERTs;
 *  (c) heap per idle session actor (machine, connection, listeners), BENCH_WA_SESSIONS sessions.
 *
 * The simulator acknowledges at once, so (a) and (b) measure our side: normalization, storage,
 * routing, receipts, the actor's commit and effect.
 */
import { fileURLToPath } from 'node:url';
import { ActorSystem } from '../src/actors/runtime.ts';
import { createDriver } from '../src/actors/whatsapp/simulator-driver.ts';
import type { Config } from '../src/config.ts';
import { createSql } from '../src/db/client.ts';
import { startJobs, stopJobs } from '../src/db/jobs.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { UnhandledConversationInbox } from '../src/services/whatsapp/conversation-inbox.ts';
import { WhatsAppService, type WhatsAppPush } from '../src/services/whatsapp/service.ts';
import { closedLoop, fmt, progress, row, sleep, summarize, type BenchOptions, type BenchResult, type Row } from './lib/common.ts';
import type { BenchDatabase } from './lib/db.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));
const POOL_MAX = 20;
const CUSTOMERS = 200;

type Waiter = (at: number) => void;

/** A wait that cannot hang the run: rejects (counted as an error) after 10 s. */
const within = <T>(p: Promise<T>, what: string): Promise<T> =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within 10 s`)), 10_000).unref())]);

export async function runWhatsApp(opts: BenchOptions, db: BenchDatabase): Promise<BenchResult> {
  const log = createLogger('silent');
  const sql = createSql(db.url, { max: POOL_MAX });
  const raw = createSql(db.url, { max: POOL_MAX });
  await migrate(sql, MIGRATIONS_DIR);
  const boss = await startJobs({ url: db.url, log, queues: [] });
  const rows: Row[] = [];
  const notes: string[] = [];
  const details: Record<string, unknown> = {};
  const concurrency = Math.min(opts.concurrency, 32);

  // Waiters keyed by text (inbound) or message id (outbound status).
  const byText = new Map<string, Waiter>();
  const byId = new Map<string, Waiter>();
  const push: WhatsAppPush = {
    all: () => {},
    chat: (_chat, event, payload) => {
      const p = payload as { id: string; text?: string | null; status?: string };
      if (event === 'whatsapp:message' && p.text) byText.get(p.text)?.(performance.now());
      if (event === 'whatsapp:message:status' && p.status !== 'pending') byId.get(p.id)?.(performance.now());
    },
  };
  const driver = createDriver({ config: {} as Config, sql, log });
  const system = new ActorSystem({ sql, boss, log, idleMs: 24 * 3600_000 });
  const wa = new WhatsAppService({
    sql,
    system,
    log,
    driver,
    sessions: ['consultant', 'livia'],
    mediaMaxBytes: 16 * 1024 * 1024,
    sendPerMinute: 1_000_000,
    intake: async (lead) => {
      const [r] = await sql<{ id: string }[]>`insert into leads (name, phone, source, idempotency_key) values (${lead.name}, ${lead.phone}, ${lead.source}, ${lead.idempotencyKey})
        on conflict (idempotency_key) do update set name = leads.name returning id`;
      return r!;
    },
    conversations: new UnhandledConversationInbox(log),
    push,
  });
  wa.register();
  await system.start();
  await wa.start();
  for (let i = 0; i < 200 && (await wa.sessionViews()).some((v) => v.status !== 'open'); i++) await sleep(20);

  const phone = (i: number) => `+55119${String(80000000 + (i % CUSTOMERS)).padStart(8, '0')}`;
  const waitText = (text: string) => new Promise<number>((resolve) => byText.set(text, resolve));

  try {
    // Baseline: the same rows as raw single-row INSERTs, same number in flight.
    await raw`create table if not exists bench_wa_raw (id uuid primary key default gen_random_uuid(), chat_id uuid, wa_id text unique, text text, at timestamptz)`;
    const baseline = await closedLoop({
      concurrency,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      worker: async (_w, n) => {
        await raw`insert into bench_wa_raw (wa_id, text, at) values (${`raw-${n}-${Math.random()}`}, ${`text ${n}`}, now())`;
      },
    });
    const base = { label: 'raw INSERT/s', value: baseline.perSecond };
    rows.push(row({ bench: 'whatsapp', metric: 'raw single-row INSERTs', value: baseline.perSecond, unit: 'rows/s', note: `${concurrency} in flight` }));

    // (a) inbound, on both sessions (consultant: lead lookup or intake, then link; livia: the inbox).
    for (const session of ['consultant', 'livia'] as const) {
      progress(`whatsapp: inbound on ${session}`);
      const lat: number[] = [];
      const r = await closedLoop({
        concurrency,
        warmupMs: opts.warmupMs,
        durationMs: opts.durationMs,
        worker: async (_w, n) => {
          const text = `${session}-${n}`;
          const done = waitText(text);
          const t0 = performance.now();
          await driver.inject(session, { from: phone(n), text, name: `Cliente ${n % CUSTOMERS}` });
          const t1 = await within(done, 'stored message');
          byText.delete(text);
          lat.push(t1 - t0);
        },
      });
      const s = summarize(lat.slice(-r.ops));
      details[`inbound_${session}`] = { ...r, ...s };
      rows.push(row({ bench: 'whatsapp', metric: `inbound ${session} → stored+routed`, value: r.perSecond, unit: 'msg/s', baseline: base, note: `p50 ${fmt(s.p50, 1)} ms, p99 ${fmt(s.p99, 1)} ms, ${concurrency} in flight` }));
    }

    // (b) outbound: one chat per customer, sends spread over them.
    progress('whatsapp: outbound');
    const chats = wa.chats({ id: 'bench', role: 'ADMIN' }, 'consultant');
    const outLat: number[] = [];
    const out = await closedLoop({
      concurrency,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      worker: async (_w, n) => {
        const t0 = performance.now();
        let resolveSent!: Waiter;
        const sent = new Promise<number>((r) => (resolveSent = r));
        const early: number[] = [];
        // The receipt can come before send() returns the id: hold it by id as soon as it is known.
        const { id } = await wa.send({ chatId: chats[n % chats.length]!.id, text: `out ${n}`, sentBy: null });
        byId.set(id, resolveSent);
        const [m] = await sql<{ status: string }[]>`select status from wa_messages where id = ${id}`;
        if (m && m.status !== 'pending') early.push(performance.now());
        const t1 = early[0] ?? (await within(sent, 'sent receipt'));
        byId.delete(id);
        outLat.push(t1 - t0);
      },
    });
    const so = summarize(outLat.slice(-out.ops));
    details.outbound = { ...out, ...so };
    rows.push(row({ bench: 'whatsapp', metric: 'outbound send → sent', value: out.perSecond, unit: 'msg/s', baseline: base, note: `p50 ${fmt(so.p50, 1)} ms, p99 ${fmt(so.p99, 1)} ms` }));

    // (c) memory per idle session actor.
    const count = Number(process.env.BENCH_WA_SESSIONS ?? (opts.quick ? 50 : 500));
    progress(`whatsapp: ${count} idle sessions`);
    const gc = globalThis.gc;
    const heap = () => {
      gc?.();
      gc?.();
      return process.memoryUsage().heapUsed;
    };
    const system2 = new ActorSystem({ sql, boss, log, idleMs: 24 * 3600_000 });
    const names = Array.from({ length: count }, (_, i) => `s${i}`);
    const wa2 = new WhatsAppService({
      sql,
      system: system2,
      log,
      driver: createDriver({ config: {} as Config, sql, log }),
      sessions: names,
      mediaMaxBytes: 1024,
      sendPerMinute: 20,
      intake: async () => ({ id: '' }),
      conversations: new UnhandledConversationInbox(log),
      push: { all: () => {}, chat: () => {} },
    });
    wa2.register();
    await system2.start();
    const before = heap();
    await wa2.start();
    for (let i = 0; i < 500 && (await wa2.sessionViews()).some((v) => v.status !== 'open'); i++) await sleep(20);
    const after = heap();
    const perSession = (after - before) / count;
    details.memory = { count, before, after, perSession, gc: typeof gc === 'function' };
    rows.push(row({ bench: 'whatsapp', metric: 'heap per idle open session actor', value: perSession / 1024, unit: 'KiB', note: `${count} sessions (simulator connection included)${gc ? '' : ', no --expose-gc'}` }));
    await wa2.stop();
    await system2.stop();
  } finally {
    await wa.stop();
    await system.stop();
    await stopJobs(boss);
    await sql.end({ timeout: 2 });
    await raw.end({ timeout: 2 });
  }
  notes.push('whatsapp: simulator driver (acknowledges at once); inbound latency = inject → stored, routed and pushed; outbound = request → SERVER_ACK stored and pushed');
  return { name: 'whatsapp', rows, notes, details };
}
