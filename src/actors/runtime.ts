/**
 * The actor runtime: XState machines run as supervised, persistent, passivating actors.
 *
 * The loop for every event, one at a time per actor (its mailbox keeps order):
 *   load snapshot (first use) → pure `transition()` → persist snapshot, journal, effects, timers in
 *   one group-committed transaction → answer the sender → run the effects.
 *
 * What a crash does: anything not committed was never acknowledged (the sender retries); anything
 * committed is on disk with the effects it named, which re-run from the outbox after a restart
 * (handlers are idempotent on the effect id). Entry actions are not re-run on restore: a restored
 * snapshot is resolved, not re-entered. XState's own `after` delays do not survive a restore, so
 * machines ask for durable timers (`timer.start` / `timer.cancel`), which are pg-boss jobs.
 *
 * @example
 * const system = new ActorSystem({ sql, boss, log });
 * system.register({ type: 'consultant', version: 1, machine: consultantMachine, input: (id) => ({ consultantId: id }) });
 * await system.start();
 * const state = await system.send('consultant', id, { type: 'presence.connected' });
 */
import { randomUUID } from 'node:crypto';
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import {
  loadSnapshot,
  markActorFailed,
  markOutboxDone,
  markOutboxFailed,
  pendingOutbox,
  timerEvent,
  timerIsArmed,
  writeActorBatch,
  type ActorBatch,
  type OutboxRow,
  type TimerRow,
} from '../db/actors.ts';
import type { Sql, TransactionSql } from '../db/client.ts';
import { txDb, type PgBoss } from '../db/jobs.ts';
import type { Logger } from '../log.ts';
import { TIMER_CANCEL, TIMER_START, type TimerCancelParams, type TimerStartParams } from './timers.ts';

export const TIMER_QUEUE = 'actor.timer';

export interface ActorEvent {
  type: string;
  [key: string]: unknown;
}

export interface EffectContext {
  effectId: string;
  actorType: string;
  actorId: string;
  seq: number;
  system: ActorSystem;
}

export type EffectHandler = (params: any, ctx: EffectContext) => unknown;

export interface ActorDefinition<M extends AnyStateMachine = AnyStateMachine> {
  type: string;
  machine: M;
  /** Bump when a persisted snapshot of the previous version no longer fits the machine. */
  version: number;
  input?(id: string): unknown;
  /** Turns an older version's persisted snapshot into this version's; undefined starts fresh. */
  migrate?(persisted: any, fromVersion: number): unknown;
  /** Real implementations of the effects the machine names, provided at composition time. */
  effects?: Record<string, EffectHandler>;
  /** Whether an idle actor may be dropped from memory (default: always). */
  canPassivate?(snapshot: AnyMachineSnapshot): boolean;
}

export interface ActorView {
  type: string;
  id: string;
  state: string;
  value: unknown;
  context: unknown;
  status: 'active' | 'done' | 'failed';
  seq: number;
  live: boolean;
  failure?: string | undefined;
}

export class ActorFailedError extends Error {
  override name = 'ActorFailedError';
}
export class ActorCrashedError extends Error {
  override name = 'ActorCrashedError';
}

interface LiveActor {
  def: ActorDefinition;
  id: string;
  key: string;
  snapshot: AnyMachineSnapshot;
  seq: number;
  status: 'active' | 'done' | 'failed';
  failure: string | undefined;
  mailbox: Promise<unknown>;
  pending: number;
  lastActive: number;
  failures: number[];
  /** Resolves once every write this actor handed to the committer so far has settled. */
  lastWrite: Promise<unknown>;
  /** Set when a write of this actor failed: memory is ahead of the database, so reload. */
  broken: boolean;
  effectsTail: Promise<unknown>;
}

interface Write {
  actor: LiveActor;
  batch: ActorBatch;
  resolve(): void;
  reject(err: unknown): void;
}

