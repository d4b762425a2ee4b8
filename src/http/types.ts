/**
 * Request-scoped values every middleware and route may read through `c.var`.
 */
import type { Logger } from '../log.ts';
import type { Role } from '../domain/roles.ts';

export interface AuthUser {
  id: string;
  name: string;
  email: string;
  role: Role;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    /** The client's address (see resolveClientIp). */
    clientIp: string;
    log: Logger;
    user: AuthUser;
  };
}
