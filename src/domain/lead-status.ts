/**
 * The sales pipeline: NEW → CONTACTED → QUALIFIED → PROPOSAL → WON, LOST from any open status,
 * a step back among open statuses to correct a mistake, and reopening a closed lead (managers).
 *
 * @example
 * checkTransition('NEW', 'CONTACTED', 'CONSULTANT') // => { ok: true }
 * checkTransition('NEW', 'WON', 'CONSULTANT')       // => { ok: false, reason: '...' }
 */
import { canManageTeam, type Role } from './roles.ts';

export const LEAD_STATUSES = ['NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL', 'WON', 'LOST'] as const;
export type LeadStatus = (typeof LEAD_STATUSES)[number];

export const TEMPERATURES = ['HOT', 'WARM', 'COLD'] as const;
export type Temperature = (typeof TEMPERATURES)[number];

const OPEN: readonly LeadStatus[] = ['NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL'];

export function isOpen(status: LeadStatus): boolean {
  return OPEN.includes(status);
}

export type TransitionCheck = { ok: true; reopen: boolean } | { ok: false; reason: string };

export function checkTransition(from: LeadStatus, to: LeadStatus, role: Role): TransitionCheck {
  if (from === to) return { ok: false, reason: `the lead is already ${to}` };
  if (!isOpen(from)) {
    if (!canManageTeam(role)) return { ok: false, reason: 'only a manager may reopen a closed lead' };
    if (!isOpen(to)) return { ok: false, reason: `a ${from} lead can only be reopened to an open status` };
    return { ok: true, reopen: true };
  }
  if (to === 'LOST') return { ok: true, reopen: false };
  const i = OPEN.indexOf(from);
  if (to === 'WON') return from === 'PROPOSAL' ? { ok: true, reopen: false } : { ok: false, reason: 'only a lead with a proposal can be won' };
  const j = OPEN.indexOf(to);
  if (j === i + 1 || j === i - 1) return { ok: true, reopen: false };
  return { ok: false, reason: `${from} → ${to} skips the pipeline; move one step at a time` };
}
