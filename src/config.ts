/**
 * The one place that reads the environment. Everything else receives a typed `Config`.
 *
 * @example
 * const config = await loadConfig(process.env);
 * // config.port === 3000, config.jwtSecret is a 32+ char string
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { hostname } from 'node:os';
import { z } from 'zod';
import { parseHours, type BusinessHours } from './domain/business-hours.ts';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const secret = z.string().min(32, 'must be at least 32 characters');

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATA_DIR: z.string().min(1).default('.data'),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  JWT_SECRET: secret.optional(),
  JWT_TTL_SECONDS: z.coerce.number().int().positive().default(12 * 3600),
  WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  ADMIN_EMAIL: z.string().email().default('admin@example.com'),
  ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  GROQ_API_KEY: z.string().min(1).optional(),
  GROQ_BASE_URL: z.string().url().optional(),
  GROQ_MODEL: z.string().min(1).default('llama-3.3-70b-versatile'),
  WHATSAPP_DRIVER: z.enum(['baileys', 'simulator']).default('baileys'),
  WHATSAPP_SESSIONS_DIR: z.string().min(1).default('baileys_sessions'),
  WHATSAPP_AUTH_STORE: z.enum(['file', 'postgres']).default('file'),
  WHATSAPP_WA_VERSION: z
    .string()
    .regex(/^(latest|bundled|\d+\.\d+\.\d+)$/, 'must be latest, bundled or a version like 2.3000.1234567890')
    .default('latest'),
  WHATSAPP_WS_URL: z.string().regex(/^wss?:\/\//, 'must be a ws:// or wss:// URL').optional(),
  WHATSAPP_SESSIONS: z.string().regex(/^[a-z][a-z0-9_-]{0,31}(,[a-z][a-z0-9_-]{0,31})*$/, 'comma-separated session names').default('consultant,livia'),
  WHATSAPP_MEDIA_MAX_MB: z.coerce.number().positive().max(100).default(16),
  WHATSAPP_SEND_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(20),
  ASSIGNMENT_REQUIRES_PRESENCE: bool.default(false),
  FRONTEND_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().optional(),
  WEBHOOK_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(60_000),
  UI_DIR: z.string().min(1).default('ui'),
  DB_POOL_MAX: z.coerce.number().int().min(2).max(200).default(20),
  ACTOR_IDLE_SECONDS: z.coerce.number().positive().default(300),
  ACTOR_JOURNAL_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  INSTANCE_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash or underscore, at most 64').optional(),
  INSTANCES: z.coerce.number().int().min(1).max(64).default(1),
  LEASE_TTL_MS: z.coerce.number().int().min(1000).max(120_000).default(10_000),
  ACTOR_INBOX_POLL_MS: z.coerce.number().int().min(500).max(60_000).default(500),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  DB_CONNECT_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(60).default(3),
  DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  INTAKE_MAX_PENDING: z.coerce.number().int().min(1).max(1_000_000).default(2000),
  LIVIA_MONTHLY_RATE: z.coerce.number().min(0).max(0.2).default(0.0199),
  LIVIA_MAX_INCOME_SHARE: z.coerce.number().gt(0).max(1).default(0.3),
  LIVIA_HOURS: z.string().default('08:00-20:00'),
  LIVIA_TIMEZONE: z.string().default('America/Sao_Paulo'),
  LIVIA_FOLLOW_UP_MINUTES: z
    .string()
    .regex(/^\s*\d+(\.\d+)?\s*,\s*\d+(\.\d+)?\s*$/, 'must be two numbers of minutes, e.g. 60,1440')
    .default('60,1440'),
  LIVIA_BURST_MS: z.coerce.number().int().min(0).max(60_000).default(1500),
  LIVIA_TYPING_MS_PER_CHAR: z.coerce.number().min(0).max(1000).default(35),
  LIVIA_TYPING_MAX_MS: z.coerce.number().int().min(0).max(30_000).default(3000),
  LIVIA_BRAIN_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(8000),
  GROQ_TRANSCRIPTION_MODEL: z.string().min(1).default('whisper-large-v3-turbo'),
});

export type Env = Record<string, string | undefined>;

export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  nodeEnv: 'development' | 'production' | 'test';
  isProduction: boolean;
  jwtSecret: string;
  jwtTtlSeconds: number;
  jwtIssuer: string;
  webhookSecret: string;
  /** Password of the embedded PostgreSQL superuser, generated once into DATA_DIR. */
  embeddedDbPassword: string;
  adminEmail: string;
  adminPassword: string | undefined;
  groq: { apiKey: string | undefined; baseUrl: string | undefined; model: string };
  whatsappDriver: 'baileys' | 'simulator';
  whatsappSessionsDir: string;
  /** Where Baileys auth state lives: files under whatsappSessionsDir, or our database. */
  whatsappAuthStore: 'file' | 'postgres';
  /** WhatsApp Web version: fetched (bundled as fallback), Baileys' bundled one, or this one. */
  whatsappWaVersion: 'latest' | 'bundled' | [number, number, number];
  /** WhatsApp Web's WebSocket endpoint; unset: Baileys' own (tests point it at a local server). */
  whatsappWsUrl: string | undefined;
  whatsapp: { sessions: string[]; mediaMaxBytes: number; sendPerMinute: number };
  assignmentRequiresPresence: boolean;
  frontendUrl: string | undefined;
  logLevel: string;
  rateLimitPerMinute: number;
  /** Signed webhooks per minute per sender key (apart from the per-client limit). */
  webhookRateLimitPerMinute: number;
  uiDir: string;
  dbPoolMax: number;
  /** Idle time after which an actor is passivated (written down and dropped from memory). */
  actorIdleMs: number;
  /** Journal entries older than this are pruned (the last 100 of each actor stay). */
  actorJournalDays: number;
  /** Reverse proxies in front whose X-Forwarded-For entries are trusted for the client address. */
  trustProxyHops: number;
  /** Bearer token /metrics asks for; unset: open in development, off in production. */
  metricsToken: string | undefined;
  /** This process's name among instances sharing one database (INSTANCE_ID, or host-pid-random). */
  instanceId: string;
  /**
   * INSTANCES: how many instances share the database. 1: this one takes every lease at start (a
   * restart need not wait out its previous life's lease). More: leases pass by expiry only, and a
   * Baileys driver needs WHATSAPP_AUTH_STORE=postgres.
   */
  instances: number;
  /** LEASE_TTL_MS: a WhatsApp session's (and an actor home's) lease; another instance takes over within about 1.2 × it. */
  leaseTtlMs: number;
  /** ACTOR_INBOX_POLL_MS: how often an owner polls its inbox queues besides being woken by NOTIFY (the fallback when one is lost). */
  actorInboxPollMs: number;
  /** How long a new database connection may take before the attempt fails. */
  dbConnectTimeoutSeconds: number;
  /** PostgreSQL's statement_timeout on the request pools; requests give up (503) shortly after. */
  dbStatementTimeoutMs: number;
  /** An API request still waiting after this is answered 503: the statement timeout + 1 s. */
  requestDeadlineMs: number;
  /** Webhook intakes queued or in flight at most; past it webhooks are answered 503. */
  intakeMaxPending: number;
  /** Lívia, the qualification agent (issue 12). */
  livia: {
    monthlyRate: number;
    maxIncomeShare: number;
    hours: BusinessHours;
    followUpMs: readonly [number, number];
    burstMs: number;
    typing: { msPerChar: number; maxMs: number };
    brainTimeoutMs: number;
    transcriptionModel: string;
  };
}

