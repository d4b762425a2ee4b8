/**
 * One live actor and its supervision: the mailbox that keeps its events in order, loading (with
 * retries: a database error is not a crash), the pure step, restart after a crash within the
 * restart budget, the admin reset, the start/stop hooks of an actor that owns a resource, and the
 * rewind when the committer could not store one of its events.
 *
 * What a restart re-runs and what it skips: a restored snapshot is resolved, not re-entered, so
 * entry actions do not run again; timers and effects live in the database and carry on by
 * themselves; the `start` hook runs again, since the resource did not survive.
 *
 * @example
 * const actor = new Actor(host, def, 'c1');
 * const view = await actor.send({ type: 'presence.connected', socketId: 'a' });
 */
import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { armedTimerEvent, type SnapshotRow } from '../db/actors.ts';
import type { Sql } from '../db/client.ts';
import type { Logger } from '../log.ts';
import type { Write } from './committer.ts';
import { emptyBatch, planActions, type ActionLike } from './plan.ts';
import { restoreSnapshot } from './restore.ts';
import {
  ActorCrashedError,
  ActorFailedError,
  ActorUnavailableError,
  EventRejectedError,
  stateString,
  type ActorDefinition,
  type ActorEvent,
  type ActorView,
  type DomainWrite,
} from './types.ts';

export interface ActorHost {
  sql: Sql;
  log: Logger;
  now(): number;
  loadAttempts: number;
  budget(def: ActorDefinition): { max: number; windowMs: number };
  write(w: Write<LiveActor>): void;
  counted(what: 'events' | 'rehydrations' | 'loadErrors'): void;
  unlist(a: LiveActor): void;
  load(type: string, id: string): Promise<SnapshotRow | undefined>;
  markFailed(type: string, id: string, reason: string): Promise<void>;
}

export type LiveActor = Actor;
type Status = ActorView['status'];
type Saved = { snapshot: AnyMachineSnapshot; seq: number; state: string; status: Status };
/** What a write needs to be replayed when an earlier write of its actor could not be stored. */
interface Replay {
  event: ActorEvent;
  timerId?: string | undefined;
  prev: Saved;
  record?: { status: Status; extra?: DomainWrite | undefined };
}
type Outcome = { written: Promise<ActorView> } | { error: unknown };
type Step = { done: Promise<ActorView> };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const message = (err: unknown) => (err as Error)?.message ?? String(err);

export class Actor {
  readonly key: string;
  snapshot!: AnyMachineSnapshot;
  seq = -1;
  status: Status = 'active';
  failure: string | undefined;
  pending = 0;
  lastActive: number;
  broken = false;
  /** stateString of the snapshot's value. */
  #state = '';
  #mailbox: Promise<unknown>;
  #failures: number[] = [];
  #lastWrite: Promise<unknown>;
  #loadError: Error | undefined;
  #started = false;
  /** Settles once the snapshot is loaded and the start hook has run. */
  readonly ready: Promise<void>;

