/**
 * Where rate limits count: a `MakeLimiter` builds rate-limiter-flexible limiters, in this process's
 * memory (`memoryLimiters`) or in PostgreSQL, shared by every instance (src/db/rate-limit-store.ts).
 *
 * @example
 * const limiter = memoryLimiters({ keyPrefix: 'client', points: 200, duration: 60 });
 * await limiter.consume(ip); // rejects with a RateLimiterRes past the limit
 */
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';

export interface LimiterOptions {
  keyPrefix: string;
  points: number;
  /** Seconds. */
  duration: number;
}

/** What the limits use of a rate-limiter-flexible limiter; each rejects with a RateLimiterRes past its limit. */
export interface Limiter {
  consume(key: string, points?: number): Promise<RateLimiterRes>;
  reward(key: string, points?: number): Promise<RateLimiterRes>;
  delete(key: string): Promise<boolean>;
}

export type MakeLimiter = (opts: LimiterOptions) => Limiter;

/** In this process's memory: each instance counts on its own. */
export const memoryLimiters: MakeLimiter = (opts) => new RateLimiterMemory(opts);

