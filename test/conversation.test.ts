/**
 * Lívia's conversation actor in a real ActorSystem (real PostgreSQL, real pg-boss), driven through
 * the ConversationInbox, with the scripted brain and an in-memory stand-in for WhatsApp
 * (test/support/fake-livia-transport.ts, until issue 11's simulator is merged).
 *
 * The tests wait for facts (replies sent, rows written), never for a duration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONVERSATION, conversationActor, typingMs } from '../src/actors/conversation.ts';
import { noTranscriber, scriptedBrain } from '../src/actors/conversation/brain.ts';
import { MEDIA_ACK, OPT_OUT_CONFIRMATION, VOICE_FALLBACK } from '../src/actors/conversation/script.ts';
import { stageOf } from '../src/actors/conversation.machine.ts';
import { ActorSystem, UnsupportedMachineError } from '../src/actors/runtime.ts';
import { journalFor } from '../src/db/actors.ts';
import type { Sql } from '../src/db/client.ts';
import { conversationByPhone, transcriptOf } from '../src/db/conversations.ts';
import { startJobs, stopJobs, type PgBoss } from '../src/db/jobs.ts';
import { migrate } from '../src/db/migrate.ts';
import { parseHours } from '../src/domain/business-hours.ts';
import { formatBRL, pmt } from '../src/domain/simulation.ts';
import { createLogger } from '../src/log.ts';
import { ConversationInbox } from '../src/services/conversation-inbox.ts';
import { testSql } from './support/db.ts';
import { conversationSystem } from './support/conversation-system.ts';
import { FakeLiviaTransport } from './support/fake-livia-transport.ts';

const log = createLogger('silent');
const HOUR = 3_600_000;
let sql: Sql;
let boss: PgBoss;
let system: ActorSystem;
let inbox: ConversationInbox;
const transport = new FakeLiviaTransport();
const handoffs: { phone: string; key: string; data: unknown; summary: string }[] = [];

const settings = {
  monthlyRate: 0.02,
  maxIncomeShare: 0.3,
  followUpMs: [HOUR, 24 * HOUR] as const,
  burstMs: 400,
  hours: parseHours('08:00-20:00', 'America/Sao_Paulo'),
};

beforeAll(async () => {
  const db = await testSql();
  sql = db.sql;
  await migrate(sql, 'migrations');
  boss = await startJobs({ url: db.url, log, queues: [] });
  system = conversationSystem(sql, boss, {
    settings,
    brain: scriptedBrain,
    transport,
    handoff: {
      handOff: async (p, key) => {
        handoffs.push({ phone: p.phone, key, data: p.data, summary: p.summary });
        return { consultantName: 'Rafael' };
      },
    },
    typing: { msPerChar: 0, maxMs: 0 },
  });
  await system.start();
  inbox = new ConversationInbox({ system, transcriber: noTranscriber, log });
});

afterAll(async () => {
  await system?.stop();
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

let ids = 0;
/** The customer writes; resolves with Lívia's answer (the next message sent to that phone). */
async function talk(phone: string, text: string): Promise<string> {
  const before = transport.to(phone).length;
  await inbox.deliver('livia', phone, { id: `wamid.${++ids}`, text });
  const sent = await until(`an answer to "${text}"`, () => transport.to(phone).length > before && transport.to(phone));
  return sent[before]!.text;
}

const stage = async (phone: string) => stageOf((await system.inspect(CONVERSATION, phone))!.value);

