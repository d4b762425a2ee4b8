/**
 * LGPD: everything held about one customer phone, read for an export and erased on request. The
 * customer is found by every form of the phone (`phones`, e.g. a Brazilian mobile with and without
 * the ninth digit) and by its WhatsApp JIDs.
 *
 * What an erasure does, in one transaction (see eraseCustomer):
 * - WhatsApp: the customer's chats on every session, their messages and media (stored in wa_media),
 *   the session actors' journal and outbox rows that carried those sends (text and JID), the LID
 *   mappings and the simulator's copy of what was sent;
 * - Lívia: the transcript, and the conversation actor's snapshot, journal, outbox and timers (their
 *   events and effect parameters hold the customer's words) with the timers' pg-boss jobs; the
 *   conversation row stays for the funnel's counts, without phone or data;
 * - leads: anonymized (no name, phone, email, message or metadata; status, source, score,
 *   consultant and dates kept for analytics); their interactions keep type and time, not data;
 *   their notifications lose title and body;
 * - a `customer_erasures` row with the counts, never the phone.
 *
 * @example
 * const data = await customerExport(sql, { phones, jids });
 * await sql.begin((tx) => eraseCustomer(tx, { phones, jids, by: admin.id }));
 */
import type { Queryable, TransactionSql } from './client.ts';

export interface CustomerKeys {
  /** E.164 forms of the phone. */
  phones: string[];
  /** WhatsApp JIDs of those phones (`5511…@s.whatsapp.net`). */
  jids: string[];
}

const CONVERSATION = 'conversation';
const TIMER_QUEUE = 'actor.timer';

export async function customerExport(sql: Queryable, k: CustomerKeys): Promise<Record<string, unknown>> {
  const leads = await sql`select * from leads where phone = any(${k.phones}::text[]) order by created_at`;
  const leadIds = leads.map((l) => l.id as string);
  const interactions = await sql`
    select id, lead_id, type, actor_type, actor_id, data, created_at from interactions where lead_id = any(${leadIds}::uuid[]) order by id`;
  const notifications = await sql`
    select id, recipient_id, type, title, body, lead_id, created_at from notifications where lead_id = any(${leadIds}::uuid[]) order by id`;
  const conversations = await sql`select * from conversations where phone = any(${k.phones}::text[])`;
  const transcript = await sql`
    select m.conversation_id, m.role, m.kind, m.text, m.wa_message_id, m.created_at
    from conversation_messages m join conversations c on c.id = m.conversation_id
    where c.phone = any(${k.phones}::text[]) order by m.id`;
  const chats = await sql`
    select id, session, jid, phone, lid, name, lead_id, created_at, last_message_at from wa_chats
    where phone = any(${k.phones}::text[]) or jid = any(${k.jids}::text[]) order by created_at`;
  const chatIds = chats.map((c) => c.id as string);
  const messages = await sql`
    select id, chat_id, session, wa_id, direction, kind, text, quoted_text, status, edited_at, deleted_at, sent_by, at
    from wa_messages where chat_id = any(${chatIds}::uuid[]) order by at, id`;
  const media = await sql`
    select d.id, d.message_id, d.type, d.mime, d.file_name, d.size, d.status, d.created_at
    from wa_media d join wa_messages m on m.id = d.message_id where m.chat_id = any(${chatIds}::uuid[]) order by d.created_at`;
  const actor = await sql`
    select actor_type, actor_id, state, status, updated_at from actor_snapshots where actor_type = ${CONVERSATION} and actor_id = any(${k.phones}::text[])`;
  const consent = conversations.flatMap((c) => {
    const d = (c.data ?? {}) as Record<string, unknown>;
    return [
      ...(d.consent ? [{ kind: 'consent', conversation_id: c.id, ...(d.consent as object) }] : []),
      ...(d.opt_out ? [{ kind: 'opt_out', conversation_id: c.id, ...(d.opt_out as object) }] : []),
    ];
  });
  return { leads, interactions, notifications, conversations, transcript, conversation_actor: actor, whatsapp: { chats, messages, media }, consent };
}

