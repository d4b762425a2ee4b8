import { describe, expect, it } from 'vitest';
import { ROLES, type Role } from './roles.ts';
import { checkTransition, isOpen, LEAD_STATUSES, type LeadStatus } from './lead-status.ts';

const ALL_ROLES: readonly Role[] = ROLES;

/** [from, to, allowed for a consultant] for every open status; closed ones are covered below. */
const OPEN_TABLE: [LeadStatus, LeadStatus, boolean][] = [
  ['NEW', 'CONTACTED', true],
  ['NEW', 'QUALIFIED', false],
  ['NEW', 'PROPOSAL', false],
  ['NEW', 'WON', false],
  ['NEW', 'LOST', true],
  ['CONTACTED', 'NEW', true], // one step back corrects a mistake
  ['CONTACTED', 'QUALIFIED', true],
  ['CONTACTED', 'PROPOSAL', false],
  ['CONTACTED', 'WON', false],
  ['CONTACTED', 'LOST', true],
  ['QUALIFIED', 'NEW', false],
  ['QUALIFIED', 'CONTACTED', true],
  ['QUALIFIED', 'PROPOSAL', true],
  ['QUALIFIED', 'WON', false],
  ['QUALIFIED', 'LOST', true],
  ['PROPOSAL', 'NEW', false],
  ['PROPOSAL', 'CONTACTED', false],
  ['PROPOSAL', 'QUALIFIED', true],
  ['PROPOSAL', 'WON', true],
  ['PROPOSAL', 'LOST', true],
];

describe('checkTransition', () => {
  it('the table covers every pair of distinct statuses from an open one', () => {
    const open = LEAD_STATUSES.filter(isOpen);
    expect(OPEN_TABLE).toHaveLength(open.length * (LEAD_STATUSES.length - 1));
  });

  it.each(OPEN_TABLE)('%s → %s allowed=%s (every role)', (from, to, allowed) => {
    for (const role of ALL_ROLES) {
      const r = checkTransition(from, to, role);
      expect(r.ok, `${role}`).toBe(allowed);
      if (r.ok) expect(r.reopen).toBe(false);
      else expect(r.reason.length).toBeGreaterThan(0);
    }
  });

  it('the whole pipeline NEW → CONTACTED → QUALIFIED → PROPOSAL → WON is allowed step by step', () => {
    const chain: LeadStatus[] = ['NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL', 'WON'];
    for (let i = 1; i < chain.length; i++) expect(checkTransition(chain[i - 1]!, chain[i]!, 'CONSULTANT').ok).toBe(true);
  });

  it('the same status is not a transition', () => {
    for (const s of LEAD_STATUSES) for (const role of ALL_ROLES) expect(checkTransition(s, s, role).ok).toBe(false);
  });

  describe('closed leads (WON, LOST)', () => {
    const closed: LeadStatus[] = ['WON', 'LOST'];
    const open: LeadStatus[] = ['NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL'];

    it.each(closed)('%s reopens to any open status for ADMIN and MANAGER', (from) => {
      for (const role of ['ADMIN', 'MANAGER'] as const) {
        for (const to of open) expect(checkTransition(from, to, role), `${role} ${from}→${to}`).toEqual({ ok: true, reopen: true });
      }
    });

    it.each(closed)('%s cannot be reopened by a CONSULTANT', (from) => {
      for (const to of open) {
        const r = checkTransition(from, to, 'CONSULTANT');
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.reason).toMatch(/manager/i);
      }
    });

    it('WON ↔ LOST is not a reopen, for anyone', () => {
      for (const role of ALL_ROLES) {
        expect(checkTransition('WON', 'LOST', role).ok).toBe(false);
        expect(checkTransition('LOST', 'WON', role).ok).toBe(false);
      }
    });
  });

  it('isOpen', () => {
    expect(LEAD_STATUSES.filter(isOpen)).toEqual(['NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL']);
  });
});
