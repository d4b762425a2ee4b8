/**
 * The errors services throw, below src/http so services never import the web layer.
 * - ServiceError: what a service refuses, by kind; the HTTP layer maps the kind to a status
 *   (not_found → 404, forbidden → 403, conflict → 409, invalid → 422) and keeps code, message and
 *   details as they are.
 * - ApiError: an error that already knows its HTTP status (auth and session rules, which speak in
 *   401/403/429 terms); src/http/errors.ts turns either into the contract's JSON.
 *
 * @example
 * throw new ServiceError('not_found', 'not_found', 'Lead not found');
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Role } from '../domain/roles.ts';

export type ServiceErrorKind = 'not_found' | 'forbidden' | 'conflict' | 'invalid';

export class ServiceError extends Error {
  constructor(
    readonly kind: ServiceErrorKind,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** The signed-in user a service acts for (the HTTP layer's user has these fields and more). */
export interface Caller {
  id: string;
  role: Role;
}

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
