/**
 * Running as a program: start, then stop on SIGTERM/SIGINT within a time budget, exiting 0 after a
 * clean stop. Signals are handled from the first moment: one that arrives while starting stops the
 * server as soon as it is up (or lets the failed start exit), never killing it half-way.
 */
import { ConfigError } from '../config.ts';
import type { Logger } from '../log.ts';
import { SHUTDOWN_BUDGET_MS } from './http-server.ts';

export async function runUntilSignal(start: () => Promise<{ log: Logger; stop(): Promise<void> }>): Promise<void> {
  let requested: string | undefined;
  let onSignal = (signal: string) => {
    requested ??= signal;
  };
  // `on`, not `once`: under `npm start` a signal to the process group arrives twice (from the
  // terminal or service manager, and forwarded by npm); a second one must not kill us mid-stop.
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  let server: Awaited<ReturnType<typeof start>>;
  try {
    server = await start();
  } catch (err) {
    process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `failed to start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    server.log.info({ signal }, 'signal received');
    if (stopping) return;
    stopping = true;
    const deadline = setTimeout(() => {
      server.log.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, SHUTDOWN_BUDGET_MS);
    server.stop().then(
      () => {
        clearTimeout(deadline);
        process.exit(0);
      },
      (err) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  onSignal = shutdown;
  if (requested) shutdown(requested);
}
