/**
 * The contract's error shape: `{"error": {"code", "message", "details"?}}`, for every error.
 *
 * @example
 * throw new ApiError(404, 'not_found', 'Lead not found');
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/faults.ts';
import { ActorUnavailableError, OwnerUnavailableError } from '../actors/types.ts';
import { ApiError, ServiceError, type ServiceErrorKind } from '../services/errors.ts';

export { ApiError };

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** zod issues as `[{path: "phone", message}]`, the path dotted. */
export function zodDetails(err: ZodError): { path: string; message: string }[] {
  return err.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

export function validationError(err: ZodError): ApiError {
  return new ApiError(422, 'validation_failed', 'The request is not valid', zodDetails(err));
}

const codeByStatus: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'validation_failed',
  429: 'rate_limited',
};

/**
 * Turns anything thrown into the contract's shape. Unknown errors are logged by the caller and
 * answered as a bare 500: no stack, no SQL, no driver message reaches the client.
 */
const statusByKind: Record<ServiceErrorKind, ContentfulStatusCode> = { not_found: 404, forbidden: 403, conflict: 409, invalid: 422 };

export function toErrorResponse(c: Context, err: unknown): Response {
  if (err instanceof ServiceError) return c.json(errorBody(err.code, err.message, err.details), statusByKind[err.kind]);
  if (err instanceof ApiError) {
    if (err.headers) for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json(errorBody(err.code, err.message, err.details), err.status);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const isMalformed = status === 400 && /json/i.test(err.message);
    const code = isMalformed ? 'malformed_json' : (codeByStatus[status] ?? 'http_error');
    const message = isMalformed ? 'The request body is not valid JSON' : err.message || code;
    return c.json(errorBody(code, message), status);
  }
  if (err instanceof OwnerUnavailableError) {
    // Another instance owns what was asked (a WhatsApp session, an actor) and did not answer in time.
    c.header('Retry-After', String(RETRY_AFTER_SECONDS));
    return c.json(errorBody('service_unavailable', err.message, { reason: err.reason, retry_after_seconds: RETRY_AFTER_SECONDS }), 503);
  }
  if (err instanceof ActorUnavailableError) {
    // The actor could not be loaded or reached right now (the database, a reload): nothing was done.
    c.header('Retry-After', String(RETRY_AFTER_SECONDS));
    const message = 'The service cannot take this request right now; try again shortly';
    return c.json(errorBody('service_unavailable', message, { reason: 'actor_unavailable', retry_after_seconds: RETRY_AFTER_SECONDS }), 503);
  }
  if (isDatabaseUnavailable(err)) {
    // The database is down, restarting or too slow: not our bug, and worth retrying soon.
    c.header('Retry-After', String(RETRY_AFTER_SECONDS));
    const message = 'The service cannot take this request right now; try again shortly';
    return c.json(errorBody('service_unavailable', message, { retry_after_seconds: RETRY_AFTER_SECONDS }), 503);
  }
  return c.json(errorBody('internal_error', 'Something went wrong on our side'), 500);
}
