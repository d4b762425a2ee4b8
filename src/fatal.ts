/**
 * The last resort: an exception nothing caught, or a promise rejection nobody handled, means the
 * process is in a state no code planned for. It is logged once and the process exits non-zero at
 * once, so a supervisor starts a clean one; it never goes on half-working. The known crash of this
 * kind (postgres.js writing to a closed socket) is patched in `patches/`; this is for the unknown.
 *
 * @example
 * exitOnFatalErrors(log);
 */
import type { Logger } from './log.ts';

/** Exit status of a process that died of an error nothing handled. */
export const FATAL_EXIT_CODE = 70;

export function exitOnFatalErrors(log: Logger, exit: (code: number) => never = process.exit): void {
  let dying = false;
  const die = (kind: string) => (err: unknown) => {
    if (dying) return;
    dying = true;
    try {
      log.fatal({ err }, `${kind}; exiting`);
      log.flush?.();
    } finally {
      exit(FATAL_EXIT_CODE);
    }
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled promise rejection'));
}
