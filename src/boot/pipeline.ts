/**
 * The lead pipeline, its events fanned out to Socket.io rooms and SSE, and the lead service.
 */
import type { Config } from '../config.ts';
import { createSql, type Sql } from '../db/client.ts';
import { findConsultantsByIds } from '../db/consultants.ts';
import type { PgBoss } from '../db/jobs.ts';
import type { LeadRow } from '../db/leads.ts';
import { CONSULTANT } from '../actors/consultant.ts';
import { isOnline } from '../actors/consultant.machine.ts';
import type { ActorSystem } from '../actors/runtime.ts';
import type { NotificationBus } from '../http/notification-bus.ts';
import { roleRoom, userRoom } from '../http/socket.ts';
import { leadView, notificationView } from '../http/views.ts';
import type { Logger } from '../log.ts';
import { createLeadClassifier } from '../services/lead-classifier.ts';
import { LeadPipeline, type PipelineEvents } from '../services/lead-pipeline.ts';
import { LeadService } from '../services/leads.ts';
import { pushLeadConversations } from './conversation-push.ts';
import type { Hub } from './hub.ts';
import type { Teardown } from './teardown.ts';

/** Taken off the request deadline for the pipeline's (see `intakeDeadlineMs`). */
const INTAKE_DEADLINE_MARGIN_MS = 250;

export function buildPipeline(d: {
  sql: Sql;
  databaseUrl: string;
  boss: PgBoss;
  log: Logger;
  config: Config;
  system: ActorSystem;
  bus: NotificationBus;
  hub: Hub;
  teardown: Teardown;
  observeStep(step: string, seconds: number): void;
  timeouts: { connectTimeoutSeconds: number; statementTimeoutMs: number };
  /** Whether a consultant is online, from any instance (default: this instance's live actor). */
  isOnline?: (consultantId: string) => boolean;
}): { pipeline: LeadPipeline; leads: LeadService } {
  const { hub, log, system } = d;
  const leadRooms = (l: LeadRow) => [roleRoom('ADMIN'), roleRoom('MANAGER'), ...(l.consultant_id ? [userRoom(l.consultant_id)] : [])];
  const syncWorkload = async (ids: string[]) => {
    for (const c of await findConsultantsByIds(d.sql, ids)) {
      await system.send(
        CONSULTANT,
        c.id,
        {
          type: 'workload.synced',
          openLeads: c.open_leads,
          maxOpenLeads: c.max_open_leads,
          lastAssignedAt: c.last_assigned_at?.toISOString() ?? null,
        },
        { durable: true },
      );
    }
  };
  const events: PipelineEvents = {
    leadCreated: (l) => {
      hub.whatsapp?.leadChanged(l);
      hub.io?.to(leadRooms(l)).emit('lead:created', leadView(l));
    },
    leadUpdated: (l) => {
      hub.whatsapp?.leadChanged(l);
      hub.io?.to(leadRooms(l)).emit('lead:updated', leadView(l));
    },
    // Only the id: the consultant it was taken from may no longer see the lead itself. The lead's
    // Lívia conversations change hands with it (they see `conversation:updated` too).
    leadRemoved: (id, consultantId) => {
      hub.io?.to(userRoom(consultantId)).emit('lead:removed', { id });
      void pushLeadConversations(d.sql, hub, id, consultantId).catch((err) => log.warn({ err }, 'pushing conversation:updated failed'));
    },
    notification: (n) => {
      hub.io?.to(userRoom(n.recipient_id)).emit('notification', notificationView(n));
      d.bus.publish(n);
    },
    workloadChanged: (ids) => void syncWorkload(ids).catch((err) => log.warn({ err }, 'workload sync failed')),
  };
  // Named apart from the request pool, so pg_stat_activity (and db_pool_connections) tell them apart.
  const workSql = createSql(d.databaseUrl, { max: 4, applicationName: 'livia-pipeline', ...d.timeouts });
  d.teardown.push(() => workSql.end({ timeout: 2 }), 'pipeline pool');
  // One connection: the intake statements are pipelined on it (see INTAKE_TX_PIPELINED). Renewed
  // should a statement hang on it; destroying the old one settles what waits there.
  const openIntake = () => createSql(d.databaseUrl, { max: 1, applicationName: 'livia-intake', ...d.timeouts });
  let intakeSql = openIntake();
  const renewIntakeSql = () => {
    void intakeSql.end({ timeout: 0 }).catch(() => {});
    return (intakeSql = openIntake());
  };
  d.teardown.push(() => intakeSql.end({ timeout: 2 }), 'intake connection');
  const pipeline = new LeadPipeline({
    sql: d.sql,
    workSql,
    intakeSql,
    renewIntakeSql,
    // Twice what the database lets a statement run: past that, no answer is coming.
    intakeStuckMs: 2 * d.config.dbStatementTimeoutMs,
    boss: d.boss,
    log,
    classify: createLeadClassifier({ apiKey: d.config.groq.apiKey, baseUrl: d.config.groq.baseUrl, model: d.config.groq.model, log }),
    requiresPresence: d.config.assignmentRequiresPresence,
    isOnline: d.isOnline ?? ((id) => isOnline(system.peek(CONSULTANT, id))),
    events,
    observeStep: d.observeStep,
    maxPendingIntakes: d.config.intakeMaxPending,
    intakeQueueWaitMs: d.config.dbStatementTimeoutMs / 2,
    // The request deadline, less a margin for what the route does before it calls intake: no
    // retry starts once the sender may have been answered 503.
    intakeDeadlineMs: d.config.requestDeadlineMs - INTAKE_DEADLINE_MARGIN_MS,
    instanceId: d.config.instanceId,
  });
  hub.pipeline = pipeline;
  d.teardown.push(() => pipeline.stop(), 'lead pipeline');
  return { pipeline, leads: new LeadService({ sql: d.sql, pipeline, events }) };
}
