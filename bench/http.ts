/**
 * Issue 2: requests/s of `GET /health` and of an authenticated `GET /api/auth/me` on our server,
 * against a bare Hono hello-world on @hono/node-server, with the same client and concurrency.
 *
 * Each server runs in a child process (bench/serve-child.ts) and the load generator in this one:
 * the client's own cost then does not eat into the server's event loop, which would flatter the
 * slower server (a shared loop caps both at the client's speed). Both still share the machine's
 * cores with each other and, for /api/auth/me, with PostgreSQL.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, liviaEnv, progress, row, track, type BenchOptions, type BenchResult, type Row } from './lib/common.ts';
import { httpLoad, type LoadResult } from './lib/load.ts';

export interface ChildServer {
  url: string;
  child: ChildProcess;
  /** The child's CPU time so far, in ms. */
  cpuMs(): Promise<number>;
  stop(): Promise<number | null>;
}

export function forkServer(mode: 'bare' | 'livia', env: Record<string, string> = {}, extraExecArgv: string[] = []): Promise<ChildServer> {
  const child = track(fork(join(ROOT, 'bench/serve-child.ts'), [mode], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', ...extraExecArgv],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  }));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${mode} server did not start within 60 s`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${mode} server exited with ${code} before it was ready`));
    });
    child.once('message', (m: { type?: string; url?: string }) => {
      if (m?.type !== 'ready' || !m.url) return;
      clearTimeout(timer);
      resolve({
        url: m.url,
        child,
        cpuMs: () =>
          new Promise<number>((res) => {
            const on = (msg: { type?: string; usage?: NodeJS.CpuUsage }) => {
              if (msg?.type !== 'cpu' || !msg.usage) return;
              child.off('message', on);
              res((msg.usage.user + msg.usage.system) / 1000);
            };
            child.on('message', on);
            child.send('cpu');
          }),
        async stop() {
          if (child.connected) child.send('stop');
          const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          const code = await exited;
          clearTimeout(killer);
          return code;
        },
      });
    });
  });
}

export async function runHttp(opts: BenchOptions, db: { url: string }): Promise<BenchResult> {
  // Both servers run side by side and the targets take turns (bare, /health, /me, bare, ...), so
  // a burst of other load on the machine falls on all of them rather than on one.
  const rounds = opts.quick ? 1 : 2;
  const durationMs = Math.round(opts.durationMs / rounds);
  const load = async (server: ChildServer, path: string, headers?: Record<string, string>): Promise<Measured> => {
    const cpu0 = await server.cpuMs();
    const machine0 = machineCpu();
    const t0 = performance.now();
    const r = await httpLoad({ url: `${server.url}${path}`, headers, connections: opts.connections, warmupMs: opts.warmupMs, durationMs });
    // Over warm-up and measured window together: close enough to tell a saturated server.
    const serverCpu = ((await server.cpuMs()) - cpu0) / (performance.now() - t0);
    return { ...r, serverCpu, machineBusy: machineBusy(machine0, machineCpu()) };
  };

  const dataDir = await mkdtemp(join(tmpdir(), 'livia-bench-data-'));
  const admin = { email: 'bench@livia.test', password: 'bench-password-1' };
  progress('http: starting a bare Hono hello-world and our server, each in a child process');
  const servers: ChildServer[] = [];
  const results: Record<'bare' | 'health' | 'me', Measured[]> = { bare: [], health: [], me: [] };
  try {
    const bare = await forkServer('bare');
    servers.push(bare);
    const ours = await forkServer(
      'livia',
      liviaEnv({ databaseUrl: db.url, dataDir, admin, webhookSecret: 'bench-webhook-secret-0123456789' }),
    );
    servers.push(ours);
    const res = await fetch(`${ours.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(admin),
    });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
    const { token } = (await res.json()) as { token: string };
    for (let round = 1; round <= rounds; round++) {
      progress(`http: round ${round}/${rounds}: ${opts.connections} connections, ${durationMs} ms per target`);
      results.bare.push(await load(bare, '/'));
      results.health.push(await load(ours, '/health'));
      results.me.push(await load(ours, '/api/auth/me', { authorization: `Bearer ${token}` }));
    }
  } finally {
    for (const s of servers) await s.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  const bareRes = merge('bare', results.bare);
  const health = merge('/health', results.health);
  const me = merge('/api/auth/me', results.me);

  const baseline = { label: 'bare Hono hello-world', value: bareRes.rps };
  const rows: Row[] = [
    row({ bench: 'http', metric: 'bare Hono GET / (baseline)', value: bareRes.rps, unit: 'req/s', note: latencyNote(bareRes) }),
    row({ bench: 'http', metric: 'ours GET /health', value: health.rps, unit: 'req/s', baseline, note: latencyNote(health) }),
    row({ bench: 'http', metric: 'ours GET /api/auth/me (JWT + user lookup)', value: me.rps, unit: 'req/s', baseline, note: latencyNote(me) }),
  ];
  return {
    name: 'http',
    rows,
    notes: [
      `http: each server runs in a child process of its own; the load generator (raw HTTP/1.1 over node:net, keep-alive, ` +
        `${opts.connections} connections, one request in flight per connection, ${opts.warmupMs} ms warm-up + ${opts.durationMs} ms) ` +
        `runs in the bench process. Server, client and PostgreSQL share this machine's ${availableParallelism()} cores, so absolute ` +
        'rates are a floor; compare the ratios. "cores used" 1.00 = one core busy (a server near 1.00 was the bottleneck); ' +
        '"machine busy" is all cores, other processes included.' +
        (rounds > 1 ? ` Targets took turns in ${rounds} rounds of ${durationMs} ms (rates averaged, worst p99 kept).` : ''),
      'http: our server runs with LOG_LEVEL=warn (no per-request log line) and NODE_ENV=test; its full middleware stack ' +
        '(request id, request log, metrics, secure headers, rate limit, body limit) runs on every request.',
    ],
    details: { bare: bareRes, health, me },
  };
}