describe('the conversation actor in an ActorSystem', () => {
  it('passes register(): every effect has a handler, every delay is named, nothing undurable', () => {
    expect(system.definitions().map((d) => d.type)).toContain(CONVERSATION);
    // And the validation is real: without a handler for one of its effects it is refused.
    const probe = new ActorSystem({ sql, boss, log });
    const def = conversationActor({ settings, brain: scriptedBrain, transport, send: async () => {} });
    const { 'conversation.handoff': _drop, ...rest } = def.effects!;
    expect(() => probe.register({ ...def, effects: rest })).toThrow(UnsupportedMachineError);
  });

  it('a whole dialogue to TRANSFERRED with the scripted brain: transcript, data, hand-off', async () => {
    const phone = '+5511987650001';
    expect(await talk(phone, 'Oi, aqui é a Carla')).toMatch(/Eu sou a Lívia.*Prazer, Carla/);
    expect(await talk(phone, 'quero reformar a casa')).toMatch(/Qual valor/);
    expect(await talk(phone, 'uns 30 mil')).toMatch(/renda mensal/);
    expect(await talk(phone, 'ganho 5 mil')).toMatch(/quantos meses/);
    const quote = await talk(phone, 'em 24x');
    expect(quote).toContain(`24 parcelas de ${formatBRL(pmt(30_000, 24, 0.02))}`);
    expect(await talk(phone, 'sim')).toMatch(/autoriza/);
    expect(await talk(phone, 'pode sim')).toMatch(/Passei os seus dados/);
    expect(await stage(phone)).toBe('TRANSFERRED');
    // The hand-off runs once, and Lívia then says who will call.
    await until('who will call', () => transport.to(phone).some((m) => m.text.includes('Rafael')));
    expect(handoffs.filter((h) => h.phone === phone)).toHaveLength(1);
    expect(handoffs.find((h) => h.phone === phone)!.summary).toContain('Cliente: quero reformar a casa');

    const row = await conversationByPhone(sql, phone);
    expect(row).toMatchObject({ stage: 'TRANSFERRED' });
    expect(row!.data).toMatchObject({ name: 'Carla', purpose: 'reforma ou construção', requested_amount: 30_000, monthly_income: 5_000, term_months: 26, offer_accepted: true });
    expect(row!.data.consent).toMatchObject({ value: true, answered: 'pode sim' });

    // The transcript holds every message once, in order; Lívia's replies are exactly what was sent.
    const transcript = await transcriptOf(sql, phone);
    expect(transcript.filter((m) => m.role === 'customer').map((m) => m.text)).toEqual([
      'Oi, aqui é a Carla', 'quero reformar a casa', 'uns 30 mil', 'ganho 5 mil', 'em 24x', 'sim', 'pode sim',
    ]);
    const replies = transcript.filter((m) => m.role === 'livia');
    expect(replies.map((m) => m.text)).toEqual(transport.to(phone).map((m) => m.text));
    expect(replies.map((m) => m.reply_n)).toEqual(replies.map((_, i) => i + 1));
    expect(new Set(transport.to(phone).map((m) => m.key)).size).toBe(replies.length);
  });

  it('a redelivered message is stored once and answered once', async () => {
    const phone = '+5511987650002';
    await talk(phone, 'Oi, aqui é o Marcos');
    const before = transport.to(phone).length;
    await inbox.deliver('livia', phone, { id: `wamid.${ids}`, text: 'Oi, aqui é o Marcos' });
    await talk(phone, 'pra comprar um carro');
    expect(transport.to(phone)).toHaveLength(before + 1);
    expect((await transcriptOf(sql, phone)).filter((m) => m.role === 'customer')).toHaveLength(2);
  });

  it('a burst of messages is answered once', async () => {
    const phone = '+5511987650003';
    for (const text of ['oi', 'aqui é a Bia', 'quero quitar dívidas']) {
      await inbox.deliver('livia', phone, { id: `wamid.${++ids}`, text });
    }
    await until('the answer', () => transport.to(phone).length > 0);
    await until('the turn to end', async () => (await system.inspect(CONVERSATION, phone))!.state.endsWith('waiting'));
    expect(transport.to(phone)).toHaveLength(1);
    expect(transport.to(phone)[0]!.text).toMatch(/Qual valor/);
    expect(await stage(phone)).toBe('QUALIFICATION');
  });

  it('opt-out: one confirmation, then silence', async () => {
    const phone = '+5511987650004';
    await talk(phone, 'aqui é a Joana');
    expect(await talk(phone, 'PARAR')).toBe(OPT_OUT_CONFIRMATION);
    expect(await stage(phone)).toBe('OPTED_OUT');
    const count = transport.to(phone).length;
    await inbox.deliver('livia', phone, { id: `wamid.${++ids}`, text: 'oi?' });
    await inbox.deliver('livia', phone, { id: `wamid.${++ids}`, text: 'quero 10 mil' });
    // Stored, not answered; and nothing left to send or to fire for this conversation.
    expect((await transcriptOf(sql, phone)).filter((m) => m.role === 'customer').map((m) => m.text)).toEqual(['aqui é a Joana', 'PARAR', 'oi?', 'quero 10 mil']);
    const [pending] = await sql<{ n: number }[]>`select count(*)::int as n from actor_outbox where actor_id = ${phone} and done_at is null`;
    expect(pending!.n).toBe(0);
    expect(await sql`select * from actor_timers where actor_id = ${phone}`).toHaveLength(0);
    expect(transport.to(phone)).toHaveLength(count);
    expect((await conversationByPhone(sql, phone))!.data.opt_out).toMatchObject({ value: true, answered: 'PARAR' });
  });

  it('take over and give back: Lívia is silent, the consultant speaks on her number, then she resumes', async () => {
    const phone = '+5511987650005';
    await talk(phone, 'aqui é o Paulo, é pra uma cirurgia');
    await system.send(CONVERSATION, phone, { type: 'conversation.takeover', by: 'u-1', at: new Date().toISOString() });
    expect(await stage(phone)).toBe('HUMAN');
    const count = transport.to(phone).length;
    await inbox.deliver('livia', phone, { id: `wamid.${++ids}`, text: 'alô?' });
    await system.send(CONVERSATION, phone, { type: 'consultant.message', text: 'Oi Paulo, aqui é a Marina.', by: 'u-1', at: new Date().toISOString() });
    await until('the consultant message', () => transport.to(phone).length > count);
    expect(transport.to(phone).at(-1)).toMatchObject({ role: 'consultant', text: 'Oi Paulo, aqui é a Marina.' });
    expect(transport.to(phone)).toHaveLength(count + 1);
    await system.send(CONVERSATION, phone, { type: 'conversation.release', by: 'u-1', at: new Date().toISOString() });
    expect(await stage(phone)).toBe('QUALIFICATION');
    expect(await talk(phone, '15 mil')).toMatch(/renda mensal/);
    const transcript = await transcriptOf(sql, phone);
    expect(transcript.map((m) => m.role)).toEqual(['customer', 'livia', 'customer', 'consultant', 'customer', 'livia']);
  });

  it('a voice note that could not be transcribed, and an image: Lívia asks for text', async () => {
    const phone = '+5511987650006';
    await talk(phone, 'aqui é a Rita');
    const count = transport.to(phone).length;
    await inbox.deliver('livia', phone, { id: `wamid.${++ids}`, media: { kind: 'voice', mime: 'audio/ogg', data: new Uint8Array([1, 2, 3]) } });
    await until('the voice fallback', () => transport.to(phone).length > count);
    expect(transport.to(phone).at(-1)!.text).toBe(VOICE_FALLBACK);
    await inbox.deliver('livia', phone, { id: `wamid.${++ids}`, media: { kind: 'image', mime: 'image/jpeg' } });
    await until('the media ack', () => transport.to(phone).length > count + 1);
    expect(transport.to(phone).at(-1)!.text).toBe(MEDIA_ACK);
    expect((await conversationByPhone(sql, phone))!.data.purpose).toBeUndefined();
    expect((await transcriptOf(sql, phone)).filter((m) => m.role === 'customer').map((m) => m.kind)).toEqual(['text', 'voice', 'image']);
  });

  it('messages on the consultants’ session are not Lívia’s', async () => {
    expect(await inbox.deliver('consultant', '+5511987650007', { id: 'x', text: 'oi' })).toBeUndefined();
    expect(await conversationByPhone(sql, '+5511987650007')).toBeUndefined();
  });

  it('every conversation is an actor with its history in the journal', async () => {
    const journal = await journalFor(sql, CONVERSATION, '+5511987650001');
    expect(journal.map((j) => j.state?.split('.')[0])).toContain('TRANSFERRED');
    expect(journal.some((j) => (j.event as { type: string }).type === 'brain.decided')).toBe(true);
  });
});

