/**
 * A short-lived cache in front of the per-request session check. Every authenticated request
 * checks that its user still exists, is active, and still has the token version and no revocation
 * of its token; caching that answer for a few seconds takes a database round trip off every
 * request, and a change made here (role, deactivation, password, logout) invalidates it at once.
 * (Another instance would see the change within the TTL.)
 *
 * @example
 * const users = cachedUserLookup((id) => findSessionUser(sql, id), 5000);
 * await users.lookup(id);
 * users.invalidate(id); // after an admin changes that user
 */
const MAX_ENTRIES = 10_000;

export function cachedUserLookup<T>(load: (id: string) => Promise<T>, ttlMs: number, now: () => number = Date.now) {
  const cache = new Map<string, { at: number; user: T }>();
  // A load that started before an invalidation must not put the old answer back.
  const generation = new Map<string, number>();
  return {
    async lookup(id: string): Promise<T> {
      const hit = cache.get(id);
      if (hit && now() - hit.at < ttlMs) return hit.user;
      const gen = generation.get(id) ?? 0;
      const user = await load(id);
      if ((generation.get(id) ?? 0) === gen) {
        if (cache.size >= MAX_ENTRIES) cache.clear();
        cache.set(id, { at: now(), user });
      }
      return user;
    },
    invalidate(id: string): void {
      cache.delete(id);
      if (generation.size >= MAX_ENTRIES) generation.clear();
      generation.set(id, (generation.get(id) ?? 0) + 1);
    },
  };
}
