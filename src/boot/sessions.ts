/**
 * Sessions and sign-in: tokens, the per-request session check with its short cache, the live
 * connections a revocation closes, the login throttle, and an hourly prune of expired logouts.
 */
import type { Config } from '../config.ts';
import type { Sql } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { AuthService } from '../services/auth.ts';
import { LiveConnections } from '../services/live-connections.ts';
import type { MakeLimiter } from '../services/limiters.ts';
import { createLoginThrottle } from '../services/login-throttle.ts';
import { Sessions } from '../services/sessions.ts';
import { createTokens } from '../services/tokens.ts';
import type { Teardown } from './teardown.ts';

const PRUNE_EVERY_MS = 60 * 60 * 1000;

export async function startSessions(d: { sql: Sql; config: Config; log: Logger; teardown: Teardown; limiters?: MakeLimiter }) {
  const tokens = await createTokens({ secret: d.config.jwtSecret, issuer: d.config.jwtIssuer, ttlSeconds: d.config.jwtTtlSeconds });
  const sessions = new Sessions({ sql: d.sql, tokens, live: new LiveConnections() });
  const auth = new AuthService({ sql: d.sql, sessions, throttle: createLoginThrottle(undefined, d.limiters) });
  const prune = setInterval(() => {
    sessions.pruneRevoked().catch((err) => d.log.warn({ err }, 'pruning revoked tokens failed'));
  }, PRUNE_EVERY_MS);
  prune.unref();
  d.teardown.push(async () => clearInterval(prune), 'session pruning');
  return { sessions, auth };
}