type Measured = LoadResult & { serverCpu: number; machineBusy: number | undefined };

/** The rounds of one target as one result: rates and CPU averaged, the worst p99 kept. */
function merge(name: string, rs: Measured[]): Measured {
  const mean = (f: (r: Measured) => number) => rs.reduce((a, r) => a + f(r), 0) / rs.length;
  const errors = rs.reduce((a, r) => a + r.errors, 0);
  const firstError = rs.find((r) => r.firstError)?.firstError;
  if (errors > 0) progress(`${name}: ${errors} errors (first: ${firstError})`);
  const busy = rs.map((r) => r.machineBusy).filter((b): b is number => b !== undefined);
  return {
    requests: rs.reduce((a, r) => a + r.requests, 0),
    rps: mean((r) => r.rps),
    errors,
    unexpected: rs.reduce((a, r) => a + r.unexpected, 0),
    latencyMs: { p50: mean((r) => r.latencyMs.p50), p99: Math.max(...rs.map((r) => r.latencyMs.p99)) },
    clientCpu: mean((r) => r.clientCpu),
    serverCpu: mean((r) => r.serverCpu),
    machineBusy: busy.length ? busy.reduce((a, b) => a + b, 0) / busy.length : undefined,
    firstError,
  };
}

/** Jiffies from /proc/stat (Linux): [busy, total]; undefined elsewhere. */
export function machineCpu(): [number, number] | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.reduce((a, b) => a + b, 0);
    return [total - idle, total];
  } catch {
    return undefined;
  }
}

export function machineBusy(a: [number, number] | undefined, b: [number, number] | undefined): number | undefined {
  if (!a || !b || b[1] === a[1]) return undefined;
  return (b[0] - a[0]) / (b[1] - a[1]);
}

function latencyNote(r: Measured): string {
  return (
    `p50 ${r.latencyMs.p50.toFixed(2)} ms, p99 ${r.latencyMs.p99.toFixed(2)} ms; cores used: server ${r.serverCpu.toFixed(2)}, ` +
    `client ${r.clientCpu.toFixed(2)}${r.machineBusy === undefined ? '' : `, machine ${Math.round(r.machineBusy * 100)}% busy`}` +
    (r.errors ? `; ${r.errors} errors` : '')
  );
}
