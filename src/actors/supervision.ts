/**
 * The supervisor's rules for one actor, apart from its mailbox: loading with retries (a database
 * error is reported to the sender, never counted as a crash), the restart budget (crashes within a
 * window, per actor type), and the start/stop hooks of an actor that owns a resource (each start
 * matched by one stop).
 *
 * @example
 * const row = await loadWithRetries(() => loadSnapshot(sql, type, id), 3, onError);
 * if (budget.crashed(Date.now())) markFailed();
 */
import { ActorUnavailableError, type ActorDefinition } from './types.ts';
import type { AnyMachineSnapshot } from 'xstate';
import type { Logger } from '../log.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const message = (err: unknown) => (err as Error)?.message ?? String(err);

/** Tries `load` up to `attempts` times with a short backoff; then throws ActorUnavailableError. */
export async function loadWithRetries<T>(key: string, load: () => Promise<T>, attempts: number, onError: (err: unknown, attempt: number) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await load();
    } catch (err) {
      onError(err, attempt);
      if (attempt >= attempts) throw new ActorUnavailableError(`actor ${key} could not be loaded: ${message(err)}`);
      await sleep(50 * 2 ** attempt);
    }
  }
}

/** Crashes within a sliding window; over `max` of them, the actor has failed. */
export class RestartBudget {
  #crashes: number[] = [];
  constructor(private readonly limit: { max: number; windowMs: number }) {}

  /** Records a crash; true when the budget is spent. */
  crashed(now: number): boolean {
    this.#crashes = [...this.#crashes.filter((t) => now - t < this.limit.windowMs), now];
    return this.#crashes.length > this.limit.max;
  }

  get count(): number {
    return this.#crashes.length;
  }

  get windowMs(): number {
    return this.limit.windowMs;
  }

  reset(): void {
    this.#crashes = [];
  }
}

/** Runs a definition's start and stop hooks, never two starts without a stop between them. */
export class ResourceHooks {
  #started = false;
  constructor(
    private readonly def: ActorDefinition,
    private readonly id: string,
    private readonly log: Logger,
  ) {}

  async start(snapshot: AnyMachineSnapshot): Promise<void> {
    if (this.#started || !this.def.start) return;
    this.#started = true;
    try {
      await this.def.start({ actorType: this.def.type, actorId: this.id, snapshot });
    } catch (err) {
      this.log.error({ err, actor: `${this.def.type}/${this.id}` }, 'start hook threw');
    }
  }

  async stop(snapshot: AnyMachineSnapshot, reason: string): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    try {
      await this.def.stop?.({ actorType: this.def.type, actorId: this.id, snapshot, reason });
    } catch (err) {
      this.log.error({ err, actor: `${this.def.type}/${this.id}`, reason }, 'stop hook threw');
    }
  }
}
