/**
 * Events to actors that live in another instance travel as pg-boss jobs, one queue per lease
 * (`actor-inbox-<lease>`), worked only by the lease's current owner. A job outlives its sender and
 * the owner: when the owner dies, its successor works the same queue. A sender that waits for the
 * answer polls the job until the owner completes it with the committed view (or the actor's error).
 *
 * Why pg-boss and not LISTEN/NOTIFY alone: a NOTIFY to a dead owner is lost; a job is not. NOTIFY
 * only makes it fast (`signals`): a sender announces each job it stored, and the owner's worker
 * fetches at once instead of at its next poll; the owner announces each answer, and the waiting
 * sender reads it at once. A lost announcement costs only latency: the worker still polls its
 * queue, and the sender the job.
 *
 * A waiting sender waits at most `answerTimeoutMs` (below the HTTP request deadline). Its event
 * carries a deadline the owner checks before delivering it: with no answer in time the job is
 * cancelled and the sender gets OwnerUnavailableError, so "not answered" means "not done" (a
 * `durable` event has no deadline: it stays queued for the owner, and the sender only stops waiting).
 *
 * @example
 * const fwd = new ActorForwarding({ boss, log, deliver: (e) => system.sendHere(e.type, e.id, e.event, e) });
 * await fwd.serve('whatsapp:livia');
 * const view = await fwd.forward('whatsapp:livia', 'conversation', phone, { type: 'message.received', ... }, { wait: true });
 *
 * Operations that are not actor events (a WhatsApp logout, a pairing code, an admin reset) travel
 * the same way as calls: the owner registers a handler (`handle`), a caller anywhere awaits
 * `call(lease, op, args)`. A call carries a deadline: the owner refuses to start it once passed,
 * so a caller told "no answer in time" knows it did not and will not happen (`durable` calls,
 * whose late run is still right, have none).
 * @example
 * fwd.handle('whatsapp.logout', (a) => wa.logout((a as { name: string }).name));
 * await fwd.call('whatsapp:livia', 'whatsapp.logout', { name: 'livia' });
 */
import type { PgBoss } from '../db/jobs.ts';
import type { Logger } from '../log.ts';
import {
  ActorCrashedError,
  ActorFailedError,
  ActorUnavailableError,
  EventRejectedError,
  NotHomeError,
  OwnerUnavailableError,
  type ActorEvent,
  type ActorView,
} from './types.ts';

export interface ForwardedEvent {
  type: string;
  id: string;
  event: ActorEvent;
  timerId?: string | undefined;
  /** Not delivered after this (ms since the epoch): its sender has stopped waiting. */
  deadline?: number | undefined;
  /** The sender's count of what it forwarded: orders two of its jobs stored in the same millisecond. */
  n?: number | undefined;
}

/** Announcements between instances that spare the polling (src/boot/ownership.ts sends them by NOTIFY). */
export interface ForwardingSignals {
  /** A job was stored on `queue`: its owner may fetch it now. */
  queued(queue: string): void;
  /** The job was completed: its sender may read the answer now. */
  answered(jobId: string): void;
}

/** An operation run at the lease's owner; not started after `deadline` (ms since the epoch). */
export interface ForwardedCall {
  op: string;
  args: unknown;
  deadline?: number | undefined;
  n?: number | undefined;
}

type Forwarded = ForwardedEvent | ForwardedCall;

/** What this process forwarded so far (see ForwardedEvent.n). */
let forwardedCount = 0;

/** What a refused call's error carries back (a ServiceError's kind, code and details). */
export interface CarriedError {
  name: string;
  message: string;
  kind?: string;
  code?: string;
  details?: unknown;
}

/** The answer a job completes with: the view (or a call's result), or the error (not retried). */
type Answer = { view: ActorView } | { result: unknown } | { error: CarriedError };

const ACTOR_ERRORS: Record<string, new (m: string) => Error> = {
  ActorFailedError,
  ActorCrashedError,
  EventRejectedError,
};

export interface ForwardingOptions {
  boss: PgBoss;
  log: Logger;
  /** Runs a forwarded event here (throws NotHomeError when the lease moved on meanwhile). */
  deliver(e: ForwardedEvent): Promise<ActorView>;
  /** How long a waiting sender waits for the owner's answer (default 30 s; keep it under the request deadline). */
  answerTimeoutMs?: number;
  /** pg-boss polling of the inbox queues (seconds, at least 0.5). */
  pollingIntervalSeconds?: number;
  /** Whether this instance holds the lease now: a call is run only by the owner. */
  holds?(lease: string): boolean;
  /** Turns a carried error back into the caller's error class (a ServiceError); undefined: Error. */
  revive?(e: CarriedError): Error | undefined;
  /** How long a caller waits for a call's answer (default 15 s). */
  callTimeoutMs?: number;
}

