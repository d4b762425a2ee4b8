/**
 * WhatsApp chats, messages (unique per session and WhatsApp id), media and LID ↔ phone mappings
 * (migration 008). Every function takes the pool or a transaction.
 *
 * @example
 * const chat = await resolveChat(tx, { session: 'consultant', jid, phones: ['+5511987654321'], lid: null, name: 'Ana' });
 * const stored = await insertMessage(tx, { chatId: chat.id, ... }); // undefined: seen before
 */
import type { Queryable } from './client.ts';

export interface ChatRow {
  id: string;
  session: string;
  jid: string;
  phone: string | null;
  lid: string | null;
  name: string | null;
  lead_id: string | null;
  unread: number;
  last_message_at: Date | null;
  created_at: Date;
}

/** A chat with what the inbox lists and who may see it. */
export interface ChatSummary extends ChatRow {
  consultant_id: string | null;
  last_text: string | null;
  last_kind: string | null;
  last_direction: 'in' | 'out' | null;
  last_status: string | null;
}

export type MessageStatus = 'received' | 'read' | 'pending' | 'sent' | 'delivered' | 'failed';

export interface MessageRow {
  id: string;
  chat_id: string;
  session: string;
  wa_id: string;
  direction: 'in' | 'out';
  kind: string;
  text: string | null;
  quoted_wa_id: string | null;
  quoted_text: string | null;
  edited_at: Date | null;
  deleted_at: Date | null;
  status: MessageStatus;
  failure: string | null;
  sent_by: string | null;
  at: Date;
  created_at: Date;
}

export interface MessageWithMedia extends MessageRow {
  media_id: string | null;
  media_type: string | null;
  media_mime: string | null;
  media_size: string | null;
  media_status: string | null;
  media_file_name: string | null;
}

export interface MediaRow {
  id: string;
  message_id: string | null;
  chat_id: string | null;
  session: string | null;
  type: string;
  mime: string;
  file_name: string | null;
  size: string | null;
  status: 'stored' | 'too_large' | 'failed';
  failure: string | null;
  data: Buffer | null;
}

export async function saveLidMapping(q: Queryable, lid: string, pn: string): Promise<void> {
  await q`insert into wa_lid_mappings (lid, pn) values (${lid}, ${pn})
         on conflict (lid) do update set pn = excluded.pn, updated_at = now() where wa_lid_mappings.pn <> excluded.pn`;
}

export async function pnForLid(q: Queryable, lid: string): Promise<string | undefined> {
  const [row] = await q<{ pn: string }[]>`select pn from wa_lid_mappings where lid = ${lid}`;
  return row?.pn;
}

/**
 * The one chat of this customer on this session, found by any of its phones (Brazilian forms with and
 * without the ninth digit) or its LID, created when there is none; what was missing is filled in.
 */
export async function resolveChat(
  q: Queryable,
  c: { session: string; jid: string; phone: string | null; phones: string[]; lid: string | null; name: string | null },
): Promise<ChatRow> {
  const [found] = await q<ChatRow[]>`
    select * from wa_chats
    where session = ${c.session}
      and (phone = any(${c.phones}::text[]) or lid = ${c.lid} or jid = ${c.jid})
    order by (phone = any(${c.phones}::text[])) desc nulls last, created_at
    limit 1`;
  if (found) {
    const jid = c.phone && found.jid.endsWith('@lid') ? c.jid : found.jid;
    if (
      (c.phone && !found.phone) ||
      (c.lid && !found.lid) ||
      (c.name && !found.name) ||
      jid !== found.jid
    ) {
      const [updated] = await q<ChatRow[]>`
        update wa_chats set
          phone = coalesce(phone, ${c.phone}),
          lid = coalesce(lid, ${c.lid}),
          name = coalesce(name, ${c.name}),
          jid = ${jid}
        where id = ${found.id}
        returning *`;
      return updated!;
    }
    return found;
  }
  const [created] = await q<ChatRow[]>`
    insert into wa_chats (session, jid, phone, lid, name)
    values (${c.session}, ${c.jid}, ${c.phone}, ${c.lid}, ${c.name})
    returning *`;
  return created!;
}

