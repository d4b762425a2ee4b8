/**
 * Lívia's hand-off through the real lead pipeline: the qualified, consenting customer becomes a
 * lead (source `livia`) with the collected data and the conversation's summary, assigned by the
 * round-robin; the conversation is linked to it; Lívia tells the customer who will call. A repeat
 * of the hand-off effect (same id) finds the same lead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noTranscriber, scriptedBrain } from '../src/actors/conversation/brain.ts';
import { ActorSystem } from '../src/actors/runtime.ts';
import type { Sql } from '../src/db/client.ts';
import { conversationByPhone } from '../src/db/conversations.ts';
import { startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { findLead } from '../src/db/leads.ts';
import { migrate } from '../src/db/migrate.ts';
import { parseHours } from '../src/domain/business-hours.ts';
import { createLogger } from '../src/log.ts';
import { ConversationInbox } from '../src/services/conversation-inbox.ts';
import { createLeadClassifier } from '../src/services/lead-classifier.ts';
import { LeadPipeline } from '../src/services/lead-pipeline.ts';
import { createLiviaHandoff } from '../src/services/livia-handoff.ts';
import { testSql } from './support/db.ts';
import { conversationSystem } from './support/conversation-system.ts';
import { FakeLiviaTransport } from './support/fake-livia-transport.ts';

const log = createLogger('silent');
let sql: Sql;
let boss: PgBoss;
let system: ActorSystem;
let pipeline: LeadPipeline;
let inbox: ConversationInbox;
let consultantId: string;
const transport = new FakeLiviaTransport();
let handoff: ReturnType<typeof createLiviaHandoff>;

beforeAll(async () => {
  const db = await testSql();
  sql = db.sql;
  await migrate(sql, 'migrations');
  const [c] = await sql<{ id: string }[]>`
    insert into consultants (name, email, password_hash, role) values ('Rafael Lima', 'rafael@x.test', 'x', 'CONSULTANT') returning id`;
  consultantId = c!.id;
  boss = await startJobs({ url: db.url, log, queues: [] });
  pipeline = new LeadPipeline({
    sql,
    boss,
    log,
    classify: createLeadClassifier({ apiKey: undefined, model: 'x' }),
    requiresPresence: false,
    isOnline: () => true,
    events: { leadCreated() {}, leadUpdated() {}, notification() {}, workloadChanged() {} },
  });
  await pipeline.start();
  handoff = createLiviaHandoff({ sql, pipeline, log });
  system = conversationSystem(sql, boss, {
    settings: { monthlyRate: 0.02, maxIncomeShare: 0.3, followUpMs: [3_600_000, 86_400_000], burstMs: 100, hours: parseHours('08:00-20:00', 'America/Sao_Paulo') },
    brain: scriptedBrain,
    transport,
    handoff,
  });
  await system.start();
  inbox = new ConversationInbox({ system, transcriber: noTranscriber });
});

afterAll(async () => {
  await system?.stop();
  await pipeline?.stop();
  if (boss) await stopJobs(boss);
});

async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('hand-off to the sales team', () => {
  it('creates, classifies and assigns the lead, links the conversation, and says who will call', async () => {
    const phone = '+5511987656001';
    let n = 0;
    for (const text of ['Oi, aqui é a Carla Souza', 'quero reformar a casa', 'uns 30 mil', 'ganho 5 mil', 'em 24x', 'sim', 'pode sim']) {
      const before = transport.to(phone).length;
      await inbox.deliver('livia', phone, { id: `h${++n}`, text });
      await until(`an answer to ${text}`, () => transport.to(phone).length > before);
    }
    await until('who will call', () => transport.to(phone).some((m) => m.text.includes('O consultor Rafael vai te chamar')));

    const conversation = await until('the lead link', async () => (await conversationByPhone(sql, phone))?.lead_id ?? undefined);
    const lead = (await findLead(sql, conversation))!;
    expect(lead).toMatchObject({ name: 'Carla Souza', phone, source: 'livia', consultant_id: consultantId, ai_classifier: 'rules' });
    expect(Number(lead.requested_amount)).toBe(30_000);
    expect(Number(lead.monthly_income)).toBe(5_000);
    expect(lead.metadata).toMatchObject({ channel: 'whatsapp', purpose: 'reforma ou construção', term_months: 26, consent: { value: true } });
    expect(lead.message).toContain('Cliente: quero reformar a casa');
    const interactions = await sql<{ type: string }[]>`select type from interactions where lead_id = ${lead.id} order by id`;
    expect(interactions.map((i) => i.type)).toEqual(expect.arrayContaining(['created', 'assigned']));
    expect(await sql`select 1 from leads where source = 'livia'`).toHaveLength(1);
  });

  it('a repeated hand-off (same effect id) finds the same lead', async () => {
    const phone = '+5511987656002';
    const p = { phone, data: { name: 'Ana', requested_amount: 10_000, monthly_income: 4_000 }, summary: 'Cliente: oi' };
    await sql`insert into conversations (phone, stage) values (${phone}, 'TRANSFERRED')`;
    await handoff.handOff(p, 'effect-1');
    await handoff.handOff(p, 'effect-1');
    const leads = await sql<{ id: string }[]>`select id from leads where phone = ${phone}`;
    expect(leads).toHaveLength(1);
    expect((await conversationByPhone(sql, phone))!.lead_id).toBe(leads[0]!.id);
  });
});
