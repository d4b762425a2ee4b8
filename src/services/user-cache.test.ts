import { describe, expect, it } from 'vitest';
import { cachedUserLookup } from './user-cache.ts';

const user = (active: boolean) => ({ id: 'u1', name: 'Ana', email: 'ana@x.test', role: 'CONSULTANT' as const, active });

describe('cachedUserLookup', () => {
  it('answers from memory within the TTL, reloads after it, and forgets on invalidate', async () => {
    let t = 0;
    let loads = 0;
    let current = user(true);
    const users = cachedUserLookup(async () => (loads++, current), 1000, () => t);
    expect((await users.lookup('u1'))?.active).toBe(true);
    current = user(false);
    t = 999;
    expect((await users.lookup('u1'))?.active).toBe(true);
    expect(loads).toBe(1);
    t = 1000;
    expect((await users.lookup('u1'))?.active).toBe(false);
    expect(loads).toBe(2);
    current = user(true);
    users.invalidate('u1');
    expect((await users.lookup('u1'))?.active).toBe(true);
    expect(loads).toBe(3);
  });
});
