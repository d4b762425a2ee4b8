/**
 * What one event asks of the world, read from the actions `transition()` returned: effects for the
 * outbox, durable timers to arm (a delayed raise, which is how XState expresses `after`) or cancel,
 * and log lines. Anything else is an action the runtime cannot run, and the event fails with its name.
 *
 * @example
 * const plan = planActions(def, 'c1', seq, actions, Date.now());
 * plan.timersArmed[0].event // => { type: 'xstate.after.FOLLOW_UP.conversation.waiting' }
 */
import { randomUUID } from 'node:crypto';
import type { AnyMachineSnapshot } from 'xstate';
import type { ActorBatch } from '../db/actors.ts';
import type { Logger } from '../log.ts';
import { UnsupportedMachineError, type ActorDefinition, type ActorEvent, type ActorView } from './types.ts';

export interface ActionLike {
  type: string;
  params?: unknown;
}

export function emptyBatch(): ActorBatch {
  return { snapshots: [], journal: [], outbox: [], timersArmed: [], timersCancelled: [], timersFired: [], effectsDone: [] };
}

/** Fills `batch` with the effects and timers of one event's actions. */
export function planActions(
  def: ActorDefinition,
  actorId: string,
  seq: number,
  actions: readonly ActionLike[],
  now: number,
  batch: ActorBatch,
  log: Logger,
): void {
  let position = 0;
  for (const a of actions) {
    switch (a.type) {
      case 'xstate.raise': {
        const p = a.params as { event: { type: string }; id?: string; delay?: number };
        // A raise without a delay was handled inside transition(); only delayed ones come out.
        if (p.delay === undefined) break;
        const key = p.id ?? `raise:${randomUUID()}`;
        batch.timersCancelled = batch.timersCancelled.filter((t) => t.key !== key);
        batch.timersArmed = batch.timersArmed.filter((t) => t.key !== key);
        batch.timersArmed.push({
          id: randomUUID(),
          actor_type: def.type,
          actor_id: actorId,
          key,
          event: p.event,
          due_at: new Date(now + Math.max(0, Number(p.delay) || 0)),
        });
        break;
      }
      case 'xstate.cancel': {
        const key = (a.params as { sendId: string }).sendId;
        batch.timersArmed = batch.timersArmed.filter((t) => t.key !== key);
        batch.timersCancelled.push({ actor_type: def.type, actor_id: actorId, key });
        break;
      }
      case 'xstate.log':
        log.info({ actor: `${def.type}/${actorId}`, seq, value: (a.params as { value?: unknown })?.value }, 'machine log');
        break;
      default:
        if (!def.effects?.[a.type]) {
          // register() checks what it can see; enqueueActions can still produce something new.
          throw new UnsupportedMachineError(`machine "${def.machine.id}" (actor type ${def.type}): action "${a.type}" has no effect handler and is not supported`);
        }
        batch.outbox.push({
          id: randomUUID(),
          actor_type: def.type,
          actor_id: actorId,
          seq,
          position: position++,
          effect: { type: a.type, params: a.params ?? null },
        });
    }
  }
}

/** Folds a group of per-event batches into one (the fast path writes it in one go). */
export function mergeBatches(batches: ActorBatch[]): ActorBatch {
  const out = emptyBatch();
  const lastSnapshot = new Map<string, ActorBatch['snapshots'][number]>();
  const same = (a: { actor_type: string; actor_id: string; key: string }, b: { actor_type: string; actor_id: string; key: string }) =>
    a.actor_type === b.actor_type && a.actor_id === b.actor_id && a.key === b.key;
  for (const b of batches) {
    for (const s of b.snapshots) lastSnapshot.set(`${s.actor_type}/${s.actor_id}`, s);
    out.journal.push(...b.journal);
    out.outbox.push(...b.outbox);
    out.timersFired.push(...b.timersFired);
    out.effectsDone.push(...b.effectsDone);
    // Later writes win: a cancel after an arm of the same key (or the reverse) keeps the last word.
    for (const c of b.timersCancelled) {
      out.timersArmed = out.timersArmed.filter((t) => !same(t, c));
      out.timersCancelled.push(c);
    }
    for (const t of b.timersArmed) {
      out.timersArmed = out.timersArmed.filter((x) => !same(x, t));
      out.timersArmed.push(t);
    }
  }
  out.snapshots = [...lastSnapshot.values()];
  return out;
}

/** The rows every stored event writes: its journal entry (with the state after it) and the snapshot. */
export function eventRows(
  batch: ActorBatch,
  e: { def: ActorDefinition; id: string; seq: number; event: ActorEvent; state: string; next: AnyMachineSnapshot; status: ActorView['status']; failure: string | undefined; timerId: string | undefined },
): void {
  if (e.timerId) batch.timersFired.push(e.timerId);
  batch.journal.push({ actor_type: e.def.type, actor_id: e.id, seq: e.seq, event: e.event, state: e.state });
  batch.snapshots.push({
    actor_type: e.def.type,
    actor_id: e.id,
    machine_version: e.def.version,
    seq: e.seq,
    state: e.state,
    snapshot: e.def.machine.getPersistedSnapshot(e.next),
    status: e.status,
    failure: e.status === 'failed' ? (e.failure ?? null) : null,
  });
}

export function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/**
 * Whether an event left the context as it was: the same object, or every top-level field the same
 * value (`workload.synced` with unchanged numbers). A field rebuilt with equal contents counts as a
 * change: journalling one event too many is harmless, skipping a real change is not.
 */
export function sameFields(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!a || !b || typeof a !== 'object' || typeof b !== 'object') return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if ((a as Record<string, unknown>)[k] !== (b as Record<string, unknown>)[k]) return false;
  return true;
}
