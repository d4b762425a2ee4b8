/**
 * Several instances on one database (issue 14), as processes on 127.0.0.1 with the simulator:
 * - `kill -9` of the `livia` session's owner mid-dialogues: another instance takes the session
 *   over within 15 s and keeps answering every customer, with no message lost and none doubled
 *   (each customer receives exactly what a customer of an undisturbed run received);
 * - a paused owner (SIGSTOP) loses its lease to another instance, and after SIGCONT sends nothing.
 * Customers write through instances that do not own the session (the simulator's shared world and
 * the durable forwarding carry it to the owner).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { killServers, until } from './support/child-server.ts';
import { createTestDatabase } from './support/db.ts';
import { createSql } from '../src/db/client.ts';
import { owners, received, say, settled, spawnInstance, waitOwner, type Instance } from './support/instances.ts';

const SCRIPT = ['Oi, aqui é a Carla', 'quero reformar a casa', 'uns 30 mil', 'ganho 5 mil', 'em 24x', 'sim', 'pode sim'];
// Small pools: three processes share one PostgreSQL with the other test files.
const ENV = { DB_POOL_MAX: '6', LIVIA_BURST_MS: '0', LIVIA_TYPING_MS_PER_CHAR: '0', WHATSAPP_SEND_PER_MINUTE: '10000', LOG_LEVEL: 'warn' };
const sqls: ReturnType<typeof createSql>[] = [];

afterAll(async () => {
  killServers();
  await Promise.all(sqls.map((s) => s.end({ timeout: 5 })));
});

async function database() {
  const url = await createTestDatabase('inst');
  const sql = createSql(url, { max: 4 });
  sqls.push(sql);
  return { url, sql };
}

async function consultant(s: Instance, email: string) {
  const res = await fetch(`${s.url}/api/consultants`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` },
    body: JSON.stringify({ name: 'Rafael Lima', email, password: 'rafael-password-1', role: 'CONSULTANT', max_open_leads: 100 }),
  });
  if (res.status !== 201) throw new Error(`creating a consultant on ${s.id}: ${res.status} ${await res.text()}\n${s.output().slice(-3000)}`);
}

describe('several instances, one database', () => {
  it('kill -9 of the livia owner mid-dialogues: another takes over within 15 s, no message lost or doubled', { timeout: 360_000 }, async () => {
    const { url, sql } = await database();
    const env = { ...ENV, INSTANCES: '3' };
    // A starts first, so it owns every session; B and C wait for leases.
    const a = await spawnInstance(url, 'inst-a', env);
    const [b, c] = await Promise.all([spawnInstance(url, 'inst-b', env), spawnInstance(url, 'inst-c', env)]);
    expect(await waitOwner([b, c], 'livia', () => true)).toBe('inst-a');
    expect((await owners(b))!.livia!.here).toBe(false);
    await consultant(b, 'rafael@instances.test');

    // The undisturbed run, written through B (which does not own the session).
    const CONTROL = '+5511987650001';
    for (const text of SCRIPT) await say(sql, () => b, CONTROL, text);
    const expected = await settled(sql, CONTROL);
    expect(expected.length).toBeGreaterThanOrEqual(SCRIPT.length);

    // Four customers mid-dialogue, through B and C in turn; A dies after their third message.
    const phones = ['+5511987650011', '+5511987650012', '+5511987650013', '+5511987650014'];
    let turn = 0;
    const survivors = [b, c];
    const via = () => survivors[turn++ % survivors.length]!;
    let killedAt = 0;
    const third = phones.map(() => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      return { promise, resolve };
    });
    const dialogues = phones.map(async (phone, i) => {
      for (const [n, text] of SCRIPT.entries()) {
        if (n === 3) {
          third[i]!.resolve();
          // Everyone waits for the kill, so each dialogue spans it.
          await until('the kill', () => killedAt > 0, 60_000, 20);
        }
        await say(sql, via, phone, text, 60_000);
      }
    });
    await Promise.all(third.map((t) => t.promise));
    a.child.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    killedAt = Date.now();
    const newOwner = await waitOwner([b, c], 'livia', (o) => o !== 'inst-a', 20_000);
    const takeoverMs = Date.now() - killedAt;
    expect(['inst-b', 'inst-c']).toContain(newOwner);
    expect(takeoverMs).toBeLessThan(15_000);
    await Promise.all(dialogues);

    // Every customer received exactly what the undisturbed customer did: nothing lost, nothing twice.
    for (const phone of phones) {
      expect(await settled(sql, phone)).toEqual(expected);
    }
    // And each Lívia reply was decided once: one outbound row per message the customer saw.
    const [dup] = await sql<{ n: number }[]>`
      select count(*)::int as n from (select chat_id, text from wa_messages where session = 'livia' and direction = 'out'
        group by chat_id, wa_id, text having count(*) > 1) d`;
    expect(dup!.n).toBe(0);
    const outbound = (await sql<{ n: number }[]>`select count(*)::int as n from wa_messages where session = 'livia' and direction = 'out'`)[0]!.n;
    expect(outbound).toBe(expected.length * (phones.length + 1));
    console.log(`takeover after kill -9: ${takeoverMs} ms (new owner ${newOwner})`);
  });

  it('a paused owner (SIGSTOP) loses its lease, and after SIGCONT sends nothing', { timeout: 240_000 }, async () => {
    const { url, sql } = await database();
    const env = { ...ENV, INSTANCES: '2' };
    const a = await spawnInstance(url, 'stop-a', env);
    const b = await spawnInstance(url, 'stop-b', env);
    expect(await waitOwner([b], 'livia', () => true)).toBe('stop-a');
    await consultant(b, 'rafael@paused.test');
    const CONTROL = '+5511987650101';
    for (const text of SCRIPT.slice(0, 5)) await say(sql, () => b, CONTROL, text);
    const expected = await settled(sql, CONTROL);

    const PHONE = '+5511987650102';
    for (const text of SCRIPT.slice(0, 2)) await say(sql, () => b, PHONE, text);
    // Paused the moment the third message is stored: A may hold its reply half-way.
    const stored = (await sql<{ n: number }[]>`select count(*)::int as n from wa_messages where session = 'livia' and direction = 'in'`)[0]!.n;
    await fetch(`${b.url}/api/simulator/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${b.token}` },
      body: JSON.stringify({ session: 'livia', from: PHONE, text: SCRIPT[2] }),
    });
    await until('the message stored', async () => (await sql<{ n: number }[]>`select count(*)::int as n from wa_messages where session = 'livia' and direction = 'in'`)[0]!.n > stored, 30_000, 2);
    a.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    try {
      expect(await waitOwner([b], 'livia', (o) => o === 'stop-b', 20_000)).toBe('stop-b');
      const takeoverMs = Date.now() - stoppedAt;
      expect(takeoverMs).toBeLessThan(15_000);
      await until('the third answer', async () => (await received(sql, PHONE)).length >= 3, 30_000, 50).catch(async (err) => {
        // What the new owner had to do, and what it said.
        const timers = await sql`select actor_id, key, due_at from actor_timers`;
        const jobs = await sql`select name, state, created_on, started_on from pgboss.job where state < 'completed' order by created_on`;
        console.log('timers', JSON.stringify(timers), '\njobs', JSON.stringify(jobs), '\nB:', b.output().slice(-4000));
        throw err;
      });
      const byA = async () =>
        (await sql<{ n: number }[]>`select count(*)::int as n from wa_simulator_sent where sent_by = 'stop-a' or last_sent_by = 'stop-a'`)[0]!.n;
      const sentByA = await byA();
      const lastByA = (await sql<{ at: Date | null }[]>`select max(greatest(at, last_sent_at)) as at from wa_simulator_sent where sent_by = 'stop-a' or last_sent_by = 'stop-a'`)[0]!.at;
      a.child.kill('SIGCONT');
      // The resumed process's timers fire late; give them time, while the dialogue goes on through B.
      for (const text of SCRIPT.slice(3, 5)) await say(sql, () => b, PHONE, text);
      await new Promise((r) => setTimeout(r, 3000));
      expect(await byA()).toBe(sentByA);
      expect(lastByA === null || lastByA.getTime() < stoppedAt + 1000).toBe(true);
      // A knows it is no longer the owner; B is.
      const seen = await until('A answering again', () => owners(a), 20_000, 200);
      expect(seen.livia).toMatchObject({ instance: 'stop-b', here: false });
      expect(await settled(sql, PHONE)).toEqual(expected);
      console.log(`takeover after SIGSTOP: ${takeoverMs} ms; sends by the paused owner: ${sentByA} before, none after`);
    } finally {
      a.child.kill('SIGCONT');
    }
  });
});
