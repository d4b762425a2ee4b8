/**
 * The first administrator, created when no user exists yet (a fresh database), by the server's
 * first start or by `npm run seed:demo`, whichever comes first.
 *
 * @example
 * const created = await ensureFirstAdmin(sql, { email: 'admin@example.com', password: undefined });
 * // => { email, generatedPassword: 'kq3…' } the first time (show it once), undefined afterwards
 */
import { randomBytes } from 'node:crypto';
import type { Sql } from '../db/client.ts';
import { countConsultants, insertConsultant } from '../db/consultants.ts';
import { hashPassword } from './passwords.ts';

export interface FirstAdmin {
  email: string;
  /** Set only when no password was configured: the caller shows it once, nobody can later. */
  generatedPassword: string | undefined;
}

/** Returns the administrator when this call created it; undefined when users already existed. */
export async function ensureFirstAdmin(sql: Sql, opts: { email: string; password: string | undefined }): Promise<FirstAdmin | undefined> {
  if ((await countConsultants(sql)) > 0) return undefined;
  const generated = opts.password ? undefined : randomBytes(12).toString('base64url');
  const created = await insertConsultant(sql, {
    name: 'Administrador',
    email: opts.email,
    passwordHash: await hashPassword(opts.password ?? generated!),
    role: 'ADMIN',
    maxOpenLeads: 0,
  });
  // Another process created the same email between our count and our insert.
  if (!created) return undefined;
  return { email: created.email, generatedPassword: generated };
}
