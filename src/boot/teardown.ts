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

  /** Runs every step once, newest first; a failing step is logged and the rest still run. */
  async run(): Promise<void> {
    const steps = this.#steps.reverse();
    this.#steps = [];
    for (const step of steps) {
      const started = Date.now();
      const slow = setTimeout(() => this.log.warn({ step: step.name, ms: Date.now() - started }, 'stopping: a step is still running'), this.o.slowStepMs ?? SLOW_STEP_MS);
      slow.unref?.();
      await step.run().catch((err) => this.log.error({ err, step: step.name }, 'cleanup failed'));
      clearTimeout(slow);
    }
  }
}
