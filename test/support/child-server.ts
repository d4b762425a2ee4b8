/**
 * `node --import tsx src/main.ts` as a child process, for fault tests and benchmarks that need a
 * real process (its exit code, its memory, a database under it that can die).
 *
 * @example
 * const s = spawnServer({ DATABASE_URL: url, DATA_DIR: dir });
 * await s.waitReady();
 * s.child.kill('SIGTERM');
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/db/embedded.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const spawned = new Set<ChildProcess>();

export interface ChildServer {
  child: ChildProcess;
  url: string;
  /** Everything written so far to stdout and stderr. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Polls /ready until 200; fails at once if the process exits first. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** Resident memory now, in bytes (from /proc). */
  rss(): number;
}

export const WEBHOOK_SECRET = 'fault-tests-webhook-secret-0123456789';
export const ADMIN = { email: 'admin@faults.test', password: 'faults-admin-password' };

export async function spawnServer(env: Record<string, string>, opts: { embedded?: boolean } = {}): Promise<ChildServer> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    WEBHOOK_SECRET,
    JWT_SECRET: 'fault-tests-jwt-secret-0123456789abcdef',
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    WHATSAPP_DRIVER: 'simulator',
    RATE_LIMIT_PER_MINUTE: '10000000',
    ...env,
  };
  if (opts.embedded) delete childEnv.DATABASE_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      spawned.delete(child);
      resolve({ code, signal });
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    url,
    output: () => out,
    exited,
    async waitReady(timeoutMs = 60_000) {
      let dead = false;
      void exited.then(() => (dead = true));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (dead) throw new Error(`server exited before it was ready:\n${out.slice(-3000)}`);
        const res = await fetch(`${url}/ready`).catch(() => undefined);
        await res?.body?.cancel();
        if (res?.status === 200) return;
        if (Date.now() > deadline) throw new Error(`server not ready in time:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    rss() {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return Number(m?.[1] ?? 0) * 1024;
    },
  };
}

/** Kills every child still running (after a failed test). */
export function killServers(): void {
  for (const c of spawned) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A signed webhook; resolves with the status, the body and how long the answer took. */
export async function postLead(
  baseUrl: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; ms: number; retryAfter: string | null }> {
  const { signWebhook } = await import('../../src/http/webhook-signature.ts');
  const raw = JSON.stringify(body);
  const ts = Math.floor(Date.now() / 1000);
  const started = performance.now();
  const res = await fetch(`${baseUrl}/api/webhooks/leads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-webhook-timestamp': String(ts), 'x-webhook-signature': signWebhook(WEBHOOK_SECRET, ts, raw), ...headers },
    body: raw,
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, body: parsed, ms: performance.now() - started, retryAfter: res.headers.get('retry-after') };
}

/** Signs in as the admin and creates `n` consultants with room for many leads. */
export async function addConsultants(baseUrl: string, n: number): Promise<void> {
  const login = await fetch(`${baseUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
  const { token } = (await login.json()) as { token: string };
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${baseUrl}/api/consultants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ name: `C${i}`, email: `c${i}-${Date.now()}@faults.test`, password: 'password-123', role: 'CONSULTANT', max_open_leads: 10000 }),
    });
    if (res.status !== 201) throw new Error(`create consultant: ${res.status} ${await res.text()}`);
  }
}
