/**
 * The first five minutes, as a developer meets them: `node --import tsx src/main.ts` as a child
 * process with stdout piped (so JSON logs), a fresh database and DATA_DIR. The first start prints
 * the banner (URL, generated admin password and webhook secret, the test-lead command) once, and
 * no log line carries those secrets; the printed command posts a lead that gets 202; a second
 * start prints no banner.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import { createTestDatabase } from './support/db.ts';

const ROOT = join(import.meta.dirname, '..');
const SLOW = 90_000;
const children: ChildProcess[] = [];
let dataDir = '';

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function start(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!/Lívia listening on/.test(out)) {
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}:\n${out}\n${err}`);
    if (Date.now() > deadline) throw new Error(`server did not start:\n${out}\n${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The banner follows the "listening" line in the same tick; give the pipe a moment.
  await new Promise((r) => setTimeout(r, 300));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function stop(s: Started) {
  s.child.kill('SIGTERM');
  expect(await s.exited).toBe(0);
}

const occurrences = (text: string, needle: string) => text.split(needle).length - 1;

describe('first start', () => {
  it(
    'prints the banner once, keeps secrets out of log lines, and its command posts a lead',
    async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'livia-first-'));
      await chmod(dataDir, 0o755);
      const port = await freePort();
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        DATABASE_URL: await createTestDatabase(),
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        NODE_ENV: 'development',
        WHATSAPP_DRIVER: 'simulator',
      };

      const first = await start(env);
      const out = first.stdout();
      const all = out + first.stderr();
      expect(out).toContain(`Lívia is running: http://localhost:${port}`);
      expect(out).toContain('admin@example.com');
      const password = /Password \(shown once\)\s+(\S+)/.exec(out)?.[1];
      const secret = /Webhook secret\s+(\S+)/.exec(out)?.[1];
      expect(password).toMatch(/^[\w-]{12,}$/);
      expect(secret).toMatch(/^[0-9a-f]{64}$/);
      expect(occurrences(all, password!)).toBe(1);
      expect(occurrences(all, secret!)).toBe(1);

      // Piped stdout: the log lines are JSON, and none carries a secret.
      const logLines = out.split('\n').filter((l) => l.startsWith('{'));
      expect(logLines.length).toBeGreaterThan(2);
      for (const line of logLines) {
        expect(() => JSON.parse(line)).not.toThrow();
        expect(line).not.toContain(password);
        expect(line).not.toContain(secret);
      }
      const bannerLines = out.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
      expect(bannerLines.join('\n')).toContain('Post a signed test lead:');

      // The password signs in.
      const login = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'admin@example.com', password }),
      });
      expect(login.status).toBe(200);

      // The printed command, copied and pasted into a shell.
      const command = out.split('\n')[out.split('\n').findIndex((l) => l.includes('Post a signed test lead:')) + 1]!.trim();
      expect(command).toBe(`PORT=${port} DATA_DIR=${dataDir} npm run lead:test`);
      const run = spawnSync('sh', ['-c', command], { cwd: ROOT, env: { PATH: env.PATH, HOME: env.HOME }, encoding: 'utf8', timeout: 60_000 });
      expect(run.status, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toMatch(/→ 202 \{"id":"[0-9a-f-]{36}","status":"NEW"\}/);
      const id = /"id":"([0-9a-f-]{36})"/.exec(run.stdout)![1]!;
      const token = ((await login.json()) as { token: string }).token;
      const lead = await fetch(`http://127.0.0.1:${port}/api/leads/${id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(lead.status).toBe(200);
      expect(((await lead.json()) as { source: string }).source).toBe('site');

      await stop(first);

      const second = await start(env);
      const again = second.stdout() + second.stderr();
      expect(again).not.toContain('Lívia is running:');
      expect(again).not.toContain(password);
      expect(again).not.toContain(secret);
      await stop(second);
    },
    SLOW,
  );
});
