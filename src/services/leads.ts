/**
 * Reading and changing leads on behalf of a signed-in user: visibility (a consultant sees only
 * their own leads), optimistic concurrency, the pipeline's transitions, workload bookkeeping and
 * the audit trail, all in one transaction per change.
 *
 * @example
 * const lead = await leads.update(user, id, { version: 3, status: 'CONTACTED' });
 */
import { checkTransition, isOpen, type LeadStatus } from '../domain/lead-status.ts';
import { canManageTeam } from '../domain/roles.ts';
import type { Sql } from '../db/client.ts';
import {
  adjustOpenLeads,
  countLeadsByStatus,
  findActiveConsultant,
  findLead,
  listInteractions,
  listLeads,
  lockLead,
  recordInteraction,
  updateLeadVersioned,
  type InteractionRow,
  type LeadFilter,
  type LeadRow,
} from '../db/leads.ts';
import { insertNotification } from '../db/notifications.ts';
import { ServiceError, type Caller } from './errors.ts';
import type { LeadPipeline, PipelineEvents } from './lead-pipeline.ts';

export interface LeadPatch {
  version: number;
  status?: LeadStatus | undefined;
  consultant_id?: string | undefined;
  note?: string | undefined;
}

export class LeadService {
  constructor(private readonly d: { sql: Sql; pipeline: LeadPipeline; events: PipelineEvents }) {}

  list(user: Caller, filter: LeadFilter): Promise<LeadRow[]> {
    const mine = canManageTeam(user.role) ? filter.consultantId : user.id;
    if (!canManageTeam(user.role) && filter.consultantId && filter.consultantId !== user.id) return Promise.resolve([]);
    return listLeads(this.d.sql, { ...filter, consultantId: mine });
  }

  /** Per-status counts under the same visibility as `list`. */
  counts(user: Caller, filter: Omit<LeadFilter, 'status' | 'after' | 'limit'>): Promise<Partial<Record<LeadStatus, number>>> {
    if (!canManageTeam(user.role) && filter.consultantId && filter.consultantId !== user.id) return Promise.resolve({});
    return countLeadsByStatus(this.d.sql, { ...filter, consultantId: canManageTeam(user.role) ? filter.consultantId : user.id });
  }

  async get(user: Caller, id: string): Promise<{ lead: LeadRow; interactions: InteractionRow[] }> {
    const lead = await findLead(this.d.sql, id);
    if (!lead || !this.#visible(user, lead.consultant_id)) throw new ServiceError('not_found', 'not_found', 'Lead not found');
    return { lead, interactions: await listInteractions(this.d.sql, id) };
  }

  async update(user: Caller, id: string, patch: LeadPatch): Promise<LeadRow> {
    const outcome = await this.d.sql.begin(async (tx) => {
      const current = await lockLead(tx, id);
      if (!current || !this.#visible(user, current.consultant_id)) throw new ServiceError('not_found', 'not_found', 'Lead not found');
      if (current.version !== patch.version) {
        throw new ServiceError('conflict', 'version_conflict', 'The lead changed since you loaded it; reload and try again', {
          current_version: current.version,
        });
      }
      let closing = false;
      let reopening = false;
      if (patch.status !== undefined && patch.status !== current.status) {
        const check = checkTransition(current.status, patch.status, user.role);
        if (!check.ok) throw new ServiceError('invalid', 'invalid_transition', check.reason, [{ path: 'status', message: check.reason }]);
        closing = isOpen(current.status) && !isOpen(patch.status);
        reopening = check.reopen;
      }
      let newConsultant: { id: string; name: string } | undefined;
      if (patch.consultant_id !== undefined && patch.consultant_id !== current.consultant_id) {
        if (!canManageTeam(user.role)) throw new ServiceError('forbidden', 'forbidden', 'Only a manager may reassign a lead');
        newConsultant = await findActiveConsultant(tx, patch.consultant_id);
        if (!newConsultant) {
          throw new ServiceError('invalid', 'validation_failed', 'No active consultant with this id', [{ path: 'consultant_id', message: 'unknown or inactive consultant' }]);
        }
      }
      const updated = await updateLeadVersioned(tx, {
        id,
        version: patch.version,
        status: patch.status,
        consultantId: newConsultant?.id,
        closing,
        reopening,
      });
      if (!updated) throw new ServiceError('conflict', 'version_conflict', 'The lead changed since you loaded it; reload and try again');

      // Workload: an open lead counts against its consultant's capacity.
      const wasOpen = isOpen(current.status);
      const nowOpen = isOpen(updated.status);
      const touched = new Set<string>();
      if (current.consultant_id && wasOpen && (!nowOpen || newConsultant)) {
        await adjustOpenLeads(tx, current.consultant_id, -1);
        touched.add(current.consultant_id);
      }
      if (updated.consultant_id && nowOpen && (!wasOpen || newConsultant)) {
        await adjustOpenLeads(tx, updated.consultant_id, +1);
        touched.add(updated.consultant_id);
      }

      const actor = { actorType: 'user' as const, actorId: user.id };
      if (patch.status !== undefined && patch.status !== current.status) {
        await recordInteraction(tx, { leadId: id, type: 'status_changed', ...actor, data: { from: current.status, to: patch.status } });
      }
      const notifications = [];
      if (newConsultant) {
        await recordInteraction(tx, { leadId: id, type: 'reassigned', ...actor, data: { from: current.consultant_id, to: newConsultant.id } });
        const n = await insertNotification(tx, {
          recipientId: newConsultant.id,
          type: 'lead_assigned',
          title: 'Lead atribuído a você',
          body: current.name,
          leadId: id,
        });
        if (n) notifications.push(n);
      }
      if (patch.note) await recordInteraction(tx, { leadId: id, type: 'note', ...actor, data: { text: patch.note } });
      const leftBehind = newConsultant && current.consultant_id ? current.consultant_id : undefined;
      return { updated, notifications, touched: [...touched], freed: closing || !!newConsultant, leftBehind };
    });
    this.d.events.leadUpdated(outcome.updated);
    if (outcome.leftBehind) this.d.events.leadRemoved?.(id, outcome.leftBehind);
    for (const n of outcome.notifications) this.d.events.notification(n);
    if (outcome.touched.length > 0) this.d.events.workloadChanged(outcome.touched);
    if (outcome.freed) void this.d.pipeline.requestAssignment();
    return outcome.updated;
  }

  #visible(user: Caller, consultantId: string | null): boolean {
    return canManageTeam(user.role) || consultantId === user.id;
  }
}
