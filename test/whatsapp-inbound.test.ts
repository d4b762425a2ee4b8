/**
 * Inbound storage against a real database, fed Baileys-shaped upserts directly: dedup of a
 * redelivered message, two identical texts kept as two, `append` handled like `notify`, one chat per
 * customer whether a message carries the LID or the phone (remoteJidAlt, the persisted mapping,
 * the driver's), edits and deletes applied, a ciphertext stub kept and marked, groups ignored, and
 * routing: a lead found by phone (with or without the ninth digit) or created through the intake.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/db/migrate.ts';
import type { Sql } from '../src/db/client.ts';
import type { NewLead } from '../src/db/leads.ts';
import type { WAMessage, WhatsAppConnection } from '../src/actors/whatsapp/transport.ts';
import { InboundHandler } from '../src/services/whatsapp/inbound.ts';
import { advanceStatus, insertMessage } from '../src/db/whatsapp.ts';
import type { InboundForConversation } from '../src/services/whatsapp/conversation-inbox.ts';
import { createLogger } from '../src/log.ts';
import { testSql } from './support/db.ts';

let sql: Sql;
let handler: InboundHandler;
const intakes: NewLead[] = [];
const delivered: InboundForConversation[] = [];
const pushed: string[] = [];
const lids = new Map<string, string>();

const PN = '5511912340000@s.whatsapp.net';
const LID = '98765432101234@lid';
let n = 0;
const msg = (over: { jid?: string; alt?: string; id?: string; text?: string; fromMe?: boolean; message?: WAMessage['message']; stub?: number }): WAMessage => ({
  key: { remoteJid: over.jid ?? PN, ...(over.alt ? { remoteJidAlt: over.alt } : {}), fromMe: over.fromMe ?? false, id: over.id ?? `3EB0T${++n}` },
  message: over.message === undefined ? { conversation: over.text ?? 'oi' } : over.message,
  messageTimestamp: 1764590400,
  pushName: 'Bruno',
  ...(over.stub ? { messageStubType: over.stub } : {}),
});

const rows = (session = 'consultant') =>
  sql<{ wa_id: string; text: string | null; kind: string; direction: string; chat_id: string; edited_at: Date | null; deleted_at: Date | null }[]>`
    select wa_id, text, kind, direction, chat_id, edited_at, deleted_at from wa_messages where session = ${session} order by created_at`;

beforeAll(async () => {
  ({ sql } = await testSql());
  await migrate(sql, 'migrations');
  const connection = { getPNForLID: async (lid: string) => lids.get(lid), downloadMedia: async () => ({ ok: false, reason: 'unavailable' }) } as unknown as WhatsAppConnection;
  handler = new InboundHandler({
    sql,
    log: createLogger('silent'),
    mediaMaxBytes: 1024,
    intake: async (lead) => {
      intakes.push(lead);
      const [row] = await sql<{ id: string }[]>`insert into leads (name, phone, source, idempotency_key) values (${lead.name}, ${lead.phone}, ${lead.source}, ${lead.idempotencyKey})
        on conflict (idempotency_key) do update set name = leads.name returning id`;
      return row!;
    },
    conversations: { deliver: async (m) => void delivered.push(m), describe: () => ({ handler: 'test' }) },
    connection: () => connection,
    stored: (_chat, m) => void pushed.push(m.wa_id),
    changed: (_chat, m) => void pushed.push(`changed:${m.wa_id}`),
    chatChanged: () => {},
  });
});

describe('inbound WhatsApp messages', () => {
  it('a redelivered message is stored once; two identical texts in the same second are two', async () => {
    const first = msg({ id: 'DUP1', text: 'quero crédito' });
    await handler.upsert('consultant', { messages: [first], type: 'notify' });
    await handler.upsert('consultant', { messages: [first], type: 'notify' });
    await handler.upsert('consultant', { messages: [msg({ id: 'SAME1', text: 'ok' }), msg({ id: 'SAME2', text: 'ok' })], type: 'notify' });
    const stored = await rows();
    expect(stored.map((r) => r.wa_id)).toEqual(['DUP1', 'SAME1', 'SAME2']);
    expect(handler.counters.duplicates).toBe(1);
    expect(pushed.filter((p) => p === 'DUP1')).toHaveLength(1);
  });

  it('the consultant session creates one whatsapp lead for a new customer and links the chat', async () => {
    expect(intakes).toHaveLength(1);
    expect(intakes[0]).toMatchObject({ source: 'whatsapp', phone: '+5511912340000', name: 'Bruno', idempotencyKey: 'whatsapp:+5511912340000' });
    const [chat] = await sql<{ lead_id: string | null; phone: string }[]>`select lead_id, phone from wa_chats where session = 'consultant'`;
    expect(chat!.lead_id).not.toBeNull();
  });

  it('an existing lead stored without the ninth digit is found, not duplicated', async () => {
    const [lead] = await sql<{ id: string }[]>`insert into leads (name, phone, source) values ('Carla', '+551187776666', 'site') returning id`;
    await handler.upsert('consultant', { messages: [msg({ jid: '5511987776666@s.whatsapp.net', id: 'CARLA1' })], type: 'notify' });
    const [chat] = await sql<{ lead_id: string }[]>`select lead_id from wa_chats where phone = '+5511987776666'`;
    expect(chat!.lead_id).toBe(lead!.id);
    expect(intakes).toHaveLength(1);
  });

  it('`append` (received while offline) is stored like `notify`, fromMe as outbound', async () => {
    await handler.upsert('consultant', { messages: [msg({ id: 'OFF1', text: 'enquanto offline' }), msg({ id: 'MINE1', text: 'do celular', fromMe: true })], type: 'append' });
    const stored = await rows();
    expect(stored.find((r) => r.wa_id === 'OFF1')).toMatchObject({ direction: 'in', text: 'enquanto offline' });
    expect(stored.find((r) => r.wa_id === 'MINE1')).toMatchObject({ direction: 'out', text: 'do celular' });
  });

  it('one customer is one chat: LID with remoteJidAlt, then LID alone (persisted mapping), then the phone', async () => {
    const lidPn = '5521955554444@s.whatsapp.net';
    await handler.upsert('livia', { messages: [msg({ jid: LID, alt: lidPn, id: 'LID1' })], type: 'notify' });
    await handler.upsert('livia', { messages: [msg({ jid: LID, id: 'LID2' })], type: 'notify' });
    await handler.upsert('livia', { messages: [msg({ jid: lidPn, id: 'LID3' })], type: 'notify' });
    const chats = await sql<{ id: string; phone: string; lid: string; jid: string }[]>`select id, phone, lid, jid from wa_chats where session = 'livia'`;
    expect(chats).toHaveLength(1);
    expect(chats[0]).toMatchObject({ phone: '+5521955554444', lid: LID, jid: lidPn });
    expect(new Set((await rows('livia')).map((r) => r.chat_id)).size).toBe(1);
    // The livia session hands each message to the conversation inbox, after storing it.
    expect(delivered.map((d) => d.waId)).toEqual(['LID1', 'LID2', 'LID3']);
  });

  it('a LID unknown to us is resolved through the driver, and the mapping is kept', async () => {
    const other = '11112222333344@lid';
    lids.set(other, '5531944443333@s.whatsapp.net');
    await handler.upsert('livia', { messages: [msg({ jid: other, id: 'LIDX' })], type: 'notify' });
    lids.clear();
    await handler.upsert('livia', { messages: [msg({ jid: other, id: 'LIDY' })], type: 'notify' });
    const chats = await sql<{ phone: string }[]>`select phone from wa_chats where lid = ${other}`;
    expect(chats).toEqual([{ phone: '+5531944443333' }]);
    const [mapping] = await sql<{ pn: string }[]>`select pn from wa_lid_mappings where lid = ${other}`;
    expect(mapping!.pn).toBe('5531944443333@s.whatsapp.net');
  });

  it('edits and deletes change the earlier message; a ciphertext stub is kept and marked; groups are ignored', async () => {
    await handler.upsert('consultant', { messages: [msg({ id: 'ED1', text: 'valor 500' })], type: 'notify' });
    await handler.upsert('consultant', {
      messages: [
        msg({ id: 'ED2', message: { editedMessage: { message: { protocolMessage: { key: { id: 'ED1' }, type: 14, editedMessage: { conversation: 'valor 5000' } } } } } }),
        msg({ id: 'DEL1', message: { protocolMessage: { key: { id: 'SAME1' }, type: 0 } } }),
        msg({ id: 'CIPHER1', message: null, stub: 2 }),
        msg({ jid: '120363025246125888@g.us', id: 'GRP1' }),
      ],
      type: 'notify',
    });
    const stored = await rows();
    expect(stored.find((r) => r.wa_id === 'ED1')).toMatchObject({ text: 'valor 5000' });
    expect(stored.find((r) => r.wa_id === 'ED1')!.edited_at).not.toBeNull();
    expect(stored.find((r) => r.wa_id === 'SAME1')!.deleted_at).not.toBeNull();
    expect(stored.find((r) => r.wa_id === 'CIPHER1')).toMatchObject({ kind: 'ciphertext', text: null });
    expect(stored.some((r) => r.wa_id === 'GRP1' || r.wa_id === 'ED2' || r.wa_id === 'DEL1')).toBe(false);
    expect(pushed).toContain('changed:ED1');
  });

  it('media past the cap is kept with a marker, without downloading', async () => {
    await handler.upsert('consultant', {
      messages: [msg({ id: 'BIG1', message: { videoMessage: { mimetype: 'video/mp4', fileLength: 50_000_000, caption: 'vídeo' } } })],
      type: 'notify',
    });
    const [m] = await sql<{ status: string; size: string; kind: string }[]>`
      select d.status, d.size, m.kind from wa_media d join wa_messages m on m.id = d.message_id where m.wa_id = 'BIG1'`;
    expect(m).toMatchObject({ status: 'too_large', size: '50000000', kind: 'video' });
  });

  it('receipts move an outbound status forward only: a late delivered never undoes read', async () => {
    const [chat] = await sql<{ id: string }[]>`select id from wa_chats where session = 'consultant' limit 1`;
    await insertMessage(sql, { chatId: chat!.id, session: 'consultant', waId: 'OUT1', direction: 'out', kind: 'text', text: 'oi', status: 'pending', at: new Date() });
    const steps: (string | undefined)[] = [];
    for (const st of ['sent', 'read', 'delivered', 'sent'] as const) steps.push((await advanceStatus(sql, 'consultant', 'OUT1', st))?.status);
    expect(steps).toEqual(['sent', 'read', undefined, undefined]);
    // An inbound message is never moved by a receipt.
    expect(await advanceStatus(sql, 'consultant', 'DUP1', 'read')).toBeUndefined();
  });
});
