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
 * pg-boss polls every half second, so a job alone fires up to ~0.5 s late. While the process that
 * armed a timer lives, an in-memory timeout also delivers it on time; whichever comes second finds
 * the row gone and does nothing. The job stays the durable path (restart, kill -9, passivation).
 *
 * @example
 * const timers = new DurableTimers({ boss, deliver: (job) => system.deliverTimer(job) });
 * await timers.start();
 */
import { insertTimerJobs, type TimerRow } from '../db/actors.ts';
import type { TransactionSql } from '../db/client.ts';
import { JOB_EXPIRE_IN_SECONDS, JOBS_SCHEMA, type PgBoss } from '../db/jobs.ts';

export const TIMER_QUEUE = 'actor.timer';
/** Timers due further away than this are left to the job alone (no point holding a timeout). */
export const TIMERS_LOCAL_HORIZON_MS = 15 * 60_000;

export interface TimerJob {
  timerId: string;
  type: string;
  id: string;
}

export class DurableTimers {
  readonly #boss: PgBoss;
  readonly #deliver: (job: TimerJob) => Promise<unknown>;
  #working = false;
  readonly #local = new Set<ReturnType<typeof setTimeout>>();

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
    const was = this.#working;
    this.#working = false;
    for (const h of this.#local) clearTimeout(h);
    this.#local.clear();
    if (was) await this.#boss.offWork(TIMER_QUEUE).catch(() => {});
  }

  /** After the commit that armed `t`: deliver it on time from memory too (the job is the backstop). */
  accelerate(t: TimerRow, now = Date.now()): void {
    const ms = t.due_at.getTime() - now;
    if (!this.#working || ms > TIMERS_LOCAL_HORIZON_MS) return;
    const h = setTimeout(() => {
      this.#local.delete(h);
      // A failure here is not a loss: the job delivers it.
      this.#deliver({ timerId: t.id, type: t.actor_type, id: t.actor_id }).catch(() => {});
    }, Math.max(0, ms));
    h.unref?.();
    this.#local.add(h);
  }

  /** Arms the job in the caller's transaction: it exists if and only if the timer row does. */
  async schedule(tx: TransactionSql, t: TimerRow): Promise<void> {
    await this.scheduleAll(tx, [t]);
  }

  /**
   * Arms the jobs of many timers in the caller's transaction, in one statement (a group commit's):
   * the rows pg-boss 10's `send(queue, data, { startAfter, retryLimit: 5, retryDelay: 1 })` writes,
   * as `insertTimerJobs` spells out.
   */
  async scheduleAll(tx: TransactionSql, ts: readonly TimerRow[]): Promise<void> {
    if (ts.length === 0) return;
    await insertTimerJobs(tx, {
      schema: JOBS_SCHEMA,
      queue: TIMER_QUEUE,
      expireInDefaultSeconds: JOB_EXPIRE_IN_SECONDS,
      retryLimit: 5,
      retryDelaySeconds: 1,
      jobs: ts.map((t) => ({ data: { timerId: t.id, type: t.actor_type, id: t.actor_id } satisfies TimerJob, startAfter: t.due_at })),
    });
  }
}