type Handler = (args: unknown) => Promise<unknown>;

export function inboxQueue(lease: string): string {
  return `actor-inbox-${lease.replace(/[^A-Za-z0-9_-]/g, '-')}`;
}

/** What an owner that starts too late answers: the sender has given up, so it is not done. */
const LATE = 'OwnerUnavailableError';

export class ActorForwarding {
  readonly #o: ForwardingOptions;
  readonly #queues = new Map<string, Promise<void>>();
  readonly #serving = new Set<string>();
  readonly #workers = new Map<string, string>();
  readonly #waiting = new Map<string, () => void>();
  readonly #ops = new Map<string, Handler>();
  stats = { forwarded: 0, delivered: 0, late: 0 };
  /** Announcements to the other instances (set once the broadcast runs); without them, polling alone. */
  signals: ForwardingSignals | undefined;

  constructor(o: ForwardingOptions) {
    this.#o = o;
  }

  /**
   * Creates the inbox queues one after the other, before any lease is asked for: pg-boss 10's
   * createQueue makes a partition, and two of them at once can deadlock.
   */
  async prepare(leases: string[]): Promise<void> {
    for (const lease of leases) {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.#ensure(inboxQueue(lease));
          break;
        } catch (err) {
          // Another instance creating the same queue at the same moment: look again.
          if (attempt >= 5) throw err;
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
    }
  }

  #ensure(queue: string): Promise<void> {
    let p = this.#queues.get(queue);
    if (!p) {
      p = (async () => {
        if (await this.#o.boss.getQueue(queue)) return;
        // An event waits out a change of owner (≤ ttl + a round), retried every second meanwhile.
        await this.#o.boss.createQueue(queue, { name: queue, policy: 'standard', retryLimit: 120, retryDelay: 1, expireInSeconds: 60 } as never);
      })().catch((err) => {
        this.#queues.delete(queue);
        throw err;
      });
      this.#queues.set(queue, p);
    }
    return p;
  }

