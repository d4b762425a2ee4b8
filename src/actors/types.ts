/**
 * The shapes shared by the runtime's modules: what a definition declares, what a sender gets back,
 * and the errors a send can end in.
 *
 * @example
 * const def: ActorDefinition = { type: 'counter', version: 1, machine, effects: { 'counter.notify': notify } };
 */
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import type { Sql, TransactionSql } from '../db/client.ts';
import type { PgBoss } from '../db/jobs.ts';
import type { Logger } from '../log.ts';

export interface ActorEvent {
  type: string;
  [key: string]: unknown;
}

export interface EffectContext {
  /**
   * Stable across retries and restarts: the handler's idempotency key (a WhatsApp message id). A
   * handler whose last step is sending an event to an actor passes it as that send's `completes`.
   */
  effectId: string;
  actorType: string;
  actorId: string;
  seq: number;
  /** 1 on the first run; a run after a crash may be a repeat of one that was not marked done. */
  attempt: number;
  /** Aborted when the handler's timeout passes. */
  signal: AbortSignal;
}

export type EffectHandler = (params: any, ctx: EffectContext) => unknown;

export interface EffectSpec {
  run: EffectHandler;
  /** Per run; past it the run counts as failed (default: the system's effectTimeoutMs). */
  timeoutMs?: number;
  /** Runs before the effect is dead-lettered (default: the system's effectRetries). */
  attempts?: number;
}

/** What a domain write sees: the event, and the actor's state after it. */
export interface WriteContext<TContext = any> {
  actorType: string;
  actorId: string;
  seq: number;
  event: ActorEvent;
  context: TContext;
  state: string;
}

/** A call into a src/db repository function with the event's transaction. */
/**
 * A definition's domain write for one event. With `many`, the group commit writes all the events of
 * a batch that use this write (an actor's whose every write in the batch is it) in one call, in
 * batch order (each actor's events in order): one statement for hundreds of events. When that
 * batch fails, events are written again one by one through the function itself.
 */
export type DomainWrite = ((tx: TransactionSql, w: WriteContext) => Promise<unknown>) & {
  many?: (tx: TransactionSql, ws: WriteContext[]) => Promise<unknown>;
};

/** What a resource-owning actor's hooks see. */
export interface HookContext {
  actorType: string;
  actorId: string;
  snapshot: AnyMachineSnapshot;
  /** Why the actor stops: 'shutdown', 'reset', 'crash'. */
  reason?: string;
}

export interface ActorDefinition<M extends AnyStateMachine = AnyStateMachine> {
  type: string;
  machine: M;
  /** Bump when a persisted snapshot of the previous version no longer fits the machine. */
  version: number;
  input?(id: string): unknown;
  /** Turns an older version's persisted snapshot into this version's; undefined starts fresh. */
  migrate?(persisted: any, fromVersion: number): unknown;
  /** Real implementations of the effects the machine names, provided at composition time. */
  effects?: Record<string, EffectHandler | EffectSpec>;
  /** Domain writes committed in the transaction of the event they are attached to (by event type). */
  writes?: Record<string, DomainWrite>;
  /** Whether an idle actor may be dropped from memory (default: always, unless it has hooks). */
  canPassivate?(snapshot: AnyMachineSnapshot): boolean;
  /** Runs when the actor becomes live (first event, rehydration, restart after a crash, reset). */
  start?(ctx: HookContext): unknown;
  /** Runs when the actor stops (shutdown, reset, before a restart after a crash). */
  stop?(ctx: HookContext): unknown;
  /** Idle time before passivation, for this type (default: the system's idleMs). */
  idleMs?: number;
  /** Crashes allowed within windowMs before the actor is marked failed (default: the system's). */
  restartBudget?: { max: number; windowMs: number };
}

/**
 * Where actors live when several instances share the database: an actor whose type has a home
 * lives only with the holder of that lease; elsewhere, events to it go through the database.
 */
