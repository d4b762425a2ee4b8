/**
 * Start-up against what cannot work: an unreachable DATABASE_URL, a read-only DATA_DIR, a full
 * disk. Each must end the process promptly with one clear line and a non-zero exit, with no stack
 * trace, and leave nothing half-created behind.
 *
 * The read-only and full file systems are real tmpfs mounts (`mount -t tmpfs`), which needs root
 * (CAP_SYS_ADMIN); where mounting is not allowed those two tests are skipped, and say so.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import { killServers, spawnServer } from './support/child-server.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';

const mounts: string[] = [];
const dirs: string[] = [];
afterAll(async () => {
  killServers();
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // already gone
    }
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'livia-start-'));
  dirs.push(d);
  return d;
}

function canMount(): boolean {
  try {
    const d = execFileSync('mktemp', ['-d']).toString().trim();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', d], { stdio: 'ignore' });
    execFileSync('umount', [d]);
    return true;
  } catch {
    return false;
  }
}
const MOUNT = canMount();

async function tmpfs(options: string): Promise<string> {
  const d = await tempDir();
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', d]);
  mounts.push(d);
  return d;
}

/** Starts the server and waits for it to exit by itself. */
async function startExpectingFailure(env: Record<string, string>, opts: { embedded?: boolean } = {}) {
  const started = Date.now();
  const s = await spawnServer({ LOG_LEVEL: 'info', ...env }, opts);
  const timeout = new Promise<'still running'>((r) => setTimeout(() => r('still running'), 45_000).unref());
  const result = await Promise.race([s.exited, timeout]);
  if (result === 'still running') s.child.kill('SIGKILL');
  return { result, output: s.output(), ms: Date.now() - started };
}

function expectOneClearLine(output: string, pattern: RegExp) {
  const lines = output.split('\n').filter((l) => l.startsWith('failed to start:') || l.startsWith('cannot use DATA_DIR') || l.startsWith('invalid configuration'));
  expect(lines, output).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  // No stack trace anywhere: neither printed nor inside a JSON log line.
  expect(output).not.toMatch(/\n\s+at .+:\d+:\d+\)?/);
  expect(output).not.toContain('"stack"');
}

describe('start-up failures', () => {
  it('DATABASE_URL with nothing listening: one line naming the address, exit 1', async () => {
    const port = await freePort();
    const dir = await tempDir();
    const r = await startExpectingFailure({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/livia`, DATA_DIR: dir });
    expect(r.result).toEqual({ code: 1, signal: null });
    expectOneClearLine(r.output, new RegExp(`failed to start: cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/livia \\(ECONNREFUSED\\)`));
    expect(await readdir(dir)).not.toContain('postgres');
  }, 60_000);

  it('DATABASE_URL behind a network that answers nothing: connect timeout, one line, exit 1', async () => {
    const proxy = await startTcpProxy('127.0.0.1', 9);
    proxy.pause();
    try {
      const r = await startExpectingFailure({ DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/livia`, DATA_DIR: await tempDir(), DB_CONNECT_TIMEOUT_SECONDS: '2' });
      expect(r.result).toEqual({ code: 1, signal: null });
      expectOneClearLine(r.output, /failed to start: cannot reach PostgreSQL at 127\.0\.0\.1:\d+\/livia \((CONNECT_TIMEOUT|ECONNRESET|CONNECTION_CLOSED)\)/);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it.skipIf(!MOUNT)('a read-only DATA_DIR: one line saying so, exit 1, nothing created', async () => {
    const dir = await tmpfs('ro,size=1m,mode=0755');
    const r = await startExpectingFailure({ DATA_DIR: dir }, { embedded: true });
    expect(r.result).toEqual({ code: 1, signal: null });
    expectOneClearLine(r.output, /cannot use DATA_DIR .*: the file system is read-only/);
    expect(await readdir(dir)).toEqual([]);
  }, 60_000);

  it.skipIf(!MOUNT)('a full disk: secrets that do not fit leave no half-written file; a database that does not fit leaves no half-made directory', async () => {
    // Full: not even the secrets file fits.
    const full = await tmpfs('size=64k,mode=0755');
    await writeFile(join(full, 'filler'), Buffer.alloc(64 * 1024 - 1)).catch(() => {});
    const r1 = await startExpectingFailure({ DATA_DIR: full }, { embedded: true });
    expect(r1.result).toEqual({ code: 1, signal: null });
    expectOneClearLine(r1.output, /cannot use DATA_DIR .*: no space left on the device/);
    expect((await readdir(full)).filter((f) => f !== 'filler')).toEqual([]);

    // Room for the secrets, not for initdb's 40 MB.
    const small = await tmpfs('size=2m,mode=0755');
    const r2 = await startExpectingFailure({ DATA_DIR: small }, { embedded: true });
    expect(r2.result).toEqual({ code: 1, signal: null });
    expectOneClearLine(r2.output, /failed to start: embedded PostgreSQL could not be initialised in .*: no space left on the device/);
    expect(await readdir(small)).toEqual(['secrets.json']);
  }, 90_000);
});