export interface ActorSystemOptions {
  sql: Sql;
  boss: PgBoss;
  log: Logger;
  /** Idle time after which an actor is written down and dropped from memory. */
  idleMs?: number;
  /** Restarts allowed within `restartWindowMs` before an actor is marked failed. */
  restartBudget?: number;
  restartWindowMs?: number;
  /** Upper bound of events written in one group-commit transaction. */
  maxBatch?: number;
  /** How often failed or orphaned effects are retried from the outbox. */
  outboxSweepMs?: number;
  clock?: () => number;
}

type Listener = (view: ActorView) => void;

/** Flattens a state value: `"online"`, `{presence: "online", status: "active"}` → `"presence.online,status.active"`. */
export function stateString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => {
        const inner = stateString(v);
        return inner.includes(',') ? inner.split(',').map((s) => `${k}.${s}`).join(',') : `${k}.${inner}`;
      })
      .join(',');
  }
  return String(value);
}

export class ActorSystem {
  readonly #sql: Sql;
  readonly #boss: PgBoss;
  readonly #log: Logger;
  readonly #defs = new Map<string, ActorDefinition>();
  readonly #live = new Map<string, LiveActor>();
  readonly #listeners = new Set<Listener>();
  readonly #idleMs: number;
  readonly #budget: number;
  readonly #window: number;
  readonly #maxBatch: number;
  readonly #sweepMs: number;
  readonly #now: () => number;
  #queue: Write[] = [];
  #flushing: Promise<void> | undefined;
  #timers: ReturnType<typeof setInterval>[] = [];
  #effectsInFlight = new Set<string>();
  #effectsRunning = new Set<Promise<unknown>>();
  #doneIds: string[] = [];
  #sweeping = false;
  #stopped = false;
  #started = false;
  stats = { events: 0, batches: 0, rehydrations: 0, passivations: 0 };

  constructor(opts: ActorSystemOptions) {
    this.#sql = opts.sql;
    this.#boss = opts.boss;
    this.#log = opts.log.child({ component: 'actors' });
    this.#idleMs = opts.idleMs ?? 5 * 60_000;
    this.#budget = opts.restartBudget ?? 3;
    this.#window = opts.restartWindowMs ?? 60_000;
    this.#maxBatch = opts.maxBatch ?? 1000;
    this.#sweepMs = opts.outboxSweepMs ?? 5000;
    this.#now = opts.clock ?? Date.now;
  }

