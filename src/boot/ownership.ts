/**
 * Several instances on one database: who owns what, and how the others reach it.
 *
 * - Each WhatsApp session has a lease `whatsapp:<name>`; its owner alone opens its socket, and the
 *   actors it feeds live there too: the session's actor, and (for `livia`) every conversation actor.
 * - The consultant actors live with the lease `actors:consultant`, taken by one instance (it also
 *   drops the sockets of instances that died).
 * - An event for an actor that lives elsewhere is a durable job on its lease's inbox queue
 *   (src/actors/forwarding.ts); effects run only at the actor's home, fenced by the lease's epoch.
 *
 * INSTANCES=1 (the default) keeps a single instance's behaviour: at start it takes at once every
 * lease whose holder is dead (its own previous life, after a crash), without waiting for the
 * expiry; never one whose holder still runs (src/db/leases.ts).
 *
 * @example
 * const own = createOwnership({ sql, boss, log, config });
 * const system = await startActors({ ..., homes: own.homes });
 * own.attach(system);
 * await startOwnership(own, { system, whatsapp, livia, teardown });
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Broadcast } from '../db/broadcast.ts';
import type { Sql } from '../db/client.ts';
import type { PgBoss } from '../db/jobs.ts';
import { claimEffect, listLeases, otherLiveInstances } from '../db/leases.ts';
import { actorIdsInState } from '../db/actors.ts';
import { liveSocketIds, prunePresenceSockets } from '../db/presence.ts';
import { ActorForwarding } from '../actors/forwarding.ts';
import { Leases } from '../actors/leases.ts';
import { CONSULTANT } from '../actors/consultant.ts';
import { CONVERSATION } from '../actors/conversation.ts';
import type { ActorSystem } from '../actors/runtime.ts';
import { OwnerUnavailableError, type ActorHomes } from '../actors/types.ts';
import { ServiceError, type ServiceErrorKind } from '../services/errors.ts';
import { WHATSAPP_SESSION } from '../actors/whatsapp-session.ts';
import { LIVIA_SESSION } from '../services/livia-whatsapp.ts';
import type { Logger } from '../log.ts';
import type { Teardown } from './teardown.ts';

export const CONSULTANT_HOME = 'actors:consultant';
export const sessionLease = (session: string) => `whatsapp:${session}`;

export interface Ownership {
  instanceId: string;
  boot: string;
  leases: Leases;
  forwarding: ActorForwarding;
  homes: ActorHomes;
  attach(system: ActorSystem): void;
  /** Who owns each session, for /ready. */
  sessionOwners(sessions: string[]): Promise<Record<string, { instance: string | null; epoch: number | null; here: boolean }>>;
}

/**
 * Refuses a start that would break in silence: with more than one instance (INSTANCES > 1, or
 * another one alive on this database) a Baileys session's credentials must be in PostgreSQL, or
 * the instance taking a session over would pair it again from scratch.
 */
export async function checkInstances(sql: Sql, config: Config, log: Logger): Promise<void> {
  const others = await otherLiveInstances(sql, config.instanceId);
  if (others.length > 0 && config.instances === 1) {
    log.warn({ others }, 'other instances are alive on this database while INSTANCES=1: set INSTANCES to their number (this one takes their leases only once they stop)');
  }
  const several = config.instances > 1 || others.length > 0;
  if (several && config.whatsappDriver !== 'simulator' && config.whatsappAuthStore !== 'postgres') {
    throw new Error(
      `several instances share this database (INSTANCES=${config.instances}, others alive: ${others.length}): ` +
        'set WHATSAPP_AUTH_STORE=postgres, so that a WhatsApp session can move to another instance with its credentials',
    );
  }
}

