/**
 * An actor's state and how one event changes it: the pure `transition()`, the plan of its actions,
 * the write handed to the committer (snapshot, journal entry, effects, timers, domain writes), and
 * the rewind when the committer could not store one of its events: the state goes back to before
 * it, and the actor's later writes, computed on top of it, are replayed on that state.
 *
 * An event that changes neither state nor context and asks for nothing is answered, not written.
 *
 * @example
 * class Actor extends ActorState { ... } // adds the mailbox and supervision (actor.ts)
 */
import { transition, type AnyMachineSnapshot } from 'xstate';
import type { SnapshotRow } from '../db/actors.ts';
import type { Sql } from '../db/client.ts';
import type { Logger } from '../log.ts';
import type { Write } from './committer.ts';
import { deferred, emptyBatch, eventRows, planActions, sameFields, type ActionLike } from './plan.ts';
import { message } from './supervision.ts';
import { ActorCrashedError, EventRejectedError, stateString, type ActorDefinition, type ActorEvent, type ActorView, type DomainWrite } from './types.ts';

export interface ActorHost {
  sql: Sql;
  log: Logger;
  now(): number;
  loadAttempts: number;
  budget(def: ActorDefinition): { max: number; windowMs: number };
  write(w: Write<ActorState>): void;
  counted(what: 'events' | 'rehydrations' | 'loadErrors'): void;
  unlist(a: ActorState): void;
  load(type: string, id: string): Promise<SnapshotRow | undefined>;
  markFailed(type: string, id: string, reason: string): Promise<void>;
}

export type Status = ActorView['status'];
type Saved = { snapshot: AnyMachineSnapshot; seq: number; state: string; status: Status };
/** A journalled event that does not go through the machine (reset, effect retry). */
export type Record_ = { status: Status; extra?: DomainWrite | undefined };
/** What a write needs to be replayed when an earlier write of its actor could not be stored. */
interface Replay {
  event: ActorEvent;
  timerId?: string | undefined;
  completes?: string | undefined;
  prev: Saved;
  record?: Record_ | undefined;
}
export type Outcome = { written: Promise<ActorView> } | { error: unknown };

export abstract class ActorState {
  readonly key: string;
  snapshot!: AnyMachineSnapshot;
  seq = -1;
  status: Status = 'active';
  failure: string | undefined;
  broken = false;
  /** stateString of the snapshot's value. */
  protected stateName = '';
  /** Settles once every write handed to the committer so far has settled. */
  protected lastWrite: Promise<unknown>;

  constructor(
    protected readonly host: ActorHost,
    readonly def: ActorDefinition,
    readonly id: string,
    predecessor?: ActorState,
  ) {
    this.key = `${def.type}/${id}`;
    // After any write of a broken predecessor has settled: memory must not be behind the disk.
    this.lastWrite = predecessor ? predecessor.lastWrite : Promise.resolve();
  }

  /** Memory can no longer be trusted: the next event reloads. */
  abstract breakDown(reason: string): void;

  view(): ActorView {
    const s = this.snapshot;
    return { type: this.def.type, id: this.id, state: this.stateName, value: s.value, context: s.context, status: this.status, seq: this.seq, live: true, failure: this.failure };
  }

  /** The committer could not store `w`: rewind to before it, and replay the later writes on that state. */
  rejectEvent(w: Write<ActorState>, err: unknown, later: Write<ActorState>[]): void {
    const r = w.meta as Replay;
    const rejected = new EventRejectedError(`event ${r.event.type} of actor ${this.key} was not stored: ${message(err)}`);
    this.host.log.warn({ actor: this.key, event: r.event.type, err: message(err) }, 'event rejected by the database');
    if (this.broken || !r.prev.snapshot) {
      this.breakDown('its first event could not be stored');
      for (const x of [w, ...later]) x.reject(rejected);
      return;
    }
    this.restore(r.prev);
    w.reject(rejected);
    for (const l of later) {
      const m = l.meta as Replay;
      const out = m.record ? this.commit(m.event, this.snapshot, [], { record: m.record }) : this.apply(m.event, m.timerId, m.completes);
      if ('error' in out) l.reject(new ActorCrashedError(`actor ${this.key} crashed replaying ${m.event.type}: ${message(out.error)}`));
      else out.written.then(l.resolve, l.reject);
    }
  }

  /** `completes`: the id of the effect whose run sends this event (marked done with it, when it is written). */
  protected apply(event: ActorEvent, timerId?: string, completes?: string): Outcome {
    let next: AnyMachineSnapshot;
    let actions: ActionLike[];
    try {
      [next, actions] = transition(this.def.machine, this.snapshot, event as never);
      if (next.status === 'error') throw (next as { error?: unknown }).error ?? new Error('machine error');
    } catch (err) {
      return { error: err };
    }
    this.host.counted('events');
    return this.commit(event, next, actions, { timerId, completes });
  }

  /** Plans the actions and hands the write to the committer. */
  protected commit(
    event: ActorEvent,
    next: AnyMachineSnapshot,
    actions: readonly ActionLike[],
    o: { timerId?: string | undefined; completes?: string | undefined; record?: Record_ | undefined; force?: boolean },
  ): Outcome {
    const seq = this.seq + 1;
    const batch = emptyBatch();
    try {
      planActions(this.def, this.id, seq, actions, this.host.now(), batch, this.host.log);
    } catch (err) {
      return { error: err };
    }
    const domain = this.def.writes?.[event.type];
    const status: Status = o.record?.status ?? (next.status === 'done' ? 'done' : 'active');
    const state = stateString(next.value);
    const asksNothing = !domain && !o.timerId && !o.record && !o.force && batch.outbox.length === 0 && batch.timersArmed.length === 0 && batch.timersCancelled.length === 0;
    if (asksNothing && state === this.stateName && status === this.status && sameFields(this.snapshot.context, next.context)) {
      const view = this.view();
      return { written: this.lastWrite.then(() => view) };
    }
    const prev: Saved = { snapshot: this.snapshot, seq: this.seq, state: this.stateName, status: this.status };
    this.restore({ snapshot: next, seq, state, status });
    eventRows(batch, { def: this.def, id: this.id, seq, event, state, next, status, failure: this.failure, timerId: o.timerId });
    if (o.completes) batch.effectsDone.push(o.completes);
    const ctx = { actorType: this.def.type, actorId: this.id, seq, event, context: next.context, state };
    const writes = [...(domain ? [{ fn: domain, ctx }] : []), ...(o.record?.extra ? [{ fn: o.record.extra, ctx }] : [])];
    const { promise: written, resolve, reject } = deferred<ActorView>();
    this.lastWrite = written.catch(() => {});
    const meta: Replay = { event, timerId: o.timerId, completes: o.completes, prev, record: o.record };
    this.host.write({ actor: this, key: this.key, batch, domain: writes, view: this.view(), resolve, reject, meta });
    return { written };
  }

  protected restore(s: Saved): void {
    this.snapshot = s.snapshot;
    this.seq = s.seq;
    this.stateName = s.state;
    this.status = s.status;
  }
}
