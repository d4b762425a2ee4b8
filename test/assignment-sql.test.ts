/**
 * The one-statement assignment round (assignWaitingLeads) against the pure rotation it implements
 * (assignInOrder): on random teams (workloads, capacities, last assignment times with ties,
 * inactive, full and offline consultants) and random queues of waiting leads, the statement gives
 * each lead to the consultant assignInOrder picks, keeps every workload exact, numbers each
 * recipient's notifications without gaps, and gives strictly increasing rotation times.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/client.ts';
import { assignWaitingLeads } from '../src/db/leads.ts';
import { migrate } from '../src/db/migrate.ts';
import { assignInOrder, type Candidate } from '../src/domain/assignment.ts';
import { testSql } from './support/db.ts';
import { rng } from './support/rng.ts';

const MIGRATIONS = new URL('../migrations', import.meta.url).pathname;

describe('assignWaitingLeads (one statement) follows assignInOrder', () => {
  let sql: Sql;
  beforeAll(async () => {
    ({ sql } = await testSql());
    await migrate(sql, MIGRATIONS);
  });

  for (let seed = 1; seed <= 12; seed++) {
    it(`random team and queue #${seed}`, async () => {
      const rand = rng(seed * 7919);
      const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
      await sql`truncate notifications, notification_counters, interactions, leads, consultants cascade`;

      const base = Date.UTC(2026, 0, 1);
      const times = [null, null, base + 1000, base + 1000, base + 2000, base + 5000];
      const team = Array.from({ length: 2 + Math.floor(rand() * 6) }, (_, i) => ({
        name: `C${i}`,
        email: `c${seed}-${i}@x.test`,
        active: rand() > 0.15,
        maxOpen: pick([0, 1, 2, 3, 5, 50]),
        open: pick([0, 0, 1, 2, 4]),
        last: pick(times),
        // Some share a creation time: the id breaks the tie in both.
        created: base - pick([0, 0, 10, 20, 30]) * 1000,
        online: rand() > 0.3,
      }));
      for (const c of team) c.open = Math.min(c.open, Math.max(c.maxOpen, 0));
      const rows = await sql<{ id: string; created_at: Date }[]>`
        insert into consultants (name, email, password_hash, active, max_open_leads, open_leads, last_assigned_at, created_at)
        select * from unnest(${team.map((c) => c.name)}::text[], ${team.map((c) => c.email)}::text[], ${team.map(() => 'x')}::text[],
                             ${team.map((c) => (c.active ? 't' : 'f'))}::text[]::bool[], ${team.map((c) => c.maxOpen)}::int[], ${team.map((c) => c.open)}::int[],
                             ${team.map((c) => (c.last === null ? null : new Date(c.last).toISOString()))}::timestamptz[],
                             ${team.map((c) => new Date(c.created).toISOString())}::timestamptz[])
        returning id, created_at`;
      const ids = rows.map((r) => r.id);

      const nLeads = 1 + Math.floor(rand() * 40);
      const leadIds = (
        await sql<{ id: string }[]>`
          insert into leads (name, email, source, ai_score, ai_temperature, ai_classifier, ai_classified_at, created_at)
          select 'Lead ' || g, 'l' || g || '@x.test', 'site', 50, 'WARM', 'rules', now(), now() + g * interval '1 ms'
          from generate_series(1, ${nLeads}) g
          returning id`
      ).map((r) => r.id);
      // Not waiting: unclassified, closed, already assigned.
      await sql`insert into leads (name, email, source) values ('Sem classificação', 'u@x.test', 'site')`;
      await sql`insert into leads (name, email, source, ai_classified_at, status, closed_at) values ('Perdido', 'p@x.test', 'site', now(), 'LOST', now())`;

      const presence = seed % 3 === 0;
      const candidates: Candidate[] = team.map((c, i) => ({
        id: ids[i]!,
        active: c.active,
        openLeads: c.open,
        maxOpenLeads: c.maxOpen,
        lastAssignedAt: c.last === null ? null : new Date(c.last),
        rotation: rows[i]!.created_at.getTime(),
        online: c.online,
      }));
      // assignInOrder breaks a full tie by input order: the statement's id order.
      candidates.sort((a, b) => a.rotation - b.rotation || (a.id < b.id ? -1 : 1));
      const expected = assignInOrder(leadIds, candidates, { requiresPresence: presence, now: new Date() });

      const onlineIds = presence ? team.flatMap((c, i) => (c.online ? [ids[i]!] : [])) : null;
      const done = await assignWaitingLeads(sql, { limit: 500, onlineIds });
      expect(done.map((d) => [d.leadId, d.consultantId])).toEqual(expected.map((e) => [e.leadId, e.consultantId]));

      // The database agrees, workloads are exact, notifications numbered 1..n per recipient in lead order.
      const stored = await sql<{ id: string; consultant_id: string | null; assigned_at: Date | null }[]>`
        select id, consultant_id, assigned_at from leads where id = any(${leadIds}::uuid[]) order by created_at`;
      expect(stored.map((l) => l.consultant_id)).toEqual(leadIds.map((id) => expected.find((e) => e.leadId === id)?.consultantId ?? null));
      const ats = stored.flatMap((l) => (l.assigned_at ? [l.assigned_at.getTime()] : []));
      for (let i = 1; i < ats.length; i++) expect(ats[i]!).toBeGreaterThan(ats[i - 1]!);
      const maxLast = Math.max(...team.map((c) => c.last ?? -Infinity));
      if (ats.length > 0 && Number.isFinite(maxLast)) expect(ats[0]!).toBeGreaterThan(maxLast);
      const work = await sql<{ id: string; open_leads: number; last_assigned_at: Date | null }[]>`
        select id, open_leads, last_assigned_at from consultants`;
      for (const w of work) {
        const i = ids.indexOf(w.id);
        const got = expected.filter((e) => e.consultantId === w.id);
        expect(w.open_leads).toBe(team[i]!.open + got.length);
        if (got.length > 0) expect(w.last_assigned_at!.getTime()).toBe(Math.max(...stored.filter((l) => l.consultant_id === w.id).map((l) => l.assigned_at!.getTime())));
      }
      const notes = await sql<{ recipient_id: string; seq: string; lead_id: string }[]>`
        select n.recipient_id, n.seq, n.lead_id from notifications n join leads l on l.id = n.lead_id order by n.recipient_id, l.created_at`;
      expect(notes).toHaveLength(expected.length);
      for (const r of new Set(notes.map((n) => n.recipient_id))) {
        expect(notes.filter((n) => n.recipient_id === r).map((n) => Number(n.seq))).toEqual(notes.filter((n) => n.recipient_id === r).map((_, k) => k + 1));
      }
      const [counted] = await sql<{ n: number }[]>`select count(*)::int as n from interactions where type = 'assigned'`;
      expect(counted!.n).toBe(expected.length);

      // A second round finds nothing more to do unless someone still has room and leads wait.
      const again = await assignWaitingLeads(sql, { limit: 500, onlineIds });
      expect(again).toEqual([]);
    });
  }

  it('a batch limit takes the oldest leads first, and the next round continues the rotation', async () => {
    await sql`truncate notifications, notification_counters, interactions, leads, consultants cascade`;
    const cs = await sql<{ id: string }[]>`
      insert into consultants (name, email, password_hash, max_open_leads, created_at)
      values ('A', 'a@x.test', 'x', 100, now() - interval '2 s'), ('B', 'b@x.test', 'x', 100, now() - interval '1 s'),
             ('C', 'c@x.test', 'x', 100, now())
      returning id`;
    await sql`
      insert into leads (name, email, source, ai_classified_at, created_at)
      select 'L' || g, 'l' || g || '@x.test', 'site', now(), now() + g * interval '1 ms' from generate_series(1, 7) g`;
    const first = await assignWaitingLeads(sql, { limit: 4, onlineIds: null });
    const second = await assignWaitingLeads(sql, { limit: 4, onlineIds: null });
    const [a, b, c] = cs.map((x) => x.id);
    expect([...first, ...second].map((d) => [d.lead.name, d.consultantId])).toEqual([
      ['L1', a], ['L2', b], ['L3', c], ['L4', a], ['L5', b], ['L6', c], ['L7', a],
    ]);
  });
});
