import { performance } from 'node:perf_hooks';
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

  it('a burst at the real cost leaves the main thread free: its event loop is mostly idle meanwhile', async () => {
    const hash = await hashPassword('right-password-1');
    const before = performance.eventLoopUtilization();
    // Four checks of ~150 ms of CPU each: on this thread they would keep its loop busy throughout.
    const checks = await Promise.all(Array.from({ length: 4 }, () => verifyPassword('wrong-password-1', hash)));
    const busy = performance.eventLoopUtilization(before);
    expect(checks).toEqual([false, false, false, false]);
    expect(busy.active + busy.idle).toBeGreaterThan(100);
    expect(busy.utilization).toBeLessThan(0.5);
  });

  it('runs many at once (more than the pool has workers) and answers each', async () => {
    const hashes = await Promise.all(Array.from({ length: 6 }, (_, i) => hashPassword(`p-${i}`, 4)));
    const checks = await Promise.all(hashes.map((h, i) => verifyPassword(`p-${i}`, h)));
    expect(checks).toEqual(Array(6).fill(true));
  });
});
