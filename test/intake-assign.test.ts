/**
 * Intake that assigns in its own statement (insertLeads with `assign`) against the pure rotation
 * (assignInOrder): on random teams, batch after batch, each classified lead goes to the consultant
 * assignInOrder picks from the team as stored before the batch, stored as created then assigned
 * (version 2; `created`, `classified`, `assigned` in that order), with exact workloads and
 * notifications numbered per recipient. Once a lead is left waiting (nobody has room), later
 * batches wait behind it. And it never waits: with the assignment lock or an eligible consultant
 * held elsewhere, the leads are stored unassigned at once.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/client.ts';
import { insertLeads, lockAssignment, type NewLeadRow } from '../src/db/leads.ts';
import { migrate } from '../src/db/migrate.ts';
import { assignInOrder, type Candidate } from '../src/domain/assignment.ts';
import { testSql } from './support/db.ts';
import { rng } from './support/rng.ts';

const MIGRATIONS = new URL('../migrations', import.meta.url).pathname;

let n = 0;
const lead = (): NewLeadRow => ({
  id: randomUUID(),
  name: `Lead ${++n}`,
  phone: null,
  email: `l${n}@x.test`,
  source: 'site',
  externalId: null,
  idempotencyKey: null,
  message: null,
  requestedAmount: 10_000,
  monthlyIncome: 5_000,
  metadata: {},
  classification: { score: 60, temperature: 'WARM', classifier: 'rules', reasons: { reasons: ['teste'], note: null } },
});

describe('insertLeads with assign follows assignInOrder, batch after batch', () => {
  let sql: Sql;
  beforeAll(async () => {
    ({ sql } = await testSql());
    await migrate(sql, MIGRATIONS);
  });

  const team = async () =>
    (
      await sql<{ id: string; active: boolean; open_leads: number; max_open_leads: number; last_assigned_at: Date | null; created_at: Date }[]>`
        select id, active, open_leads, max_open_leads, last_assigned_at, created_at from consultants order by created_at, id`
    ).map(
      (c): Candidate => ({
        id: c.id,
        active: c.active,
        openLeads: c.open_leads,
        maxOpenLeads: c.max_open_leads,
        lastAssignedAt: c.last_assigned_at,
        rotation: c.created_at.getTime(),
        online: true,
      }),
    );

  for (let seed = 1; seed <= 8; seed++) {
    it(`random team #${seed}`, async () => {
      const rand = rng(seed * 104729);
      const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
      await sql`truncate notifications, notification_counters, interactions, webhook_signatures, leads, consultants cascade`;
      const base = Date.UTC(2026, 0, 1);
      const size = 2 + Math.floor(rand() * 5);
      for (let i = 0; i < size; i++) {
        const maxOpen = pick([0, 1, 2, 3, 6, 50]);
        await sql`
          insert into consultants (name, email, password_hash, active, max_open_leads, open_leads, last_assigned_at, created_at)
          values (${`C${i}`}, ${`c${seed}-${i}@x.test`}, 'x', ${rand() > 0.15}, ${maxOpen}, ${Math.min(pick([0, 0, 1, 2]), maxOpen)},
                  ${pick([null, null, new Date(base + 1000), new Date(base + 3000)])}, ${new Date(base - pick([0, 10, 20]) * 1000)})`;
      }
      const initial = await team();
      const all: NewLeadRow[] = [];
      let waiting = false;
      for (let b = 0; b < 6; b++) {
        const batch = Array.from({ length: 1 + Math.floor(rand() * 8) }, lead);
        all.push(...batch);
        const before = await team();
        before.sort((x, y) => x.rotation - y.rotation || (x.id < y.id ? -1 : 1));
        const expected = waiting ? [] : assignInOrder(batch.map((l) => l.id), before, { requiresPresence: false, now: new Date() });
        const { inserted, assigned } = await insertLeads(sql, batch, 360, undefined, { assign: true });
        expect(inserted.size).toBe(batch.length);
        expect([...assigned].map(([id, a]) => [id, a.consultantId])).toEqual(expected.map((e) => [e.leadId, e.consultantId]));
        for (const a of assigned.values()) expect(a.notification?.recipient_id).toBe(a.consultantId);
        if (expected.length < batch.length) waiting = true;
      }

      const stored = await sql<{ id: string; consultant_id: string | null; version: number; types: string[] }[]>`
        select l.id, l.consultant_id, l.version, array(select type from interactions i where i.lead_id = l.id order by i.id) as types
        from leads l`;
      for (const l of stored) {
        expect(l.types).toEqual(l.consultant_id ? ['created', 'classified', 'assigned'] : ['created', 'classified']);
        expect(l.version).toBe(l.consultant_id ? 2 : 1);
      }
      const after = await sql<{ id: string; open_leads: number }[]>`select id, open_leads from consultants`;
      for (const c of after) {
        const start = initial.find((x) => x.id === c.id)!.openLeads;
        expect(c.open_leads).toBe(start + stored.filter((l) => l.consultant_id === c.id).length);
      }
      const notes = await sql<{ recipient_id: string; seq: string }[]>`select recipient_id, seq from notifications order by recipient_id, id`;
      expect(notes).toHaveLength(stored.filter((l) => l.consultant_id).length);
      for (const r of new Set(notes.map((x) => x.recipient_id))) {
        const seqs = notes.filter((x) => x.recipient_id === r).map((x) => Number(x.seq));
        expect(seqs).toEqual(seqs.map((_, k) => k + 1));
      }
    });
  }

  it('never waits: with the assignment lock or a consultant held elsewhere, the leads are stored unassigned at once', async () => {
    await sql`truncate notifications, notification_counters, interactions, webhook_signatures, leads, consultants cascade`;
    const [c] = await sql<{ id: string }[]>`insert into consultants (name, email, password_hash, max_open_leads) values ('A', 'a@x.test', 'x', 100) returning id`;
    const holder = await sql.reserve();
    try {
      for (const hold of [() => lockAssignment(holder), async () => void (await holder`select id from consultants where id = ${c!.id} for update`)]) {
        await holder`begin`;
        await hold();
        const started = performance.now();
        const { inserted, assigned } = await insertLeads(sql, [lead(), lead()], 360, undefined, { assign: true });
        expect(performance.now() - started).toBeLessThan(2_000);
        expect(inserted.size).toBe(2);
        expect(assigned.size).toBe(0);
        await holder`commit`;
      }
    } finally {
      holder.release();
    }
    // With leads waiting, a new batch does not go ahead of them, though the consultant is free now.
    const { assigned } = await insertLeads(sql, [lead()], 360, undefined, { assign: true });
    expect(assigned.size).toBe(0);
    const [w] = await sql<{ n: number }[]>`select count(*)::int as n from leads where consultant_id is null`;
    expect(w!.n).toBe(5);
  });
});
