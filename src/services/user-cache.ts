/**
 * A short-lived cache in front of the per-request session check. Every authenticated request
 * checks that its user still exists, is active, and still has the token version and no revocation
 * of its token; caching that answer for a few seconds takes a database round trip off every
 * request, and a change made here (role, deactivation, password, logout) invalidates it at once.
 * (Other instances hear of the change over LISTEN/NOTIFY: src/boot/cross-instance.ts.)
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
  // Bumped by clear(): covers loads of ids that had no generation entry yet.
  let epoch = 0;
  return {
    async lookup(id: string): Promise<T> {
      const hit = cache.get(id);
      if (hit && now() - hit.at < ttlMs) return hit.user;
      const gen = generation.get(id) ?? 0;
      const startedIn = epoch;
      const user = await load(id);
      if ((generation.get(id) ?? 0) === gen && epoch === startedIn) {
        if (cache.size >= MAX_ENTRIES) cache.clear();
        cache.set(id, { at: now(), user });
      }
      return user;
    },
    /** Forgets every entry (changes may have been missed); loads in flight do not put theirs back. */
    clear(): void {
      cache.clear();
      for (const id of generation.keys()) generation.set(id, (generation.get(id) ?? 0) + 1);
      epoch++;
    },
    invalidate(id: string): void {
      cache.delete(id);
      if (generation.size >= MAX_ENTRIES) generation.clear();
      generation.set(id, (generation.get(id) ?? 0) + 1);
    },
  };
}
