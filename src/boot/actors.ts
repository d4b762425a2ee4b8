/**
 * The actor system with the consultant actor, started, and presence reset: no socket survives a
 * restart, so consultants persisted as online start offline.
 */
import type { Config } from '../config.ts';
import type { Sql } from '../db/client.ts';
import type { PgBoss } from '../db/jobs.ts';
import { actorIdsInState } from '../db/actors.ts';
import { CONSULTANT, consultantActor } from '../actors/consultant.ts';
import { ActorSystem } from '../actors/runtime.ts';
import { roleRoom } from '../http/socket.ts';
import type { Logger } from '../log.ts';
import type { Hub } from './hub.ts';
import type { Teardown } from './teardown.ts';

export async function startActors(d: {
  sql: Sql;
  boss: PgBoss;
  log: Logger;
  config: Config;
  hub: Hub;
  teardown: Teardown;
  /** Registers other actor types (they must be known before start). */
  beforeStart?: (system: ActorSystem) => void;
}): Promise<ActorSystem> {
  const system = new ActorSystem({ sql: d.sql, boss: d.boss, log: d.log, idleMs: d.config.actorIdleMs, pruning: { journalDays: d.config.actorJournalDays } });
  system.register(
    consultantActor({
      presenceChanged: (p) => {
        d.hub.io?.to([roleRoom('ADMIN'), roleRoom('MANAGER')]).emit('consultant:presence', p);
        if (p.online && d.config.assignmentRequiresPresence) void d.hub.pipeline?.requestAssignment();
      },
      eligibilityChanged: () => void d.hub.pipeline?.requestAssignment(),
    }),
  );
  d.beforeStart?.(system);
  await system.start();
  d.teardown.push(() => system.stop());
  return system;
}

/** Consultants persisted as online start offline (no socket survives a restart). */
export async function resetPresence(sql: Sql, system: ActorSystem): Promise<void> {
  for (const id of await actorIdsInState(sql, CONSULTANT, 'presence.online')) {
    await system.send(CONSULTANT, id, { type: 'presence.reset' });
  }
}