export function createOwnership(d: { sql: Sql; boss: PgBoss; log: Logger; config: Config }): Ownership {
  const log = d.log.child({ component: 'ownership', instance: d.config.instanceId });
  const boot = randomBytes(6).toString('hex');
  const owner = d.config.instanceId;
  const leases = new Leases({ sql: d.sql, log, owner, boot, ttlMs: d.config.leaseTtlMs, stealAtStart: d.config.instances === 1 });
  let system: ActorSystem | undefined;
  const forwarding = new ActorForwarding({
    boss: d.boss,
    log,
    deliver: (e) => {
      if (!system) return Promise.reject(new Error('actor system not started'));
      return system.sendHere(e.type, e.id, e.event, e.timerId ? { timerId: e.timerId } : {});
    },
    holds: (lease) => leases.holds(lease),
    // Within the request deadline (statement timeout + 1 s), so the caller gets the owner's own answer
    // (or a 503 saying it was not done), never the deadline's.
    callTimeoutMs: Math.max(1000, d.config.dbStatementTimeoutMs - 1000),
    answerTimeoutMs: Math.max(1000, d.config.dbStatementTimeoutMs - 1000),
    // Only the fallback: each job is announced to its owner (linkForwarding), which fetches it at once.
    pollingIntervalSeconds: d.config.actorInboxPollMs / 1000,
    revive: (e) =>
      e.kind && e.code
        ? new ServiceError(e.kind as ServiceErrorKind, e.code, e.message, e.details)
        : e.name === 'OwnerUnavailableError'
          ? new OwnerUnavailableError(e.message, 'deadline_passed')
          : undefined,
  });
  // Admin actions and erasures asked on another instance, run by the actor's home.
  type ActorArgs = { type: string; id: string; by?: string; effectId?: string };
  const sys = () => {
    if (!system) throw new Error('actor system not started');
    return system;
  };
  forwarding.handle('actor.reset', async (a) => {
    const { type, id, by } = a as ActorArgs;
    return (await sys().reset(type, id, by ?? 'system')) ?? null;
  });
  forwarding.handle('actor.retryEffect', async (a) => {
    const { type, id, effectId, by } = a as ActorArgs;
    return sys().retryEffect(type, id, effectId!, by ?? 'system');
  });
  forwarding.handle('actor.discardEffect', async (a) => {
    const { type, id, effectId, by } = a as ActorArgs;
    return sys().discardEffect(type, id, effectId!, by ?? 'system');
  });
  forwarding.handle('actor.drop', async (a) => {
    const { type, id } = a as ActorArgs;
    await sys().forget(type, id, async () => undefined);
    return null;
  });
  const homes: ActorHomes = {
    leaseOf: (type, id) => {
      if (type === WHATSAPP_SESSION) return sessionLease(id);
      if (type === CONVERSATION) return sessionLease(LIVIA_SESSION);
      if (type === CONSULTANT) return CONSULTANT_HOME;
      return undefined;
    },
    holds: (lease) => leases.holds(lease),
    forward: (lease, type, id, event, opts) => forwarding.forward(lease, type, id, event, opts),
    call: (lease, op, args) => forwarding.call(lease, op, args),
    claim: async (lease, effectId) => {
      const epoch = leases.epoch(lease);
      if (epoch === undefined) return false;
      return claimEffect(d.sql, { effectId, lease, owner, epoch });
    },
  };
  return {
    instanceId: owner,
    boot,
    leases,
    forwarding,
    homes,
    attach: (s) => (system = s),
    async sessionOwners(sessions) {
      const rows = new Map((await listLeases(d.sql)).map((r) => [r.name, r]));
      return Object.fromEntries(
        sessions.map((s) => {
          const r = rows.get(sessionLease(s));
          const live = r?.live ? r : undefined;
          return [s, { instance: live?.owner ?? null, epoch: live?.epoch ?? null, here: leases.holds(sessionLease(s)) }];
        }),
      );
    },
  };
}

/**
 * Forwarded jobs and their answers announced over LISTEN/NOTIFY (`livia_broadcast`): the owner's
 * inbox worker fetches a job as soon as it is stored, and the waiting sender reads the answer as
 * soon as it is written, instead of at their next poll. The jobs stay the truth: an announcement
 * lost (a NOTIFY is at most once) costs only the polling interval.
 */
export function linkForwarding(own: Ownership, broadcast: Broadcast): void {
  own.forwarding.signals = {
    queued: (q) => broadcast.publish('inbox.queued', { q }),
    answered: (j) => broadcast.publish('inbox.answered', { j }),
  };
  broadcast.on<{ q: string }>('inbox.queued', ({ q }) => own.forwarding.wake(q));
  broadcast.on<{ j: string }>('inbox.answered', ({ j }) => own.forwarding.answered(j));
}

/**
 * Asks for every lease and starts the rounds. Winning a session's lease: work its inbox, run what
 * its previous owner left (effects, resource actors), open its socket, and (for `livia`) redeliver
 * customer messages stored but never handed to a conversation. Losing it: close the socket and
 * drop its actors at once, stop working its inbox.
 */
