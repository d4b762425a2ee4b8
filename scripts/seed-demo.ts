/**
 * `npm run seed:demo`: fills a fresh database with a demo team and a few hundred leads (see
 * src/services/demo-seed.ts). Uses the same configuration as the server: DATABASE_URL, or the
 * embedded PostgreSQL under DATA_DIR (the running server's, when it is up). Refuses, changing
 * nothing, a database that holds leads or users other than administrators, and NODE_ENV=production.
 *
 * @example
 * npm run seed:demo                      # the default .data/ database
 * DATABASE_URL=postgres://… npm run seed:demo
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../src/config.ts';
import { createSql } from '../src/db/client.ts';
import { ensureDatabase } from '../src/db/bootstrap.ts';
import { runningEmbeddedPostgres, startEmbeddedPostgres, type EmbeddedDb } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { hashPassword } from '../src/services/passwords.ts';
import { createLogger } from '../src/log.ts';
import { NotEmptyError, seedDemo } from '../src/services/demo-seed.ts';
import { ensureFirstAdmin } from '../src/services/first-admin.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));
const out = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const generated = new Map<string, string>();
  const config = await loadConfig(process.env, (what, value) => generated.set(what, value));
  if (config.isProduction) {
    process.stderr.write('seed:demo refuses NODE_ENV=production: demo users with a shared password do not belong there.\n');
    return 1;
  }
  let embedded: EmbeddedDb | undefined;
  let url = config.databaseUrl;
  if (!url) {
    const dir = `${config.dataDir}/postgres`;
    const running = await runningEmbeddedPostgres(dir, config.embeddedDbPassword);
    if (!running) embedded = await startEmbeddedPostgres({ dir, password: config.embeddedDbPassword, log });
    url = await ensureDatabase(running ?? embedded!.url, 'livia');
  }
  const sql = createSql(url, { max: 2, applicationName: 'livia-seed' });
  try {
    await migrate(sql, MIGRATIONS_DIR);
    const admin = await ensureFirstAdmin(sql, { email: config.adminEmail, password: config.adminPassword });
    const password = randomBytes(6).toString('base64url');
    const result = await seedDemo(sql, { passwordHash: await hashPassword(password) });

    out();
    out(`  Demo data: ${result.leads} leads, ${result.interactions} interactions over the last 60 days.`);
    out(`  By status: ${Object.entries(result.byStatus).map(([s, n]) => `${s} ${n}`).join(', ')}`);
    out();
    out(`  Sign in (password for every demo user: ${password})`);
    for (const c of result.consultants) out(`    ${c.role.padEnd(10)}  ${c.email.padEnd(34)}  ${c.name}`);
    if (admin?.generatedPassword) out(`    ${'ADMIN'.padEnd(10)}  ${admin.email.padEnd(34)}  password (shown once): ${admin.generatedPassword}`);
    const secret = generated.get('WEBHOOK_SECRET');
    if (secret) out(`\n  Webhook secret (generated into DATA_DIR/secrets.json): ${secret}`);
    out();
    return 0;
  } catch (err) {
    if (err instanceof NotEmptyError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    await sql.end({ timeout: 5 });
    await embedded?.stop();
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`seed:demo failed: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
  process.exitCode = 1;
}
