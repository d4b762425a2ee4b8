/**
 * Request-scoped values every middleware and route may read through `c.var`.
 */
import type { Logger } from '../log.ts';
import type { AuthUser } from '../domain/users.ts';

export type { AuthUser };

export interface AppEnv {
  Variables: {
    requestId: string;
    /** The client's address (see resolveClientIp). */
    clientIp: string;
    log: Logger;
    user: AuthUser;
  };
}
