/**
 * A lone instance's start (INSTANCES=1, the default) takes the leases of its previous life at once,
 * but never those of a process that still runs (issue 14): two WhatsApp sockets on one account.
 * Processes on 127.0.0.1, a lease far longer than the test, so expiry cannot explain any change:
 * - B starts while A owns everything: A keeps every lease, under the same epoch, and B owns nothing;
 * - A is killed (kill -9) and C starts: C takes A's leases at once, without waiting for the expiry.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { killServers } from './support/child-server.ts';
import { createTestDatabase } from './support/db.ts';
import { createSql } from '../src/db/client.ts';
import { owners, spawnInstance } from './support/instances.ts';

const ENV = { DB_POOL_MAX: '4', LOG_LEVEL: 'warn', LEASE_TTL_MS: '120000' };
let sql: ReturnType<typeof createSql> | undefined;

afterAll(async () => {
  killServers();
  await sql?.end({ timeout: 5 });
});

const leases = async () =>
  Object.fromEntries(
    (await sql!<{ name: string; owner: string; epoch: string }[]>`select name, owner, epoch from leases where expires_at > now() order by name`).map((r) => [r.name, `${r.owner}#${r.epoch}`]),
  );

describe('INSTANCES=1 at start', () => {
  it('never takes a lease from a live holder; takes a dead one’s at once', { timeout: 180_000 }, async () => {
    const url = await createTestDatabase('start');
    sql = createSql(url, { max: 2 });
    const a = await spawnInstance(url, 'start-a', ENV);
    const held = await leases();
    expect(Object.keys(held).sort()).toEqual(['actors:consultant', 'whatsapp:consultant', 'whatsapp:livia']);
    for (const v of Object.values(held)) expect(v).toMatch(/^start-a#/);

    // B's first round of leases is over once it is ready: A still holds everything, same epochs.
    const b = await spawnInstance(url, 'start-b', ENV);
    expect(await leases()).toEqual(held);
    expect((await owners(b))!.livia).toMatchObject({ instance: 'start-a', here: false });
    expect((await owners(a))!.livia).toMatchObject({ instance: 'start-a', here: true });

    // A dies: the next lone start takes its leases at once (the TTL is 120 s), B still waits.
    a.child.kill('SIGKILL');
    await a.exited;
    const t0 = Date.now();
    const c = await spawnInstance(url, 'start-c', ENV);
    const after = await leases();
    expect(Object.keys(after).sort()).toEqual(Object.keys(held).sort());
    for (const v of Object.values(after)) expect(v).toMatch(/^start-c#/);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect((await owners(c))!.livia).toMatchObject({ instance: 'start-c', here: true });
    expect((await owners(b))!.livia).toMatchObject({ instance: 'start-c', here: false });
  });
});
