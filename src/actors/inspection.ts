/**
 * What the inspection API shows of an actor: its current view, its recent history with the state
 * after each event (so the visualizer can step back), its dead-lettered effects, the effects an
 * admin discarded (who and when), and its armed timers.
 *
 * @example
 * const detail = await actorDetail(sql, system, 'consultant', id, 50);
 * detail?.events[0] // => { seq: 0, type: 'xstate.init', at: '2026-…', state: 'presence.offline,status.active' }
 */
import { deadEffectsOf, discardedEffectsOf } from '../db/actor-effects.ts';
import { armedTimersOf, listSnapshots, recentJournal } from '../db/actors.ts';
import type { Sql } from '../db/client.ts';
import type { ActorSystem } from './runtime.ts';
import type { ActorView } from './types.ts';

export interface ActorDetail extends ActorView {
  events: { seq: number; type: string; at: string; state: string | null }[];
  dead_effects: { id: string; seq: number; type: string; attempts: number; last_error: string | null; dead_at: string }[];
  discarded_effects: (ActorDetail['dead_effects'][number] & { discarded_at: string; discarded_by: string | null; discarded_by_name: string | null })[];
  /** Durable timers armed now (an `after` delay waiting to fire), soonest first. */
  timers: { key: string; event: string; due_at: string }[];
}

export async function actorDetail(sql: Sql, system: ActorSystem, type: string, id: string, limit: number): Promise<ActorDetail | undefined> {
  // The history, effects and timers first: the state read after them is at least as new as what
  // they show (a dead-lettered think is never shown beside the state from before that think).
  const [events, dead, discarded, timers] = await Promise.all([
    recentJournal(sql, type, id, limit),
    deadEffectsOf(sql, type, id),
    discardedEffectsOf(sql, type, id),
    armedTimersOf(sql, type, id),
  ]);
  const view = await system.inspect(type, id);
  if (!view) return undefined;
  return {
    ...view,
    events: events.map((e) => ({ seq: e.seq, type: e.event.type, at: e.created_at.toISOString(), state: e.state })),
    dead_effects: dead.map((d) => ({ ...d, dead_at: d.dead_at.toISOString() })),
    discarded_effects: discarded.map((d) => ({ ...d, dead_at: d.dead_at.toISOString(), discarded_at: d.discarded_at.toISOString() })),
    timers: timers
      .sort((a, b) => a.due_at.getTime() - b.due_at.getTime())
      .map((t) => ({ key: t.key, event: (t.event as { type?: string } | null)?.type ?? t.key, due_at: t.due_at.toISOString() })),
  };
}

export async function listActors(sql: Sql, filter: { type?: string | undefined; state?: string | undefined; limit: number }) {
  const rows = await listSnapshots(sql, filter);
  return rows.map((r) => ({ type: r.actor_type, id: r.actor_id, state: r.state, status: r.status, updated_at: r.updated_at.toISOString() }));
}
