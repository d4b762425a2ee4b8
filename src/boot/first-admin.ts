/**
 * The first start creates the administrator; a generated password is printed this once.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Sql } from '../db/client.ts';
import { countConsultants, insertConsultant } from '../db/consultants.ts';
import type { Logger } from '../log.ts';
import { hashPassword } from '../services/passwords.ts';

export async function ensureFirstAdmin(sql: Sql, config: Config, log: Logger): Promise<void> {
  if ((await countConsultants(sql)) > 0) return;
  const password = config.adminPassword ?? randomBytes(12).toString('base64url');
  const created = await insertConsultant(sql, {
    name: 'Administrador',
    email: config.adminEmail,
    passwordHash: await hashPassword(password),
    role: 'ADMIN',
    maxOpenLeads: 0,
  });
  if (!created) return;
  if (config.adminPassword) log.info({ email: config.adminEmail }, 'created the first administrator');
  else {
    log.warn({ email: config.adminEmail }, 'created the first administrator with a generated password (shown once)');
    process.stderr.write(`\n  First administrator: ${config.adminEmail}\n  Password (shown once): ${password}\n\n`);
  }
}
