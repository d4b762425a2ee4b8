/**
 * What Lívia's hand-off writes on a lead: for a new lead, its fields; for a customer who already
 * has an open lead (from a webhook, or from writing to the consultants' number), what to change on
 * it. The conversation's data is fresher and validated (zod, same rules for every brain), so the
 * amount and income replace the lead's; the name replaces only a missing or placeholder one (the
 * phone number, or the name given to a lead with none).
 *
 * @example
 * handoffPatch({ name: '+5511987654321', phone: '+5511987654321' }, { name: 'Carla', requested_amount: 30_000 })
 * // => { name: 'Carla', requestedAmount: 30000, monthlyIncome: null, metadata: { channel: 'whatsapp', ... } }
 */
import type { ConversationData } from './qualification.ts';

/** The name a lead from Lívia gets when the customer never said theirs. */
export const PLACEHOLDER_NAME = 'Cliente do WhatsApp';

/** A name that is no name: empty, the placeholder, or a phone number (what a WhatsApp lead starts with). */
export function isPlaceholderName(name: string | null | undefined): boolean {
  const n = (name ?? '').trim();
  if (n === '' || n.toLowerCase() === PLACEHOLDER_NAME.toLowerCase()) return true;
  return /^[\d\s()+.-]+$/.test(n) && n.replace(/\D/g, '').length >= 8;
}

/** The collected data a lead carries in its metadata (besides amount and income, which have columns). */
export function handoffMetadata(d: ConversationData): Record<string, unknown> {
  return {
    channel: 'whatsapp',
    purpose: d.purpose ?? null,
    term_months: d.term_months ?? null,
    installment: d.installment ?? null,
    total: d.total ?? null,
    monthly_rate: d.monthly_rate ?? null,
    consent: d.consent ?? null,
  };
}

/** The conversation's summary as the lead's note (and the new lead's message). */
export function handoffNote(summary: string): string {
  return `Conversa com a Lívia:\n${summary}`.slice(0, 8000);
}

export interface HandoffPatch {
  /** The new name, or null to keep the lead's. */
  name: string | null;
  requestedAmount: number | null;
  monthlyIncome: number | null;
  /** Merged over the lead's metadata (these keys win; the lead's other keys stay). */
  metadata: Record<string, unknown>;
}

/** What the hand-off changes on an existing open lead. Null amounts keep the lead's. */
export function handoffPatch(lead: { name: string }, d: ConversationData): HandoffPatch {
  return {
    name: d.name && isPlaceholderName(lead.name) ? d.name : null,
    requestedAmount: d.requested_amount ?? null,
    monthlyIncome: d.monthly_income ?? null,
    metadata: handoffMetadata(d),
  };
}

/** The consultant's notification when Lívia qualified a lead that is already theirs. */
export function handoffNotification(leadName: string, summary: string): { title: string; body: string } {
  return { title: `Lívia qualificou ${leadName}`.slice(0, 200), body: summary.slice(0, 2000) };
}
