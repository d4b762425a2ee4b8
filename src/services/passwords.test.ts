import { isMainThread } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from './passwords.ts';

describe('passwords on worker threads', () => {
  it('hashes with bcrypt, verifies the right password only, and says no when there is no hash', async () => {
    expect(isMainThread).toBe(true);
    const hash = await hashPassword('right-password-1', 4);
    expect(hash).toMatch(/^\$2[aby]\$04\$/);
    expect(await verifyPassword('right-password-1', hash)).toBe(true);
    expect(await verifyPassword('wrong-password-1', hash)).toBe(false);
    expect(await verifyPassword('right-password-1', undefined)).toBe(false);
  });

  it('runs many at once (more than the pool has workers) and answers each', async () => {
    const hashes = await Promise.all(Array.from({ length: 6 }, (_, i) => hashPassword(`p-${i}`, 4)));
    const checks = await Promise.all(hashes.map((h, i) => verifyPassword(`p-${i}`, h)));
    expect(checks).toEqual(Array(6).fill(true));
  });
});
