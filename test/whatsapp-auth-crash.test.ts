/**
 * `kill -9` in the middle of auth state writes, against both stores: after each kill the creds
 * read back are whole (their digest matches) and are the last acknowledged round's or the next
 * one's, never older and never a mix; and a key set is all there or not at all (every key of the
 * batch holds the same round).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WhatsAppAuthStore } from '../src/actors/whatsapp/auth-state.ts';
import { createFileAuthStore } from '../src/actors/whatsapp/auth-store-file.ts';
import { createPostgresAuthStore } from '../src/actors/whatsapp/auth-store-postgres.ts';
import type { Sql } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { digestOf, KEYS } from './support/auth-rounds.ts';
import { testSql } from './support/db.ts';

const ROOT = join(import.meta.dirname, '..');
let sql: Sql;
let url: string;
let dir: string;

beforeAll(async () => {
  ({ sql, url } = await testSql());
  await migrate(sql, 'migrations');
  dir = await mkdtemp(join(tmpdir(), 'livia-auth-crash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the writer until it has acknowledged `atLeast` more rounds, then SIGKILLs it after `delayMs`. */
async function runAndKill(kind: string, session: string, atLeast: number, delayMs: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/auth-writer.ts', kind, session], {
    cwd: ROOT,
    env: { ...process.env, AUTH_DIR: dir, DATABASE_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let acked = 0;
  let seen = 0;
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        const m = /^ok (\d+)$/.exec(line);
        if (!m) continue;
        acked = Number(m[1]);
        if (++seen === atLeast) setTimeout(() => { child.kill('SIGKILL'); resolve(); }, delayMs);
      }
    });
    void exited.then(() => (seen < atLeast ? reject(new Error(`writer exited early: ${err}`)) : undefined));
  });
  expect(await exited).toBe('SIGKILL');
  return acked;
}

async function check(store: WhatsAppAuthStore, acked: number): Promise<number> {
  const { state } = await store.open(); // throws AuthStateCorruptError on a torn creds file
  const data = state.creds.additionalData as { n: number; pad: string; digest: string };
  expect(data.digest).toBe(digestOf(data.n, data.pad));
  expect([acked, acked + 1]).toContain(data.n);
  const ids = Array.from({ length: KEYS }, (_, i) => `k${i}`);
  const keys = await state.keys.get('session', ids);
  const values = new Set(ids.map((id) => keys[id]?.toString()));
  expect(values.size).toBe(1); // the whole batch of one round, never a mix of two
  const round = Number([...values][0]);
  expect([acked, acked + 1]).toContain(round);
  return data.n;
}

describe.each([
  ['file', (s: string) => createFileAuthStore({ dir, session: s })],
  ['postgres', (s: string) => createPostgresAuthStore({ sql, session: s })],
] as const)('%s auth store under kill -9', (kind, make) => {
  it('never loses or tears creds, and applies each key set whole or not at all', async () => {
    const session = `crash_${kind}`;
    let last = 0;
    for (let round = 0; round < 6; round++) {
      const acked = await runAndKill(kind, session, 3, round * 3);
      expect(acked).toBeGreaterThan(last);
      last = await check(make(session), acked);
    }
  }, 120_000);
});
