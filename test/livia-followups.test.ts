/**
 * Lívia's follow-ups as durable timers in a real ActorSystem: armed by one process, fired by the
 * next one after a restart (nudge, last nudge, ABANDONED), and held back until business hours.
 * The conversation's clock is moved to a chosen time of day; the runtime's timers use real time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONVERSATION } from '../src/actors/conversation.ts';
import { noTranscriber, scriptedBrain } from '../src/actors/conversation/brain.ts';
import { ActorSystem } from '../src/actors/runtime.ts';
import { journalFor } from '../src/db/actors.ts';
import type { Sql } from '../src/db/client.ts';
import { conversationByPhone, transcriptOf } from '../src/db/conversations.ts';
import { startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { migrate } from '../src/db/migrate.ts';
import { parseHours } from '../src/domain/business-hours.ts';
import { createLogger } from '../src/log.ts';
import { ConversationInbox } from '../src/services/conversation-inbox.ts';
import { testSql } from './support/db.ts';
import { conversationSystem } from './support/conversation-system.ts';
import { FakeLiviaTransport } from './support/fake-livia-transport.ts';

const log = createLogger('silent');
const HOUR = 3_600_000;
let sql: Sql;
let boss: PgBoss;
const transport = new FakeLiviaTransport();
/** Where the conversation's clock stands: an offset from real time. */
let offset = 0;
const live: ActorSystem[] = [];

function newSystem(): { system: ActorSystem; inbox: ConversationInbox } {
  const system = conversationSystem(sql, boss, {
    settings: { monthlyRate: 0.02, maxIncomeShare: 0.3, followUpMs: [1500, 3000], burstMs: 100, hours: parseHours('08:00-20:00', 'America/Sao_Paulo') },
    brain: scriptedBrain,
    transport,
    now: () => Date.now() + offset,
  });
  live.push(system);
  return { system, inbox: new ConversationInbox({ system, transcriber: noTranscriber }) };
}

/** Moves the conversation's clock to `hh:mm:ss` in São Paulo (UTC−3) today. */
function clockAt(hms: string): void {
  const day = new Date().toISOString().slice(0, 10);
  offset = Date.parse(`${day}T${hms}-03:00`) - Date.now();
}

beforeAll(async () => {
  const db = await testSql();
  sql = db.sql;
  await migrate(sql, 'migrations');
  boss = await startJobs({ url: db.url, log, queues: [] });
});

afterAll(async () => {
  for (const s of live) await s.stop();
  if (boss) await stopJobs(boss);
});

async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('follow-ups', () => {
  it('armed before a restart, fired after it: a nudge, the last nudge, then ABANDONED', { timeout: 60_000 }, async () => {
    clockAt('12:00:00');
    const phone = '+5511987658001';
    const first = newSystem();
    await first.system.start();
    await first.inbox.deliver('livia', phone, { id: 'f1', text: 'oi, aqui é a Carla', at: new Date(Date.now() + offset) });
    await until('the answer', () => transport.to(phone).length === 1);
    await until('the follow-up to be armed', async () => (await sql`select 1 from actor_timers where actor_id = ${phone}`).length === 1);
    await first.system.stop();

    const second = newSystem();
    await second.system.start();
    await until('ABANDONED', async () => (await conversationByPhone(sql, phone))?.stage === 'ABANDONED');
    await until('both nudges sent', () => transport.to(phone).length === 3);
    const texts = transport.to(phone).map((m) => m.text);
    expect(texts[1]).toMatch(/Ainda está por aí\?/);
    expect(texts[2]).toMatch(/vou encerrar/);
    const journal = (await journalFor(sql, CONVERSATION, phone)).map((j) => (j.event as { type: string }).type);
    expect(journal.filter((t) => t.includes('FOLLOW_UP_1'))).toHaveLength(1);
    expect(journal.filter((t) => t.includes('FOLLOW_UP_2'))).toHaveLength(1);
    expect(await sql`select 1 from actor_timers where actor_id = ${phone}`).toHaveLength(0);
    expect((await transcriptOf(sql, phone)).filter((m) => m.role === 'livia')).toHaveLength(3);

    // The customer comes back: the conversation picks up where it stopped.
    await second.inbox.deliver('livia', phone, { id: 'f2', text: 'desculpa, é pra comprar um carro' });
    await until('the answer', () => transport.to(phone).length === 4);
    expect(transport.to(phone)[3]!.text).toMatch(/Qual valor/);
    expect((await conversationByPhone(sql, phone))!.stage).toBe('QUALIFICATION');
    await second.system.stop();
  });

  it('a nudge due at night waits for 08:00 in São Paulo', async () => {
    clockAt('19:59:59');
    const phone = '+5511987658002';
    const { system, inbox } = newSystem();
    await system.start();
    await inbox.deliver('livia', phone, { id: 'n1', text: 'oi, aqui é o Davi', at: new Date(Date.now() + offset) });
    await until('the answer', () => transport.to(phone).length === 1);
    const [timer] = await until('the follow-up to be armed', async () => {
      const rows = await sql<{ due_at: Date; created: Date }[]>`select due_at, now() as created from actor_timers where actor_id = ${phone}`;
      return rows.length === 1 && rows;
    });
    // Lívia spoke at 19:59:59; 1.5 s later it is 20:00, closed: the nudge is due at 08:00, about 12 h on.
    const wait = timer!.due_at.getTime() - timer!.created.getTime();
    expect(wait).toBeGreaterThan(11.9 * HOUR);
    expect(wait).toBeLessThan(12.1 * HOUR);
    expect(transport.to(phone)).toHaveLength(1);
    await system.stop();
  });
});