export async function chatById(q: Queryable, id: string): Promise<ChatSummary | undefined> {
  const [row] = await q<ChatSummary[]>`${summarySelect(q)} where c.id = ${id}`;
  return row;
}

export async function listChatSummaries(q: Queryable): Promise<ChatSummary[]> {
  return q<ChatSummary[]>`${summarySelect(q)} order by c.last_message_at desc nulls last`;
}

const summarySelect = (q: Queryable) => q`
  select c.*, l.consultant_id, m.text as last_text, m.kind as last_kind, m.direction as last_direction, m.status as last_status
  from wa_chats c
  left join leads l on l.id = c.lead_id
  left join lateral (
    select text, kind, direction, status from wa_messages where chat_id = c.id order by at desc, created_at desc limit 1
  ) m on true`;

export async function linkChatToLead(q: Queryable, chatId: string, leadId: string): Promise<void> {
  await q`update wa_chats set lead_id = ${leadId} where id = ${chatId} and lead_id is distinct from ${leadId}`;
}

/** The newest lead with one of these phones, with its consultant. */
export async function leadByPhones(q: Queryable, phones: string[]): Promise<{ id: string; consultant_id: string | null } | undefined> {
  const [row] = await q<{ id: string; consultant_id: string | null }[]>`
    select id, consultant_id from leads where phone = any(${phones}::text[]) order by created_at desc limit 1`;
  return row;
}

export async function leadConsultant(q: Queryable, leadId: string): Promise<string | null> {
  const [row] = await q<{ consultant_id: string | null }[]>`select consultant_id from leads where id = ${leadId}`;
  return row?.consultant_id ?? null;
}

export interface NewMessage {
  chatId: string;
  session: string;
  waId: string;
  direction: 'in' | 'out';
  kind: string;
  text: string | null;
  quotedWaId?: string | null;
  quotedText?: string | null;
  status: MessageStatus;
  content?: unknown;
  sentBy?: string | null;
  at: Date;
  id?: string;
}

/** Stores a message once per WhatsApp id; undefined when it was stored before (a redelivery). */
export async function insertMessage(q: Queryable, m: NewMessage): Promise<MessageRow | undefined> {
  const [row] = await q<MessageRow[]>`
    insert into wa_messages (id, chat_id, session, wa_id, direction, kind, text, quoted_wa_id, quoted_text, status, content, sent_by, at)
    values (coalesce(${m.id ?? null}::uuid, gen_random_uuid()), ${m.chatId}, ${m.session}, ${m.waId}, ${m.direction}, ${m.kind}, ${m.text},
            ${m.quotedWaId ?? null}, ${m.quotedText ?? null}, ${m.status}, ${m.content === undefined ? null : q.json(m.content as never)}, ${m.sentBy ?? null}, ${m.at})
    on conflict (session, wa_id) do nothing
    returning id, chat_id, session, wa_id, direction, kind, text, quoted_wa_id, quoted_text, edited_at, deleted_at, status, failure, sent_by, at, created_at`;
  if (!row) return undefined;
  await q`
    update wa_chats set
      last_message_at = greatest(coalesce(last_message_at, ${m.at}), ${m.at}),
      unread = unread + ${m.direction === 'in' ? 1 : 0}
    where id = ${m.chatId}`;
  return row;
}

export async function applyEdit(q: Queryable, session: string, waId: string, text: string | null, at: Date): Promise<MessageRow | undefined> {
  const [row] = await q<MessageRow[]>`
    update wa_messages set text = ${text}, edited_at = ${at} where session = ${session} and wa_id = ${waId}
    returning id, chat_id, session, wa_id, direction, kind, text, quoted_wa_id, quoted_text, edited_at, deleted_at, status, failure, sent_by, at, created_at`;
  return row;
}

export async function applyRevoke(q: Queryable, session: string, waId: string, at: Date): Promise<MessageRow | undefined> {
  const [row] = await q<MessageRow[]>`
    update wa_messages set deleted_at = ${at} where session = ${session} and wa_id = ${waId} and deleted_at is null
    returning id, chat_id, session, wa_id, direction, kind, text, quoted_wa_id, quoted_text, edited_at, deleted_at, status, failure, sent_by, at, created_at`;
  return row;
}

