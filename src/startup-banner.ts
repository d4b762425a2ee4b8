/**
 * The few lines a developer needs after the first start: where the app is, how to sign in, the
 * webhook secret, and a command that sends a signed test lead. Plain text on stdout, apart from
 * the log lines, so secrets shown once never end up in collected logs.
 *
 * @example
 * const banner = firstStartBanner({ port, env, nodeEnv, firstAdmin, generated });
 * if (banner) process.stdout.write(banner);
 */
import type { FirstAdmin } from './services/first-admin.ts';

export interface BannerFacts {
  url: string;
  adminEmail?: string | undefined;
  /** Only when generated on this start. */
  adminPassword?: string | undefined;
  /** Only when generated on this start. */
  webhookSecret?: string | undefined;
  /** Environment the test-lead command needs when it differs from the defaults (PORT, DATA_DIR). */
  commandEnv?: Record<string, string> | undefined;
}

const shellQuote = (v: string) => (/^[\w./:@-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);

export function startupBanner(f: BannerFacts): string {
  const env = Object.entries(f.commandEnv ?? {}).map(([k, v]) => `${k}=${shellQuote(v)} `).join('');
  const lines = ['', `  Lívia is running: ${f.url}  (sign in at ${f.url}/login)`, ''];
  if (f.adminEmail && f.adminPassword) {
    lines.push(`  Administrator          ${f.adminEmail}`, `  Password (shown once)  ${f.adminPassword}`);
  }
  if (f.webhookSecret) lines.push(`  Webhook secret         ${f.webhookSecret}  (saved in DATA_DIR/secrets.json)`);
  lines.push('', '  Post a signed test lead:', `    ${env}npm run lead:test`, '', '  Demo data for the board and charts (a fresh database): npm run seed:demo', '', '');
  return lines.join('\n');
}

/**
 * The banner of a first start (an administrator created or a secret generated on this start);
 * undefined on later starts, and under NODE_ENV=test, whose servers set their secrets.
 */
export function firstStartBanner(f: {
  port: number;
  env: Record<string, string | undefined>;
  nodeEnv: string;
  firstAdmin: FirstAdmin | undefined;
  /** Secrets generated on this start, by variable name. */
  generated: ReadonlyMap<string, string>;
}): string | undefined {
  if ((!f.firstAdmin && f.generated.size === 0) || f.nodeEnv === 'test') return undefined;
  return startupBanner({
    url: `http://localhost:${f.port}`,
    adminEmail: f.firstAdmin?.email,
    adminPassword: f.firstAdmin?.generatedPassword,
    webhookSecret: f.generated.get('WEBHOOK_SECRET'),
    // The test-lead command finds the port and the secret where this start put them.
    commandEnv: { ...(f.port !== 3000 ? { PORT: String(f.port) } : {}), ...(f.env.DATA_DIR ? { DATA_DIR: f.env.DATA_DIR } : {}) },
  });
}
