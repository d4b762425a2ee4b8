/**
 * Supervises the embedded PostgreSQL: when its server process exits without being asked to (a
 * crash, an OOM kill, `kill -9`), it is started again on the same directory and port, with a
 * bounded number of attempts and exponential backoff. The pools reconnect by themselves once it
 * answers. If every attempt fails the server cannot do its job, and `onGiveUp` is called (the
 * composition root exits non-zero, so the process supervisor starts over cleanly).
 *
 * A postgres that is alive but not answering (SIGSTOP, a stalled disk) is not restarted: it still
 * holds its data directory. The database monitor reports it down meanwhile.
 *
 * @example
 * const supervisor = superviseEmbedded(embedded, { log, onGiveUp: () => process.exit(1) });
 * // on shutdown, before stopping the database:
 * supervisor.stop();
 */
import type { Logger } from '../log.ts';
import type { EmbeddedDb } from './embedded.ts';

export interface SupervisorOptions {
  log: Logger;
  /** Restart attempts after one exit before giving up. */
  maxAttempts?: number;
  /** Wait before the first attempt; doubled after each failure, up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  onGiveUp(err: unknown): void;
  /** Called the moment postgres is seen to exit (before any restart). */
  onExited?(): void;
  onRestarted?(): void;
}

export interface Supervisor {
  /** Restarts done so far. */
  readonly restarts: number;
  /** Whether a restart is under way. */
  readonly restarting: boolean;
  stop(): void;
}

export function superviseEmbedded(db: EmbeddedDb, opts: SupervisorOptions): Supervisor {
  const log = opts.log.child({ component: 'db-supervisor' });
  const maxAttempts = opts.maxAttempts ?? 5;
  const base = opts.baseDelayMs ?? 250;
  const cap = opts.maxDelayMs ?? 8000;
  let stopped = false;
  let restarting = false;
  let restarts = 0;

  const watch = () => {
    const child = db.child();
    if (!child) return void onExit(null, null);
    child.once('exit', onExit);
  };

  async function onExit(code: number | null, signal: NodeJS.Signals | null) {
    if (stopped || restarting) return;
    restarting = true;
    log.error({ code, signal }, 'embedded PostgreSQL exited; restarting it');
    opts.onExited?.();
    let last: unknown;
    for (let attempt = 1; attempt <= maxAttempts && !stopped; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(cap, base * 2 ** (attempt - 1))));
      if (stopped) break;
      try {
        await db.restart();
        restarts++;
        restarting = false;
        log.info({ attempt }, 'embedded PostgreSQL is running again');
        watch();
        opts.onRestarted?.();
        return;
      } catch (err) {
        last = err;
        log.warn({ attempt, maxAttempts, err: (err as Error)?.message }, 'embedded PostgreSQL restart failed');
      }
    }
    restarting = false;
    if (!stopped) {
      log.fatal({ attempts: maxAttempts, err: (last as Error)?.message }, 'embedded PostgreSQL could not be restarted; giving up');
      opts.onGiveUp(last);
    }
  }

  watch();
  return {
    get restarts() {
      return restarts;
    },
    get restarting() {
      return restarting;
    },
    stop() {
      stopped = true;
      db.child()?.removeListener('exit', onExit);
    },
  };
}
