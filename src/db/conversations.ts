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
  await recordConversationEvents(sql, [w]);
}

/**
 * Many events' writes in one statement (a group commit carries hundreds), in order: per
 * conversation, the last event's stage and data, the furthest stage any reached, the first time
 * one was TRANSFERRED; then every customer message and reply in event order (the transcript is
 * ordered by id), each stored once: the message by its WhatsApp id, the reply by its number.
 */
export async function recordConversationEvents(sql: Queryable, ws: ConversationWrite[]): Promise<void> {
  if (ws.length === 0) return;
  const rank = (stage: string | null) => (stage === null ? -1 : (PROGRESSION as readonly string[]).indexOf(stage));
  const convs = new Map<string, { stage: string; data: Record<string, unknown>; progress: string | null; transferred: boolean }>();
  const msgs: { phone: string; role: string; text: string; waId: string | null; kind: string; n: number | null }[] = [];
  for (const w of ws) {
    // How far along INTRO → TRANSFERRED it got (the funnel): only ever moves forward.
    const progress = (PROGRESSION as readonly string[]).includes(w.stage) ? w.stage : null;
    const prev = convs.get(w.phone);
    convs.set(w.phone, {
      stage: w.stage,
      data: w.data,
      progress: prev && rank(prev.progress) > rank(progress) ? prev.progress : progress,
      transferred: (prev?.transferred ?? false) || w.stage === 'TRANSFERRED',
    });
    if (w.message) msgs.push({ phone: w.phone, role: 'customer', text: w.message.text, waId: w.message.waId, kind: w.message.kind, n: null });
    if (w.reply) msgs.push({ phone: w.phone, role: w.reply.role, text: w.reply.text, waId: null, kind: 'text', n: w.reply.n });
  }
  const c = [...convs];
  const P = PROGRESSION as unknown as string[];
  await sql`
    with c as (
      insert into conversations (phone, stage, data, furthest_stage, transferred_at)
      select phone, stage, data::jsonb, coalesce(progress, 'INTRO'), case when transferred = 'yes' then now() end
      from unnest(${c.map(([p]) => p)}::text[], ${c.map(([, v]) => v.stage)}::text[], ${c.map(([, v]) => JSON.stringify(v.data))}::text[],
                  ${c.map(([, v]) => v.progress)}::text[], ${c.map(([, v]) => (v.transferred ? 'yes' : 'no'))}::text[]) as v(phone, stage, data, progress, transferred)
      on conflict (phone) do update set
        stage = excluded.stage,
        data = excluded.data,
        updated_at = now(),
        furthest_stage = case
          when array_position(${P}::text[], excluded.furthest_stage) > array_position(${P}::text[], conversations.furthest_stage)
          then excluded.furthest_stage else conversations.furthest_stage end,
        transferred_at = coalesce(conversations.transferred_at, excluded.transferred_at)
      returning id, phone
    )
    insert into conversation_messages (conversation_id, role, text, wa_message_id, kind, reply_n)
    select c.id, m.role, m.text, m.wa_id, m.kind, m.n
    from unnest(${msgs.map((m) => m.phone)}::text[], ${msgs.map((m) => m.role)}::text[], ${msgs.map((m) => m.text)}::text[],
                ${msgs.map((m) => m.waId)}::text[], ${msgs.map((m) => m.kind)}::text[], ${msgs.map((m) => m.n)}::int[])
           with ordinality as m(phone, role, text, wa_id, kind, n, ord)
    join c on c.phone = m.phone
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

export type ConversationPushRow = ConversationRow & { consultant_id: string | null };

/** A conversation with the consultant of its lead (who may see it besides managers and admins). */
export async function conversationForPush(sql: Queryable, phone: string): Promise<ConversationPushRow | undefined> {
  const [row] = await sql<ConversationPushRow[]>`
    select c.*, l.consultant_id from conversations c left join leads l on l.id = c.lead_id where c.phone = ${phone}`;
  return row;
}

/** The same, by the conversation's id (an erased conversation no longer has its phone). */
export async function conversationForPushById(sql: Queryable, id: string): Promise<ConversationPushRow | undefined> {
  const [row] = await sql<ConversationPushRow[]>`
    select c.*, l.consultant_id from conversations c left join leads l on l.id = c.lead_id where c.id = ${id}`;
  return row;
}

/** The conversations a lead was handed off from, with the lead's consultant. */
export async function conversationsOfLeadForPush(sql: Queryable, leadId: string): Promise<ConversationPushRow[]> {
  return sql<ConversationPushRow[]>`
    select c.*, l.consultant_id from conversations c join leads l on l.id = c.lead_id where c.lead_id = ${leadId}`;
}

/** The ids of the conversations on any of these phones. */
export async function conversationIdsByPhones(sql: Queryable, phones: string[]): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`select id from conversations where phone = any(${phones}::text[])`;
  return rows.map((r) => r.id);
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
