/**
 * The one error type services and routes throw: an HTTP status, the contract's snake_case code, a
 * human message, optional details and headers. It lives below src/http so services can throw it
 * without importing the web layer; src/http/errors.ts turns it into the contract's JSON.
 *
 * @example
 * throw new ApiError(404, 'not_found', 'Lead not found');
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}