  register(def: ActorDefinition): void {
    if (this.#defs.has(def.type)) throw new Error(`actor type ${def.type} registered twice`);
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

  /** Starts passivation, the outbox sweep (which re-runs effects left by a crash) and timers. */
  async start(): Promise<void> {
    await this.#boss.createQueue(TIMER_QUEUE, { name: TIMER_QUEUE, policy: 'standard', retryLimit: 5, retryDelay: 1 });
    await this.#boss.work<{ timerId: string; type: string; id: string }>(
      TIMER_QUEUE,
      { batchSize: 50, pollingIntervalSeconds: 0.5 },
      async (jobs) => {
        await Promise.all(jobs.map((j) => this.#fireTimer(j.data)));
      },
    );
    const passivate = setInterval(() => this.passivateIdle(), Math.max(250, Math.min(this.#idleMs / 2, 30_000)));
    const sweep = setInterval(() => void this.#sweepOutbox(), this.#sweepMs);
    const done = setInterval(() => void this.#flushDone(), 200);
    for (const t of [passivate, sweep, done]) t.unref?.();
    this.#timers.push(passivate, sweep, done);
    this.#started = true;
    await this.#sweepOutbox();
  }

  /** Stops taking events, lets every mailbox and write drain, and waits for running effects. */
  async stop(timeoutMs = 4000): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    // No more timer jobs fetched: one fetched now would fail and burn a retry.
    if (this.#started) await this.#boss.offWork(TIMER_QUEUE).catch(() => {});
    const drain = (async () => {
      await Promise.allSettled([...this.#live.values()].map((a) => a.mailbox.then(() => a.lastWrite)));
      await this.#flushing;
      await Promise.allSettled([...this.#effectsRunning]);
      await this.#flushDone();
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
   * snapshot) and ActorFailedError once it has used up its restart budget.
   */
  send(type: string, id: string, event: ActorEvent, opts: { timerId?: string } = {}): Promise<ActorView> {
    if (this.#stopped) return Promise.reject(new Error('actor system is stopped'));
    let actor: LiveActor;
    try {
      actor = this.#acquire(type, id);
    } catch (err) {
      return Promise.reject(err);
    }
    actor.pending++;
    // The mailbox waits for the transition only, not for the commit: the next event's transition
    // may run while this one is on its way to disk (group commit), and each sender is answered
    // once its own write has committed, in order.
    const step = actor.mailbox.then(() => this.#step(actor, event, opts));
    actor.mailbox = step.then(
      () => {},
      () => {},
    );
    return step
      .then((s) => s.done)
      .finally(() => {
        actor.pending--;
        actor.lastActive = this.#now();
      });
  }

  /** The actor's current view: from memory when live, from its snapshot row otherwise. */
  async inspect(type: string, id: string): Promise<ActorView | undefined> {
    const live = this.#live.get(`${type}/${id}`);
    if (live && live.pending === 0 && !live.broken) return this.#view(live, true);
    const row = await loadSnapshot(this.#sql, type, id);
    if (!row) return undefined;
    const snap = row.snapshot as { value: unknown; context: unknown };
    return { type, id, state: row.state, value: snap.value, context: snap.context, status: row.status, seq: row.seq, live: !!live, failure: row.failure ?? undefined };
  }

  /** Synchronous peek at a live actor's snapshot (e.g. presence); undefined when not in memory. */
  peek(type: string, id: string): AnyMachineSnapshot | undefined {
    return this.#live.get(`${type}/${id}`)?.snapshot;
  }

  /** Drops idle actors whose every write is on disk. Returns how many were dropped. */
  passivateIdle(now = this.#now()): number {
    let n = 0;
    for (const [key, a] of this.#live) {
      if (a.pending > 0 || now - a.lastActive < this.#idleMs) continue;
      if (a.def.canPassivate && !a.def.canPassivate(a.snapshot)) continue;
      this.#live.delete(key);
      n++;
    }
    this.stats.passivations += n;
    return n;
  }

  #acquire(type: string, id: string): LiveActor {
    const key = `${type}/${id}`;
    const existing = this.#live.get(key);
    if (existing && !existing.broken) return existing;
    const def = this.#defs.get(type);
    if (!def) throw new Error(`unknown actor type ${type}`);
    const actor: LiveActor = {
      def,
      id,
      key,
      snapshot: undefined as unknown as AnyMachineSnapshot,
      seq: -1,
      status: 'active',
      failure: undefined,
      mailbox: Promise.resolve(),
      pending: 0,
      lastActive: this.#now(),
      failures: [],
      lastWrite: existing ? existing.lastWrite.catch(() => {}) : Promise.resolve(),
      broken: false,
      effectsTail: Promise.resolve(),
    };
    // The first step loads the snapshot, after any write of a broken predecessor has settled.
    actor.mailbox = actor.lastWrite.then(() => this.#load(actor));
    this.#live.set(key, actor);
    return actor;
  }

  async #load(actor: LiveActor): Promise<void> {
    const { def } = actor;
    const row = await loadSnapshot(this.#sql, def.type, actor.id);
    this.stats.rehydrations++;
    if (!row) {
      this.#fresh(actor, 0, { type: 'xstate.init' });
      return;
    }
    actor.seq = row.seq;
    actor.status = row.status;
    actor.failure = row.failure ?? undefined;
    let persisted: unknown = row.snapshot;
    if (row.machine_version !== def.version) {
      try {
        persisted = row.machine_version < def.version && def.migrate ? def.migrate(row.snapshot, row.machine_version) : undefined;
      } catch (err) {
        this.#log.warn({ err, type: def.type, id: actor.id }, 'snapshot migration threw');
        persisted = undefined;
      }
      if (persisted === undefined) {
        const reason = `no migration from version ${row.machine_version} to ${def.version}`;
        this.#log.warn({ type: def.type, id: actor.id, reason }, 'actor starts fresh');
        actor.status = 'active';
        this.#fresh(actor, row.seq + 1, { type: 'xstate.reset', reason });
        return;
      }
    }
    try {
      actor.snapshot = def.machine.resolveState(persisted as never);
      if (row.machine_version !== def.version) {
        // Record the migrated snapshot under the new version right away.
        this.#enqueue(actor, { type: 'xstate.migrated', from: row.machine_version }, actor.snapshot, []);
      }
    } catch (err) {
      const reason = `snapshot does not fit the machine: ${(err as Error).message}`;
      this.#log.warn({ type: def.type, id: actor.id, reason }, 'actor starts fresh');
      actor.status = 'active';
      this.#fresh(actor, row.seq + 1, { type: 'xstate.reset', reason });
    }
  }

  #fresh(actor: LiveActor, seq: number, event: ActorEvent): void {
    const [snapshot, actions] = initialTransition(actor.def.machine, actor.def.input?.(actor.id) as never);
    actor.seq = seq - 1;
    this.#enqueue(actor, event, snapshot, actions);
  }

  async #step(actor: LiveActor, event: ActorEvent, opts: { timerId?: string }): Promise<{ done: Promise<ActorView> }> {
    if (actor.status === 'failed') throw new ActorFailedError(`actor ${actor.key} has failed: ${actor.failure ?? ''}`);
    if (opts.timerId) {
      // A cancel may still be on its way to disk: let this actor's writes land before checking.
      await actor.lastWrite.catch(() => {});
      if (!(await timerIsArmed(this.#sql, opts.timerId))) return { done: Promise.resolve(this.#view(actor, true)) };
    }
    let next: AnyMachineSnapshot;
    let actions: { type: string; params?: unknown }[];
    try {
      [next, actions] = transition(actor.def.machine, actor.snapshot, event as never);
      if (next.status === 'error') throw (next as { error?: unknown }).error ?? new Error('machine error');
    } catch (err) {
      return this.#crashed(actor, event, err);
    }
    this.stats.events++;
    if (next === actor.snapshot && actions.length === 0 && !opts.timerId) {
      // Nothing changed, but answer only after earlier writes, so answers stay in order.
      const view = this.#view(actor, true);
      return { done: actor.lastWrite.then(() => view) };
    }
    const written = this.#enqueue(actor, event, next, actions, opts.timerId);
    const view = this.#view(actor, true);
    return { done: written.then(() => view) };
  }

  /** The machine threw: restart from the last persisted snapshot, or fail past the budget. */
  async #crashed(actor: LiveActor, event: ActorEvent, err: unknown): Promise<never> {
    const now = this.#now();
    actor.failures = [...actor.failures.filter((t) => now - t < this.#window), now];
    const message = (err as Error)?.message ?? String(err);
    this.#log.error({ type: actor.def.type, id: actor.id, event: event.type, err: message, restarts: actor.failures.length }, 'actor crashed');
    await actor.lastWrite.catch(() => {});
    if (actor.failures.length > this.#budget) {
      actor.status = 'failed';
      actor.failure = message;
      await markActorFailed(this.#sql, actor.def.type, actor.id, message);
      this.#emit(actor);
      throw new ActorFailedError(`actor ${actor.key} failed after ${actor.failures.length} crashes in ${this.#window} ms: ${message}`);
    }
    await this.#load(actor);
    throw new ActorCrashedError(`actor ${actor.key} crashed on ${event.type} and was restarted: ${message}`);
  }

  #enqueue(
    actor: LiveActor,
    event: ActorEvent,
    next: AnyMachineSnapshot,
    actions: { type: string; params?: unknown }[],
    timerId?: string,
  ): Promise<void> {
    const { def } = actor;
    const seq = actor.seq + 1;
    const batch: ActorBatch = { snapshots: [], journal: [], outbox: [], timersArmed: [], timersCancelled: [], timersFired: [] };
    const now = this.#now();
    let position = 0;
    for (const a of actions) {
      if (a.type === TIMER_START) {
        const p = a.params as TimerStartParams;
        const timer: TimerRow = {
          id: randomUUID(),
          actor_type: def.type,
          actor_id: actor.id,
          key: p.key,
          event: p.event,
          due_at: new Date(p.at ? Date.parse(p.at) : now + (p.delayMs ?? 0)),
        };
        batch.timersCancelled = batch.timersCancelled.filter((t) => t.key !== p.key);
        batch.timersArmed = [...batch.timersArmed.filter((t) => t.key !== p.key), timer];
      } else if (a.type === TIMER_CANCEL) {
        const p = a.params as TimerCancelParams;
        batch.timersArmed = batch.timersArmed.filter((t) => t.key !== p.key);
        batch.timersCancelled.push({ actor_type: def.type, actor_id: actor.id, key: p.key });
      } else if (def.effects?.[a.type]) {
        batch.outbox.push({ id: randomUUID(), actor_type: def.type, actor_id: actor.id, seq, position: position++, effect: { type: a.type, params: a.params ?? null } });
      }
    }
    if (timerId) batch.timersFired.push(timerId);
    batch.journal.push({ actor_type: def.type, actor_id: actor.id, seq, event });
    batch.snapshots.push({
      actor_type: def.type,
      actor_id: actor.id,
      machine_version: def.version,
      seq,
      state: stateString(next.value),
      snapshot: def.machine.getPersistedSnapshot(next),
      status: next.status === 'done' ? 'done' : 'active',
      failure: null,
    });
    actor.snapshot = next;
    actor.seq = seq;
    if (next.status === 'done') actor.status = 'done';

    const written = new Promise<void>((resolve, reject) => {
      this.#queue.push({ actor, batch, resolve, reject });
    });
    actor.lastWrite = written.catch(() => {});
    if (!this.#flushing) this.#flushing = this.#flush();
    return written;
  }

  /**
   * Group commit: everything queued while a transaction is in flight goes into the next one, so
   * under load one round trip carries many events, and an idle system adds no delay.
   */
  async #flush(): Promise<void> {
    await Promise.resolve();
    while (this.#queue.length > 0) {
      const writes = this.#queue.splice(0, this.#maxBatch);
      const ok = writes.filter((w) => !w.actor.broken);
      for (const w of writes) if (w.actor.broken) w.reject(new Error(`actor ${w.actor.key} is reloading`));
      if (ok.length === 0) continue;
      const batch = mergeBatches(ok.map((w) => w.batch));
      // Claimed before the commit: a sweep that sees these rows the moment they commit skips them.
      for (const o of batch.outbox) this.#effectsInFlight.add(o.id);
      try {
        await this.#sql.begin(async (tx) => {
          await writeActorBatch(tx, batch);
          for (const t of batch.timersArmed) await this.#scheduleTimer(tx, t);
        });
        this.stats.batches++;
      } catch (err) {
        this.#log.error({ err }, 'actor batch write failed');
        for (const o of batch.outbox) this.#effectsInFlight.delete(o.id);
        for (const w of ok) {
          w.actor.broken = true;
          if (this.#live.get(w.actor.key) === w.actor) this.#live.delete(w.actor.key);
          w.reject(err);
        }
        continue;
      }
      for (const w of ok) {
        w.resolve();
        this.#emit(w.actor);
        if (w.batch.outbox.length > 0) this.#runEffects(w.actor, w.batch.outbox);
      }
    }
    this.#flushing = undefined;
  }

  async #scheduleTimer(tx: TransactionSql, t: TimerRow): Promise<void> {
    await this.#boss.send(
      TIMER_QUEUE,
      { timerId: t.id, type: t.actor_type, id: t.actor_id },
      { startAfter: t.due_at, db: txDb(tx), retryLimit: 5, retryDelay: 1 },
    );
  }

  async #fireTimer(job: { timerId: string; type: string; id: string }): Promise<void> {
    const event = await timerEvent<ActorEvent>(this.#sql, job.timerId);
    if (!event || !this.#defs.has(job.type)) return;
    await this.send(job.type, job.id, event, { timerId: job.timerId });
  }

  #runEffects(actor: LiveActor, effects: OutboxRow[]): void {
    const run = actor.effectsTail.then(async () => {
      for (const o of effects) await this.#runEffect(o);
    });
    actor.effectsTail = run;
    this.#effectsRunning.add(run);
    void run.finally(() => this.#effectsRunning.delete(run));
  }

  async #runEffect(o: OutboxRow): Promise<void> {
    const handler = this.#defs.get(o.actor_type)?.effects?.[o.effect.type];
    try {
      if (handler) {
        await handler(o.effect.params, { effectId: o.id, actorType: o.actor_type, actorId: o.actor_id, seq: o.seq, system: this });
      }
    } catch (err) {
      this.#log.warn({ err, effect: o.effect.type, id: o.id }, 'effect failed; will retry');
      await markOutboxFailed(this.#sql, o.id, (err as Error)?.message ?? String(err)).catch(() => {});
      this.#effectsInFlight.delete(o.id);
      return;
    }
    // Stays claimed until its done mark is committed (#flushDone), so no sweep runs it again.
    this.#doneIds.push(o.id);
  }

  async #flushDone(): Promise<void> {
    if (this.#doneIds.length === 0) return;
    const ids = this.#doneIds;
    this.#doneIds = [];
    try {
      await markOutboxDone(this.#sql, ids);
      for (const id of ids) this.#effectsInFlight.delete(id);
    } catch (err) {
      this.#doneIds.push(...ids);
      this.#log.warn({ err }, 'could not mark effects done');
    }
  }

  /** Effects committed but not finished (a crash, a failure) run again, oldest first. */
  async #sweepOutbox(): Promise<void> {
    // One sweep at a time: a slow sweep must not overlap the next tick, which would fetch the
    // rows it has not reached yet and run them twice.
    if (this.#stopped || this.#sweeping) return;
    this.#sweeping = true;
    try {
      await this.#flushDone();
      const rows = (await pendingOutbox(this.#sql, 500)).filter((o) => !this.#effectsInFlight.has(o.id));
      // Claim the whole list before running any of it.
      for (const o of rows) this.#effectsInFlight.add(o.id);
      for (const o of rows) {
        const run = this.#runEffect(o);
        this.#effectsRunning.add(run);
        void run.finally(() => this.#effectsRunning.delete(run));
        await run;
      }
    } catch (err) {
      this.#log.warn({ err }, 'outbox sweep failed');
    } finally {
      this.#sweeping = false;
    }
  }

  #view(actor: LiveActor, live: boolean): ActorView {
    return {
      type: actor.def.type,
      id: actor.id,
      state: stateString(actor.snapshot.value),
      value: actor.snapshot.value,
      context: actor.snapshot.context,
      status: actor.status,
      seq: actor.seq,
      live,
      failure: actor.failure,
    };
  }

  #emit(actor: LiveActor): void {
    if (this.#listeners.size === 0 || !actor.snapshot) return;
    const view = this.#view(actor, true);
    for (const l of this.#listeners) {
      try {
        l(view);
      } catch (err) {
        this.#log.warn({ err }, 'actor listener threw');
      }
    }
  }
}

function mergeBatches(batches: ActorBatch[]): ActorBatch {
  const out: ActorBatch = { snapshots: [], journal: [], outbox: [], timersArmed: [], timersCancelled: [], timersFired: [] };
  const lastSnapshot = new Map<string, ActorBatch['snapshots'][number]>();
  for (const b of batches) {
    for (const s of b.snapshots) lastSnapshot.set(`${s.actor_type}/${s.actor_id}`, s);
    out.journal.push(...b.journal);
    out.outbox.push(...b.outbox);
    out.timersFired.push(...b.timersFired);
    // Later writes win: a cancel after an arm of the same key (or the reverse) keeps the last word.
    for (const c of b.timersCancelled) {
      out.timersArmed = out.timersArmed.filter((t) => !(t.actor_type === c.actor_type && t.actor_id === c.actor_id && t.key === c.key));
      out.timersCancelled.push(c);
    }
    for (const t of b.timersArmed) {
      out.timersArmed = out.timersArmed.filter((x) => !(x.actor_type === t.actor_type && x.actor_id === t.actor_id && x.key === t.key));
      out.timersArmed.push(t);
    }
  }
  out.snapshots = [...lastSnapshot.values()];
  return out;
}
