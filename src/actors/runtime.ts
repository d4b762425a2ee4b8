/**
 * The actor runtime: XState machines run as supervised, persistent, passivating actors. This module
 * is the registry and supervisor (mailboxes, loading, crashes, resets, hooks); the other parts are
 * named for their role: `committer.ts` (group commit with per-event isolation), `effects.ts`
 * (effects in order, exactly once per id, dead letters), `timers.ts` (`after` as pg-boss jobs),
 * `passivation.ts`, `pruning.ts`, `registry.ts` (what `register()` refuses), `plan.ts`.
 *
 * An event, one at a time per actor (its mailbox keeps order): load the snapshot (first use) →
 * pure `transition()` → plan its actions → the committer writes snapshot, journal, effects, timers
 * and the definition's domain writes in one transaction → the sender is answered → effects run.
 * An event that changes neither state nor context, and asks for nothing, is not journalled.
 *
 * @example
 * const system = new ActorSystem({ sql, boss, log });
 * system.register({ type: 'consultant', version: 1, machine: consultantMachine, input: (id) => ({ consultantId: id }) });
 * await system.start();
 * const state = await system.send('consultant', id, { type: 'presence.connected' });
 */
import { activeActorIds, armedTimerEvent, armedTimersOf, loadSnapshot, markActorFailed, timersDueBefore, type SnapshotRow } from '../db/actors.ts';
import { deadEffectsOf, discardDeadEffect, reviveEffect } from '../db/actor-effects.ts';
import type { Logger } from '../log.ts';
import { Committer } from './committer.ts';
import { EffectRunner } from './effects.ts';
import { Actor, type ActorHost } from './actor.ts';
import type { ActorState } from './actor-state.ts';
import { mayPassivate, passivationInterval } from './passivation.ts';
import { startActorPruning, stopActorPruning } from './pruning.ts';
import { validateDefinition } from './registry.ts';
import { DurableTimers, TIMERS_LOCAL_HORIZON_MS, type TimerJob } from './timers.ts';
import { ActorFailedError, NotHomeError, effectSpec, SYSTEM_DEFAULTS, type ActorDefinition, type ActorEvent, type ActorSystemOptions, type ActorView } from './types.ts';

export { TIMER_QUEUE } from './timers.ts';
export * from './types.ts';

type Listener = (view: ActorView) => void;

export class ActorSystem {
  readonly #o: Required<Omit<ActorSystemOptions, 'pruning' | 'clock' | 'homes'>> & Pick<ActorSystemOptions, 'pruning' | 'homes'>;
  readonly #log: Logger;
  readonly #defs = new Map<string, ActorDefinition>();
  readonly #live = new Map<string, Actor>();
  readonly #listeners = new Set<Listener>();
  readonly #host: ActorHost;
  readonly #timers: DurableTimers;
  readonly #effects: EffectRunner;
  readonly #committer: Committer<ActorState>;
  #intervals: ReturnType<typeof setInterval>[] = [];
  #stopped = false;
  #started = false;
  readonly now: () => number;
  stats = { events: 0, batches: 0, rehydrations: 0, passivations: 0, loadErrors: 0, rejected: 0 };

