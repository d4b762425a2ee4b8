/**
 * Lívia's hand-off to the sales team, as the conversation actor's `HandoffPort`. The qualified,
 * consenting customer:
 *
 * - already has an open lead (under any form of their phone: with or without the ninth digit; it
 *   came by webhook, or from writing to the consultants' number): that lead is updated with the
 *   collected data, gets the conversation's summary as a note, is classified again and, if nobody
 *   has it, assigned by the round-robin; a consultant who already has it is notified with the
 *   summary. Lívia names that consultant.
 * - has none (or only WON/LOST ones): a new lead goes through the lead pipeline (classified and
 *   assigned by its round-robin, the consultant notified by it), with the collected data and the
 *   summary as its message.
 *
 * Either way the conversation is linked to the lead and, once a consultant has it (waiting a few
 * seconds at most), Lívia is told who will call.
 *
 * Exactly once per hand-off (the effect id as `key`): an update commits with a `livia_handoffs`
 * row for the key, a new lead carries the key as its idempotency key; a repeat after a crash finds
 * either and appends, notifies and creates nothing again.
 *
 * @example
 * registerLivia({ config, system, transport, handoff: createLiviaHandoff({ sql, pipeline }), log });
 */
import type { HandoffPort } from '../actors/conversation.ts';
import type { Sql } from '../db/client.ts';
import { linkConversationLead } from '../db/conversations.ts';
import { findDuplicateLead, findLead, type NewLead } from '../db/leads.ts';
import { applyHandoffUpdate, handoffLead, lockOpenLeadByPhones } from '../db/livia-handoffs.ts';
import { handoffMetadata, handoffNote, handoffNotification, handoffPatch, PLACEHOLDER_NAME } from '../domain/handoff.ts';
import { phoneVariants } from '../domain/whatsapp/jid.ts';
import type { Logger } from '../log.ts';
import type { LeadPipeline } from './lead-pipeline.ts';

export const LIVIA_SOURCE = 'livia';

export function createLiviaHandoff(o: {
  sql: Sql;
  pipeline: Pick<LeadPipeline, 'intake' | 'leadChanged'>;
  log?: Logger;
  /** How long to wait for assignment before Lívia answers without a name. */
  waitMs?: number;
}): HandoffPort {
  const waitMs = o.waitMs ?? 5000;
  return {
    async handOff(p, key) {
      const d = p.data;
      const idempotencyKey = `livia-handoff:${key}`;
      const found = await o.sql.begin(async (tx) => {
        // A repeat: of an update (its row), or of a creation (the lead's key).
        const done = (await handoffLead(tx, key)) ?? (await findDuplicateLead(tx, { idempotencyKey, source: LIVIA_SOURCE, externalId: null }));
        if (done) return { id: done, repeat: true as const };
        const open = await lockOpenLeadByPhones(tx, phoneVariants(p.phone));
        if (!open) return undefined;
        const applied = await applyHandoffUpdate(tx, {
          key,
          leadId: open.id,
          phone: p.phone,
          patch: handoffPatch(open, d),
          note: handoffNote(p.summary),
          notification: open.consultant_id ? handoffNotification(d.name ?? open.name, p.summary) : null,
        });
        // Claimed meanwhile by the same hand-off run again concurrently: that run announces it.
        if (!applied) return { id: open.id, repeat: true as const };
        return { id: open.id, repeat: false as const, ...applied };
      });

      let id: string;
      if (found && !found.repeat) {
        id = found.id;
        o.log?.info({ leadId: id }, 'hand-off: the customer already had an open lead; updated it');
        void o.pipeline.leadChanged(found.lead, found.notification ? [found.notification] : []).catch((err: unknown) =>
          o.log?.warn({ err, leadId: id }, 'hand-off: classifying the updated lead failed; the reconcile retries'),
        );
      } else if (found) {
        id = found.id;
        await linkConversationLead(o.sql, p.phone, id);
      } else {
        const lead: NewLead = {
          name: d.name ?? PLACEHOLDER_NAME,
          phone: p.phone,
          email: null,
          source: LIVIA_SOURCE,
          externalId: null,
          idempotencyKey,
          message: handoffNote(p.summary),
          requestedAmount: d.requested_amount ?? null,
          monthlyIncome: d.monthly_income ?? null,
          metadata: handoffMetadata(d),
        };
        ({ id } = await o.pipeline.intake(lead));
        await linkConversationLead(o.sql, p.phone, id);
      }

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
