/**
 * Lívia's hand-off onto a lead the customer already has: the open lead found by any form of their
 * phone, updated with the collected data, its classification cleared (the pipeline scores it again
 * from the new amount and income), the conversation's summary appended as a note, the consultant
 * (if any) notified, and the conversation linked, all in the caller's transaction together with a
 * `livia_handoffs` row (migration 013) keyed by the hand-off's effect id: a repeat finds that row
 * and changes nothing.
 *
 * @example
 * const r = await sql.begin(async (tx) => {
 *   const lead = await lockOpenLeadByPhones(tx, phoneVariants(phone));
 *   return lead && applyHandoffUpdate(tx, { key, lead, phone, patch, note, notification });
 * });
 */
import type { HandoffPatch } from '../domain/handoff.ts';
import type { Queryable } from './client.ts';
import { findLead, type LeadRow } from './leads.ts';
import { linkConversationLead } from './conversations.ts';
import { insertNotification, type NotificationRow } from './notifications.ts';

const OPEN_STATUSES = ['NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL'];

/** The lead an earlier run of this hand-off updated, if one did. */
export async function handoffLead(sql: Queryable, key: string): Promise<string | undefined> {
  const [row] = await sql<{ lead_id: string }[]>`select lead_id from livia_handoffs where effect_key = ${key}`;
  return row?.lead_id;
}

/** The customer's newest open lead under any of these phone forms, locked for the transaction. */
export async function lockOpenLeadByPhones(sql: Queryable, phones: string[]): Promise<{ id: string; name: string; consultant_id: string | null } | undefined> {
  const [row] = await sql<{ id: string; name: string; consultant_id: string | null }[]>`
    select id, name, consultant_id from leads
    where phone = any(${phones}::text[]) and status = any(${OPEN_STATUSES}::text[]) and erased_at is null
    order by created_at desc, id desc limit 1
    for update`;
  return row;
}

export interface HandoffUpdate {
  key: string;
  leadId: string;
  /** The conversation (by its phone) to link to the lead. */
  phone: string;
  patch: HandoffPatch;
  note: string;
  /** For the lead's consultant, when it has one. */
  notification: { title: string; body: string } | null;
}

/**
 * Applies the hand-off to the (locked) lead. Undefined when this hand-off was applied already (the
 * caller then changes nothing more, and announces nothing).
 */
export async function applyHandoffUpdate(
  sql: Queryable,
  u: HandoffUpdate,
): Promise<{ lead: LeadRow; notification: NotificationRow | undefined } | undefined> {
  const [claimed] = await sql`
    insert into livia_handoffs (effect_key, lead_id) values (${u.key}, ${u.leadId})
    on conflict (effect_key) do nothing returning 1`;
  if (!claimed) return undefined;
  const [lead] = await sql<{ id: string; consultant_id: string | null }[]>`
    update leads set
      name = coalesce(${u.patch.name}::text, name),
      requested_amount = coalesce(${u.patch.requestedAmount}::numeric, requested_amount),
      monthly_income = coalesce(${u.patch.monthlyIncome}::numeric, monthly_income),
      metadata = metadata || ${sql.json(u.patch.metadata as never)},
      ai_classified_at = null,
      version = version + 1,
      updated_at = now()
    where id = ${u.leadId}
    returning id, consultant_id`;
  if (!lead) throw new Error(`hand-off: lead ${u.leadId} vanished under its lock`);
  await sql`
    insert into interactions (lead_id, type, actor_type, data)
    values (${u.leadId}, 'note', 'livia', ${sql.json({ text: u.note, handoff: u.key } as never)})`;
  const notification =
    lead.consultant_id && u.notification
      ? await insertNotification(sql, { recipientId: lead.consultant_id, type: 'livia_handoff', ...u.notification, leadId: u.leadId, dedupeKey: `livia-handoff:${u.key}` })
      : undefined;
  await linkConversationLead(sql, u.phone, u.leadId);
  return { lead: (await findLead(sql, u.leadId))!, notification };
}
