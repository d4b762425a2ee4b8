/**
 * Passivation: an idle actor whose every write is on disk is dropped from memory; its next event
 * rehydrates it from its snapshot. Idle time is per actor type. An actor that owns a resource (its
 * definition has a `start` hook) is never passivated: dropping it would orphan the resource.
 *
 * @example
 * const dropped = idleActors(live.values(), Date.now(), 300_000); // => actors to drop
 */
import type { AnyMachineSnapshot } from 'xstate';
import type { ActorDefinition } from './types.ts';

export interface Passivatable {
  def: ActorDefinition;
  snapshot: AnyMachineSnapshot;
  pending: number;
  lastActive: number;
}

export function mayPassivate(a: Passivatable, now: number, defaultIdleMs: number): boolean {
  if (a.pending > 0 || a.def.start) return false;
  if (now - a.lastActive < (a.def.idleMs ?? defaultIdleMs)) return false;
  return !a.def.canPassivate || a.def.canPassivate(a.snapshot);
}

/** How often to look for idle actors: half the shortest idle time, within [250 ms, 30 s]. */
export function passivationInterval(defs: Iterable<ActorDefinition>, defaultIdleMs: number): number {
  let shortest = defaultIdleMs;
  for (const d of defs) shortest = Math.min(shortest, d.idleMs ?? defaultIdleMs);
  return Math.max(250, Math.min(shortest / 2, 30_000));
}
