/**
 * `npm start` as an operator runs it, in its own process group: `kill -TERM -<pgid>` reaches npm
 * and node together, and the whole group exits 0 (no shell in between dies of the signal).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import { createTestDatabase } from './support/db.ts';

const ROOT = join(import.meta.dirname, '..');
const SLOW = 90_000;
const groups: number[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function startNpm(signalAfterReady: NodeJS.Signals) {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'livia-npm-'));
  dirs.push(dataDir);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: await createTestDatabase(),
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    ADMIN_PASSWORD: 'admin-password-1',
    WHATSAPP_DRIVER: 'simulator',
  };
  // detached: the child leads a new process group, as a service manager or a terminal would start it.
  const child = spawn('npm', ['start'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.push(child.pid!);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (dead) throw new Error(`npm start exited before it was ready:\n${out.slice(-3000)}`);
    const ok = await fetch(`http://127.0.0.1:${port}/ready`).then(
      async (r) => (await r.body?.cancel(), r.status === 200),
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`npm start not ready in time:\n${out.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  process.kill(-child.pid!, signalAfterReady);
  const result = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000).unref())]);
  return { result, out, port };
}

describe('npm start', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(
      `kill -${signal.slice(3)} of its process group exits 0 after a clean stop`,
      async () => {
        const { result, out, port } = await startNpm(signal);
        expect(result, out.slice(-3000)).toEqual({ code: 0, signal: null });
        expect(out).toContain('stopped');
        // Nothing of the group still listens.
        await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
      },
      SLOW,
    );
  }
});