/** Erases what the module's header lists; returns how many rows each part touched. */
export async function eraseCustomer(tx: TransactionSql, k: CustomerKeys & { by: string | null }): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const count = (what: string, rows: { count: number }) => (counts[what] = (counts[what] ?? 0) + rows.count);

  // WhatsApp.
  const chats = await tx<{ id: string }[]>`select id from wa_chats where phone = any(${k.phones}::text[]) or jid = any(${k.jids}::text[])`;
  const chatIds = chats.map((c) => c.id);
  for (const id of chatIds) {
    // The session actors' records of sends to this chat (event and effect carry text and JID).
    count('session_journal', await tx`delete from actor_journal where actor_type = 'whatsapp-session' and event->>'chatId' = ${id}`);
    count('session_outbox', await tx`delete from actor_outbox where actor_type = 'whatsapp-session' and strpos(effect::text, ${id}) > 0`);
  }
  count('wa_media', await tx`delete from wa_media where message_id in (select id from wa_messages where chat_id = any(${chatIds}::uuid[]))`);
  count('wa_messages', await tx`delete from wa_messages where chat_id = any(${chatIds}::uuid[])`);
  count('wa_chats', await tx`delete from wa_chats where id = any(${chatIds}::uuid[])`);
  count('wa_lid_mappings', await tx`delete from wa_lid_mappings where pn = any(${k.jids}::text[])`);
  count('wa_simulator_sent', await tx`delete from wa_simulator_sent where to_jid = any(${k.jids}::text[])`);
  const legacy = await tx<{ id: string }[]>`select id from whatsapp_conversations where phone = any(${k.phones}::text[])`;
  await tx`delete from whatsapp_messages where conversation_id = any(${legacy.map((l) => l.id)}::uuid[])`;
  await tx`delete from whatsapp_conversations where id = any(${legacy.map((l) => l.id)}::uuid[])`;

  // Lívia: transcript and the conversation actor's rows; the conversation row, anonymized, stays.
  count('conversation_messages', await tx`
    delete from conversation_messages where conversation_id in (select id from conversations where phone = any(${k.phones}::text[]))`);
  count('conversations', await tx`
    update conversations set phone = 'apagado:' || id::text, data = '{}'::jsonb, taken_by = null, updated_at = now()
    where phone = any(${k.phones}::text[])`);
  count('actor_snapshots', await tx`delete from actor_snapshots where actor_type = ${CONVERSATION} and actor_id = any(${k.phones}::text[])`);
  count('actor_journal', await tx`delete from actor_journal where actor_type = ${CONVERSATION} and actor_id = any(${k.phones}::text[])`);
  count('actor_outbox', await tx`delete from actor_outbox where actor_type = ${CONVERSATION} and actor_id = any(${k.phones}::text[])`);
  count('actor_timers', await tx`delete from actor_timers where actor_type = ${CONVERSATION} and actor_id = any(${k.phones}::text[])`);
  // The timers' pg-boss jobs (data: {timerId, type, id: the phone}), pending or archived.
  count('timer_jobs', await tx`delete from pgboss.job where name = ${TIMER_QUEUE} and data->>'type' = ${CONVERSATION} and data->>'id' = any(${k.phones}::text[])`);
  count('timer_jobs', await tx`delete from pgboss.archive where name = ${TIMER_QUEUE} and data->>'type' = ${CONVERSATION} and data->>'id' = any(${k.phones}::text[])`);

  // Leads: anonymized, their audit trail scrubbed (the trigger lets this transaction alone do it).
  const leads = await tx<{ id: string }[]>`select id from leads where phone = any(${k.phones}::text[])`;
  const leadIds = leads.map((l) => l.id);
  await tx`select set_config('livia.lgpd_erasure', 'on', true)`;
  count('interactions', await tx`update interactions set data = '{}'::jsonb where lead_id = any(${leadIds}::uuid[])`);
  count('notifications', await tx`update notifications set title = 'Dados removidos (LGPD)', body = '' where lead_id = any(${leadIds}::uuid[])`);
  count('leads', await tx`
    update leads set name = 'Titular anonimizado', phone = null, email = null, message = null, external_id = null,
      idempotency_key = null, metadata = '{}'::jsonb, ai_reasons = null, erased_at = now(), updated_at = now(), version = version + 1
    where id = any(${leadIds}::uuid[])`);

  await tx`insert into customer_erasures (erased_by, counts) values (${k.by}, ${tx.json(counts)})`;
  return counts;
}
