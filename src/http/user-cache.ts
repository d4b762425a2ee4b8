/**
 * A short-lived cache in front of the per-request user lookup. Every authenticated request checks
 * that its user still exists and is active; caching that answer for a few seconds takes a database
 * round trip off every request, and a change made here (deactivation, role) invalidates it at once.
 * (Another instance would see the change within the TTL.)
 *
 * @example
 * const users = cachedUserLookup((id) => findConsultantById(sql, id), 5000);
 * requireAuth(auth, users.lookup);
 * users.invalidate(id); // after an admin changes that user
 */
import type { UserLookup } from './auth.ts';

const MAX_ENTRIES = 10_000;

export function cachedUserLookup(load: UserLookup, ttlMs: number, now: () => number = Date.now) {
  const cache = new Map<string, { at: number; user: Awaited<ReturnType<UserLookup>> }>();
  return {
    async lookup(id: string) {
      const hit = cache.get(id);
      if (hit && now() - hit.at < ttlMs) return hit.user;
      const user = await load(id);
      if (cache.size >= MAX_ENTRIES) cache.clear();
      cache.set(id, { at: now(), user });
      return user;
    },
    invalidate(id: string) {
      cache.delete(id);
    },
  };
}
