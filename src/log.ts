/**
 * Structured JSON logging (pino). Request-scoped children carry `reqId`.
 *
 * @example
 * const log = createLogger('info');
 * log.child({ reqId }).info({ status: 200 }, 'request');
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'livia' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Never let a secret reach a log line, even when a whole request or config object is logged.
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'headers.authorization', 'jwtSecret', 'webhookSecret'],
      censor: '[redacted]',
    },
  });
}
