/**
 * Failed-login throttling without a check-then-act race: each attempt takes its point before the
 * password is compared (an atomic consume), so parallel guesses cannot all slip through while
 * bcrypt runs; a successful sign-in gives its points back.
 *
 * Three counters, each per 15 minutes:
 * - per (email, address), tight (5): one address guessing one account is stopped quickly;
 * - per email, loose (50): many addresses guessing one account are stopped too, but an attacker on
 *   one address cannot use up the account's budget, so the real user signs in from elsewhere;
 * - per address (20): one address spraying many accounts is stopped.
 *
 * @example
 * const attempt = await throttle.begin(email, ip); // throws ApiError 429 when over a limit
 * if (ok) await attempt.succeeded();
 */
import { RateLimiterRes } from 'rate-limiter-flexible';
import { memoryLimiters, type Limiter, type MakeLimiter } from './limiters.ts';
import { ApiError } from './errors.ts';

export interface LoginThrottleOptions {
  perEmailAndAddress: number;
  perEmail: number;
  perAddress: number;
  windowSeconds: number;
}

export const LOGIN_THROTTLE_DEFAULTS: LoginThrottleOptions = { perEmailAndAddress: 5, perEmail: 50, perAddress: 20, windowSeconds: 15 * 60 };

export interface LoginAttempt {
  /** The attempt was right: its points are given back, and that address's count for the email is cleared. */
  succeeded(): Promise<void>;
}

export interface LoginThrottle {
  begin(email: string, address: string): Promise<LoginAttempt>;
}

/** `limiters`: where the counts live (PostgreSQL, so every instance shares them; memory by default). */
export function createLoginThrottle(opts: LoginThrottleOptions = LOGIN_THROTTLE_DEFAULTS, limiters: MakeLimiter = memoryLimiters): LoginThrottle {
  const limiter = (keyPrefix: string, points: number) => limiters({ keyPrefix, points, duration: opts.windowSeconds });
  const pair = limiter('login-email-address', opts.perEmailAndAddress);
  const email = limiter('login-email', opts.perEmail);
  const address = limiter('login-address', opts.perAddress);
  return {
    async begin(mail, ip) {
      const keys: [Limiter, string][] = [
        [pair, `${mail}|${ip}`],
        [email, mail],
        [address, ip],
      ];
      const taken: [Limiter, string][] = [];
      for (const [l, key] of keys) {
        try {
          await l.consume(key, 1);
          taken.push([l, key]);
        } catch (res) {
          // Refused attempts cost nothing on the other counters.
          await Promise.all(taken.map(([t, k]) => t.reward(k, 1)));
          if (!(res instanceof RateLimiterRes)) throw res;
          const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
          throw new ApiError(429, 'rate_limited', 'Too many failed sign-in attempts; try again later', { retry_after_seconds: retryAfter }, {
            'Retry-After': String(retryAfter),
          });
        }
      }
      return {
        async succeeded() {
          await Promise.all([pair.delete(`${mail}|${ip}`), email.reward(mail, 1), address.reward(ip, 1)]);
        },
      };
    },
  };
}