  constructor(
    private readonly host: ActorHost,
    readonly def: ActorDefinition,
    readonly id: string,
    predecessor?: Actor,
  ) {
    this.key = `${def.type}/${id}`;
    this.lastActive = host.now();
    // After any write of a broken predecessor has settled: memory must not be behind the disk.
    this.#lastWrite = predecessor ? predecessor.#lastWrite : Promise.resolve();
    this.ready = this.#lastWrite.then(async () => {
      await this.#load();
      await this.#goLive();
    });
    this.#mailbox = this.ready.catch(() => {});
  }

  get snapshotLoaded(): boolean {
    return !!this.snapshot && !this.broken;
  }

  get settledView(): ActorView | undefined {
    return this.pending === 0 && this.snapshotLoaded ? this.view() : undefined;
  }

  peek(): AnyMachineSnapshot | undefined {
    return this.snapshot;
  }

  passivatable() {
    return this;
  }

  settled(): Promise<unknown> {
    return this.#mailbox.then(() => this.#lastWrite);
  }

  send(event: ActorEvent, timerId?: string): Promise<ActorView> {
    return this.#enqueue(() => this.#step(event, timerId));
  }

  /** A journalled event that does not go through the machine (reset, effect retry), with an optional domain write. */
  record(event: ActorEvent, extra?: DomainWrite): Promise<ActorView> {
    return this.#enqueue(async () => {
      this.#usable();
      return this.#outcome(this.#commit(event, this.snapshot, [], { record: { status: this.status, extra } }));
    });
  }

  reset(by: string): Promise<ActorView> {
    return this.#enqueue(async () => {
      this.#usable();
      await this.#lastWrite;
      await this.retire('reset');
      this.status = 'active';
      this.failure = undefined;
      this.#failures = [];
      const view = await (await this.#outcome(this.#commit({ type: 'actor.reset', by }, this.snapshot, [], { record: { status: 'active' } }))).done;
      await this.#goLive();
      return { done: Promise.resolve(view) };
    });
  }

  view(): ActorView {
    const s = this.snapshot;
    return { type: this.def.type, id: this.id, state: this.#state, value: s.value, context: s.context, status: this.status, seq: this.seq, live: true, failure: this.failure };
  }

  /** The committer could not store `w`: rewind to before it, and replay the later writes on that state. */
  rejectEvent(w: Write<LiveActor>, err: unknown, later: Write<LiveActor>[]): void {
    const r = w.meta as Replay;
    const rejected = new EventRejectedError(`event ${r.event.type} of actor ${this.key} was not stored: ${message(err)}`);
    this.host.log.warn({ actor: this.key, event: r.event.type, err: message(err) }, 'event rejected by the database');
    if (this.broken || !r.prev.snapshot) {
      this.breakDown('its first event could not be stored');
      for (const x of [w, ...later]) x.reject(rejected);
      return;
    }
    this.#restore(r.prev);
    w.reject(rejected);
    for (const l of later) {
      const m = l.meta as Replay;
      const out = m.record ? this.#commit(m.event, this.snapshot, [], { record: m.record }) : this.#apply(m.event, m.timerId);
      if ('error' in out) l.reject(new ActorCrashedError(`actor ${this.key} crashed replaying ${m.event.type}: ${message(out.error)}`));
      else out.written.then(l.resolve, l.reject);
    }
  }

  /** Memory can no longer be trusted (a whole batch failed): the next event reloads. */
  breakDown(reason: string): void {
    if (this.broken) return;
    this.broken = true;
    this.host.unlist(this);
    this.host.log.warn({ actor: this.key, reason }, 'actor reloads on its next event');
    void this.retire('reload');
  }

  async retire(reason: string): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    try {
      await this.def.stop?.({ actorType: this.def.type, actorId: this.id, snapshot: this.snapshot, reason });
    } catch (err) {
      this.host.log.error({ err, actor: this.key, reason }, 'stop hook threw');
    }
  }

  #enqueue(run: () => Promise<Step>): Promise<ActorView> {
    this.pending++;
    // The mailbox waits for the transition only, not for the commit: the next event's transition
    // may run while this one is on its way to disk (group commit); answers still come in order.
    const step = this.#mailbox.then(run);
    this.#mailbox = step.then(
      () => {},
      () => {},
    );
    return step
      .then((s) => s.done)
      .finally(() => {
        this.pending--;
        this.lastActive = this.host.now();
      });
  }

  #usable(): void {
    if (this.#loadError) throw this.#loadError;
    if (this.broken) throw new ActorUnavailableError(`actor ${this.key} is reloading; send again`);
  }

  async #step(event: ActorEvent, timerId: string | undefined): Promise<Step> {
    this.#usable();
    if (this.status === 'failed') throw new ActorFailedError(`actor ${this.key} has failed: ${this.failure ?? ''}`);
    if (timerId) {
      // A cancel may still be on its way to disk: let this actor's writes land before checking.
      await this.#lastWrite;
      if (!(await armedTimerEvent(this.host.sql, timerId))) return { done: Promise.resolve(this.view()) };
    }
    const out = this.#apply(event, timerId);
    return 'error' in out ? this.#crashed(event, out.error) : { done: out.written };
  }

  async #outcome(out: Outcome): Promise<Step> {
    if ('error' in out) throw out.error;
    return { done: out.written };
  }

  #apply(event: ActorEvent, timerId?: string): Outcome {
    let next: AnyMachineSnapshot;
    let actions: ActionLike[];
    try {
      [next, actions] = transition(this.def.machine, this.snapshot, event as never);
      if (next.status === 'error') throw (next as { error?: unknown }).error ?? new Error('machine error');
    } catch (err) {
      return { error: err };
    }
    this.host.counted('events');
    return this.#commit(event, next, actions, { timerId });
  }

  /** Plans the actions and hands the write to the committer; a change-nothing event is answered, not written. */
  #commit(event: ActorEvent, next: AnyMachineSnapshot, actions: readonly ActionLike[], o: { timerId?: string | undefined; record?: Replay['record']; force?: boolean }): Outcome {
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
    if (asksNothing && state === this.#state && status === this.status && sameFields(this.snapshot.context, next.context)) {
      const view = this.view();
      return { written: this.#lastWrite.then(() => view) };
    }
    const prev: Saved = { snapshot: this.snapshot, seq: this.seq, state: this.#state, status: this.status };
    this.#restore({ snapshot: next, seq, state, status });
    if (o.timerId) batch.timersFired.push(o.timerId);
    batch.journal.push({ actor_type: this.def.type, actor_id: this.id, seq, event, state });
    batch.snapshots.push({
      actor_type: this.def.type,
      actor_id: this.id,
      machine_version: this.def.version,
      seq,
      state,
      snapshot: this.def.machine.getPersistedSnapshot(next),
      status,
      failure: status === 'failed' ? (this.failure ?? null) : null,
    });
    const ctx = { actorType: this.def.type, actorId: this.id, seq, event, context: next.context, state };
    const writes = [...(domain ? [{ fn: domain, ctx }] : []), ...(o.record?.extra ? [{ fn: o.record.extra, ctx }] : [])];
    let resolve!: (v: ActorView) => void;
    let reject!: (e: unknown) => void;
    const written = new Promise<ActorView>((res, rej) => ((resolve = res), (reject = rej)));
    this.#lastWrite = written.catch(() => {});
    const meta: Replay = { event, timerId: o.timerId, prev, record: o.record };
    this.host.write({ actor: this, key: this.key, batch, domain: writes, view: this.view(), resolve, reject, meta });
    return { written };
  }

  #restore(s: Saved): void {
    this.snapshot = s.snapshot;
    this.seq = s.seq;
    this.#state = s.state;
    this.status = s.status;
  }

  /** The machine threw: restart from the last persisted snapshot, or fail past the budget. */
  async #crashed(event: ActorEvent, err: unknown): Promise<never> {
    const now = this.host.now();
    const budget = this.host.budget(this.def);
    this.#failures = [...this.#failures.filter((t) => now - t < budget.windowMs), now];
    this.host.log.error({ actor: this.key, event: event.type, err: message(err), restarts: this.#failures.length }, 'actor crashed');
    await this.#lastWrite;
    await this.retire('crash');
    if (this.#failures.length > budget.max) {
      this.status = 'failed';
      this.failure = message(err);
      await this.host.markFailed(this.def.type, this.id, this.failure).catch((e) => this.host.log.error({ err: e, actor: this.key }, 'could not mark the actor failed'));
      throw new ActorFailedError(`actor ${this.key} failed after ${this.#failures.length} crashes in ${budget.windowMs} ms: ${this.failure}`);
    }
    await this.#load();
    await this.#goLive();
    throw new ActorCrashedError(`actor ${this.key} crashed on ${event.type} and was restarted: ${message(err)}`);
  }

  /** Loads the snapshot; a database error is retried, then reported to the sender, never a crash. */
  async #load(): Promise<void> {
    let row: SnapshotRow | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        row = await this.host.load(this.def.type, this.id);
        break;
      } catch (err) {
        this.host.counted('loadErrors');
        this.host.log.warn({ actor: this.key, attempt, err: message(err) }, 'could not load actor');
        if (attempt >= this.host.loadAttempts) {
          this.#loadError = new ActorUnavailableError(`actor ${this.key} could not be loaded: ${message(err)}`);
          this.broken = true;
          this.host.unlist(this);
          throw this.#loadError;
        }
        await sleep(50 * 2 ** attempt);
      }
    }
    this.host.counted('rehydrations');
    if (!row) return this.#fresh(0, { type: 'xstate.init' });
    this.seq = row.seq;
    this.status = row.status;
    this.failure = row.failure ?? undefined;
    const r = restoreSnapshot(this.def, row);
    if ('fresh' in r) {
      this.host.log.warn({ actor: this.key, reason: r.fresh }, 'actor starts fresh');
      this.status = 'active';
      return this.#fresh(row.seq + 1, { type: 'xstate.reset', reason: r.fresh });
    }
    this.#restore({ snapshot: r.snapshot, seq: row.seq, state: stateString(r.snapshot.value), status: this.status });
    // Record the migrated snapshot under the new version right away.
    if (r.migratedFrom !== undefined) this.#commit({ type: 'xstate.migrated', from: r.migratedFrom }, r.snapshot, [], { force: true });
  }

  #fresh(seq: number, event: ActorEvent): void {
    const [snapshot, actions] = initialTransition(this.def.machine, this.def.input?.(this.id) as never);
    this.seq = seq - 1;
    const out = this.#commit(event, snapshot, actions, { force: true });
    if ('error' in out) throw out.error;
  }

  async #goLive(): Promise<void> {
    if (this.#started || !this.def.start || this.status !== 'active') return;
    this.#started = true;
    try {
      await this.def.start({ actorType: this.def.type, actorId: this.id, snapshot: this.snapshot });
    } catch (err) {
      this.host.log.error({ err, actor: this.key }, 'start hook threw');
    }
  }
}

/**
 * Whether an event left the context as it was: the same object, or every top-level field the same
 * value (`workload.synced` with unchanged numbers). A field rebuilt with equal contents counts as a
 * change: journalling one event too many is harmless, skipping a real change is not.
 */
function sameFields(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!a || !b || typeof a !== 'object' || typeof b !== 'object') return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if ((a as Record<string, unknown>)[k] !== (b as Record<string, unknown>)[k]) return false;
  return true;
}
