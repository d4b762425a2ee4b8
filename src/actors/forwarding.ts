/**
 * Events to actors that live in another instance travel as pg-boss jobs, one queue per lease
 * (`actor-inbox-<lease>`), worked only by the lease's current owner. A job outlives its sender and
 * the owner: when the owner dies, its successor works the same queue. A sender that waits for the
 * answer polls the job until the owner completes it with the committed view (or the actor's error).
 *
 * Why pg-boss and not LISTEN/NOTIFY alone: a NOTIFY to a dead owner is lost; a job is not.
 *
 * @example
 * const fwd = new ActorForwarding({ boss, log, deliver: (e) => system.sendHere(e.type, e.id, e.event, e) });
 * await fwd.serve('whatsapp:livia');
 * const view = await fwd.forward('whatsapp:livia', 'conversation', phone, { type: 'message.received', ... }, { wait: true });
 */
import type { PgBoss } from '../db/jobs.ts';
import type { Logger } from '../log.ts';
import {
  ActorCrashedError,
  ActorFailedError,
  ActorUnavailableError,
  EventRejectedError,
  NotHomeError,
  type ActorEvent,
  type ActorView,
} from './types.ts';

export interface ForwardedEvent {
  type: string;
  id: string;
  event: ActorEvent;
  timerId?: string | undefined;
}

/** The answer a job completes with: the view, or the actor's own error (not retried). */
type Answer = { view: ActorView } | { error: { name: string; message: string } };

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
  /** How long a waiting sender waits for the owner's answer (default 30 s). */
  answerTimeoutMs?: number;
  /** pg-boss polling of the inbox queues (seconds, at least 0.5). */
  pollingIntervalSeconds?: number;
}

export function inboxQueue(lease: string): string {
  return `actor-inbox-${lease.replace(/[^A-Za-z0-9_-]/g, '-')}`;
}

export class ActorForwarding {
  readonly #o: ForwardingOptions;
  readonly #queues = new Map<string, Promise<void>>();
  readonly #serving = new Set<string>();
  stats = { forwarded: 0, delivered: 0 };

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

  async forward(lease: string, type: string, id: string, event: ActorEvent, opts: { timerId?: string | undefined; wait: boolean }): Promise<ActorView | undefined> {
    const queue = inboxQueue(lease);
    await this.#ensure(queue);
    const data: ForwardedEvent = { type, id, event, ...(opts.timerId ? { timerId: opts.timerId } : {}) };
    const jobId = await this.#o.boss.send(queue, data as never, { retryLimit: 120, retryDelay: 1, expireInSeconds: 60 });
    if (!jobId) throw new ActorUnavailableError(`could not forward ${event.type} to ${type}/${id}`);
    this.stats.forwarded++;
    if (!opts.wait) return undefined;
    return this.#answer(queue, jobId, `${type}/${id}`);
  }

  async #answer(queue: string, jobId: string, actor: string): Promise<ActorView> {
    const deadline = Date.now() + (this.#o.answerTimeoutMs ?? 30_000);
    let pause = 20;
    for (;;) {
      const job = (await this.#o.boss.getJobById(queue, jobId, { includeArchive: true })) as { state: string; output?: unknown } | null;
      if (job?.state === 'completed') {
        const a = job.output as Answer;
        if ('view' in a) return a.view;
        const E = ACTOR_ERRORS[a.error.name] ?? Error;
        throw new E(a.error.message);
      }
      if (job?.state === 'failed' || job?.state === 'cancelled' || !job) {
        throw new ActorUnavailableError(`actor ${actor} could not be reached in its instance (${job?.state ?? 'job gone'})`);
      }
      if (Date.now() > deadline) {
        // Still queued: the event will be delivered when an owner takes it; only the answer is lost.
        throw new ActorUnavailableError(`actor ${actor} lives in another instance that did not answer in time; the event stays queued`);
      }
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(250, pause * 2);
    }
  }

  /** Works the lease's inbox (call on winning the lease). */
  async serve(lease: string): Promise<void> {
    const queue = inboxQueue(lease);
    if (this.#serving.has(queue)) return;
    this.#serving.add(queue);
    await this.#ensure(queue);
    if (!this.#serving.has(queue)) return;
    await this.#o.boss.work<ForwardedEvent>(
      queue,
      { batchSize: 100, pollingIntervalSeconds: this.#o.pollingIntervalSeconds ?? 0.5 },
      async (jobs) => {
        // Handed to the mailboxes in job order (sendHere enqueues synchronously), then awaited.
        const runs = jobs.map((j) => this.#o.deliver(j.data).then((view) => ({ view }) as Answer, (err: Error) => err));
        await Promise.all(
          jobs.map(async (j, i) => {
            const r = await runs[i]!;
            if (!(r instanceof Error)) {
              this.stats.delivered++;
              return this.#o.boss.complete(queue, j.id, r as object);
            }
            if (r.name in ACTOR_ERRORS) return this.#o.boss.complete(queue, j.id, { error: { name: r.name, message: r.message } });
            // Not here any more, or the database failed: pg-boss retries it (with the next owner).
            if (!(r instanceof NotHomeError)) this.#o.log.warn({ err: r.message, actor: `${j.data.type}/${j.data.id}` }, 'forwarded event failed; retried');
            return this.#o.boss.fail(queue, j.id, { message: r.message });
          }),
        );
      },
    );
  }

  /** Stops working the lease's inbox (call on losing it). */
  async unserve(lease: string): Promise<void> {
    const queue = inboxQueue(lease);
    if (!this.#serving.delete(queue)) return;
    await this.#o.boss.offWork(queue).catch((err) => this.#o.log.warn({ err, queue }, 'offWork failed'));
  }
}
