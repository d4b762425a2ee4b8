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

export class Teardown {
  #steps: (() => Promise<void>)[] = [];

  constructor(private readonly log: Logger) {}

  push(step: () => Promise<void>): void {
    this.#steps.push(step);
  }

  /** Runs every step once, newest first; a failing step is logged and the rest still run. */
  async run(): Promise<void> {
    const steps = this.#steps.reverse();
    this.#steps = [];
    for (const step of steps) await step().catch((err) => this.log.error({ err }, 'cleanup failed'));
  }
}
