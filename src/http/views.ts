/**
 * Rows to the contract's shapes, in one place, for HTTP answers and Socket.io/SSE events alike.
 */
import type { LeadRow, InteractionRow } from '../db/leads.ts';
import type { NotificationRow } from '../db/notifications.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const num = (v: string | null) => (v === null ? null : Number(v));

export function leadView(l: LeadRow) {
  return {
    id: l.id,
    name: l.name,
    phone: l.phone,
    email: l.email,
    source: l.source,
    external_id: l.external_id,
    message: l.message,
    requested_amount: num(l.requested_amount),
    monthly_income: num(l.monthly_income),
    status: l.status,
    ai_score: l.ai_score,
    ai_temperature: l.ai_temperature,
    ai_classifier: l.ai_classifier,
    ai_reasons: l.ai_reasons ?? null,
    consultant_id: l.consultant_id,
    consultant: l.consultant_id ? { id: l.consultant_id, name: l.consultant_name ?? '' } : null,
    version: l.version,
    created_at: l.created_at.toISOString(),
    updated_at: l.updated_at.toISOString(),
    assigned_at: iso(l.assigned_at),
    closed_at: iso(l.closed_at),
  };
}

export type LeadView = ReturnType<typeof leadView>;

export function interactionView(i: InteractionRow) {
  return {
    id: Number(i.id),
    type: i.type,
    actor: { type: i.actor_type, id: i.actor_id, name: i.actor_name },
    data: i.data,
    created_at: i.created_at.toISOString(),
  };
}

export function notificationView(n: NotificationRow) {
  return {
    id: n.id,
    type: n.type,
    title: n.title,
    body: n.body,
    lead_id: n.lead_id,
    read: n.read_at !== null,
    created_at: n.created_at.toISOString(),
  };
}

export type NotificationView = ReturnType<typeof notificationView>;
