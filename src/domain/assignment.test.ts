import { describe, expect, it } from 'vitest';
import { assignInOrder, isEligible, selectConsultant, type Candidate } from './assignment.ts';

const t0 = new Date('2025-01-01T12:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

function c(id: string, over: Partial<Candidate> = {}, rotation = id.charCodeAt(0)): Candidate {
  return { id, active: true, openLeads: 0, maxOpenLeads: 10, lastAssignedAt: null, rotation, online: true, ...over };
}

const noPresence = { requiresPresence: false };
const presence = { requiresPresence: true };

describe('isEligible', () => {
  it.each([
    ['active, under capacity', c('a'), noPresence, true],
    ['inactive', c('a', { active: false }), noPresence, false],
    ['at capacity', c('a', { openLeads: 10, maxOpenLeads: 10 }), noPresence, false],
    ['over capacity (data drift)', c('a', { openLeads: 11, maxOpenLeads: 10 }), noPresence, false],
    ['capacity 0', c('a', { maxOpenLeads: 0 }), noPresence, false],
    ['one slot left', c('a', { openLeads: 9, maxOpenLeads: 10 }), noPresence, true],
    ['offline without the presence rule', c('a', { online: false }), noPresence, true],
    ['offline with the presence rule', c('a', { online: false }), presence, false],
    ['online with the presence rule', c('a', { online: true }), presence, true],
    ['online but inactive with the presence rule', c('a', { online: true, active: false }), presence, false],
  ] as const)('%s → %s', (_label, cand, opts, expected) => {
    expect(isEligible(cand, opts)).toBe(expected);
  });
});

describe('selectConsultant', () => {
  it('picks the least recently assigned', () => {
    const cs = [c('a', { lastAssignedAt: at(30) }), c('b', { lastAssignedAt: at(10) }), c('c', { lastAssignedAt: at(20) })];
    expect(selectConsultant(cs, noPresence)?.id).toBe('b');
  });

  it('never assigned comes before anyone assigned', () => {
    const cs = [c('a', { lastAssignedAt: at(1) }), c('b', { lastAssignedAt: null, openLeads: 5 })];
    expect(selectConsultant(cs, noPresence)?.id).toBe('b');
  });

  it('ties on time go to the lighter workload, then to rotation order', () => {
    const same = at(5);
    expect(selectConsultant([c('a', { lastAssignedAt: same, openLeads: 3 }), c('b', { lastAssignedAt: same, openLeads: 1 })], noPresence)?.id).toBe('b');
    expect(selectConsultant([c('b', { lastAssignedAt: same }, 2), c('a', { lastAssignedAt: same }, 1)], noPresence)?.id).toBe('a');
    expect(selectConsultant([c('x', {}, 9), c('y', {}, 3), c('z', {}, 5)], noPresence)?.id).toBe('y');
  });

  it('skips the ineligible even when they would be next', () => {
    const cs = [
      c('a', { lastAssignedAt: null, active: false }),
      c('b', { lastAssignedAt: at(1), openLeads: 10 }),
      c('c', { lastAssignedAt: at(2), online: false }),
      c('d', { lastAssignedAt: at(3) }),
    ];
    expect(selectConsultant(cs, noPresence)?.id).toBe('c');
    expect(selectConsultant(cs, presence)?.id).toBe('d');
  });

  it('nobody eligible → undefined', () => {
    expect(selectConsultant([], noPresence)).toBeUndefined();
    expect(selectConsultant([c('a', { active: false }), c('b', { maxOpenLeads: 0 })], noPresence)).toBeUndefined();
    expect(selectConsultant([c('a', { online: false })], presence)).toBeUndefined();
  });
});

describe('assignInOrder', () => {
  const leads = (n: number) => Array.from({ length: n }, (_, i) => `l${i}`);

  it('strict rotation, starting with the least recently assigned, leads in the given order', () => {
    const cs = [c('a', { lastAssignedAt: at(3) }), c('b', { lastAssignedAt: at(1) }), c('c', { lastAssignedAt: at(2) })];
    const plan = assignInOrder(leads(6), cs, { ...noPresence, now: at(100) });
    expect(plan.map((p) => p.leadId)).toEqual(leads(6));
    expect(plan.map((p) => p.consultantId)).toEqual(['b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('gives each assignment a distinct increasing timestamp, after any stored one', () => {
    // A stored last-assigned time ahead of "now" (another process's clock) must not break the rotation.
    const cs = [c('a', { lastAssignedAt: at(500) }), c('b', { lastAssignedAt: null })];
    const plan = assignInOrder(leads(4), cs, { ...noPresence, now: at(100) });
    const times = plan.map((p) => p.at.getTime());
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThan(times[i - 1]!);
    expect(times[0]!).toBeGreaterThan(at(500).getTime());
    expect(plan.map((p) => p.consultantId)).toEqual(['b', 'a', 'b', 'a']);
  });

  it('over many leads spreads evenly (counts differ by at most 1) and respects capacity', () => {
    const cs = [c('a'), c('b'), c('c'), c('d'), c('e')].map((x) => ({ ...x, maxOpenLeads: 1000 }));
    const plan = assignInOrder(leads(1003), cs, { ...noPresence, now: t0 });
    expect(plan).toHaveLength(1003);
    const counts = new Map<string, number>();
    for (const p of plan) counts.set(p.consultantId, (counts.get(p.consultantId) ?? 0) + 1);
    expect([...counts.values()].sort()).toEqual([200, 200, 201, 201, 201]);
    expect(new Set(plan.map((p) => p.leadId)).size).toBe(1003);
  });

  it('a consultant at capacity drops out; the rest keep rotating; the surplus stays unassigned', () => {
    const cs = [c('a', { maxOpenLeads: 2 }), c('b', { maxOpenLeads: 5, openLeads: 1 }), c('c', { maxOpenLeads: 3 })];
    const plan = assignInOrder(leads(20), cs, { ...noPresence, now: t0 });
    const count = (id: string) => plan.filter((p) => p.consultantId === id).length;
    expect(count('a')).toBe(2);
    expect(count('b')).toBe(4);
    expect(count('c')).toBe(3);
    expect(plan).toHaveLength(9);
    // The unassigned ones are the last in arrival order, not arbitrary ones.
    expect(plan.map((p) => p.leadId)).toEqual(leads(9));
  });

  it('does not mutate its input', () => {
    const cs = [c('a'), c('b')];
    const copy = structuredClone(cs);
    assignInOrder(leads(5), cs, { ...noPresence, now: t0 });
    expect(cs).toEqual(copy);
  });

  it('with the presence rule only online consultants receive leads', () => {
    const cs = [c('a', { online: false }), c('b', { online: true }), c('c', { online: false })];
    const plan = assignInOrder(leads(4), cs, { ...presence, now: t0 });
    expect(plan.map((p) => p.consultantId)).toEqual(['b', 'b', 'b', 'b']);
  });

  it('nobody eligible → empty plan', () => {
    expect(assignInOrder(leads(3), [], { ...noPresence, now: t0 })).toEqual([]);
    expect(assignInOrder(leads(3), [c('a', { active: false }), c('b', { openLeads: 10 })], { ...noPresence, now: t0 })).toEqual([]);
    expect(assignInOrder(leads(3), [c('a', { online: false })], { ...presence, now: t0 })).toEqual([]);
    expect(assignInOrder([], [c('a')], { ...noPresence, now: t0 })).toEqual([]);
  });
});