export async function startOwnership(
  own: Ownership,
  d: {
    sql: Sql;
    system: ActorSystem;
    log: Logger;
    config: Config;
    sessions: string[];
    whatsapp: { bootSession(s: string): Promise<void>; sessionLost(s: string): void };
    livia?: { recover(): Promise<number>; stop(): void };
    teardown: Teardown;
  },
): Promise<void> {
  const log = d.log.child({ component: 'ownership', instance: own.instanceId });
  const { system, leases, forwarding } = { system: d.system, leases: own.leases, forwarding: own.forwarding };
  for (const s of d.sessions) {
    const lease = sessionLease(s);
    leases.want(lease, {
      acquired: async () => {
        await forwarding.serve(lease);
        await system.adopt(lease);
        await d.whatsapp.bootSession(s);
        if (s === LIVIA_SESSION) await d.livia?.recover();
      },
      lost: (reason) => {
        d.whatsapp.sessionLost(s);
        if (s === LIVIA_SESSION) d.livia?.stop();
        const n = system.evict(lease);
        if (reason !== 'shutdown') log.warn({ session: s, actors: n, reason }, 'WhatsApp session left this instance');
        void forwarding.unserve(lease);
      },
    });
  }
  let presenceSweep: ReturnType<typeof setInterval> | undefined;
  const sweep = () =>
    sweepPresence(d.sql, system, d.config.instances === 1 ? { instanceId: own.instanceId, boot: own.boot } : undefined).catch((err) =>
      log.warn({ err }, 'presence sweep failed'),
    );
  leases.want(CONSULTANT_HOME, {
    acquired: async () => {
      await forwarding.serve(CONSULTANT_HOME);
      await system.adopt(CONSULTANT_HOME);
      await sweep();
      clearInterval(presenceSweep);
      presenceSweep = setInterval(() => void sweep(), Math.max(1000, Math.round(d.config.leaseTtlMs / 2)));
      presenceSweep.unref?.();
    },
    lost: () => {
      clearInterval(presenceSweep);
      system.evict(CONSULTANT_HOME);
      void forwarding.unserve(CONSULTANT_HOME);
    },
  });
  await forwarding.prepare([...d.sessions.map(sessionLease), CONSULTANT_HOME]);
  await leases.start();
  d.teardown.push(async () => {
    clearInterval(presenceSweep);
    // Releasing only spares the next owner the expiry: never worth more of the 10 s shutdown budget
    // than this (a database that just restarted can hold each statement for its timeout).
    await Promise.race([leases.stop(), new Promise((r) => setTimeout(r, 2000).unref())]);
  }, 'leases');
}

/**
 * Presence across instances: a consultant's socket counts while the instance holding it is alive
 * (in its current boot). The home of the consultant actors drops the others' sockets, so a
 * consultant whose only instance died goes offline, and nobody's presence is wiped at a boot.
 */
export async function sweepPresence(sql: Sql, system: ActorSystem, only?: { instanceId: string; boot: string }): Promise<number> {
  let dropped = 0;
  for (const id of await actorIdsInState(sql, CONSULTANT, 'presence.online')) {
    const view = await system.inspect(CONSULTANT, id);
    const sockets = ((view?.context as { sockets?: string[] } | undefined)?.sockets ?? []).slice();
    const live = await liveSocketIds(sql, sockets, only);
    for (const socketId of sockets) {
      if (live.has(socketId)) continue;
      await system.send(CONSULTANT, id, { type: 'presence.disconnected', socketId });
      dropped++;
    }
    // An online consultant with no socket listed (a snapshot from before sockets were tracked).
    if (sockets.length === 0) await system.send(CONSULTANT, id, { type: 'presence.reset' });
  }
  await prunePresenceSockets(sql);
  return dropped;
}

/**
 * Whether a consultant is online, from any instance: from the live actor at its home, and
 * elsewhere from the persisted states, read again every second (assignment asks synchronously).
 */
export function consultantPresence(d: { sql: Sql; system: ActorSystem; log: Logger; teardown: Teardown; isOnline(snapshot: unknown): boolean }): (id: string) => boolean {
  let online = new Set<string>();
  const refresh = async () => {
    if (d.system.isHome(CONSULTANT, '')) return;
    online = new Set(await actorIdsInState(d.sql, CONSULTANT, 'presence.online'));
  };
  const timer = setInterval(() => void refresh().catch((err) => d.log.warn({ err }, 'reading presence failed')), 1000);
  timer.unref?.();
  void refresh().catch(() => undefined);
  d.teardown.push(async () => clearInterval(timer), 'presence pruning');
  return (id) => (d.system.isHome(CONSULTANT, id) ? d.isOnline(d.system.peek(CONSULTANT, id)) : online.has(id));
}
