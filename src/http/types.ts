/**
 * Request-scoped values every middleware and route may read through `c.var`.
 */
import type { Logger } from '../log.ts';
import type { AuthUser } from '../domain/users.ts';
import type { Session } from '../services/sessions.ts';

export type { AuthUser };

export interface AppEnv {
  Variables: {
    requestId: string;
    /** The client's address (see resolveClientIp). */
    clientIp: string;
    log: Logger;
    user: AuthUser;
    /** The token the user presented (set with `user` by the policy middleware). */
    session: Session;
  };
}
