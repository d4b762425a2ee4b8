/**
 * What Lívia's WhatsApp adapters read and write (src/services/livia-whatsapp.ts): the customer's chat
 * on the `livia` session, whether a reply's message already exists, and a voice note's audio.
 *
 * @example
 * if (!(await outboundExists(sql, 'livia', waId))) { ... }
 */
import type { Queryable } from './client.ts';
import { resolveChat, type ChatRow } from './whatsapp.ts';

/** The customer's chat on that session (created when a reply goes out before any message came in). */
export function liviaChatByPhone(q: Queryable, session: string, p: { jid: string; phone: string; phones: string[] }): Promise<ChatRow> {
  return resolveChat(q, { session, jid: p.jid, phone: p.phone, phones: p.phones, lid: null, name: null });
}

export async function outboundExists(q: Queryable, session: string, waId: string): Promise<boolean> {
  const [row] = await q<{ one: number }[]>`select 1 as one from wa_messages where session = ${session} and wa_id = ${waId}`;
  return !!row;
}

export async function mediaOfMessage(q: Queryable, messageId: string): Promise<{ mime: string; data: Buffer | null } | undefined> {
  const [row] = await q<{ mime: string; data: Buffer | null }[]>`select mime, data from wa_media where message_id = ${messageId}`;
  return row;
}

export interface UndeliveredInbound {
  chat_id: string;
  id: string;
  wa_id: string;
  phone: string | null;
  name: string | null;
  kind: string;
  text: string | null;
  at: Date;
}

/**
 * Customer messages on Lívia's session, stored since `since`, that never reached the transcript: the
 * process died between storing one and the conversation actor committing it.
 */
export async function undeliveredInbound(q: Queryable, session: string, since: Date): Promise<UndeliveredInbound[]> {
  return q<UndeliveredInbound[]>`
    select m.chat_id, m.id, m.wa_id, c.phone, c.name, m.kind, m.text, m.at
    from wa_messages m join wa_chats c on c.id = m.chat_id
    where m.session = ${session} and m.direction = 'in' and m.created_at >= ${since} and c.phone is not null
      and not exists (select 1 from conversation_messages cm where cm.wa_message_id = m.wa_id)
    order by m.created_at, m.at`;
}

/** Whether the customer (any form of the phone) opted out of Lívia's conversation. */
export async function optedOut(q: Queryable, phones: string[]): Promise<boolean> {
  const [row] = await q<{ one: number }[]>`select 1 as one from conversations where phone = any(${phones}::text[]) and stage = 'OPTED_OUT' limit 1`;
  return !!row;
}
