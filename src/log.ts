/**
 * Logging (pino). JSON lines for machines; in a terminal, pino-pretty's readable lines instead.
 * Request-scoped children carry `reqId`.
 *
 * @example
 * const log = createLogger('info');                      // pretty when stdout is a TTY, else JSON
 * log.child({ reqId }).info({ status: 200 }, 'request');
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  /** Human-readable lines (default: when stdout is a terminal). */
  pretty?: boolean;
  /** Where lines go (default: stdout). */
  destination?: DestinationStream;
}

export function createLogger(level: string, opts: LoggerOptions = {}): Logger {
  const options = {
    level,
    base: { service: 'livia' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Never let a secret reach a log line, even when a whole request or config object is logged.
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'headers.authorization', 'jwtSecret', 'webhookSecret'],
      censor: '[redacted]',
    },
  };
  if (opts.pretty ?? process.stdout.isTTY === true) {
    // In-process and synchronous (no worker thread): lines keep their order with the start-up
    // banner, and nothing is lost when the process exits right after logging.
    const stream = pretty({
      sync: true,
      colorize: opts.destination ? false : undefined,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,service',
      destination: opts.destination ?? 1,
    });
    return pino(options, stream);
  }
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
