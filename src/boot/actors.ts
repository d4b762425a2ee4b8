/**
 * The actor system with the consultant actor, started. Presence left by a dead instance (or by
 * this one's previous life) is dropped by the consultant actors' home (src/boot/ownership.ts).
 */
import type { Config } from '../config.ts';
import type { Sql } from '../db/client.ts';
import type { PgBoss } from '../db/jobs.ts';
import { consultantActor } from '../actors/consultant.ts';
import { ActorSystem, type ActorHomes } from '../actors/runtime.ts';
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
  /** Several instances: where each actor lives. */
  homes?: ActorHomes;
  /** Registers other actor types (they must be known before start). */
  beforeStart?: (system: ActorSystem) => void;
}): Promise<ActorSystem> {
  const system = new ActorSystem({ sql: d.sql, boss: d.boss, log: d.log, idleMs: d.config.actorIdleMs, pruning: { journalDays: d.config.actorJournalDays }, ...(d.homes ? { homes: d.homes } : {}) });
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
  d.teardown.push(() => system.stop(), 'actor system');
  return system;
}
