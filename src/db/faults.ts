/**
 * What a database failure means for the caller. A query can fail because of the query (a bad
 * value, a constraint), or because PostgreSQL is not there right now: the connection was cut, the
 * server is restarting, the statement ran past its timeout, a lock was not granted in time. The
 * second kind is answered 503 with `Retry-After`, never a 500, and never waited on for long.
 *
 * @example
 * try { await sql`select 1`; } catch (err) { if (isDatabaseUnavailable(err)) ...; }
 */

/** Seconds a client is told to wait before trying again while the database is unavailable. */
export const RETRY_AFTER_SECONDS = 5;

export type UnavailableReason = 'unreachable' | 'timeout' | 'overloaded';

/** The database cannot take this work now; the client should retry after a few seconds. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
  constructor(
    readonly reason: UnavailableReason,
    message = 'database unavailable',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** postgres.js's own connection errors and Node's socket errors. */
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs that say "not now" rather than "not this": class 08 (connection exception), 57P01-03
 * (administrator/crash shutdown, cannot connect now), 57014 (statement_timeout or cancel),
 * 55P03 (lock_timeout), 53xxx (out of resources: connections, disk, memory).
 */
function isTransientSqlState(code: string): boolean {
  return code.startsWith('08') || code.startsWith('53') || ['57P01', '57P02', '57P03', '57014', '55P03'].includes(code);
}

/** Whether `err` means the database is unreachable or too slow now (so: 503, retry later). */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  if (!err || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || (/^[0-9A-Z]{5}$/.test(code) && isTransientSqlState(code)))) return true;
  // AggregateError from a connect attempt to several addresses (localhost: ::1 and 127.0.0.1).
  const errors = (err as { errors?: unknown }).errors;
  if (Array.isArray(errors) && errors.length > 0) return errors.every(isDatabaseUnavailable);
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err && isDatabaseUnavailable(cause);
}

/**
 * Whether a failed commit may nonetheless have been applied: the connection broke after the
 * COMMIT was sent, so only reading the database again can tell.
 */
export function isAmbiguousOutcome(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('57P'));
}

/**
 * Calls `onTimeout` unless `answered()` is true by `ms`; decided after the I/O already waiting is
 * read, so an event loop that stalled past `ms` (a busy machine) does not take an answer sitting in
 * the socket for a silence.
 */
export function watchdog(ms: number, answered: () => boolean, onTimeout: () => void): ReturnType<typeof setTimeout> {
  const timer = setTimeout(() => setImmediate(() => answered() || onTimeout()), ms);
  timer.unref?.();
  return timer;
}
