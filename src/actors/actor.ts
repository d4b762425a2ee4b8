/**
 * One live actor and its supervision: the mailbox that keeps its events in order, loading (with
 * retries: a database error is not a crash), restart after a crash within the restart budget, the
 * admin reset, and the start/stop hooks of an actor that owns a resource. How an event changes the
 * state, and the rewind when one could not be stored, are in actor-state.ts.
 *
 * What a restart re-runs and what it skips: a restored snapshot is resolved, not re-entered, so
 * entry actions do not run again; timers and effects live in the database and carry on by
 * themselves; the `start` hook runs again, since the resource did not survive.
 *
 * @example
 * const actor = new Actor(host, def, 'c1');
 * const view = await actor.send({ type: 'presence.connected', socketId: 'a' });
 */
import { initialTransition, type AnyMachineSnapshot } from 'xstate';
import { armedTimerEvent, type SnapshotRow } from '../db/actors.ts';
import { ActorState, type ActorHost, type Outcome } from './actor-state.ts';
import { restoreSnapshot } from './restore.ts';
import { loadWithRetries, message, ResourceHooks, RestartBudget } from './supervision.ts';
import { ActorCrashedError, ActorFailedError, ActorUnavailableError, stateString, type ActorDefinition, type ActorEvent, type ActorView, type DomainWrite } from './types.ts';

export type { ActorHost } from './actor-state.ts';
type Step = { done: Promise<ActorView> };

export class Actor extends ActorState {
  pending = 0;
  lastActive: number;
  #mailbox: Promise<unknown>;
  readonly #budget: RestartBudget;
  readonly #hooks: ResourceHooks;
  #loadError: Error | undefined;
  /** Settles once the snapshot is loaded and the start hook has run. */
  readonly ready: Promise<void>;

  constructor(host: ActorHost, def: ActorDefinition, id: string, predecessor?: Actor) {
    super(host, def, id, predecessor);
    this.lastActive = host.now();
    this.#budget = new RestartBudget(host.budget(def));
    this.#hooks = new ResourceHooks(def, id, host.log);
    this.ready = this.lastWrite.then(async () => {
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
    return this.#mailbox.then(() => this.lastWrite);
  }

  send(event: ActorEvent, timerId?: string, completes?: string): Promise<ActorView> {
    return this.#enqueue(() => this.#step(event, timerId, completes));
  }

  /** A journalled event that does not go through the machine (reset, effect retry), with an optional domain write. */
  record(event: ActorEvent, extra?: DomainWrite): Promise<ActorView> {
    return this.#enqueue(async () => {
      this.#usable();
      return this.#outcome(this.commit(event, this.snapshot, [], { record: { status: this.status, extra } }));
    });
  }

  /** `extra` runs in the reset's transaction (the runtime re-arms the actor's timers there). */
  reset(by: string, extra?: DomainWrite): Promise<ActorView> {
    return this.#enqueue(async () => {
      this.#usable();
      await this.lastWrite;
      await this.retire('reset');
      this.status = 'active';
      this.failure = undefined;
      this.#budget.reset();
      const view = await (await this.#outcome(this.commit({ type: 'actor.reset', by }, this.snapshot, [], { record: { status: 'active', extra } }))).done;
      await this.#goLive();
      return { done: Promise.resolve(view) };
    });
  }

  /** Memory can no longer be trusted (a whole batch failed): the next event reloads. */
  override breakDown(reason: string): void {
    if (this.broken) return;
    this.broken = true;
    this.host.unlist(this);
    this.host.log.warn({ actor: this.key, reason }, 'actor reloads on its next event');
    void this.retire('reload');
  }

  retire(reason: string): Promise<void> {
    return this.#hooks.stop(this.snapshot, reason);
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

  async #step(event: ActorEvent, timerId: string | undefined, completes: string | undefined): Promise<Step> {
    this.#usable();
    if (this.status === 'failed') throw new ActorFailedError(`actor ${this.key} has failed: ${this.failure ?? ''}`);
    if (timerId) {
      // A cancel may still be on its way to disk: let this actor's writes land before checking.
      await this.lastWrite;
      if (!(await armedTimerEvent(this.host.sql, timerId))) return { done: Promise.resolve(this.view()) };
    }
    const out = this.apply(event, timerId, completes);
    return 'error' in out ? this.#crashed(event, out.error) : { done: out.written };
  }

  async #outcome(out: Outcome): Promise<Step> {
    if ('error' in out) throw out.error;
    return { done: out.written };
  }

  /** The machine threw: restart from the last persisted snapshot, or fail past the budget. */
  async #crashed(event: ActorEvent, err: unknown): Promise<never> {
    const spent = this.#budget.crashed(this.host.now());
    this.host.log.error({ actor: this.key, event: event.type, err: message(err), restarts: this.#budget.count }, 'actor crashed');
    await this.lastWrite;
    await this.retire('crash');
    if (spent) {
      this.status = 'failed';
      this.failure = message(err);
      await this.host.markFailed(this.def.type, this.id, this.failure).catch((e) => this.host.log.error({ err: e, actor: this.key }, 'could not mark the actor failed'));
      throw new ActorFailedError(`actor ${this.key} failed after ${this.#budget.count} crashes in ${this.#budget.windowMs} ms: ${this.failure}`);
    }
    await this.#load();
    await this.#goLive();
    throw new ActorCrashedError(`actor ${this.key} crashed on ${event.type} and was restarted: ${message(err)}`);
  }

  /** Loads the snapshot; a database error is retried, then reported to the sender, never a crash. */
  async #load(): Promise<void> {
    let row: SnapshotRow | undefined;
    try {
      row = await loadWithRetries(this.key, () => this.host.load(this.def.type, this.id), this.host.loadAttempts, (err, attempt) => {
        this.host.counted('loadErrors');
        this.host.log.warn({ actor: this.key, attempt, err: message(err) }, 'could not load actor');
      });
    } catch (err) {
      this.#loadError = err as Error;
      this.broken = true;
      this.host.unlist(this);
      throw err;
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
    this.restore({ snapshot: r.snapshot, seq: row.seq, state: stateString(r.snapshot.value), status: this.status });
    // Record the migrated snapshot under the new version right away.
    if (r.migratedFrom !== undefined) this.commit({ type: 'xstate.migrated', from: r.migratedFrom }, r.snapshot, [], { force: true });
  }

  #fresh(seq: number, event: ActorEvent): void {
    const [snapshot, actions] = initialTransition(this.def.machine, this.def.input?.(this.id) as never);
    this.seq = seq - 1;
    const out = this.commit(event, snapshot, actions, { force: true });
    if ('error' in out) throw out.error;
  }

  async #goLive(): Promise<void> {
    if (this.status === 'active') await this.#hooks.start(this.snapshot);
  }
}

