/**
 * Who may do what. One closed union, shared by the SQL check constraint, the zod schemas and the UI.
 *
 * @example
 * canManageTeam('MANAGER') // => true
 */
import { z } from 'zod';

export const ROLES = ['ADMIN', 'MANAGER', 'CONSULTANT'] as const;
export type Role = (typeof ROLES)[number];
export const roleSchema = z.enum(ROLES);

/** Admins and managers see every lead and manage the team; consultants see their own leads. */
export function canManageTeam(role: Role): boolean {
  return role === 'ADMIN' || role === 'MANAGER';
}

/**
 * Admins manage everyone; managers manage consultants only (not their peers, not admins), so a
 * manager cannot lock out or take over another manager's account.
 */
export function canGrantRole(actor: Role, target: Role): boolean {
  if (actor === 'ADMIN') return true;
  return actor === 'MANAGER' && target === 'CONSULTANT';
}