const RANK: Record<MessageStatus, number> = { received: 0, pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

/** Moves an outbound message's status forward only (a late 'delivered' never undoes 'read'). */
export async function advanceStatus(
  q: Queryable,
  session: string,
  waId: string,
  status: MessageStatus,
  failure: string | null = null,
): Promise<MessageRow | undefined> {
  const lower = (Object.keys(RANK) as MessageStatus[]).filter((s) => RANK[s] < RANK[status]);
  const [row] = await q<MessageRow[]>`
    update wa_messages set status = ${status}, failure = ${failure}
    where session = ${session} and wa_id = ${waId} and direction = 'out' and status = any(${lower}::text[])
    returning id, chat_id, session, wa_id, direction, kind, text, quoted_wa_id, quoted_text, edited_at, deleted_at, status, failure, sent_by, at, created_at`;
  return row;
}

export async function messageById(q: Queryable, id: string): Promise<MessageWithMedia | undefined> {
  const [row] = await q<MessageWithMedia[]>`${messageSelect(q)} where m.id = ${id}`;
  return row;
}

const messageSelect = (q: Queryable) => q`
  select m.id, m.chat_id, m.session, m.wa_id, m.direction, m.kind, m.text, m.quoted_wa_id, m.quoted_text, m.edited_at, m.deleted_at,
         m.status, m.failure, m.sent_by, m.at, m.created_at,
         d.id as media_id, d.type as media_type, d.mime as media_mime, d.size as media_size, d.status as media_status, d.file_name as media_file_name
  from wa_messages m left join wa_media d on d.message_id = m.id`;

/** A page of a chat's messages, newest first before the cursor (a message id). */
export async function listMessages(q: Queryable, chatId: string, o: { before?: string | undefined; limit: number }): Promise<MessageWithMedia[]> {
  if (o.before) {
    return q<MessageWithMedia[]>`${messageSelect(q)}
      where m.chat_id = ${chatId}
        and (m.at, m.created_at, m.id) < (select at, created_at, id from wa_messages where id = ${o.before})
      order by m.at desc, m.created_at desc, m.id desc limit ${o.limit}`;
  }
  return q<MessageWithMedia[]>`${messageSelect(q)} where m.chat_id = ${chatId} order by m.at desc, m.created_at desc, m.id desc limit ${o.limit}`;
}

/** Marks a chat's inbound messages read; returns the WhatsApp keys to send read receipts for. */
export async function markChatRead(q: Queryable, chatId: string): Promise<{ wa_id: string }[]> {
  const rows = await q<{ wa_id: string }[]>`
    update wa_messages set status = 'read' where chat_id = ${chatId} and direction = 'in' and status = 'received' returning wa_id`;
  await q`update wa_chats set unread = 0 where id = ${chatId}`;
  return rows;
}

/** What we sent with that WhatsApp id (Baileys' getMessage). */
export async function sentContent(q: Queryable, session: string, waId: string): Promise<unknown> {
  const [row] = await q<{ content: unknown }[]>`
    select content from wa_messages where session = ${session} and wa_id = ${waId} and direction = 'out'`;
  return row?.content ?? undefined;
}

export async function insertMedia(
  q: Queryable,
  m: { messageId: string | null; type: string; mime: string; fileName: string | null; size: number | null; status: MediaRow['status']; failure?: string | null; data: Buffer | null },
): Promise<string> {
  const [row] = await q<{ id: string }[]>`
    insert into wa_media (message_id, type, mime, file_name, size, status, failure, data)
    values (${m.messageId}, ${m.type}, ${m.mime}, ${m.fileName}, ${m.size}, ${m.status}, ${m.failure ?? null}, ${m.data})
    on conflict (message_id) do update set status = excluded.status, failure = excluded.failure, data = excluded.data, size = excluded.size
    returning id`;
  return row!.id;
}

export async function mediaById(q: Queryable, id: string): Promise<MediaRow | undefined> {
  const [row] = await q<MediaRow[]>`
    select d.*, m.chat_id, m.session from wa_media d left join wa_messages m on m.id = d.message_id where d.id = ${id}`;
  return row;
}

/** What an outgoing message needs of its media: its kind and file (not the bytes). */
export async function mediaKind(q: Queryable, id: string): Promise<{ type: string; mime: string; file_name: string | null } | undefined> {
  const [row] = await q<{ type: string; mime: string; file_name: string | null }[]>`select type, mime, file_name from wa_media where id = ${id}`;
  return row;
}

/** The status of one of a session's messages, by its WhatsApp id. */
export async function messageStatus(q: Queryable, session: string, waId: string): Promise<MessageStatus | undefined> {
  const [row] = await q<{ status: MessageStatus }[]>`select status from wa_messages where session = ${session} and wa_id = ${waId}`;
  return row?.status;
}

/** Outbound rows still pending or sent (for the simulator's and the bench's bookkeeping). */
export async function countMessages(q: Queryable, session: string, status?: MessageStatus): Promise<number> {
  const [row] = status
    ? await q<{ n: number }[]>`select count(*)::int as n from wa_messages where session = ${session} and status = ${status}`
    : await q<{ n: number }[]>`select count(*)::int as n from wa_messages where session = ${session}`;
  return row!.n;
}

/** The simulator's record of a send; false when that id was already received (a resend). */
export async function simulatorRecordSend(
  q: Queryable,
  s: { session: string; waId: string; toJid: string; text: string | null; content: unknown; sentBy?: string | undefined },
): Promise<boolean> {
  // A resend of the same id is counted, not stored twice: WhatsApp shows one message.
  const [row] = await q<{ fresh: boolean }[]>`
    insert into wa_simulator_sent (session, wa_id, to_jid, text, content, sent_by)
    values (${s.session}, ${s.waId}, ${s.toJid}, ${s.text}, ${q.json(s.content as never)}, ${s.sentBy ?? null})
    on conflict (session, wa_id) do update set
      sends = wa_simulator_sent.sends + 1, last_sent_by = excluded.sent_by, last_sent_at = now()
    returning (xmax = 0) as fresh`;
  return !!row?.fresh;
}

/** A customer's message for a session whose socket is in another instance (or in none yet). */
export async function simulatorQueueInbound(q: Queryable, session: string, message: unknown, media: string | null): Promise<void> {
  await q`insert into wa_simulator_inbox (session, message, media) values (${session}, ${q.json(message as never)}, ${media})`;
}

/**
 * What waits for the session's socket after `afterId`, oldest first; marked delivered (kept a
 * minute, so a socket opened after a crash gets them again: inbound deduplicates by WhatsApp id).
 */
export async function simulatorTakeInbound(q: Queryable, session: string, afterId: number): Promise<{ id: number; message: unknown; media: string | null }[]> {
  await q`delete from wa_simulator_inbox where session = ${session} and delivered_at < now() - interval '1 minute'`;
  const rows = await q<{ id: string; message: unknown; media: string | null }[]>`
    update wa_simulator_inbox set delivered_at = coalesce(delivered_at, now())
    where session = ${session} and id > ${afterId}
    returning id, message, media`;
  return rows.map((r) => ({ ...r, id: Number(r.id) })).sort((a, b) => a.id - b.id);
}

export async function simulatorSentTo(q: Queryable, toJids: string[]): Promise<{ session: string; wa_id: string; to_jid: string; text: string | null; at: Date; read_at: Date | null }[]> {
  return q`select session, wa_id, to_jid, text, at, read_at from wa_simulator_sent where to_jid = any(${toJids}::text[]) order by at, wa_id`;
}

/** Marks what was sent to these JIDs read; returns what changed. */
export async function simulatorMarkRead(q: Queryable, toJids: string[]): Promise<{ session: string; wa_id: string; to_jid: string }[]> {
  return q`update wa_simulator_sent set read_at = now() where to_jid = any(${toJids}::text[]) and read_at is null returning session, wa_id, to_jid`;
}

/** Attaches an uploaded file (stored first, with no message) to the send that carries it. */
export async function attachMedia(q: Queryable, mediaId: string, messageId: string): Promise<void> {
  await q`update wa_media set message_id = ${messageId} where id = ${mediaId} and message_id is null`;
}
