/**
 * The embedded database's orphan check kills only our postgres on our data directory: a live
 * process named in postmaster.pid that is anything else is left alone. Real processes, real
 * signals; the decoys are node under the name `postgres`. A data directory whose state cannot be
 * read is refused as it is, not taken for missing and replaced.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOurPostgres, startEmbeddedPostgres, stopStaleServer } from '../src/db/embedded.ts';
import { createLogger } from '../src/log.ts';

const log = createLogger('silent');
let root: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'livia-orphan-'));
  await symlink(process.execPath, join(root, 'postgres'));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

/** A long-lived process whose command line is `<binary> -e … -- <args>`. */
async function decoy(binary: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(binary, ['-e', 'setInterval(() => {}, 1000)', '--', ...args], { stdio: 'ignore' });
  children.push(child);
  await new Promise((r) => setTimeout(r, 200));
  return child;
}

const exited = (c: ChildProcess) =>
  new Promise<string>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve(`exited ${c.signalCode ?? c.exitCode}`);
    c.once('exit', (code, signal) => resolve(`exited ${signal ?? code}`));
    setTimeout(() => resolve('alive'), 3000).unref();
  });

describe('stale PostgreSQL check', () => {
  it('recognises postgres on this data directory only', async () => {
    const dir = join(root, 'data-a');
    const ours = await decoy(join(root, 'postgres'), ['-D', dir]);
    const elsewhere = await decoy(join(root, 'postgres'), ['-D', join(root, 'data-b')]);
    const mentionsPostgres = await decoy(process.execPath, ['postgres', '-D', dir]);
    expect(await isOurPostgres(ours.pid!, dir)).toBe(true);
    expect(await isOurPostgres(elsewhere.pid!, dir)).toBe(false);
    expect(await isOurPostgres(mentionsPostgres.pid!, dir)).toBe(false);
  });

  it('leaves a live stranger named in postmaster.pid alone, and stops our own orphan', async () => {
    const dir = join(root, 'data-c');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });

    const stranger = await decoy(process.execPath, ['some-postgres-tool']);
    await writeFile(join(dir, 'postmaster.pid'), `${stranger.pid}\n${dir}\n`);
    await stopStaleServer(dir, log);
    expect(await exited(stranger)).toBe('alive');

    const orphan = await decoy(join(root, 'postgres'), ['-D', dir]);
    await writeFile(join(dir, 'postmaster.pid'), `${orphan.pid}\n${dir}\n`);
    await stopStaleServer(dir, log);
    expect(await exited(orphan)).toBe('exited SIGINT');
  });
});

describe('a data directory that cannot be read', () => {
  it('is refused as it is, never removed: only ENOENT counts as "no database here"', async () => {
    // DATA_DIR/postgres is a file: checking for PG_VERSION in it fails with ENOTDIR, not ENOENT.
    // Taken for "missing", it would be removed and a new database initialised in its place.
    const dir = join(root, 'not-a-directory');
    await writeFile(dir, 'precious');
    const outcome = await startEmbeddedPostgres({ dir, password: 'x', log }).then(
      async (db) => (await db.stop(), 'started a database in its place'),
      (err: NodeJS.ErrnoException) => err.code,
    );
    expect(outcome).toBe('ENOTDIR');
    expect(await readFile(dir, 'utf8').catch(() => 'removed')).toBe('precious');
  });
});
