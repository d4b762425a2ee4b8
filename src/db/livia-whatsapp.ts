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