describe('typing presence', () => {
  it('is proportional to the length of the reply, capped', () => {
    expect(typingMs('oi', { msPerChar: 40, maxMs: 3000 })).toBe(80);
    expect(typingMs('x'.repeat(500), { msPerChar: 40, maxMs: 3000 })).toBe(3000);
  });

  it('the reply effect shows typing first, then sends with the effect id as the key', async () => {
    const t = new FakeLiviaTransport();
    const def = conversationActor({ settings, brain: scriptedBrain, transport: t, send: async () => {}, typing: { msPerChar: 1, maxMs: 30 } });
    const spec = def.effects!['conversation.reply'] as { run: (p: unknown, ctx: unknown) => Promise<void> };
    const ctx = { effectId: 'e-1', actorType: CONVERSATION, actorId: '+5511987650009', seq: 1, attempt: 1, signal: new AbortController().signal };
    const p = { phone: '+5511987650009', n: 1, text: 'x'.repeat(100), role: 'livia', at: new Date().toISOString() };
    await spec.run(p, ctx);
    await spec.run(p, { ...ctx, attempt: 2 });
    expect(t.typed).toEqual([{ phone: '+5511987650009', ms: 30 }, { phone: '+5511987650009', ms: 30 }]);
    expect(t.sent).toEqual([{ phone: '+5511987650009', text: 'x'.repeat(100), role: 'livia', n: 1, key: 'e-1' }]);
  });
});
