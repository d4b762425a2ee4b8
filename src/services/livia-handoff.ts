/**
 * Lívia's hand-off to the sales team, as the conversation actor's `HandoffPort`: the qualified,
 * consenting customer becomes a lead through the lead pipeline (classified and assigned by its
 * round-robin, the consultant notified by it), with the collected data and a summary of the
 * conversation as its message; the conversation is linked to the lead; and, once assignment has
 * picked a consultant (waiting a few seconds at most), Lívia is told who will call.
 *
 * Exactly once per hand-off: the lead's idempotency key is the effect id, so a repeat after a
 * crash finds the lead it created instead of creating another.
 *
 * @example
 * registerLivia({ config, system, transport, handoff: createLiviaHandoff({ sql, pipeline }), log });
 */
import type { HandoffPort } from '../actors/conversation.ts';
import type { Sql } from '../db/client.ts';
import { linkConversationLead } from '../db/conversations.ts';
import { findLead, type NewLead } from '../db/leads.ts';
import type { Logger } from '../log.ts';
import type { LeadPipeline } from './lead-pipeline.ts';

export const LIVIA_SOURCE = 'livia';

export function createLiviaHandoff(o: {
  sql: Sql;
  pipeline: Pick<LeadPipeline, 'intake'>;
  log?: Logger;
  /** How long to wait for assignment before Lívia answers without a name. */
  waitMs?: number;
}): HandoffPort {
  const waitMs = o.waitMs ?? 5000;
  return {
    async handOff(p, key) {
      const d = p.data;
      const lead: NewLead = {
        name: d.name ?? 'Cliente do WhatsApp',
        phone: p.phone,
        email: null,
        source: LIVIA_SOURCE,
        externalId: null,
        idempotencyKey: `livia-handoff:${key}`,
        message: `Conversa com a Lívia:\n${p.summary}`.slice(0, 8000),
        requestedAmount: d.requested_amount ?? null,
        monthlyIncome: d.monthly_income ?? null,
        metadata: {
          channel: 'whatsapp',
          purpose: d.purpose ?? null,
          term_months: d.term_months ?? null,
          installment: d.installment ?? null,
          total: d.total ?? null,
          monthly_rate: d.monthly_rate ?? null,
          consent: d.consent ?? null,
        },
      };
      const { id } = await o.pipeline.intake(lead);
      await linkConversationLead(o.sql, p.phone, id);
      const deadline = Date.now() + waitMs;
      for (;;) {
        const row = await findLead(o.sql, id);
        if (row?.consultant_name) return { consultantName: row.consultant_name.split(' ')[0] ?? row.consultant_name };
        if (Date.now() >= deadline) {
          o.log?.info({ leadId: id }, 'hand-off: not assigned yet; Lívia answers without a name');
          return { consultantName: null };
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
