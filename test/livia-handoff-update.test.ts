/**
 * Lívia's hand-off onto a lead the customer already has (issue 12, point 6: "created or updated").
 * Real database, real lead pipeline (rules classifier, round-robin), real conversation actor:
 *
 * - a webhook lead under another form of the same phone (without the ninth digit), already
 *   assigned: updated, not duplicated; it keeps its consultant, who is notified with the summary;
 *   the summary is a note on the lead; it is classified again; `lead:updated` is emitted; Lívia
 *   names that consultant to the customer;
 * - an unassigned open lead: updated (its placeholder name replaced) and assigned by the round-robin;
 * - a closed (LOST) lead: a new lead is created, the closed one is left alone;
 * - the same hand-off again (its effect id, as after a crash): no second note, notification or lead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noTranscriber, scriptedBrain } from '../src/actors/conversation/brain.ts';
import { ActorSystem } from '../src/actors/runtime.ts';
import type { Sql } from '../src/db/client.ts';
import { conversationByPhone } from '../src/db/conversations.ts';
import { startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { findLead, type LeadRow, type NewLead } from '../src/db/leads.ts';
import type { NotificationRow } from '../src/db/notifications.ts';
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
const consultants: Record<string, string> = {};
const transport = new FakeLiviaTransport();
let handoff: ReturnType<typeof createLiviaHandoff>;
const updated: LeadRow[] = [];
const notified: NotificationRow[] = [];

beforeAll(async () => {
  const db = await testSql();
  sql = db.sql;
  await migrate(sql, 'migrations');
  for (const [name, email] of [
    ['Rafael Lima', 'rafael@x.test'],
    ['Beatriz Nunes', 'beatriz@x.test'],
  ]) {
    const [c] = await sql<{ id: string }[]>`insert into consultants (name, email, password_hash, role) values (${name!}, ${email!}, 'x', 'CONSULTANT') returning id`;
    consultants[name!] = c!.id;
  }
  boss = await startJobs({ url: db.url, log, queues: [] });
  pipeline = new LeadPipeline({
    sql,
    boss,
    log,
    classify: createLeadClassifier({ apiKey: undefined, model: 'x' }),
    requiresPresence: false,
    isOnline: () => true,
    // No periodic reconcile: assignment happens only when something asks for it.
    reconcileMs: 3_600_000,
    events: {
      leadCreated() {},
      leadUpdated: (l) => void updated.push(l),
      notification: (n) => void notified.push(n),
      workloadChanged() {},
    },
  });
  await pipeline.start();
  handoff = createLiviaHandoff({ sql, pipeline, log, waitMs: 3000 });
  system = conversationSystem(sql, boss, {
    settings: { monthlyRate: 0.02, maxIncomeShare: 0.3, followUpMs: [3_600_000, 86_400_000], burstMs: 50, hours: parseHours('00:00-24:00', 'America/Sao_Paulo') },
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

const webhookLead = (o: Partial<NewLead> & { phone: string }): NewLead => ({
  name: 'Carla Souza',
  email: null,
  source: 'site',
  externalId: null,
  idempotencyKey: null,
  message: 'Quero um empréstimo',
  requestedAmount: 5_000,
  monthlyIncome: null,
  metadata: { campaign: 'black-friday' },
  ...o,
});

const interactionsOf = (leadId: string) => sql<{ type: string; actor_type: string; data: Record<string, unknown> }[]>`
  select type, actor_type, data from interactions where lead_id = ${leadId} order by id`;

describe('hand-off onto an existing lead', () => {
  it('updates the assigned webhook lead under another phone form, keeps and notifies its consultant, and Lívia names them', async () => {
    const phone = '+5511987657001';
    // The webhook stored the old 8-digit form of the same mobile.
    const { id } = await pipeline.intake(webhookLead({ phone: '+551187657001' }));
    const before = await until('the webhook lead assigned', async () => {
      const l = await findLead(sql, id);
      return l?.consultant_id ? l : undefined;
    });
    const consultantFirst = before.consultant_name!.split(' ')[0]!;
    const notifiedBefore = notified.length;

    let n = 0;
    for (const text of ['Oi, aqui é a Carla Souza', 'quero reformar a casa', 'uns 30 mil', 'ganho 5 mil', 'em 24x', 'sim', 'pode sim']) {
      const sent = transport.to(phone).length;
      await inbox.deliver('livia', phone, { id: `u${++n}`, text });
      await until(`an answer to ${text}`, () => transport.to(phone).length > sent);
    }
    await until('who will call', () => transport.to(phone).some((m) => m.text.includes(`O consultor ${consultantFirst} vai te chamar`)));

    // One lead for this customer, the webhook's, still with its consultant.
    const leads = await sql<{ id: string }[]>`select id from leads where phone in (${phone}, '+551187657001')`;
    expect(leads.map((l) => l.id)).toEqual([id]);
    expect((await conversationByPhone(sql, phone))!.lead_id).toBe(id);
    const lead = await until('classified again', async () => {
      const l = (await findLead(sql, id))!;
      return l.ai_classified_at ? l : undefined;
    });
    expect(lead).toMatchObject({ name: 'Carla Souza', source: 'site', consultant_id: before.consultant_id, status: 'NEW', message: 'Quero um empréstimo' });
    expect(Number(lead.requested_amount)).toBe(30_000);
    expect(Number(lead.monthly_income)).toBe(5_000);
    expect(lead.metadata).toMatchObject({ campaign: 'black-friday', channel: 'whatsapp', purpose: 'reforma ou construção', consent: { value: true } });
    const types = (await interactionsOf(id)).map((i) => i.type);
    expect(types.filter((t) => t === 'classified')).toHaveLength(2);
    expect(types.filter((t) => t === 'assigned')).toHaveLength(1);
    const notes = (await interactionsOf(id)).filter((i) => i.type === 'note');
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ actor_type: 'livia' });
    expect(String(notes[0]!.data.text)).toContain('Cliente: quero reformar a casa');

    // The consultant's notification carries the summary; it was published live, once.
    const rows = await sql<{ type: string; body: string }[]>`select type, body from notifications where lead_id = ${id} and recipient_id = ${before.consultant_id!} order by id`;
    expect(rows.map((r) => r.type)).toEqual(['lead_assigned', 'livia_handoff']);
    expect(rows[1]!.body).toContain('Cliente: uns 30 mil');
    const live = notified.slice(notifiedBefore).filter((x) => x.lead_id === id);
    expect(live.map((x) => x.type)).toEqual(['livia_handoff']);
    // The board heard of it (lead:updated) with the new data.
    expect(updated.some((u) => u.id === id && Number(u.requested_amount) === 30_000)).toBe(true);
  });

  it('assigns an unassigned open lead through the round-robin, replacing its placeholder name', async () => {
    const phone = '+5511987657002';
    // Nobody can take leads when it arrives: it waits, unassigned.
    await sql`update consultants set active = false`;
    const { id } = await pipeline.intake(webhookLead({ phone, name: '+5511987657002', source: 'whatsapp', idempotencyKey: `whatsapp:${phone}` }));
    await until('classified', async () => (await findLead(sql, id))?.ai_classified_at ?? undefined);
    await new Promise((r) => setTimeout(r, 200));
    expect((await findLead(sql, id))!.consultant_id).toBeNull();
    await sql`update consultants set active = true`;

    const r = await handoff.handOff({ phone, data: { name: 'Diego Alves', requested_amount: 12_000, monthly_income: 4_000, term_months: 12 }, summary: 'Cliente: oi' }, 'effect-unassigned');
    const lead = (await findLead(sql, id))!;
    expect(lead.consultant_id).not.toBeNull();
    expect(r.consultantName).toBe(lead.consultant_name!.split(' ')[0]);
    expect(lead).toMatchObject({ name: 'Diego Alves', source: 'whatsapp' });
    expect(Number(lead.requested_amount)).toBe(12_000);
    expect(await sql`select 1 from leads where phone = ${phone}`).toHaveLength(1);
    const types = (await interactionsOf(id)).map((i) => i.type);
    expect(types).toEqual(expect.arrayContaining(['note', 'assigned']));
    // Assigned by the round-robin, so its notification is the round-robin's.
    const ns = await sql<{ type: string }[]>`select type from notifications where lead_id = ${id}`;
    expect(ns.map((x) => x.type)).toEqual(['lead_assigned']);
  });

  it('creates a new lead when the customer has only a closed one', async () => {
    const phone = '+5511987657003';
    const { id: closed } = await pipeline.intake(webhookLead({ phone }));
    await until('assigned', async () => (await findLead(sql, closed))?.consultant_id ?? undefined);
    await sql`update leads set status = 'LOST', closed_at = now() where id = ${closed}`;
    const before = (await findLead(sql, closed))!;

    await sql`insert into conversations (phone, stage) values (${phone}, 'TRANSFERRED')`;
    await handoff.handOff({ phone, data: { name: 'Carla Souza', requested_amount: 20_000, monthly_income: 6_000 }, summary: 'Cliente: voltei' }, 'effect-closed');
    const leads = await sql<{ id: string; source: string }[]>`select id, source from leads where phone = ${phone} order by created_at`;
    expect(leads.map((l) => l.source)).toEqual(['site', 'livia']);
    expect((await conversationByPhone(sql, phone))!.lead_id).toBe(leads[1]!.id);
    // The closed lead is untouched.
    const after = (await findLead(sql, closed))!;
    expect(after.version).toBe(before.version);
    expect((await interactionsOf(closed)).some((i) => i.type === 'note')).toBe(false);
  });

  it('the same hand-off again (its effect id, as after a crash) appends and notifies nothing more', async () => {
    const phone = '+5511987657004';
    const { id } = await pipeline.intake(webhookLead({ phone }));
    const assigned = await until('assigned', async () => {
      const l = await findLead(sql, id);
      return l?.consultant_id ? l : undefined;
    });
    const p = { phone, data: { name: 'Carla Souza', requested_amount: 9_000, monthly_income: 3_000 }, summary: 'Cliente: quero 9 mil' };
    const notifiedBefore = notified.length;
    const first = await handoff.handOff(p, 'effect-repeat');
    const second = await handoff.handOff(p, 'effect-repeat');
    expect(second).toEqual(first);
    expect(first.consultantName).toBe(assigned.consultant_name!.split(' ')[0]);

    expect(await sql`select 1 from leads where phone = ${phone}`).toHaveLength(1);
    expect((await interactionsOf(id)).filter((i) => i.type === 'note')).toHaveLength(1);
    const ns = await sql<{ type: string }[]>`select type from notifications where lead_id = ${id} and type = 'livia_handoff'`;
    expect(ns).toHaveLength(1);
    expect(notified.slice(notifiedBefore).filter((x) => x.lead_id === id && x.type === 'livia_handoff')).toHaveLength(1);
    // A different hand-off (a later conversation) is a new one: noted and notified again.
    await handoff.handOff(p, 'effect-repeat-2');
    expect((await interactionsOf(id)).filter((i) => i.type === 'note')).toHaveLength(2);
  });
});
