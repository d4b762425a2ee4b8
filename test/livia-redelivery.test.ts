/**
 * A customer message stored but refused by the database on its way to the conversation (here: the
 * conversation's snapshot row locked by another transaction, as a paused previous owner holds it,
 * until the statement times out) is not left unanswered: recovery rounds hand it over again once
 * the lock is gone, and the customer gets one answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONVERSATION } from '../src/actors/conversation.ts';
import { noTranscriber, scriptedBrain } from '../src/actors/conversation/brain.ts';
import { ActorSystem } from '../src/actors/runtime.ts';
import { createSql, type Sql } from '../src/db/client.ts';
import { startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { migrate } from '../src/db/migrate.ts';
import { insertMessage, resolveChat } from '../src/db/whatsapp.ts';
import { parseHours } from '../src/domain/business-hours.ts';
import { createLogger } from '../src/log.ts';
import { ConversationInbox } from '../src/services/conversation-inbox.ts';
import { LIVIA_SESSION, LiviaConversationInbox } from '../src/services/livia-whatsapp.ts';
import { afterFile, testSql } from './support/db.ts';
import { conversationSystem } from './support/conversation-system.ts';
import { FakeLiviaTransport } from './support/fake-livia-transport.ts';

const log = createLogger('silent');
const PHONE = '+5511987657001';
let sql: Sql;
/** The system's pool: statements give up after 300 ms, as the server's give up after their timeout. */
let timed: Sql;
let boss: PgBoss;
let system: ActorSystem;
let livia: LiviaConversationInbox;
const transport = new FakeLiviaTransport();

beforeAll(async () => {
  const db = await testSql();
  sql = db.sql;
  await migrate(sql, 'migrations');
  timed = createSql(db.url, { max: 5, statementTimeoutMs: 300 });
  afterFile(() => timed.end({ timeout: 5 }));
  boss = await startJobs({ url: db.url, log, queues: [] });
  system = conversationSystem(timed, boss, {
    settings: { monthlyRate: 0.02, maxIncomeShare: 0.3, followUpMs: [3_600_000, 7_200_000], burstMs: 0, hours: parseHours('00:00-23:59', 'America/Sao_Paulo') },
    brain: scriptedBrain,
    transport,
  });
  await system.start();
  const inbox = new ConversationInbox({ system, transcriber: noTranscriber });
  livia = new LiviaConversationInbox({ sql: timed, inbox, log, backoffMs: [200, 400, 800] });
});

afterAll(async () => {
  livia?.stop();
  await system?.stop();
  if (boss) await stopJobs(boss);
});

async function store(waId: string, text: string) {
  const chat = await resolveChat(sql, { session: LIVIA_SESSION, jid: '5511987657001@s.whatsapp.net', phone: PHONE, phones: [PHONE], lid: null, name: 'Carla' });
  const row = (await insertMessage(sql, { chatId: chat.id, session: LIVIA_SESSION, waId, direction: 'in', kind: 'text', text, status: 'delivered', at: new Date() }))!;
  return { session: LIVIA_SESSION, chatId: chat.id, messageId: row.id, waId, phone: PHONE, name: 'Carla', kind: 'text', text, at: row.at };
}

async function until(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Lívia: a stored message the database refused', () => {
  it('is handed over again once the lock is gone, and answered once', async () => {
    await livia.deliver(await store('RD-1', 'oi, aqui é a Carla'));
    await until('the first answer', () => transport.to(PHONE).length === 1);

    const second = await store('RD-2', 'quero reformar a casa');
    // Another session holds the conversation's row, as a paused owner mid-commit would.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = sql.begin(async (tx) => {
      await tx`select 1 from actor_snapshots where actor_type = ${CONVERSATION} and actor_id = ${PHONE} for update`;
      locked();
      await released;
    });
    await isLocked;
    await expect(livia.deliver(second)).rejects.toThrow();
    expect(livia.describe()).toMatchObject({ failed: 1, retrying: true });
    // Rounds while the lock is held fail too; none is the last.
    await new Promise((r) => setTimeout(r, 900));
    expect(transport.to(PHONE)).toHaveLength(1);
    release();
    await holder;

    await until('the second answer', () => transport.to(PHONE).length === 2);
    expect(transport.to(PHONE)[1]!.text).toMatch(/valor/i);
    await until('no more rounds', () => !livia.describe().retrying);
    await new Promise((r) => setTimeout(r, 1000));
    expect(transport.to(PHONE)).toHaveLength(2);
    const [pending] = await sql<{ n: number }[]>`
      select count(*)::int as n from wa_messages m
      where m.session = ${LIVIA_SESSION} and m.direction = 'in'
        and not exists (select 1 from conversation_messages cm where cm.wa_message_id = m.wa_id)`;
    expect(pending!.n).toBe(0);
  });
});
