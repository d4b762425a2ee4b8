/**
 * Issue 2: cold start to `/ready` on the embedded database. `node --import tsx src/main.ts` is
 * spawned with a fresh DATA_DIR (initdb, migrations, first admin) and again on the same DATA_DIR
 * (a warm restart), timed from spawn to the first 200 on /ready; each is then stopped with SIGTERM
 * and its exit awaited (the shutdown time is reported too). The baseline is the same spawn-to-200
 * of a bare Hono hello-world run the same way (node + tsx + hono), taken in this run.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort, progress, row, sleep, track, type BenchOptions, type BenchResult } from './lib/common.ts';

interface Started {
  readyMs: number;
  shutdownMs: number;
  /** A PostgreSQL the server left running after it exited (stopped by the bench). */
  orphan?: number | undefined;
  exit: number | string | null;
}

/** Spawns `args`, polls `path` until it answers 200, then SIGTERMs and waits for the exit. */
async function timeStart(args: string[], env: NodeJS.ProcessEnv, path: string, port: number): Promise<Started> {
  const t0 = performance.now();
  const child = track(spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exitCode: number | null | undefined;
  let exitSignal: NodeJS.Signals | null = null;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      exitSignal = signal;
      exitCode = code;
      resolve(exitCode);
    }),
  );
  const url = `http://127.0.0.1:${port}${path}`;
  let readyMs: number | undefined;
  const deadline = t0 + 120_000;
  try {
    while (readyMs === undefined) {
      if (exitCode !== undefined) throw new Error(`exited with ${exitCode} before ready: ${stderr.trim().slice(-1000)}`);
      if (performance.now() > deadline) throw new Error(`not ready within 120 s: ${stderr.trim().slice(-1000)}`);
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) readyMs = performance.now() - t0;
      } catch {
        // Not listening yet.
      }
      if (readyMs === undefined) await sleep(20);
    }
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  const t1 = performance.now();
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await exited;
  clearTimeout(killer);
  const shutdownMs = performance.now() - t1;
  if (code !== 0) progress(`${args.join(' ')} exited with ${code ?? exitSignal} after SIGTERM: ${stderr.trim().slice(-1500)}`);
  return { readyMs, shutdownMs, exit: code ?? exitSignal };
}

export async function runColdstart(_opts: BenchOptions): Promise<BenchResult> {
  const base: NodeJS.ProcessEnv = { ...process.env };
  delete base.DATABASE_URL;

  progress('coldstart: bare Hono hello-world (baseline; one untimed spawn first to warm the file cache)');
  const bareSpawn = async () => {
    const port = await freePort();
    return timeStart(['--import', 'tsx', 'bench/serve-child.ts', 'bare'], { ...base, PORT: String(port) }, '/', port);
  };
  await bareSpawn();
  const bareTimed = await bareSpawn();
  // Likewise load src/main.ts once without starting it (it starts only when run as the entry
  // point), so tsx's transpile cache and the OS file cache are warm for both timed runs.
  await new Promise<void>((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "await import('./src/main.ts')"], { cwd: ROOT, env: base, stdio: 'ignore' });
    c.once('error', reject);
    c.once('exit', () => resolve());
  });

  const dataDir = await mkdtemp(join(tmpdir(), 'livia-bench-cold-'));
  // As root, the embedded PostgreSQL runs as `postgres`, which must enter DATA_DIR.
  await chmod(dataDir, 0o755);
  const env = (port: number): NodeJS.ProcessEnv => ({
    ...base,
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'development',
    ADMIN_EMAIL: 'bench@livia.test',
    ADMIN_PASSWORD: 'bench-password-1',
    WHATSAPP_DRIVER: 'simulator',
  });
  let fresh: Started;
  let warm: Started;
  try {
    progress('coldstart: src/main.ts on a fresh DATA_DIR (initdb)');
    let port = await freePort();
    fresh = await timeStart(['--import', 'tsx', 'src/main.ts'], env(port), '/ready', port);
    fresh.orphan = await stopOrphan(dataDir);
    progress('coldstart: src/main.ts again on the same DATA_DIR');
    port = await freePort();
    warm = await timeStart(['--import', 'tsx', 'src/main.ts'], env(port), '/ready', port);
    warm.orphan = await stopOrphan(dataDir);
  } finally {
    await stopOrphan(dataDir);
    await rm(dataDir, { recursive: true, force: true });
  }

  const notGraceful = [fresh, warm].some((r) => r.exit !== 0);
  const baseline = { label: 'bare Hono hello-world spawn → 200', value: bareTimed.readyMs };
  return {
    name: 'coldstart',
    rows: [
      row({ bench: 'coldstart', metric: 'bare Hono spawn → first 200 (baseline)', value: bareTimed.readyMs, unit: 'ms' }),
      row({
        bench: 'coldstart',
        metric: 'ours spawn → /ready 200, fresh DATA_DIR (initdb)',
        value: fresh.readyMs,
        unit: 'ms',
        baseline,
        note: shutdownNote(fresh),
      }),
      row({
        bench: 'coldstart',
        metric: 'ours spawn → /ready 200, same DATA_DIR (restart)',
        value: warm.readyMs,
        unit: 'ms',
        baseline,
        note: shutdownNote(warm),
      }),
    ],
    notes: [
      'coldstart: spawn → first 200 includes node + tsx start-up (TypeScript is transpiled on load), the embedded PostgreSQL ' +
        '(initdb on the fresh run), migrations, pg-boss, two bcrypt hashes (dummy hash for timing-safe logins, and the first admin on the fresh run) and the UI build lookup; /ready is polled every 20 ms.',
      ...(notGraceful
        ? [
            'coldstart: SIGTERM is sent the moment /ready first answers 200. An exit by signal (not code 0) means the process had ' +
              'no SIGTERM handler yet although it already reported ready, so it died without its graceful shutdown and left its ' +
              'embedded PostgreSQL running.',
          ]
        : []),
    ],
    details: { bare: bareTimed, fresh, warm },
  };
}

function shutdownNote(r: Started): string {
  const how = r.exit === 0 ? 'exit 0' : `exit ${r.exit} (not graceful)`;
  return `SIGTERM → ${how} in ${r.shutdownMs.toFixed(0)} ms${r.orphan ? `; left PostgreSQL pid ${r.orphan} running (stopped by the bench)` : ''}`;
}

/**
 * A server killed before its shutdown ran leaves its embedded PostgreSQL running. Stop it (fast
 * shutdown), so the next run starts clean and nothing outlives the bench. Returns its pid.
 */
async function stopOrphan(dataDir: string): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
  } catch {
    return undefined;
  }
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!Number.isInteger(pid) || pid <= 0 || !alive()) return undefined;
  const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmd.includes('postgres')) return undefined;
  progress(`coldstart: the server left its PostgreSQL (pid ${pid}) running; stopping it`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 200 && alive(); i++) await sleep(50);
  if (alive()) process.kill(pid, 'SIGKILL');
  return pid;
}
