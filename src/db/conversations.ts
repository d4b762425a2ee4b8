/**
 * Lívia's conversations and their transcripts (`conversations`, `conversation_messages`). The
 * conversation actor calls `recordConversationEvent` as the domain write of its events, in the
 * event's transaction: the row follows the actor's stage and data, the customer's message is
 * stored once (by its WhatsApp id), and Lívia's reply once (by its number).
 *
 * @example
 * await recordConversationEvent(tx, { phone, stage: 'QUALIFICATION', data, message, reply });
 * const rows = await transcriptOf(sql, phone);
 */
import type { Queryable } from './client.ts';

/** The stages a conversation moves forward through (the funnel's steps). */
export const PROGRESSION = ['INTRO', 'QUALIFICATION', 'SIMULATION', 'CONVERSION', 'TRANSFERRED'] as const;

export interface ConversationRow {
  id: string;
  phone: string;
  stage: string;
  data: Record<string, unknown>;
  lead_id: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface TranscriptRow {
  role: 'customer' | 'livia' | 'consultant';
  text: string;
  kind: string;
  reply_n: number | null;
  wa_message_id: string | null;
  created_at: Date;
}

export interface ConversationWrite {
  phone: string;
  stage: string;
  data: Record<string, unknown>;
  /** The customer's message this event carried. */
  message?: { waId: string; text: string; kind: string } | undefined;
  /** Lívia's (or a consultant's) latest reply; stored once per number. */
  reply?: { n: number; text: string; role: 'livia' | 'consultant' } | null | undefined;
}

export async function recordConversationEvent(sql: Queryable, w: ConversationWrite): Promise<void> {
  // How far along INTRO → TRANSFERRED it got (the funnel): only ever moves forward.
  const progress = (PROGRESSION as readonly string[]).includes(w.stage) ? w.stage : null;
  // The customer's message, then the reply, in that order (the transcript is ordered by id); each
  // stored once: the message by its WhatsApp id, the reply by its number. One statement per event:
  // a group commit carries hundreds of these.
  const rows = [
    ...(w.message ? [{ role: 'customer', text: w.message.text, waId: w.message.waId as string | null, kind: w.message.kind, n: null as number | null }] : []),
    ...(w.reply ? [{ role: w.reply.role, text: w.reply.text, waId: null, kind: 'text', n: w.reply.n }] : []),
  ];
  await sql`
    with c as (
      insert into conversations (phone, stage, data, furthest_stage, transferred_at)
      values (${w.phone}, ${w.stage}, ${sql.json(w.data as never)}, ${progress ?? 'INTRO'}, ${w.stage === 'TRANSFERRED' ? sql`now()` : null})
      on conflict (phone) do update set
        stage = excluded.stage,
        data = excluded.data,
        updated_at = now(),
        furthest_stage = case
          when ${progress}::text is not null
           and array_position(${PROGRESSION as unknown as string[]}::text[], ${progress}::text) > array_position(${PROGRESSION as unknown as string[]}::text[], conversations.furthest_stage)
          then ${progress}::text else conversations.furthest_stage end,
        transferred_at = coalesce(conversations.transferred_at, excluded.transferred_at)
      returning id
    )
    insert into conversation_messages (conversation_id, role, text, wa_message_id, kind, reply_n)
    select c.id, m.role, m.text, m.wa_id, m.kind, m.n
    from c, unnest(${rows.map((r) => r.role)}::text[], ${rows.map((r) => r.text)}::text[], ${rows.map((r) => r.waId)}::text[],
                   ${rows.map((r) => r.kind)}::text[], ${rows.map((r) => r.n)}::int[]) with ordinality as m(role, text, wa_id, kind, n, ord)
    order by m.ord
    on conflict do nothing`;
}

export async function conversationByPhone(sql: Queryable, phone: string): Promise<ConversationRow | undefined> {
  const [row] = await sql<ConversationRow[]>`select * from conversations where phone = ${phone}`;
  return row;
}

/** The transcript, oldest first. */
export async function transcriptOf(sql: Queryable, phone: string): Promise<TranscriptRow[]> {
  return sql<TranscriptRow[]>`
    select m.role, m.text, m.kind, m.reply_n, m.wa_message_id, m.created_at
    from conversation_messages m join conversations c on c.id = m.conversation_id
    where c.phone = ${phone}
    order by m.id`;
}

/** The lead a conversation was handed off as. */
export async function linkConversationLead(sql: Queryable, phone: string, leadId: string): Promise<void> {
  await sql`update conversations set lead_id = ${leadId}, updated_at = now() where phone = ${phone}`;
}

/** A conversation with the consultant of its lead (who may see it besides managers and admins). */
export async function conversationForPush(sql: Queryable, phone: string): Promise<(ConversationRow & { consultant_id: string | null }) | undefined> {
  const [row] = await sql<(ConversationRow & { consultant_id: string | null })[]>`
    select c.*, l.consultant_id from conversations c left join leads l on l.id = c.lead_id where c.phone = ${phone}`;
  return row;
}

export interface ConversationListRow {
  id: string;
  phone: string;
  stage: string;
  data: Record<string, unknown>;
  lead_id: string | null;
  updated_at: Date;
  consultant_id: string | null;
}

/** Lívia's conversations, most recent first; `consultantId` narrows to the ones whose lead is theirs. */
export async function listConversations(sql: Queryable, f: { stage?: string | undefined; consultantId?: string | undefined; limit: number }): Promise<ConversationListRow[]> {
  return sql<ConversationListRow[]>`
    select c.id, c.phone, c.stage, c.data, c.lead_id, c.updated_at, l.consultant_id
    from conversations c left join leads l on l.id = c.lead_id
    where true
      ${f.stage ? sql`and c.stage = ${f.stage}` : sql``}
      ${f.consultantId ? sql`and l.consultant_id = ${f.consultantId}` : sql``}
    order by c.updated_at desc, c.id
    limit ${f.limit}`;
}

export async function conversationById(sql: Queryable, id: string): Promise<ConversationListRow | undefined> {
  const [row] = await sql<ConversationListRow[]>`
    select c.id, c.phone, c.stage, c.data, c.lead_id, c.updated_at, l.consultant_id
    from conversations c left join leads l on l.id = c.lead_id
    where c.id = ${id}`;
  return row;
}

/** The transcript of one conversation, oldest first. */
export async function transcriptById(sql: Queryable, id: string): Promise<{ role: 'customer' | 'livia' | 'consultant'; text: string; created_at: Date }[]> {
  return sql<{ role: 'customer' | 'livia' | 'consultant'; text: string; created_at: Date }[]>`
    select role, text, created_at from conversation_messages where conversation_id = ${id} order by id`;
}