  /** An owner here is woken at once; the others hear of it through `signals`. */
  #queued(queue: string): void {
    this.wake(queue);
    try {
      this.signals?.queued(queue);
    } catch (err) {
      this.#o.log.warn({ err, queue }, 'announcing a forwarded job failed; its owner polls for it');
    }
  }

  /** Another instance stored a job on `queue`: fetch it now if this instance works that queue. */
  wake(queue: string): void {
    const worker = this.#workers.get(queue);
    if (worker) this.#o.boss.notifyWorker(worker);
  }

  /** The owner (anywhere) completed `jobId`: a sender here waiting for it reads the answer now. */
  answered(jobId: string): void {
    this.#waiting.get(jobId)?.();
  }

  /** The deadline an owner checks: a margin before the sender gives up, for the delivery itself. */
  static #deadline(timeoutMs: number): number {
    return Date.now() + timeoutMs - Math.min(1000, Math.round(timeoutMs / 4));
  }

  /**
   * Stores the event for the lease's owner. With `wait`, resolves with the view it committed, within
   * `answerTimeoutMs`; past it, rejects with OwnerUnavailableError and the event is not delivered
   * (a `durable` one stays queued for the owner instead).
   */
  async forward(
    lease: string,
    type: string,
    id: string,
    event: ActorEvent,
    opts: { timerId?: string | undefined; wait: boolean; durable?: boolean | undefined },
  ): Promise<ActorView | undefined> {
    const queue = inboxQueue(lease);
    await this.#ensure(queue);
    const timeoutMs = this.#o.answerTimeoutMs ?? 30_000;
    const bounded = opts.wait && !opts.durable;
    const data: ForwardedEvent = {
      type,
      id,
      event,
      n: ++forwardedCount,
      ...(opts.timerId ? { timerId: opts.timerId } : {}),
      ...(bounded ? { deadline: ActorForwarding.#deadline(timeoutMs) } : {}),
    };
    const jobId = await this.#o.boss.send(queue, data as never, { retryLimit: bounded ? Math.ceil(timeoutMs / 1000) + 1 : 120, retryDelay: 1, expireInSeconds: 60 });
    if (!jobId) throw new ActorUnavailableError(`could not forward ${event.type} to ${type}/${id}`);
    this.stats.forwarded++;
    this.#queued(queue);
    if (!opts.wait) return undefined;
    let a: Answer;
    try {
      a = await this.#answer(queue, jobId, `${type}/${id}`, timeoutMs);
    } catch (err) {
      if (!(err instanceof ActorUnavailableError)) throw err;
      if (bounded) await this.#o.boss.cancel(queue, jobId).catch(() => undefined);
      const reason = /in time/.test(err.message) ? 'owner_timeout' : 'owner_unreachable';
      const what = bounded ? 'it was not delivered' : 'it stays queued for the owner';
      throw new OwnerUnavailableError(`the instance where ${type}/${id} lives did not answer ${event.type} within ${Math.round(timeoutMs / 1000)} s; ${what}`, reason);
    }
    if (!('view' in a)) throw new Error(`unexpected answer from ${type}/${id}`);
    return a.view;
  }

  /** Registers an operation this instance runs for callers elsewhere when it holds the lease. */
  handle(op: string, fn: Handler): void {
    this.#ops.set(op, fn);
  }

  /**
   * Runs `op` at the lease's owner and resolves with its result (or rejects with its error). With
   * no answer within the timeout: OwnerUnavailableError, and the job is cancelled (an owner that
   * takes it later sees its deadline passed and does not run it). A `durable` call has no deadline:
   * it stays queued until an owner runs it, and the caller only stops waiting.
   */
  async call(lease: string, op: string, args: unknown, opts: { timeoutMs?: number; durable?: boolean } = {}): Promise<unknown> {
    const queue = inboxQueue(lease);
    await this.#ensure(queue);
    const timeoutMs = opts.timeoutMs ?? this.#o.callTimeoutMs ?? 15_000;
    const data: ForwardedCall = { op, args, n: ++forwardedCount, ...(opts.durable ? {} : { deadline: ActorForwarding.#deadline(timeoutMs) }) };
    const retryLimit = opts.durable ? 120 : Math.ceil(timeoutMs / 1000) + 1;
    const jobId = await this.#o.boss.send(queue, data as never, { retryLimit, retryDelay: 1, expireInSeconds: 60 });
    if (!jobId) throw new OwnerUnavailableError(`could not ask the owner of ${lease} for ${op}`, 'not_queued');
    this.stats.forwarded++;
    this.#queued(queue);
    try {
      const a = await this.#answer(queue, jobId, `${lease} (${op})`, timeoutMs);
      return 'result' in a ? a.result : 'view' in a ? a.view : undefined;
    } catch (err) {
      if (!(err instanceof ActorUnavailableError)) throw err;
      if (!opts.durable) await this.#o.boss.cancel(queue, jobId).catch(() => undefined);
      const reason = /in time/.test(err.message) ? 'owner_timeout' : 'owner_unreachable';
      const what = opts.durable ? 'it stays queued for the owner' : 'it was not done';
      throw new OwnerUnavailableError(`the instance owning ${lease} did not answer ${op} within ${Math.round(timeoutMs / 1000)} s; ${what}`, reason);
    }
  }

  /** Polls the job until it completes: its answer (a carried error is thrown here). */
  async #answer(queue: string, jobId: string, actor: string, timeoutMs = this.#o.answerTimeoutMs ?? 30_000): Promise<Answer> {
    const deadline = Date.now() + timeoutMs;
    let pause = 20;
    // The owner's announcement that it answered: ends the current pause, or skips the next one.
    let poked = false;
    let wakeUp: (() => void) | undefined;
    this.#waiting.set(jobId, () => {
      poked = true;
      wakeUp?.();
    });
    try {
      for (;;) {
        poked = false;
        const job = (await this.#o.boss.getJobById(queue, jobId, { includeArchive: true })) as { state: string; output?: unknown } | null;
        if (job?.state === 'completed') {
          const a = job.output as Answer;
          if ('error' in a) {
            const E = ACTOR_ERRORS[a.error.name];
            throw E ? new E(a.error.message) : (this.#o.revive?.(a.error) ?? Object.assign(new Error(a.error.message), { name: a.error.name }));
          }
          return a;
        }
        if (job?.state === 'failed' || job?.state === 'cancelled' || !job) {
          throw new ActorUnavailableError(`actor ${actor} could not be reached in its instance (${job?.state ?? 'job gone'})`);
        }
        if (Date.now() > deadline) throw new ActorUnavailableError(`actor ${actor} lives in another instance that did not answer in time`);
        if (poked) continue;
        // Until the announcement, or the next poll (an announcement may be lost), or the deadline.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(pause, Math.max(1, deadline - Date.now() + 1)));
          wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeUp = undefined;
        pause = Math.min(250, pause * 2);
      }
    } finally {
      this.#waiting.delete(jobId);
    }
  }

  /** Runs a call here: only while holding the lease (else retried), never after its deadline. */
  async #run(lease: string, c: ForwardedCall): Promise<Answer> {
    if (this.#o.holds && !this.#o.holds(lease)) throw new NotHomeError(`${lease} is not held here`);
    if (c.deadline !== undefined && Date.now() > c.deadline) {
      this.stats.late++;
      return { error: { name: LATE, message: `${c.op} reached the owner of ${lease} after its deadline; not done` } };
    }
    const fn = this.#ops.get(c.op);
    if (!fn) return { error: { name: 'Error', message: `unknown operation ${c.op}` } };
    try {
      return { result: (await fn(c.args)) ?? null };
    } catch (err) {
      if (err instanceof NotHomeError) throw err;
      const e = err as Error & { kind?: string; code?: string; details?: unknown };
      return { error: { name: e.name, message: e.message, ...(e.kind && e.code ? { kind: e.kind, code: e.code, details: e.details } : {}) } };
    }
  }

  /** Works the lease's inbox (call on winning the lease). */
  async serve(lease: string): Promise<void> {
    const queue = inboxQueue(lease);
    if (this.#serving.has(queue)) return;
    this.#serving.add(queue);
    await this.#ensure(queue);
    if (!this.#serving.has(queue)) return;
    const worker = await this.#o.boss.work<Forwarded>(
      queue,
      { batchSize: 100, pollingIntervalSeconds: this.#o.pollingIntervalSeconds ?? 0.5, includeMetadata: true },
      async (fetched) => {
        // In the order they were stored (the database's clock, the same for every sender; in the
        // same millisecond, the sender's own count): pg-boss returns a batch in no particular
        // order, and a stale sync delivered after a newer one would win (a capacity of 3 after
        // the change to 9).
        const jobs = [...fetched].sort((x, y) => +x.createdOn - +y.createdOn || (x.data.n ?? 0) - (y.data.n ?? 0));
        let retried = false;
        // Handed to the mailboxes in job order (sendHere enqueues synchronously), then awaited.
        const runs = jobs.map((j) =>
          'op' in j.data
            ? this.#run(lease, j.data).catch((err: Error) => err)
            : this.#deliver(lease, j.data).catch((err: Error) => err),
        );
        await Promise.all(
          jobs.map(async (j, i) => {
            const r = await runs[i]!;
            if (!(r instanceof Error)) {
              this.stats.delivered++;
              await this.#o.boss.complete(queue, j.id, r as object);
              return this.#answered(j.id);
            }
            if (r.name in ACTOR_ERRORS) {
              await this.#o.boss.complete(queue, j.id, { error: { name: r.name, message: r.message } });
              return this.#answered(j.id);
            }
            // Not here any more, or the database failed: pg-boss retries it (with the next owner).
            const what = 'op' in j.data ? j.data.op : `${j.data.type}/${j.data.id}`;
            if (!(r instanceof NotHomeError)) this.#o.log.warn({ err: r.message, actor: what }, 'forwarded event failed; retried');
            retried = true;
            return this.#o.boss.fail(queue, j.id, { message: r.message });
          }),
        );
        // A retry is due after the queue's retryDelay (1 s): fetched then, not at the next poll.
        if (retried) setTimeout(() => this.wake(queue), 1100).unref();
      },
    );
    if (this.#serving.has(queue)) this.#workers.set(queue, worker);
  }

  /** Delivers an event here, unless its sender has stopped waiting (then: not done, said so). */
  async #deliver(lease: string, e: ForwardedEvent): Promise<Answer> {
    if (e.deadline !== undefined && Date.now() > e.deadline) {
      // Only the owner may say so: elsewhere it is retried, for the owner to answer.
      if (this.#o.holds && !this.#o.holds(lease)) throw new NotHomeError(`${lease} is not held here`);
      this.stats.late++;
      return { error: { name: LATE, message: `${e.event.type} reached ${e.type}/${e.id} after its sender stopped waiting; not delivered` } };
    }
    return { view: await this.#o.deliver(e) };
  }

  #answered(jobId: string): void {
    this.answered(jobId);
    try {
      this.signals?.answered(jobId);
    } catch (err) {
      this.#o.log.warn({ err, jobId }, 'announcing an answer failed; its sender polls for it');
    }
  }

  /** Stops working the lease's inbox (call on losing it). */
  async unserve(lease: string): Promise<void> {
    const queue = inboxQueue(lease);
    this.#workers.delete(queue);
    if (!this.#serving.delete(queue)) return;
    await this.#o.boss.offWork(queue).catch((err) => this.#o.log.warn({ err, queue }, 'offWork failed'));
  }
}
