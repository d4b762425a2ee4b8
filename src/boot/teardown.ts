/**
 * The steps that undo a start, run last-in first-out: each part of the composition root pushes
 * how to stop what it just started, so a failed start and a normal stop unwind the same way.
 *
 * @example
 * const teardown = new Teardown(log);
 * const sql = createSql(url); teardown.push(() => sql.end());
 * await teardown.run();
 */
import type { Logger } from '../log.ts';

/** A step still running this long is logged by name (what holds a stop up is visible). */
const SLOW_STEP_MS = 2000;
/** Kept of a budget for each step still to run. */
const RESERVE_PER_STEP_MS = 150;

export class Teardown {
  #steps: { name: string; run: () => Promise<void> }[] = [];

  constructor(
    private readonly log: Logger,
    private readonly o: { slowStepMs?: number } = {},
  ) {}

  /** `name` says what the step stops, in the log of a slow or failed stop. */
  push(step: () => Promise<void>, name = 'unnamed'): void {
    this.#steps.push({ name, run: step });
  }

  /**
   * Runs every step once, newest first; a failing step is logged and the rest still run. With a
   * budget, the steps share it: each is waited for at most what is left, less a little for each
   * step after it, then the stop goes on without it (logged). Each step has a bound of its own,
   * but their sum is not the budget's business: a database that just came back can make several
   * of them take their whole bound, and the process must still stop in time.
   */
  async run(opts: { budgetMs?: number } = {}): Promise<void> {
    const steps = this.#steps.reverse();
    this.#steps = [];
    const deadline = opts.budgetMs === undefined ? undefined : Date.now() + opts.budgetMs;
    for (const [i, step] of steps.entries()) {
      const started = Date.now();
      const slow = setTimeout(() => this.log.warn({ step: step.name, ms: Date.now() - started }, 'stopping: a step is still running'), this.o.slowStepMs ?? SLOW_STEP_MS);
      slow.unref?.();
      const done = step.run().catch((err) => this.log.error({ err, step: step.name }, 'cleanup failed'));
      if (deadline === undefined) await done;
      else {
        const allowMs = Math.max(RESERVE_PER_STEP_MS, deadline - Date.now() - RESERVE_PER_STEP_MS * (steps.length - i - 1));
        let cut: ReturnType<typeof setTimeout> | undefined;
        const outOfTime = new Promise<'cut'>((resolve) => (cut = setTimeout(() => resolve('cut'), allowMs)));
        if ((await Promise.race([done, outOfTime])) === 'cut') {
          this.log.warn({ step: step.name, ms: Date.now() - started }, 'stopping: a step ran out of the shutdown budget; going on without it');
        }
        clearTimeout(cut);
      }
      clearTimeout(slow);
    }
  }
}
