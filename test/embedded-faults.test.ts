/**
 * The embedded PostgreSQL under a real server process: killed (the server restarts it and
 * recovers, or, when it cannot, exits non-zero promptly; never half-alive), and frozen with
 * SIGSTOP for 20 s (the server refuses work fast with 503 meanwhile, and carries on after SIGCONT).
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addConsultants, isAlive, killServers, postLead, spawnServer, until } from './support/child-server.ts';

const postgresPids = new Set<number>();
const dirs: string[] = [];

afterAll(async () => {
  killServers();
  for (const pid of postgresPids) {
    for (const sig of ['SIGCONT', 'SIGKILL'] as const) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone
      }
    }
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}, 30_000);

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'livia-emb-'));
  await chmod(dir, 0o755);
  dirs.push(dir);
  return dir;
}

async function postmaster(dir: string): Promise<number> {
  const pid = Number.parseInt((await readFile(join(dir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]!, 10);
  postgresPids.add(pid);
  return pid;
}

/** The postmaster and every process it forked (backends, checkpointer, WAL writer, ...). */
function postgresTree(pid: number): number[] {
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)]).toString().trim().split(/\s+/).filter(Boolean).map(Number);
  for (const c of children) postgresPids.add(c);
  return [pid, ...children];
}

async function health(url: string): Promise<number> {
  const res = await fetch(`${url}/health`).catch(() => undefined);
  await res?.body?.cancel();
  return res?.status ?? 0;
}

describe('embedded PostgreSQL faults', () => {
  it('postgres killed with SIGKILL: the server notices, restarts it, and recovers by itself', async () => {
    const dir = await dataDir();
    const s = await spawnServer({ DATA_DIR: dir }, { embedded: true });
    await s.waitReady();
    await addConsultants(s.url, 2);
    const before = await postLead(s.url, { name: 'Antes', email: 'antes@x.test' });
    expect(before.status).toBe(202);

    const old = await postmaster(dir);
    postgresTree(old);
    process.kill(old, 'SIGKILL');
    const killedAt = Date.now();
    // While it is down the server says so (no 200 from /health while it cannot do its job) ...
    const during = await postLead(s.url, { name: 'Durante', email: 'durante@x.test' });
    expect([202, 503]).toContain(during.status);
    if (during.status === 503) expect(during.retryAfter).toMatch(/^\d+$/);
    // ... and is ready again with a new postgres, without anyone restarting the server.
    await s.waitReady(30_000);
    const recoveredMs = Date.now() - killedAt;
    const fresh = await postmaster(dir);
    expect(fresh).not.toBe(old);
    expect(isAlive(fresh)).toBe(true);
    expect(s.child.exitCode).toBeNull();
    expect(await health(s.url)).toBe(200);
    console.info(`embedded kill: ready again after ${recoveredMs} ms`);

    const after = await postLead(s.url, { name: 'Depois', email: 'depois@x.test' });
    expect(after.status).toBe(202);
    // Data from before the kill is still there (same directory, committed before the 202).
    const login = await fetch(`${s.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@faults.test', password: 'faults-admin-password' }),
    });
    const { token } = (await login.json()) as { token: string };
    const lead = await fetch(`${s.url}/api/leads/${before.body.id as string}`, { headers: { authorization: `Bearer ${token}` } });
    expect(lead.status).toBe(200);
    expect(s.output()).toContain('embedded PostgreSQL exited; restarting it');

    s.child.kill('SIGTERM');
    expect((await s.exited).code, s.output().slice(-3000)).toBe(0);
    await until('postgres stopped', () => !isAlive(fresh), 10_000);
  }, 120_000);

  it('postgres killed and impossible to restart: the server exits non-zero promptly, never stays half-alive', async () => {
    const dir = await dataDir();
    const s = await spawnServer({ DATA_DIR: dir }, { embedded: true });
    await s.waitReady();
    const pid = await postmaster(dir);
    postgresTree(pid);
    process.kill(pid, 'SIGKILL');
    // Its data directory is gone (a lost volume): no restart can work.
    await rename(join(dir, 'postgres'), join(dir, 'postgres.lost'));
    const killedAt = Date.now();
    // Noticing is the exit event's delivery: give it a moment, then sample until the end.
    await new Promise((r) => setTimeout(r, 500));
    const statuses = new Set<number>();
    const exited = await Promise.race([
      s.exited,
      (async () => {
        for (;;) {
          statuses.add(await health(s.url));
          await new Promise((r) => setTimeout(r, 200));
        }
      })(),
    ]);
    const exitedMs = Date.now() - killedAt;
    console.info(`embedded kill without recovery: exited ${JSON.stringify(exited)} after ${exitedMs} ms; /health answered ${[...statuses]}`);
    expect(exited.code).not.toBe(0);
    expect(exited.code).not.toBeNull();
    expect(exitedMs).toBeLessThan(60_000);
    // While it lived on, it never claimed to be healthy.
    expect(statuses.has(200)).toBe(false);
    expect(s.output()).toContain('could not be restarted; giving up');
  }, 120_000);

  it('postgres frozen with SIGSTOP for 20 s: fast 503s with Retry-After meanwhile, then it carries on after SIGCONT', async () => {
    const dir = await dataDir();
    const s = await spawnServer({ DATA_DIR: dir }, { embedded: true });
    await s.waitReady();
    await addConsultants(s.url, 2);
    expect((await postLead(s.url, { name: 'Antes', email: 'antes@x.test' })).status).toBe(202);

    const pm = await postmaster(dir);
    const tree = postgresTree(pm);
    for (const p of tree) process.kill(p, 'SIGSTOP');
    const stoppedAt = Date.now();
    const answers: { status: number; ms: number; retryAfter: string | null }[] = [];
    let healthDown = false;
    let i = 0;
    // /health is watched on its own, as a supervisor would, not only between batches of webhooks
    // (a batch can take the whole request deadline).
    const watchHealth = (async () => {
      while (Date.now() - stoppedAt < 20_000) {
        if ((await health(s.url)) === 503) healthDown = true;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    try {
      while (Date.now() - stoppedAt < 20_000) {
        answers.push(...(await Promise.all(Array.from({ length: 4 }, () => postLead(s.url, { name: `Parado ${i}`, email: `parado${i++}@x.test` })))));
      }
      await watchHealth;
    } finally {
      for (const p of tree) process.kill(p, 'SIGCONT');
    }
    const continuedAt = Date.now();
    console.info(`SIGSTOP: ${answers.length} webhooks, statuses ${[...new Set(answers.map((a) => a.status))]}, slowest ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms`);
    expect(s.child.exitCode).toBeNull();
    expect(healthDown).toBe(true);
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(a.retryAfter).toMatch(/^\d+$/);
      expect(a.ms).toBeLessThan(9000);
    }
    expect(answers.filter((a) => a.ms < 1000).length).toBeGreaterThan(answers.length / 2);

    await s.waitReady(30_000);
    console.info(`SIGSTOP: ready again ${Date.now() - continuedAt} ms after SIGCONT`);
    expect(await postmaster(dir)).toBe(pm); // the same postgres, not a restarted one
    expect((await postLead(s.url, { name: 'Depois', email: 'depois@x.test' })).status).toBe(202);
    s.child.kill('SIGTERM');
    expect((await s.exited).code, s.output().slice(-3000)).toBe(0);
  }, 120_000);
});
