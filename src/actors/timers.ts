/**
 * Durable timers. A machine uses plain XState: `after: { FOLLOW_UP: 'followingUp' }` with
 * `setup({ delays: { FOLLOW_UP: () => config.followUpMs } })`, or `raise(event, { delay, id })`.
 * `transition()` hands both back as a delayed `xstate.raise` (and, when the state is left, an
 * `xstate.cancel` with the same id); XState would keep them in memory only, and does not resume
 * them after a restore (statelyai/xstate#5331). The runtime instead writes a row per armed timer
 * and a pg-boss job with `startAfter`, both in the event's transaction; leaving the state deletes
 * the row in that event's transaction. The job delivers the row's event to the actor, live or
 * passivated, and the transaction of that delivery deletes the row: it fires once.
 *
 * @example
 * const timers = new DurableTimers({ boss, deliver: (job) => system.deliverTimer(job) });
 * await timers.start();
 */
import type { TimerRow } from '../db/actors.ts';
import type { TransactionSql } from '../db/client.ts';
import { txDb, type PgBoss } from '../db/jobs.ts';

export const TIMER_QUEUE = 'actor.timer';

export interface TimerJob {
  timerId: string;
  type: string;
  id: string;
}

export class DurableTimers {
  readonly #boss: PgBoss;
  readonly #deliver: (job: TimerJob) => Promise<unknown>;
  #working = false;

  constructor(opts: { boss: PgBoss; deliver(job: TimerJob): Promise<unknown> }) {
    this.#boss = opts.boss;
    this.#deliver = opts.deliver;
  }

  async start(): Promise<void> {
    await this.#boss.createQueue(TIMER_QUEUE, { name: TIMER_QUEUE, policy: 'standard', retryLimit: 5, retryDelay: 1 });
    await this.#boss.work<TimerJob>(TIMER_QUEUE, { batchSize: 50, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      await Promise.all(jobs.map((j) => this.#deliver(j.data)));
    });
    this.#working = true;
  }

  /** No more timer jobs fetched: one fetched while stopping would fail and burn a retry. */
  async stop(): Promise<void> {
    if (this.#working) await this.#boss.offWork(TIMER_QUEUE).catch(() => {});
    this.#working = false;
  }

  /** Arms the job in the caller's transaction: it exists if and only if the timer row does. */
  async schedule(tx: TransactionSql, t: TimerRow): Promise<void> {
    await this.#boss.send(
      TIMER_QUEUE,
      { timerId: t.id, type: t.actor_type, id: t.actor_id } satisfies TimerJob,
      { startAfter: t.due_at, db: txDb(tx), retryLimit: 5, retryDelay: 1 },
    );
  }
}