  constructor(opts: ActorSystemOptions) {
    this.#o = {
      ...SYSTEM_DEFAULTS,
      ...opts,
    };
    this.#log = opts.log.child({ component: 'actors' });
    this.now = opts.clock ?? Date.now;
    this.#timers = new DurableTimers({ boss: opts.boss, deliver: (job) => this.#deliverTimer(job) });
    this.#effects = new EffectRunner({
      sql: opts.sql,
      log: this.#log,
      timeoutMs: this.#o.effectTimeoutMs,
      attempts: this.#o.effectAttempts,
      retryBaseMs: this.#o.effectRetryBaseMs,
      types: () => [...this.#defs.keys()],
      mine: (type, id) => this.isHome(type, id),
      claim: opts.homes
        ? (row) => {
            const lease = opts.homes!.leaseOf(row.actor_type, row.actor_id);
            return lease ? opts.homes!.claim(lease, row.id) : Promise.resolve(true);
          }
        : undefined,
      handler: (type, name) => {
        const h = this.#defs.get(type)?.effects?.[name];
        return h ? effectSpec(h) : undefined;
      },
    });
    this.#committer = new Committer<ActorState>({
      sql: opts.sql,
      log: this.#log,
      maxBatch: this.#o.maxBatch,
      maxInFlight: this.#o.commitsInFlight,
      scheduleTimers: (tx, ts) => this.#timers.scheduleAll(tx, ts),
      isStale: (w) => w.actor.broken,
      onCommitted: (w) => {
        this.stats.batches = this.#committer.batches;
        // Before the sender hears of it: the effect that sent this event must not be marked again.
        if (w.batch.effectsDone.length > 0) this.#effects.doneByCommit(w.batch.effectsDone);
        w.resolve(w.view);
        this.#emit(w.view);
        if (w.batch.outbox.length > 0) this.#effects.push(w.batch.outbox);
        for (const t of w.batch.timersArmed) this.#timers.accelerate(t);
      },
      onEventFailed: (w, err, later) => {
        this.stats.rejected++;
        w.actor.rejectEvent(w, err, [...later, ...this.#committer.take(w.key)]);
      },
      onBatchFailed: (writes, err) => {
        for (const w of writes) {
          w.actor.breakDown('the batch could not be written');
          w.reject(err);
        }
      },
    });
    this.#host = {
      sql: opts.sql,
      log: this.#log,
      now: this.now,
      loadAttempts: this.#o.loadAttempts,
      budget: (def) => def.restartBudget ?? { max: this.#o.restartBudget, windowMs: this.#o.restartWindowMs },
      write: (w) => this.#committer.push(w),
      counted: (what) => void this.stats[what]++,
      unlist: (a) => this.#unlist(a as Actor),
      load: (type, id) => loadSnapshot(opts.sql, type, id) as Promise<SnapshotRow | undefined>,
      markFailed: (type, id, reason) => markActorFailed(opts.sql, type, id, reason),
    };
  }

  /** Adds an actor type; throws UnsupportedMachineError for a machine it cannot run durably. */
  register(def: ActorDefinition): void {
    if (this.#defs.has(def.type)) throw new Error(`actor type ${def.type} registered twice`);
    validateDefinition(def);
    this.#defs.set(def.type, def);
  }

  definitions(): ActorDefinition[] {
    return [...this.#defs.values()];
  }

  get liveCount(): number {
    return this.#live.size;
  }

  get isRunning(): boolean {
    return this.#started && !this.#stopped;
  }

  get effectStats() {
    return this.#effects.stats;
  }

  /** The group commit's batches: how many, writes, time in transactions. */
  get commitStats() {
    return { batches: this.#committer.batches, ...this.#committer.stats };
  }

  /** Starts timers, passivation, the effect sweep (effects a crash left) and resource actors. */
  async start(): Promise<void> {
    await this.#timers.start();
    if (this.#o.pruning) await startActorPruning({ boss: this.#o.boss, sql: this.#o.sql, log: this.#log, ...this.#o.pruning });
    const passivate = setInterval(() => this.passivateIdle(), passivationInterval(this.#defs.values(), this.#o.idleMs));
    const sweep = setInterval(() => void this.#effects.sweep(), this.#o.outboxSweepMs);
    for (const t of [passivate, sweep]) t.unref?.();
    this.#intervals.push(passivate, sweep);
    this.#started = true;
    await this.#effects.sweep();
    // Actors that own a resource come back with the process: their resource must be reopened.
    for (const def of this.#defs.values()) {
      if (!def.start) continue;
      for (const id of await activeActorIds(this.#o.sql, def.type)) {
        if (!this.isHome(def.type, id)) continue;
        await this.#acquire(def.type, id).ready.catch((err) => this.#log.error({ err, type: def.type, id }, 'resource actor did not start'));
      }
    }
  }

  /** Stops taking events, lets mailboxes, writes and running effects drain, and runs stop hooks. */
  async stop(timeoutMs = 4000): Promise<void> {
    this.#stopped = true;
    for (const t of this.#intervals) clearInterval(t);
    await this.#timers.stop();
    if (this.#o.pruning) await stopActorPruning(this.#o.boss);
    const drain = (async () => {
      await Promise.allSettled([...this.#live.values()].map((a) => a.settled()));
      await this.#committer.idle();
      await this.#effects.stop();
      await Promise.allSettled([...this.#live.values()].map((a) => a.retire('shutdown')));
    })();
    await Promise.race([drain, new Promise((r) => setTimeout(r, timeoutMs).unref?.())]);
  }

  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Delivers an event; resolves with the actor's view once the resulting state is committed.
   * Rejects with ActorCrashedError when the machine threw (the actor restarts from its last
   * snapshot), ActorFailedError once it has used up its restart budget, EventRejectedError when
   * this event's write failed, ActorUnavailableError when the actor could not be loaded.
   *
   * `completes`: the id of the effect whose run ends with this event (an effect handler sending its
   * result back): when the event is written, the effect is marked done in the same transaction, so
   * the actor's next effect does not wait for a commit of its own. Without a write (the event
   * changed nothing, or its actor lives in another instance) the runner marks it as usual.
   *
   * An actor living in another instance: OwnerUnavailableError when its home does not answer within
   * the forwarding's bound (under the request deadline); the event is then not delivered, unless
   * `durable` (a sync of what the database says, right whenever it arrives): it stays queued.
   */
  send(type: string, id: string, event: ActorEvent, opts: { timerId?: string; completes?: string; durable?: boolean } = {}): Promise<ActorView> {
    if (this.#stopped) return Promise.reject(new Error('actor system is stopped'));
    const lease = this.#o.homes?.leaseOf(type, id);
    if (lease && !this.#o.homes!.holds(lease)) {
      if (!this.#defs.has(type)) return Promise.reject(new Error(`unknown actor type ${type}`));
      return this.#o.homes!.forward(lease, type, id, event, { timerId: opts.timerId, wait: true, durable: opts.durable }) as Promise<ActorView>;
    }
    return this.sendHere(type, id, event, opts);
  }

  /**
   * Delivers an event to an actor that lives here (a forwarded event arrives this way); rejects
   * with NotHomeError, touching nothing, when it lives elsewhere.
   */
  sendHere(type: string, id: string, event: ActorEvent, opts: { timerId?: string | undefined; completes?: string | undefined } = {}): Promise<ActorView> {
    if (this.#stopped) return Promise.reject(new Error('actor system is stopped'));
    try {
      return this.#acquire(type, id).send(event, opts.timerId, opts.completes);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Whether the actor lives in this instance (always, with a single instance). */
  isHome(type: string, id: string): boolean {
    const lease = this.#o.homes?.leaseOf(type, id);
    return !lease || this.#o.homes!.holds(lease);
  }

  /**
   * A lease was lost: every actor living under it leaves memory at once (its stop hook closes what
   * it owned). Writes already on their way may still land; the journal's unique seq keeps a second
   * owner from ever writing the same step twice, and effects are fenced by the lease's epoch.
   */
  evict(lease: string): number {
    let n = 0;
    for (const [key, a] of this.#live) {
      if (this.#o.homes?.leaseOf(a.def.type, a.id) !== lease) continue;
      this.#live.delete(key);
      this.#effects.forget(a.def.type, a.id);
      void a.retire('lease lost').catch((err) => this.#log.warn({ err, actor: key }, 'stop hook failed'));
      n++;
    }
    return n;
  }

  /** A lease was won: run at once the effects its actors' previous owner left (not at the next sweep). */
  async adopt(lease: string): Promise<void> {
    if (!this.#started || this.#stopped) return;
    await this.#effects.sweep();
    // Timers of its actors due soon fire from memory here: their jobs may be held by the previous
    // owner (fetched by a process that was then killed or paused) until they expire, minutes away.
    if (this.#o.homes) {
      for (const t of await timersDueBefore(this.#o.sql, [...this.#defs.keys()], new Date(Date.now() + TIMERS_LOCAL_HORIZON_MS))) {
        if (this.#o.homes.leaseOf(t.actor_type, t.actor_id) === lease && this.isHome(t.actor_type, t.actor_id)) this.#timers.accelerate(t);
      }
    }
    for (const def of this.#defs.values()) {
      if (!def.start) continue;
      for (const id of await activeActorIds(this.#o.sql, def.type)) {
        if (this.#o.homes?.leaseOf(def.type, id) !== lease || !this.isHome(def.type, id)) continue;
        await this.#acquire(def.type, id).ready.catch((err) => this.#log.error({ err, type: def.type, id }, 'resource actor did not start'));
      }
    }
  }

  /** The actor's current view: from memory when live and settled, from its snapshot row otherwise. */
  async inspect(type: string, id: string): Promise<ActorView | undefined> {
    const live = this.#live.get(`${type}/${id}`);
    if (live?.settledView) return live.settledView;
    const row = await loadSnapshot(this.#o.sql, type, id);
    if (!row) return undefined;
    const snap = row.snapshot as { value: unknown; context: unknown };
    return { type, id, state: row.state, value: snap.value, context: snap.context, status: row.status, seq: row.seq, live: !!live, failure: row.failure ?? undefined };
  }

  /** Synchronous peek at a live actor's snapshot (e.g. presence); undefined when not in memory. */
  peek(type: string, id: string): ReturnType<Actor['peek']> {
    return this.#live.get(`${type}/${id}`)?.peek();
  }

  /** An admin reset: stop hooks, status active from the last good snapshot, journalled, start hooks. */
  async reset(type: string, id: string, by: string): Promise<ActorView | undefined> {
    if (!this.#defs.has(type) || !(await loadSnapshot(this.#o.sql, type, id))) return undefined;
    const lease = this.#remoteLease(type, id);
    if (lease) return ((await this.#o.homes!.call(lease, 'actor.reset', { type, id, by })) ?? undefined) as ActorView | undefined;
    // A timer that fell due while the actor was failed found it refusing events: arm its job again.
    return this.#acquire(type, id).reset(by, async (tx) => {
      for (const t of await armedTimersOf(tx, type, id)) await this.#timers.schedule(tx, t);
    });
  }

  /** An admin retry of a dead-lettered effect, journalled; 'not_found' when no such dead effect. */
  async retryEffect(type: string, id: string, effectId: string, by: string): Promise<ActorView | 'not_found'> {
    if (!this.#defs.has(type)) return 'not_found';
    const dead = await deadEffectsOf(this.#o.sql, type, id);
    if (!dead.some((d) => d.id === effectId)) return 'not_found';
    const lease = this.#remoteLease(type, id);
    if (lease) return (await this.#o.homes!.call(lease, 'actor.retryEffect', { type, id, effectId, by })) as ActorView | 'not_found';
    const view = await this.#acquire(type, id).record({ type: 'actor.effect.retried', effectId, by }, async (tx) => {
      if (!(await reviveEffect(tx, type, id, effectId))) throw new Error('the effect is no longer dead');
    });
    this.#effects.wake(type, id);
    return view;
  }

  /**
   * An admin discard of a dead-lettered effect: it is finished without running (kept, with who
   * discarded it and when), journalled as `actor.effect.discarded`; the actor's later effects run,
   * and the actor is told with the event `effect.discarded` `{effectId, effect, params, by}`, so its
   * machine can leave a state that waited on the effect's result (a machine that does not handle
   * it ignores it). 'not_found' when no such dead effect.
   */
  async discardEffect(type: string, id: string, effectId: string, by: string): Promise<ActorView | 'not_found'> {
    if (!this.#defs.has(type)) return 'not_found';
    const dead = await deadEffectsOf(this.#o.sql, type, id);
    if (!dead.some((d) => d.id === effectId)) return 'not_found';
    const lease = this.#remoteLease(type, id);
    if (lease) return (await this.#o.homes!.call(lease, 'actor.discardEffect', { type, id, effectId, by })) as ActorView | 'not_found';
    let effect: { type: string; params?: unknown } | undefined;
    const view = await this.#acquire(type, id).record({ type: 'actor.effect.discarded', effectId, by }, async (tx) => {
      effect = await discardDeadEffect(tx, type, id, effectId, by);
      if (!effect) throw new Error('the effect is no longer dead');
    });
    this.#effects.wake(type, id);
    try {
      return await this.sendHere(type, id, { type: 'effect.discarded', effectId, effect: effect!.type, params: effect!.params ?? null, by });
    } catch (err) {
      // The discard stands (committed); a failed actor cannot take the notice, and says so itself.
      this.#log.warn({ err, actor: `${type}/${id}`, effectId }, 'the actor could not be told of the discarded effect');
      return view;
    }
  }

  /**
   * Forgets an actor (an LGPD erasure): lets its mailbox and writes drain, drops it from memory,
   * then runs `erase`, which deletes its rows (an actor living in another instance is dropped
   * there, through its home's inbox). Its next event starts it afresh from the machine's
   * initial state. An effect already running for it may still deliver its event afterwards (to
   * the fresh actor, where a stale turn changes nothing).
   */
  async forget<T>(type: string, id: string, erase: () => Promise<T>): Promise<T> {
    const lease = this.#remoteLease(type, id);
    if (lease) {
      // Its home drops it before the rows go, and again after: a copy it loaded meanwhile (from
      // the rows about to go) does not outlive them.
      await this.#o.homes!.call(lease, 'actor.drop', { type, id });
      const out = await erase();
      await this.#o.homes!.call(lease, 'actor.drop', { type, id });
      return out;
    }
    const key = `${type}/${id}`;
    const a = this.#live.get(key);
    if (a) await a.settled().catch(() => undefined);
    await this.#committer.idle();
    if (this.#live.get(key) === a) this.#live.delete(key);
    this.#effects.forget(type, id);
    return erase();
  }

  /** Drops idle actors whose every write is on disk. Returns how many were dropped. */
  passivateIdle(now = this.now()): number {
    let n = 0;
    for (const [key, a] of this.#live) {
      if (!a.snapshotLoaded || !mayPassivate(a.passivatable(), now, this.#o.idleMs)) continue;
      this.#live.delete(key);
      this.#effects.forget(a.def.type, a.id);
      n++;
    }
    this.stats.passivations += n;
    return n;
  }

  /** The lease of an actor that lives in another instance now; undefined when it lives here. */
  #remoteLease(type: string, id: string): string | undefined {
    const lease = this.#o.homes?.leaseOf(type, id);
    return lease && !this.#o.homes!.holds(lease) ? lease : undefined;
  }

  #acquire(type: string, id: string): Actor {
    const key = `${type}/${id}`;
    // Never a second copy: an actor that lives elsewhere is reached through the database only.
    if (!this.isHome(type, id)) throw new NotHomeError(`actor ${key} lives in another instance`);
    const existing = this.#live.get(key);
    if (existing && !existing.broken) return existing;
    const def = this.#defs.get(type);
    if (!def) throw new Error(`unknown actor type ${type}`);
    const actor = new Actor(this.#host, def, id, existing);
    this.#live.set(key, actor);
    return actor;
  }

  #unlist(a: Actor): void {
    if (this.#live.get(a.key) === a) this.#live.delete(a.key);
  }

  async #deliverTimer(job: TimerJob): Promise<void> {
    const event = await armedTimerEvent(this.#o.sql, job.timerId);
    if (!event) return;
    // Thrown, not dropped: another instance (or a later start) may know the type.
    if (!this.#defs.has(job.type)) throw new Error(`unknown actor type ${job.type}`);
    // Thrown, not dropped: pg-boss retries the job, and the timer row is still there to deliver.
    if (this.#stopped) throw new Error('actor system is stopping');
    const lease = this.#o.homes?.leaseOf(job.type, job.id);
    if (lease && !this.#o.homes!.holds(lease)) {
      // Handed to the actor's home as a durable job of its own; this timer job is done.
      await this.#o.homes!.forward(lease, job.type, job.id, event as ActorEvent, { timerId: job.timerId, wait: false });
      return;
    }
    await this.sendHere(job.type, job.id, event as ActorEvent, { timerId: job.timerId }).catch((err) => {
      // A failed actor refuses the event; its timer row stays, and a reset arms it again.
      if (!(err instanceof ActorFailedError)) throw err;
    });
  }

  #emit(view: ActorView): void {
    for (const l of this.#listeners) {
      try {
        l(view);
      } catch (err) {
        this.#log.warn({ err }, 'actor listener threw');
      }
    }
  }
}