/** Invalid configuration; its message names every offending variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface Secrets {
  jwtSecret?: string;
  webhookSecret?: string;
  embeddedDbPassword?: string;
}

/**
 * Parses and validates the environment, then resolves secrets: in production JWT_SECRET and
 * WEBHOOK_SECRET are required; in development missing ones are generated once into
 * `$DATA_DIR/secrets.json` and reused on every later start.
 */
export async function loadConfig(
  env: Env,
  onGenerated: (what: string, value: string) => void = () => {},
): Promise<Config> {
  const parsed = envSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  let hours: BusinessHours;
  try {
    hours = parseHours(e.LIVIA_HOURS, e.LIVIA_TIMEZONE);
  } catch (err) {
    const which = err instanceof RangeError ? `LIVIA_TIMEZONE: unknown time zone "${e.LIVIA_TIMEZONE}"` : `LIVIA_HOURS: ${(err as Error).message}`;
    throw new ConfigError(`invalid configuration:\n  ${which}`);
  }
  const [firstFollowUp, lastFollowUp] = e.LIVIA_FOLLOW_UP_MINUTES.split(',').map((m) => Number(m) * 60_000) as [number, number];
  if (!(firstFollowUp > 0 && lastFollowUp > firstFollowUp)) {
    throw new ConfigError('invalid configuration:\n  LIVIA_FOLLOW_UP_MINUTES: the second follow-up must come after the first, both after 0');
  }
  const isProduction = e.NODE_ENV === 'production';
  if (isProduction) {
    const missing = (['JWT_SECRET', 'WEBHOOK_SECRET'] as const).filter((k) => !e[k]);
    if (missing.length > 0) {
      throw new ConfigError(
        `invalid configuration:\n  ${missing.map((k) => `${k}: required when NODE_ENV=production`).join('\n  ')}`,
      );
    }
  }

  const dataDir = resolve(e.DATA_DIR);
  const secrets = await loadOrCreateSecrets(dataDir, onGenerated, {
    jwtSecret: e.JWT_SECRET,
    webhookSecret: e.WEBHOOK_SECRET,
  });

  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir,
    nodeEnv: e.NODE_ENV,
    isProduction,
    jwtSecret: e.JWT_SECRET ?? secrets.jwtSecret,
    jwtTtlSeconds: e.JWT_TTL_SECONDS,
    jwtIssuer: 'livia',
    webhookSecret: e.WEBHOOK_SECRET ?? secrets.webhookSecret,
    embeddedDbPassword: secrets.embeddedDbPassword,
    adminEmail: e.ADMIN_EMAIL.toLowerCase(),
    adminPassword: e.ADMIN_PASSWORD,
    groq: { apiKey: e.GROQ_API_KEY, baseUrl: e.GROQ_BASE_URL, model: e.GROQ_MODEL },
    whatsappDriver: e.WHATSAPP_DRIVER,
    whatsappSessionsDir: resolve(e.WHATSAPP_SESSIONS_DIR),
    whatsappAuthStore: e.WHATSAPP_AUTH_STORE,
    whatsappWaVersion:
      e.WHATSAPP_WA_VERSION === 'latest' || e.WHATSAPP_WA_VERSION === 'bundled'
        ? e.WHATSAPP_WA_VERSION
        : (e.WHATSAPP_WA_VERSION.split('.').map(Number) as [number, number, number]),
    whatsappWsUrl: e.WHATSAPP_WS_URL,
    whatsapp: {
      sessions: [...new Set(e.WHATSAPP_SESSIONS.split(','))],
      mediaMaxBytes: Math.round(e.WHATSAPP_MEDIA_MAX_MB * 1024 * 1024),
      sendPerMinute: e.WHATSAPP_SEND_PER_MINUTE,
    },
    assignmentRequiresPresence: e.ASSIGNMENT_REQUIRES_PRESENCE,
    frontendUrl: e.FRONTEND_URL,
    logLevel: e.LOG_LEVEL,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE ?? (isProduction ? 200 : 2000),
    webhookRateLimitPerMinute: e.WEBHOOK_RATE_LIMIT_PER_MINUTE,
    uiDir: resolve(e.UI_DIR),
    dbPoolMax: e.DB_POOL_MAX,
    actorIdleMs: e.ACTOR_IDLE_SECONDS * 1000,
    actorJournalDays: e.ACTOR_JOURNAL_DAYS,
    trustProxyHops: e.TRUST_PROXY_HOPS,
    metricsToken: e.METRICS_TOKEN,
    instanceId: e.INSTANCE_ID ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`,
    instances: e.INSTANCES,
    leaseTtlMs: e.LEASE_TTL_MS,
    actorInboxPollMs: e.ACTOR_INBOX_POLL_MS,
    dbConnectTimeoutSeconds: e.DB_CONNECT_TIMEOUT_SECONDS,
    dbStatementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    requestDeadlineMs: e.DB_STATEMENT_TIMEOUT_MS + 1000,
    intakeMaxPending: e.INTAKE_MAX_PENDING,
    livia: {
      monthlyRate: e.LIVIA_MONTHLY_RATE,
      maxIncomeShare: e.LIVIA_MAX_INCOME_SHARE,
      hours,
      followUpMs: [firstFollowUp, lastFollowUp],
      burstMs: e.LIVIA_BURST_MS,
      typing: { msPerChar: e.LIVIA_TYPING_MS_PER_CHAR, maxMs: e.LIVIA_TYPING_MAX_MS },
      brainTimeoutMs: e.LIVIA_BRAIN_TIMEOUT_MS,
      transcriptionModel: e.GROQ_TRANSCRIPTION_MODEL,
    },
  };
}

/**
 * Secrets that were not given are generated once and kept in `$DATA_DIR/secrets.json` (mode 0600),
 * so restarts keep sessions valid and webhook senders keep working.
 */
async function loadOrCreateSecrets(
  dataDir: string,
  onGenerated: (what: string, value: string) => void,
  given: { jwtSecret: string | undefined; webhookSecret: string | undefined },
): Promise<Required<Secrets>> {
  const file = join(dataDir, 'secrets.json');
  let stored: Secrets = {};
  try {
    stored = JSON.parse(await readFile(file, 'utf8')) as Secrets;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(`invalid configuration:\n  DATA_DIR: cannot read ${file}: ${(err as Error).message}`);
    }
  }
  const next: Required<Secrets> = {
    jwtSecret: stored.jwtSecret ?? '',
    webhookSecret: stored.webhookSecret ?? '',
    embeddedDbPassword: stored.embeddedDbPassword ?? '',
  };
  let changed = false;
  if (!given.jwtSecret && !next.jwtSecret) {
    next.jwtSecret = randomBytes(48).toString('base64url');
    changed = true;
  }
  if (!given.webhookSecret && !next.webhookSecret) {
    next.webhookSecret = randomBytes(32).toString('hex');
    onGenerated('WEBHOOK_SECRET', next.webhookSecret);
    changed = true;
  }
  if (!next.embeddedDbPassword) {
    next.embeddedDbPassword = randomBytes(24).toString('base64url');
    changed = true;
  }
  if (changed) await writeAtomically(dataDir, file, JSON.stringify(next, null, 2));
  return next;
}

/**
 * Written whole or not at all (a temporary file renamed over), so a full disk or a crash never
 * leaves a half-written secrets file that would stop every later start.
 */
async function writeAtomically(dataDir: string, file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o755 });
    await writeFile(tmp, content, { mode: 0o600 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOSPC' ? 'no space left on the device'
      : code === 'EROFS' ? 'the file system is read-only'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : (err as Error).message;
    throw new ConfigError(`cannot use DATA_DIR ${dataDir}: writing ${file} failed: ${why}`);
  }
}
