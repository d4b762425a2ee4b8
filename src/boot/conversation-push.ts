/**
 * `conversation:updated` `{id, stage, data, lead_id}` to who may see the conversation: admins,
 * managers and the consultant of its lead. Pushed on every change of the conversation actor
 * (livia.ts), on a reassignment of its lead (also to the consultant it was taken from, whose
 * list drops it) and after an LGPD erasure (its data gone).
 *
 * @example
 * await pushConversation(sql, hub, '+5511987654321');
 * await pushLeadConversations(sql, hub, leadId, formerConsultantId);
 */
import type { Sql } from '../db/client.ts';
import { conversationForPush, conversationForPushById, conversationsOfLeadForPush, type ConversationPushRow } from '../db/conversations.ts';
import { roleRoom, userRoom } from '../http/socket.ts';
import type { Hub } from './hub.ts';

function emit(hub: Hub, c: ConversationPushRow, also: string[] = []): void {
  const rooms = [roleRoom('ADMIN'), roleRoom('MANAGER'), ...(c.consultant_id ? [userRoom(c.consultant_id)] : []), ...also];
  hub.io?.to(rooms).emit('conversation:updated', { id: c.id, stage: c.stage, data: c.data, lead_id: c.lead_id });
}

/** The conversation on this phone (the conversation actor's id). */
export async function pushConversation(sql: Sql, hub: Hub, phone: string): Promise<void> {
  if (!hub.io) return;
  const c = await conversationForPush(sql, phone);
  if (c) emit(hub, c);
}

/** One conversation by its id (after an erasure, which renames its phone). */
export async function pushConversationById(sql: Sql, hub: Hub, id: string): Promise<void> {
  if (!hub.io) return;
  const c = await conversationForPushById(sql, id);
  if (c) emit(hub, c);
}

/** The conversations of a reassigned lead: to its new consultant, and to the one it was taken from. */
export async function pushLeadConversations(sql: Sql, hub: Hub, leadId: string, formerConsultantId: string): Promise<void> {
  if (!hub.io) return;
  for (const c of await conversationsOfLeadForPush(sql, leadId)) emit(hub, c, [userRoom(formerConsultantId)]);
}
