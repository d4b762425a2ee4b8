/**
 * Round-robin assignment through the real server and database: fairness and capacity under 1,000
 * concurrent leads, waiting leads assigned in arrival order when someone becomes eligible, manual
 * reassignment, and the presence setting with real Socket.io clients.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSocket, createLead, createUser, mapLimit, sendLead, waitFor, WEBHOOK_SECRET, type Person } from './lead-helpers.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const sockets: Socket[] = [];
afterAll(() => {
  for (const s of sockets) s.disconnect();
});

async function workloads(s: TestServer, ids: string[]) {
  return s.server.sql<{ id: string; open_leads: number; actual: number; assigned: number }[]>`
    select c.id, c.open_leads,
      (select count(*)::int from leads l where l.consultant_id = c.id and l.status in ('NEW','CONTACTED','QUALIFIED','PROPOSAL')) as actual,
      (select count(*)::int from leads l where l.consultant_id = c.id) as assigned
    from consultants c where c.id = any(${ids}::uuid[])`;
}

async function leadRow(s: TestServer, id: string) {
  const [row] = await s.server.sql<{ consultant_id: string | null; ai_classified_at: Date | null; status: string; version: number }[]>`
    select consultant_id, ai_classified_at, status, version from leads where id = ${id}`;
  return row!;
}

async function allClassified(s: TestServer, ids: string[]) {
  const [r] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from leads where id = any(${ids}::uuid[]) and ai_classified_at is null`;
  return r!.n === 0;
}

describe('round-robin without the presence setting', () => {
  let s: TestServer;
  let admin: string;

  beforeAll(async () => {
    s = await startTestServer({ WEBHOOK_SECRET, RATE_LIMIT_PER_MINUTE: '1000000' });
    admin = await s.login();
  });

  it('1,000 concurrent leads over 5 consultants: counts differ by at most 1, each lead assigned once, workloads exact', async () => {
    const team = await Promise.all(Array.from({ length: 5 }, () => createUser(s, admin, { max_open_leads: 1000 })));
    const ids = team.map((c) => c.id);
    const N = 1000;
    const answers = await mapLimit(Array.from({ length: N }, (_, i) => i), 50, async (i) => {
      const res = await sendLead(s.url, { name: `Rajada ${i}`, phone: `119${String(10_000_000 + i).slice(-8)}`, requested_amount: 1000 + i });
      return res.status;
    });
    expect(answers.filter((x) => x === 202)).toHaveLength(N);

    await waitFor(
      'every lead assigned',
      async () => {
        const [r] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from leads where consultant_id is null`;
        return r!.n === 0;
      },
      60_000,
      200,
    );

    const [total] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from leads`;
    expect(total!.n).toBe(N);
    const counts = await s.server.sql<{ consultant_id: string; n: number }[]>`
      select consultant_id, count(*)::int as n from leads group by consultant_id`;
    expect(counts.map((c) => c.consultant_id).sort()).toEqual([...ids].sort());
    const ns = counts.map((c) => c.n);
    expect(Math.max(...ns) - Math.min(...ns)).toBeLessThanOrEqual(1);
    expect(ns.reduce((a, b) => a + b, 0)).toBe(N);

    // Exactly one 'assigned' interaction, one 'classified' and one notification per lead.
    const perLead = await s.server.sql<{ assigned: number; classified: number; notes: number }[]>`
      select
        (select count(*)::int from interactions i where i.lead_id = l.id and i.type = 'assigned') as assigned,
        (select count(*)::int from interactions i where i.lead_id = l.id and i.type = 'classified') as classified,
        (select count(*)::int from notifications n where n.lead_id = l.id) as notes
      from leads l`;
    expect(perLead.filter((r) => r.assigned !== 1 || r.classified !== 1 || r.notes !== 1)).toEqual([]);
    // The assigned interaction and the notification name the lead's consultant.
    const [mismatch] = await s.server.sql<{ n: number }[]>`
      select count(*)::int as n from leads l
      where not exists (select 1 from interactions i where i.lead_id = l.id and i.type = 'assigned' and i.data->>'consultant_id' = l.consultant_id::text)
         or not exists (select 1 from notifications n where n.lead_id = l.id and n.recipient_id = l.consultant_id)`;
    expect(mismatch!.n).toBe(0);

    for (const w of await workloads(s, ids)) expect(w.open_leads).toBe(w.actual);

    // The API agrees.
    const res = await s.api('/api/consultants', { token: admin });
    const listed = ((await res.json()) as { id: string; open_leads: number }[]).filter((c) => ids.includes(c.id));
    expect(listed.map((c) => c.open_leads).reduce((a, b) => a + b, 0)).toBe(N);

    // Clear the stage for the next scenarios: nobody from this team takes leads any more.
    for (const c of team) expect((await s.api(`/api/consultants/${c.id}`, { method: 'PATCH', token: admin, body: { active: false } })).status).toBe(200);
  }, 90_000);

  describe('waiting leads, capacity, freed capacity, manual reassignment', () => {
    let x: Person;
    let y: Person;
    const leads: string[] = [];

    it('with nobody eligible, leads are classified and wait unassigned', async () => {
      x = await createUser(s, admin, { name: 'Xavier', active: false, max_open_leads: 100 });
      // One by one, so arrival order is well defined.
      for (let i = 0; i < 8; i++) leads.push(await createLead(s.url, { name: `Espera ${i}`, email: `espera${i}@x.test` }));
      await waitFor('classification', () => allClassified(s, leads));
      // Give the assignment pass that follows classification a chance to (wrongly) run.
      await new Promise((r) => setTimeout(r, 300));
      for (const id of leads) expect((await leadRow(s, id)).consultant_id).toBeNull();
    });

    it('activating a consultant assigns the waiting leads oldest first, up to capacity', async () => {
      const res = await s.api(`/api/consultants/${x.id}`, { method: 'PATCH', token: admin, body: { active: true, max_open_leads: 3 } });
      expect(res.status).toBe(200);
      await waitFor('three assigned', async () => (await workloads(s, [x.id]))[0]!.assigned === 3);
      const owners = await Promise.all(leads.map(async (id) => (await leadRow(s, id)).consultant_id));
      expect(owners).toEqual([x.id, x.id, x.id, null, null, null, null, null]);
      const [w] = await workloads(s, [x.id]);
      expect(w!.open_leads).toBe(3);
    });

    it('capacity freed (a lead marked LOST) assigns the oldest waiting lead', async () => {
      const first = await leadRow(s, leads[0]!);
      const res = await s.api(`/api/leads/${leads[0]}`, { method: 'PATCH', token: admin, body: { version: first.version, status: 'LOST' } });
      expect(res.status).toBe(200);
      await waitFor('lead 3 assigned', async () => (await leadRow(s, leads[3]!)).consultant_id === x.id);
      const owners = await Promise.all(leads.map(async (id) => (await leadRow(s, id)).consultant_id));
      expect(owners.slice(4)).toEqual([null, null, null, null]);
      const [w] = await workloads(s, [x.id]);
      expect(w).toMatchObject({ open_leads: 3, actual: 3, assigned: 4 });
    });

    it('a consultant with max 2 gets at most 2', async () => {
      y = await createUser(s, admin, { name: 'Yara', max_open_leads: 2 });
      await waitFor('two assigned to Yara', async () => (await workloads(s, [y.id]))[0]!.assigned === 2);
      // A new lead does not go to anyone: both are full.
      const extra = await createLead(s.url, { name: 'Mais um', email: 'mais@x.test' });
      leads.push(extra);
      await waitFor('classification', () => allClassified(s, [extra]));
      await new Promise((r) => setTimeout(r, 300));
      const owners = await Promise.all(leads.map(async (id) => (await leadRow(s, id)).consultant_id));
      expect(owners.slice(4)).toEqual([y.id, y.id, null, null, null]);
      expect(await workloads(s, [y.id])).toEqual([expect.objectContaining({ open_leads: 2, actual: 2 })]);
    });

    it('a manager reassigns a lead: workloads move, the new consultant is notified, the freed slot is refilled', async () => {
      const manager = await createUser(s, admin, { role: 'MANAGER', name: 'Gerente' });
      // Capacity 0: only a manual decision can give Zeca a lead.
      const z = await createUser(s, admin, { name: 'Zeca', max_open_leads: 0 });
      const { socket, events } = await connectSocket(s.url, z.token);
      sockets.push(socket);
      const target = leads[1]!; // Xavier's
      const before = await leadRow(s, target);
      expect(before.consultant_id).toBe(x.id);
      const res = await s.api(`/api/leads/${target}`, { method: 'PATCH', token: manager.token, body: { version: before.version, consultant_id: z.id } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { consultant_id: string; consultant: { id: string; name: string }; version: number };
      expect(body.consultant).toEqual({ id: z.id, name: 'Zeca' });
      expect(body.version).toBe(before.version + 1);

      const [wz] = await workloads(s, [z.id]);
      expect(wz).toMatchObject({ open_leads: 1, actual: 1 });
      // Xavier's freed slot goes to the oldest waiting lead (index 6).
      await waitFor('lead 6 assigned to Xavier', async () => (await leadRow(s, leads[6]!)).consultant_id === x.id);
      const [wx] = await workloads(s, [x.id]);
      expect(wx).toMatchObject({ open_leads: 3, actual: 3 });

      const notes = (await (await s.api('/api/notifications', { token: z.token })).json()) as { lead_id: string; type: string; read: boolean }[];
      expect(notes).toEqual([expect.objectContaining({ lead_id: target, type: 'lead_assigned', read: false })]);
      await waitFor('socket notification', async () => events.some((e) => e.name === 'notification' && e.data.lead_id === target));
      await waitFor('socket lead:updated', async () => events.some((e) => e.name === 'lead:updated' && e.data.id === target && e.data.consultant_id === z.id));

      const timeline = (await (await s.api(`/api/leads/${target}`, { token: admin })).json()) as { interactions: { type: string; actor: { type: string; id: string | null; name: string | null }; data: Record<string, unknown> }[] };
      const re = timeline.interactions.find((i) => i.type === 'reassigned');
      expect(re).toMatchObject({ actor: { type: 'user', id: manager.id, name: 'Gerente' }, data: { from: x.id, to: z.id } });
    });

    it('a consultant cannot reassign (403), and reassigning to an inactive or unknown consultant is refused (422)', async () => {
      const target = leads[2]!;
      const row = await leadRow(s, target);
      const xTok = await s.login(x.email, x.password);
      const forbidden = await s.api(`/api/leads/${target}`, { method: 'PATCH', token: xTok, body: { version: row.version, consultant_id: y.id } });
      expect(forbidden.status).toBe(403);
      const inactive = await createUser(s, admin, { active: false });
      for (const to of [inactive.id, '00000000-0000-4000-8000-000000000000']) {
        const r = await s.api(`/api/leads/${target}`, { method: 'PATCH', token: admin, body: { version: row.version, consultant_id: to } });
        expect(r.status).toBe(422);
      }
      expect((await leadRow(s, target)).consultant_id).toBe(x.id);
    });
  });
});

describe('with ASSIGNMENT_REQUIRES_PRESENCE=true', () => {
  let s: TestServer;
  let admin: string;
  let p1: Person;
  let p2: Person;

  beforeAll(async () => {
    s = await startTestServer({ WEBHOOK_SECRET, ASSIGNMENT_REQUIRES_PRESENCE: 'true' });
    admin = await s.login();
    p1 = await createUser(s, admin, { name: 'Paula' });
    p2 = await createUser(s, admin, { name: 'Pedro' });
  });

  const online = async (id: string) => {
    const list = (await (await s.api('/api/consultants', { token: admin })).json()) as { id: string; online: boolean }[];
    return list.find((c) => c.id === id)?.online;
  };

  it('only the consultant with an open Socket.io connection receives leads', async () => {
    const c1 = await connectSocket(s.url, p1.token);
    sockets.push(c1.socket);
    await waitFor('Paula online', () => online(p1.id));
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await createLead(s.url, { name: `Turno ${i}`, email: `turno${i}@x.test` }));
    await waitFor('assigned', async () => {
      const rows = await Promise.all(ids.map((id) => leadRow(s, id)));
      return rows.every((r) => r.consultant_id);
    });
    for (const id of ids) expect((await leadRow(s, id)).consultant_id).toBe(p1.id);
    await waitFor('Paula notified on her socket', async () => ids.every((id) => c1.events.some((e) => e.name === 'notification' && e.data.lead_id === id)));
    c1.socket.disconnect();
    await waitFor('Paula offline', async () => (await online(p1.id)) === false);
  });

  it('with everyone offline a lead waits; it is assigned when a consultant connects', async () => {
    const id = await createLead(s.url, { name: 'Noturno', email: 'noturno@x.test' });
    await waitFor('classification', () => allClassified(s, [id]));
    await new Promise((r) => setTimeout(r, 300));
    expect((await leadRow(s, id)).consultant_id).toBeNull();
    const c2 = await connectSocket(s.url, p2.token);
    sockets.push(c2.socket);
    await waitFor('assigned to Pedro', async () => (await leadRow(s, id)).consultant_id === p2.id);
    await waitFor('Pedro notified', async () => c2.events.some((e) => e.name === 'notification' && e.data.lead_id === id));
    const [w] = await workloads(s, [p2.id]);
    expect(w).toMatchObject({ open_leads: 1, actual: 1 });
  });
});