export interface ActorHomes {
  /** The lease an actor lives under; undefined: it may live in any instance. */
  leaseOf(type: string, id: string): string | undefined;
  /** Whether this instance holds the lease now (synchronous, by its own monotonic clock). */
  holds(lease: string): boolean;
  /**
   * Hands the event to the lease's owner through the database (a durable job). With `wait`, resolves
   * with the view the owner committed (or rejects with its error); without, once the job is stored.
   * A waiting sender waits a bounded time (under the request deadline): then OwnerUnavailableError,
   * and the event is not delivered, unless `durable` (it stays queued for the owner).
   */
  forward(
    lease: string,
    type: string,
    id: string,
    event: ActorEvent,
    opts: { timerId?: string | undefined; wait: boolean; durable?: boolean | undefined },
  ): Promise<ActorView | undefined>;
  /**
   * Runs a named operation at the lease's owner (registered there with ActorForwarding.handle) and
   * resolves with its result; rejects with OwnerUnavailableError when it gets no answer in time.
   */
  call(lease: string, op: string, args: unknown): Promise<unknown>;
  /** Fences one effect run: true only while this instance still holds the lease under its epoch. */
  claim(lease: string, effectId: string): Promise<boolean>;
}

export interface ActorSystemOptions {
  sql: Sql;
  boss: PgBoss;
  log: Logger;
  /** Idle time after which an actor is written down and dropped from memory (per type: def.idleMs). */
  idleMs?: number;
  /** Restarts allowed within `restartWindowMs` before an actor is marked failed (per type: def.restartBudget). */
  restartBudget?: number;
  restartWindowMs?: number;
  /** Upper bound of events written in one group-commit transaction. */
  maxBatch?: number;
  /** Group-commit transactions on their way at once (each actor's writes stay in order). */
  commitsInFlight?: number;
  /** How often effects left by a crash, a backoff or an admin retry are looked for. */
  outboxSweepMs?: number;
  /** Per effect run, unless its handler says otherwise. */
  effectTimeoutMs?: number;
  /** Runs of an effect before it is dead-lettered, unless its handler says otherwise. */
  effectAttempts?: number;
  /** Backoff of a failed effect: base × 2^attempts. */
  effectRetryBaseMs?: number;
  /** Tries to load an actor's snapshot before the sender is told it is unavailable. */
  loadAttempts?: number;
  /** Schedule pruning of the journal and of done effects (the application does; tests need not). */
  pruning?: { journalDays: number; cron?: string };
  clock?: () => number;
  /** Several instances: where each actor lives (none: every actor lives here). */
  homes?: ActorHomes;
}

export const SYSTEM_DEFAULTS = {
  idleMs: 5 * 60_000,
  restartBudget: 3,
  restartWindowMs: 60_000,
  maxBatch: 1000,
  commitsInFlight: 2,
  outboxSweepMs: 5000,
  effectTimeoutMs: 30_000,
  effectAttempts: 8,
  effectRetryBaseMs: 1000,
  loadAttempts: 3,
} satisfies Partial<ActorSystemOptions>;

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
/** The actor could not be loaded (the database); nothing was spent, the sender may retry. */
export class ActorUnavailableError extends Error {
  override name = 'ActorUnavailableError';
}
/** The actor lives in another instance (or nowhere right now): this one may not run it. */
export class NotHomeError extends Error {
  override name = 'NotHomeError';
}
/**
 * An operation asked of another instance (the owner of a lease) got no answer in time; it will not
 * run later (its job carries a deadline the owner checks). `reason` says why, for the caller.
 */
export class OwnerUnavailableError extends Error {
  override name = 'OwnerUnavailableError';
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}
/** This event's write failed (a constraint, a NUL byte); the actor goes on without it. */
export class EventRejectedError extends Error {
  override name = 'EventRejectedError';
}
/** `register()` refuses a machine the runtime cannot run durably. */
export class UnsupportedMachineError extends Error {
  override name = 'UnsupportedMachineError';
}

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

export function effectSpec(h: EffectHandler | EffectSpec): EffectSpec {
  return typeof h === 'function' ? { run: h } : h;
}
