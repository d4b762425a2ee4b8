/**
 * The real thing: `node --import tsx src/main.ts` as a child process, as `npm start` runs it.
 * Embedded PostgreSQL start and graceful stop, recovery after `kill -9`, and an external database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/db.ts';
import { freePort } from '../src/db/embedded.ts';

const ROOT = join(import.meta.dirname, '..');
// Each test starts the server (initdb, or a crashed database to recover) and signs in with bcrypt:
// on a crowded two-core machine one took over 60 s.
const SLOW = 120_000;

interface ServerProcess {
  child: ChildProcess;
  url: string;
  dataDir: string;
  /** Everything the process wrote so far (stdout and stderr), for failure messages. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
const postgresPids = new Set<number>();
const tempDirs: string[] = [];

afterAll(async () => {
  // Whatever a failed test left behind: our children, then the postgres servers they started.
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of postgresPids) {
    if (!isAlive(pid)) continue;
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      // already gone
    }
    await waitFor(() => !isAlive(pid), 5000).catch(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    });
  }
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
}, SLOW);


/** A DATA_DIR the `postgres` system user can enter (mkdtemp makes 0700 folders). */
async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'livia-proc-'));
  await chmod(dir, 0o755);
  tempDirs.push(dir);
  return dir;
}

/** Alive and not a zombie (an exited child nobody has reaped yet is dead for our purposes). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true; // no /proc: trust kill(pid, 0)
  }
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function start(env: Record<string, string>, dir: string): Promise<ServerProcess> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    LOG_LEVEL: 'info',
    NODE_ENV: 'development',
    ADMIN_EMAIL: 'admin@livia.test',
    ADMIN_PASSWORD: 'admin-password-1',
    WHATSAPP_DRIVER: 'simulator',
    WHATSAPP_SESSIONS_DIR: join(dir, 'wa'),
    ...env,
  };
  // The embedded path is taken only when DATABASE_URL is absent.
  if (!('DATABASE_URL' in env)) delete childEnv.DATABASE_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, url: `http://127.0.0.1:${port}`, dataDir: dir, output: () => out, exited };
}

/** Polls /ready until 200; fails at once if the process dies first. */
async function waitReady(p: ServerProcess, timeoutMs = 50_000): Promise<void> {
  let dead = false;
  void p.exited.then(() => (dead = true));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (dead) throw new Error(`server exited before it was ready:\n${p.output().slice(-3000)}`);
    try {
      const res = await fetch(`${p.url}/ready`);
      if (res.status === 200) return;
      await res.body?.cancel();
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server not ready in time:\n${p.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function login(p: ServerProcess, email: string, password: string): Promise<Response> {
  return fetch(`${p.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
}

async function postmasterPid(dir: string): Promise<number> {
  const text = await readFile(join(dir, 'postgres', 'postmaster.pid'), 'utf8');
  const pid = Number.parseInt(text.split('\n')[0]!, 10);
  expect(pid).toBeGreaterThan(0);
  postgresPids.add(pid);
  return pid;
}

/** SIGTERM, then the exit, which must come within the contract's 10 s shutdown budget. */
async function stopGracefully(p: ServerProcess) {
  p.child.kill('SIGTERM');
  const result = await Promise.race([
    p.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref()),
  ]);
  expect(result, p.output().slice(-3000)).toEqual({ code: 0, signal: null });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe.concurrent('node src/main.ts', () => {
  it(
    'embedded PostgreSQL: reaches /ready, signs in, and SIGTERM exits 0 and stops the database',
    async () => {
      const dir = await dataDir();
      const p = await start({}, dir);
      await waitReady(p);

      const res = await login(p, 'admin@livia.test', 'admin-password-1');
      expect(res.status).toBe(200);
      const ready = (await (await fetch(`${p.url}/ready`)).json()) as { checks: Record<string, { status: string }> };
      expect(ready.checks.database?.status).toBe('ok');

      const pgPid = await postmasterPid(dir);
      expect(isAlive(pgPid)).toBe(true);

      await stopGracefully(p);
      await waitFor(() => !isAlive(pgPid), 2000, `postgres ${pgPid} to be gone`);
      // A clean shutdown removes the lock file too.
      expect(await exists(join(dir, 'postgres', 'postmaster.pid'))).toBe(false);
      expect(p.output()).toContain('stopped');
    },
    SLOW,
  );

  it(
    'kill -9 leaves the database orphaned; the next start on the same DATA_DIR recovers it, data intact',
    async () => {
      const dir = await dataDir();
      const first = await start({ ADMIN_PASSWORD: 'first-admin-pass' }, dir);
      await waitReady(first);

      // Data written by the first run.
      const adminRes = await login(first, 'admin@livia.test', 'first-admin-pass');
      expect(adminRes.status).toBe(200);
      const { token } = (await adminRes.json()) as { token: string };
      const created = await fetch(`${first.url}/api/consultants`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ name: 'Sobrevivente', email: 'survivor@livia.test', password: 'survivor-pass-1' }),
      });
      expect(created.status).toBe(201);

      const orphan = await postmasterPid(dir);
      first.child.kill('SIGKILL');
      expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(isAlive(orphan)).toBe(true); // postgres outlives its parent

      // A different ADMIN_PASSWORD: had the data been lost, a new admin would get this one.
      const second = await start({ ADMIN_PASSWORD: 'second-admin-pass' }, dir);
      await waitReady(second);
      expect(isAlive(orphan)).toBe(false);

      expect((await login(second, 'admin@livia.test', 'first-admin-pass')).status).toBe(200);
      expect((await login(second, 'admin@livia.test', 'second-admin-pass')).status).toBe(401);
      expect((await login(second, 'survivor@livia.test', 'survivor-pass-1')).status).toBe(200);

      const pgPid = await postmasterPid(dir);
      expect(pgPid).not.toBe(orphan);
      await stopGracefully(second);
      await waitFor(() => !isAlive(pgPid), 2000, `postgres ${pgPid} to be gone`);
      expect(isAlive(orphan)).toBe(false);
    },
    SLOW,
  );

  it(
    'DATABASE_URL: uses that database, reaches /ready, starts no embedded PostgreSQL',
    async () => {
      const dir = await dataDir();
      const url = await createTestDatabase('proc');
      const p = await start({ DATABASE_URL: url }, dir);
      await waitReady(p);
      const ready = (await (await fetch(`${p.url}/ready`)).json()) as { checks: Record<string, { status: string }> };
      expect(ready.checks.database?.status).toBe('ok');
      expect((await login(p, 'admin@livia.test', 'admin-password-1')).status).toBe(200);
      expect(await exists(join(dir, 'postgres'))).toBe(false);
      await stopGracefully(p);
    },
    SLOW,
  );
});
