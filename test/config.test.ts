/**
 * Configuration: loadConfig() validates the environment, names every offending variable, requires
 * secrets in production and generates them once (and only once) into DATA_DIR in development.
 * One real child process shows that a bad variable stops `node src/main.ts` with a non-zero exit.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Env } from '../src/config.ts';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'livia-config-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** Runs loadConfig and returns the ConfigError it throws (failing the test if it does not). */
async function configError(env: Env): Promise<ConfigError> {
  const err = await loadConfig({ DATA_DIR: dataDir, ...env }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('loadConfig', () => {
  it('accepts a valid environment and applies the defaults', async () => {
    const config = await loadConfig({ DATA_DIR: dataDir });
    expect(config.port).toBe(3000);
    expect(config.logLevel).toBe('info');
    expect(config.nodeEnv).toBe('development');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.jwtSecret.length).toBeGreaterThanOrEqual(32);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '3000.5'],
    ['LOG_LEVEL', 'loud'],
    ['DATABASE_URL', 'mysql://user@localhost/db'],
    ['DATABASE_URL', 'not a url'],
  ])('rejects %s=%s with a ConfigError naming the variable', async (name, value) => {
    const err = await configError({ [name]: value });
    expect(err.message).toContain(name);
  });

  it('names every offending variable at once', async () => {
    const err = await configError({ PORT: 'abc', LOG_LEVEL: 'loud' });
    expect(err.message).toContain('PORT');
    expect(err.message).toContain('LOG_LEVEL');
  });

  it('does not name variables that are fine', async () => {
    const err = await configError({ PORT: '8080', LOG_LEVEL: 'loud' });
    expect(err.message).toContain('LOG_LEVEL');
    expect(err.message).not.toContain('PORT');
  });

  it('NODE_ENV=production without JWT_SECRET and WEBHOOK_SECRET fails naming both', async () => {
    const err = await configError({ NODE_ENV: 'production' });
    expect(err.message).toContain('JWT_SECRET');
    expect(err.message).toContain('WEBHOOK_SECRET');
  });

  it('NODE_ENV=production with only JWT_SECRET fails naming WEBHOOK_SECRET alone', async () => {
    const err = await configError({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) });
    expect(err.message).toContain('WEBHOOK_SECRET');
    expect(err.message).not.toContain('JWT_SECRET');
  });

  it('rejects a JWT_SECRET shorter than 32 characters', async () => {
    const err = await configError({ NODE_ENV: 'production', JWT_SECRET: 'short', WEBHOOK_SECRET: 'w'.repeat(32) });
    expect(err.message).toContain('JWT_SECRET');
  });

  it('NODE_ENV=production with both secrets uses them and writes no generated secret', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'livia-config-prod-'));
    try {
      const generated: string[] = [];
      const config = await loadConfig(
        { NODE_ENV: 'production', DATA_DIR: dir, JWT_SECRET: 'j'.repeat(40), WEBHOOK_SECRET: 'w'.repeat(32) },
        (what) => generated.push(what),
      );
      expect(config.isProduction).toBe(true);
      expect(config.jwtSecret).toBe('j'.repeat(40));
      expect(config.webhookSecret).toBe('w'.repeat(32));
      expect(generated).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('development generates the secrets into DATA_DIR/secrets.json once and reuses them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'livia-config-dev-'));
    try {
      const nested = join(dir, 'nested', 'data');
      const generated: string[] = [];
      const first = await loadConfig({ DATA_DIR: nested }, (what) => generated.push(what));
      expect(first.jwtSecret.length).toBeGreaterThanOrEqual(32);
      expect(first.webhookSecret.length).toBeGreaterThanOrEqual(16);
      expect(generated).toEqual(['WEBHOOK_SECRET']);

      const file = join(nested, 'secrets.json');
      const stored = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
      expect(stored.jwtSecret).toBe(first.jwtSecret);
      expect(stored.webhookSecret).toBe(first.webhookSecret);
      // Secrets are readable by the owner only.
      expect((await stat(file)).mode & 0o077).toBe(0);

      const second = await loadConfig({ DATA_DIR: nested }, (what) => generated.push(what));
      expect(second.jwtSecret).toBe(first.jwtSecret);
      expect(second.webhookSecret).toBe(first.webhookSecret);
      expect(second.embeddedDbPassword).toBe(first.embeddedDbPassword);
      expect(generated).toEqual(['WEBHOOK_SECRET']); // nothing generated the second time

      // Another DATA_DIR gets secrets of its own.
      const other = await loadConfig({ DATA_DIR: join(dir, 'other') });
      expect(other.jwtSecret).not.toBe(first.jwtSecret);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a given JWT_SECRET wins over a stored one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'livia-config-given-'));
    try {
      const generated = await loadConfig({ DATA_DIR: dir });
      const given = await loadConfig({ DATA_DIR: dir, JWT_SECRET: 'g'.repeat(32) });
      expect(given.jwtSecret).toBe('g'.repeat(32));
      expect(given.webhookSecret).toBe(generated.webhookSecret);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('node src/main.ts with an invalid variable', () => {
  it('exits non-zero and prints the variable name to stderr', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: 'abc', DATA_DIR: dataDir, LOG_LEVEL: 'info' };
    delete env.DATABASE_URL;
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', 'src/main.ts'],
        { cwd: join(import.meta.dirname, '..'), env, timeout: 25_000 },
        (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull(); // it exited by itself, not by our timeout
    expect(result.stderr).toContain('PORT');
    // A clean message, not a crash with a stack trace.
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
