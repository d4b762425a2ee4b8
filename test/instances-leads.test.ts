/**
 * Three instances on one database (issue 14): leads posted round-robin across them are assigned
 * fairly and exactly once; presence is per consultant across instances (the assignment requires
 * it here), and an instance's sockets go with it when it dies; Lívia's replies, asked for through
 * instances that do not own her session, each go out once, from the owner's socket.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { killServers, postLead, until } from './support/child-server.ts';
import { createTestDatabase } from './support/db.ts';
import { createSql } from '../src/db/client.ts';
import { connectSocket } from './lead-helpers.ts';
import { api, say, spawnInstance, waitOwner, type Instance } from './support/instances.ts';

const ENV = { DB_POOL_MAX: '6', INSTANCES: '3', ASSIGNMENT_REQUIRES_PRESENCE: 'true', LIVIA_BURST_MS: '0', LIVIA_TYPING_MS_PER_CHAR: '0', LOG_LEVEL: 'warn' };
const sqls: ReturnType<typeof createSql>[] = [];
const sockets: Socket[] = [];

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  killServers();
  await Promise.all(sqls.map((s) => s.end({ timeout: 5 })));
});

describe('leads across three instances', () => {
  it('round-robin across instances is fair and once; presence follows sockets across instances and dies with its instance', { timeout: 300_000 }, async () => {
    const url = await createTestDatabase('instl');
    const sql = createSql(url, { max: 4 });
    sqls.push(sql);
    const a = await spawnInstance(url, 'lead-a', ENV);
    const [b, c] = await Promise.all([spawnInstance(url, 'lead-b', ENV), spawnInstance(url, 'lead-c', ENV)]);
    const all = [a, b, c];

    // One consultant per instance, each signed in with a socket on "their" instance.
    const consultants: { id: string; on: Instance }[] = [];
    for (const [i, s] of all.entries()) {
      const email = `rr${i}@instances.test`;
      const res = await api(s, '/api/consultants', { name: `Consultor ${i}`, email, password: 'consultant-pw-1', role: 'CONSULTANT', max_open_leads: 1000 });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const login = await fetch(`${s.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'consultant-pw-1' }) });
      const { token } = (await login.json()) as { token: string };
      sockets.push((await connectSocket(s.url, token)).socket);
      consultants.push({ id, on: s });
    }
    // Every instance sees every consultant online, wherever their socket is.
    for (const s of all) {
      await until(`all online as ${s.id} sees them`, async () => {
        const list = (await (await api(s, '/api/consultants')).json()) as { id: string; online: boolean }[];
        return consultants.every((k) => list.find((l) => l.id === k.id)?.online);
      }, 20_000, 100);
    }

    // 30 leads, to A, B and C in turn.
    const N = 30;
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const r = await postLead(all[i % 3]!.url, { name: `Lead ${i}`, email: `lead${i}@instances.test`, phone: `+55119876${String(50_000 + i)}`, source: 'site', external_id: `rr-${i}` });
        expect(r.status).toBe(202);
      }),
    );
    await until('every lead assigned', async () => (await sql<{ n: number }[]>`select count(*)::int as n from leads where consultant_id is not null`)[0]!.n === N, 60_000, 200);
    const per = await sql<{ consultant_id: string; n: number }[]>`select consultant_id, count(*)::int as n from leads group by consultant_id`;
    expect(per.map((p) => p.n).sort()).toEqual([10, 10, 10]);
    const twice = await sql`select lead_id from interactions where type = 'assigned' group by lead_id having count(*) > 1`;
    expect(twice.length).toBe(0);
    expect((await sql<{ n: number }[]>`select count(*)::int as n from interactions where type = 'assigned'`)[0]!.n).toBe(N);

    // C dies with its socket: its consultant goes offline everywhere, and gets no more leads.
    c.child.kill('SIGKILL');
    await c.exited;
    const gone = consultants[2]!.id;
    for (const s of [a, b]) {
      await until(`${gone} offline as ${s.id} sees it`, async () => {
        const list = (await (await api(s, '/api/consultants')).json()) as { id: string; online: boolean }[];
        return list.find((l) => l.id === gone)?.online === false;
      }, 30_000, 200);
    }
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const r = await postLead([a, b][i % 2]!.url, { name: `Late ${i}`, email: `late${i}@instances.test`, phone: `+55119877${String(50_000 + i)}`, source: 'site', external_id: `late-${i}` });
        expect(r.status).toBe(202);
      }),
    );
    await until('the late leads assigned', async () => (await sql<{ n: number }[]>`select count(*)::int as n from leads where consultant_id is not null`)[0]!.n === N + 10, 60_000, 200);
    const late = await sql<{ consultant_id: string; n: number }[]>`select consultant_id, count(*)::int as n from leads where external_id like 'late-%' group by consultant_id`;
    expect(late.find((l) => l.consultant_id === gone)).toBeUndefined();
    expect(late.map((l) => l.n).sort()).toEqual([5, 5]);

    // Lívia answers customers who write through the instance that does not own her session, once each.
    const owner = await waitOwner([a, b], 'livia', () => true);
    const other = owner === a.id ? b : a;
    for (const phone of ['+5511987651001', '+5511987651002']) {
      await say(sql, () => other, phone, 'Oi, aqui é a Carla');
      await say(sql, () => other, phone, 'quero reformar a casa');
    }
    const sent = await sql<{ sent_by: string; sends: number }[]>`select sent_by, sends from wa_simulator_sent where session = 'livia'`;
    expect(sent.length).toBe(4);
    expect(sent.every((r) => r.sends === 1 && r.sent_by === owner)).toBe(true);
    // Every effect ran under the owner's lease, and at most once. (A reply is on the wire a moment
    // before its effect's completion commits: wait for that, not for a fixed time.)
    const effects = await until('every effect done', async () => {
      const rows = await sql<{ claimed_by: string | null; done: boolean }[]>`select claimed_by, done_at is not null as done from actor_outbox where actor_type in ('conversation', 'whatsapp-session')`;
      return rows.every((e) => e.done) && rows;
    }, 10_000, 100);
    expect(effects.every((e) => e.done && e.claimed_by === owner)).toBe(true);
  });
});
