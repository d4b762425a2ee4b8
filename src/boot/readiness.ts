/**
 * What /ready checks: the database answers (the request pool's ping, and no intake statement
 * unanswered past the statement timeout), pg-boss answers, the actors run; WhatsApp is reported.
 */
import type { Config } from '../config.ts';
import { ping, type Sql } from '../db/client.ts';
import type { PgBoss } from '../db/jobs.ts';
import type { DatabaseMonitor } from '../db/monitor.ts';
import type { ActorSystem } from '../actors/runtime.ts';
import type { ReadinessChecks } from '../http/routes/ops.ts';
import type { LeadPipeline } from '../services/lead-pipeline.ts';
import type { WhatsAppService } from '../services/whatsapp/service.ts';

export function readinessChecks(d: {
  sql: Sql;
  boss: PgBoss;
  system: ActorSystem;
  config: Config;
  monitor: DatabaseMonitor;
  whatsapp?: Pick<WhatsAppService, 'readiness'>;
  /** The lead pipeline's intake, on a connection of its own that the ping below does not use. */
  intake?: Pick<LeadPipeline, 'intakeWaitingMs'>;
}): ReadinessChecks {
  return {
    database: async () => {
      // Requests are refused while the monitor sees the database down: say so here too.
      if (!d.monitor.isUp) return { status: 'down', ...d.monitor.state };
      // An intake statement unanswered past the statement timeout: webhooks wait on it (until
      // the pipeline renews its connection, at twice that).
      const waiting = Math.round(d.intake?.intakeWaitingMs() ?? 0);
      if (waiting > d.config.dbStatementTimeoutMs) return { status: 'down', reason: 'intake_stalled', intake_waiting_ms: waiting };
      await ping(d.sql);
      return { status: 'ok' };
    },
    jobs: async () => {
      await d.boss.getQueues();
      return { status: 'ok' };
    },
    actors: async () => ({ status: d.system.isRunning ? 'ok' : 'down', live: d.system.liveCount }),
    // Each session's real state; reported, not gating (the CRM works while a number pairs).
    whatsapp: async () => (d.whatsapp ? d.whatsapp.readiness() : { status: 'disabled', driver: d.config.whatsappDriver }),
  };
}
