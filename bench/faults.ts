/**
 * Issue 9: database faults, measured on a real server process (`node --import tsx src/main.ts`)
 * under a steady webhook load.
 *
 * - A cut: every backend of the server terminated (`pg_terminate_backend`). Time until a webhook
 *   is accepted again, and webhooks refused (503) meanwhile. Baseline: the same server's cold
 *   start to /ready, measured in this run (what a restart would have cost instead).
 * - The embedded PostgreSQL killed (SIGKILL of the postmaster): the same two numbers. Baseline:
 *   a warm restart of the server on the same DATA_DIR, spawn to /ready.
 * - A stall: the server reaches PostgreSQL through a TCP proxy of ours, paused for 10 s (quick:
 *   5 s) under the same load. Peak resident memory of the server during the stall, against its
 *   peak under the same load with the database answering.
 *
 * Nothing here asserts; the numbers go to the report.
 */
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { addConsultants, postLead, spawnServer, type ChildServer } from '../test/support/child-server.ts';
import { startTcpProxy } from '../test/support/tcp-proxy.ts';
import { progress, row, sleep, track, type BenchOptions, type BenchResult, type Row } from './lib/common.ts';
import { openBenchDatabase } from './lib/db.ts';

interface Outage {
  recoverMs: number;
  refused: number;
  accepted: number;
  errors: number;
}

/** A closed loop of webhooks from `connections` senders; counts answers from `since` on. */
function webhookLoad(s: ChildServer, connections: number) {
  let stop = false;
  let n = 0;
  const answers: { at: number; status: number }[] = [];
  const loops = Array.from({ length: connections }, async () => {
    while (!stop) {
      const i = n++;
      const r = await postLead(s.url, { name: `Carga ${i}`, email: `carga${i}-${process.pid}@bench.test`, message: 'Quero um crédito' }).catch(() => ({ status: 0 }));
      answers.push({ at: performance.now(), status: r.status });
    }
  });
  return {
    answers,
    async stop() {
      stop = true;
      await Promise.all(loops);
    },
  };
}

/** From `t0` (the fault) until one probe webhook is accepted, while the load keeps going. */
async function measureOutage(s: ChildServer, load: ReturnType<typeof webhookLoad>, t0: number, timeoutMs = 60_000): Promise<Outage> {
  let recoveredAt: number | undefined;
  while (recoveredAt === undefined) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`not recovered within ${timeoutMs} ms:\n${s.output().slice(-2000)}`);
    const r = await postLead(s.url, { name: 'Sonda', email: `sonda-${Math.random()}@bench.test` }).catch(() => ({ status: 0 }));
    if (r.status === 202) recoveredAt = performance.now();
    else await sleep(20);
  }
  const window = load.answers.filter((a) => a.at >= t0 && a.at <= recoveredAt!);
  return {
    recoverMs: recoveredAt - t0,
    refused: window.filter((a) => a.status === 503).length,
    accepted: window.filter((a) => a.status === 202).length,
    errors: window.filter((a) => a.status !== 503 && a.status !== 202).length,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function postmasterPid(dataDir: string): Promise<number> {
  return Number.parseInt((await readFile(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]!, 10);
}

async function stopServer(s: ChildServer): Promise<void> {
  s.child.kill('SIGTERM');
  const t = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
  await s.exited;
  clearTimeout(t);
}

async function timedStart(env: Record<string, string>, opts: { embedded?: boolean } = {}): Promise<{ s: ChildServer; readyMs: number }> {
  const t0 = performance.now();
  const s = await spawnServer(env, opts);
  track(s.child);
  await s.waitReady(120_000);
  return { s, readyMs: performance.now() - t0 };
}

export async function runFaults(opts: BenchOptions): Promise<BenchResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const connections = opts.quick ? 16 : 32;
  const rounds = opts.quick ? 1 : 3;
  const stallMs = opts.quick ? 5000 : 10_000;
  const db = await openBenchDatabase();
  const dirs: string[] = [];
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'livia-bench-faults-'));
    await chmod(d, 0o755);
    dirs.push(d);
    return d;
  };
  const details: Record<string, unknown> = { connections, rounds, stallMs };
  try {
    // 1. Cuts on an external database.
    progress('faults: cuts (pg_terminate_backend) under load');
    const { s, readyMs: coldMs } = await timedStart({ DATABASE_URL: db.url, DATA_DIR: await tempDir() });
    await addConsultants(s.url, 3);
    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    const cuts: Outage[] = [];
    const load = webhookLoad(s, connections);
    for (let i = 0; i < rounds; i++) {
      await sleep(2000);
      const t0 = performance.now();
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name like 'livia%'`;
      cuts.push(await measureOutage(s, load, t0));
    }
    await load.stop();
    await admin.end({ timeout: 2 });
    await stopServer(s);
    details.cuts = cuts;
    const cutBase = { label: 'cold start to /ready, same database', value: coldMs };
    rows.push(row({ bench: 'faults', metric: `backends terminated: until a webhook is accepted again (median of ${rounds})`, value: median(cuts.map((c) => c.recoverMs)), unit: 'ms', baseline: cutBase }));
    rows.push(row({ bench: 'faults', metric: 'backends terminated: webhooks refused (503) meanwhile', value: median(cuts.map((c) => c.refused)), unit: 'requests', note: `${connections} senders; other errors: ${cuts.reduce((a, c) => a + c.errors, 0)}` }));

    // 2. The embedded PostgreSQL killed.
    progress('faults: embedded PostgreSQL killed under load');
    const dir = await tempDir();
    const first = await timedStart({ DATA_DIR: dir }, { embedded: true });
    await stopServer(first.s);
    const warm = await timedStart({ DATA_DIR: dir }, { embedded: true });
    const e = warm.s;
    await addConsultants(e.url, 3);
    const kills: Outage[] = [];
    const eload = webhookLoad(e, connections);
    for (let i = 0; i < rounds; i++) {
      await sleep(2000);
      const pid = await postmasterPid(dir);
      const t0 = performance.now();
      process.kill(pid, 'SIGKILL');
      kills.push(await measureOutage(e, eload, t0));
    }
    await eload.stop();
    await stopServer(e);
    details.kills = kills;
    const killBase = { label: 'warm restart of the server to /ready, same DATA_DIR', value: warm.readyMs };
    rows.push(row({ bench: 'faults', metric: `embedded postgres killed: until a webhook is accepted again (median of ${rounds})`, value: median(kills.map((k) => k.recoverMs)), unit: 'ms', baseline: killBase }));
    rows.push(row({ bench: 'faults', metric: 'embedded postgres killed: webhooks refused (503) meanwhile', value: median(kills.map((k) => k.refused)), unit: 'requests', note: `other errors: ${kills.reduce((a, k) => a + k.errors, 0)}` }));

    // 3. A stall through our proxy: memory under load, answering vs stalled.
    progress(`faults: ${stallMs / 1000} s network stall under load (memory)`);
    const target = new URL(db.url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    const { s: p } = await timedStart({ DATABASE_URL: viaProxy.toString(), DATA_DIR: await tempDir() });
    const stallLoad = webhookLoad(p, connections * 4);
    const peakOver = async (ms: number) => {
      let peak = 0;
      const end = performance.now() + ms;
      while (performance.now() < end) {
        peak = Math.max(peak, p.rss());
        await sleep(50);
      }
      return peak;
    };
    await sleep(1000);
    const normalPeak = await peakOver(stallMs);
    proxy.pause();
    const t0 = performance.now();
    const stalledPeak = await peakOver(stallMs);
    proxy.resume();
    const during = stallLoad.answers.filter((a) => a.at >= t0 && a.at <= t0 + stallMs);
    const stall = await measureOutage(p, stallLoad, t0 + stallMs);
    await stallLoad.stop();
    await stopServer(p);
    await proxy.close();
    details.stall = { normalPeak, stalledPeak, answered: during.length, refused: during.filter((a) => a.status === 503).length, afterResume: stall };
    rows.push(row({
      bench: 'faults',
      metric: `peak server memory (RSS) during a ${stallMs / 1000} s stall, ${connections * 4} senders`,
      value: stalledPeak / 2 ** 20,
      unit: 'MiB',
      baseline: { label: 'peak RSS under the same load, database answering', value: normalPeak / 2 ** 20 },
    }));
    rows.push(row({ bench: 'faults', metric: 'stall: webhooks refused (503) during it', value: during.filter((a) => a.status === 503).length, unit: 'requests', note: `of ${during.length} answered; accepted again ${Math.round(stall.recoverMs)} ms after the network came back` }));
    notes.push('faults: recovery is timed from the fault to the first webhook answered 202 (a probe sent every 20 ms while the load runs)');
  } finally {
    await db.close().catch(() => {});
    for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {});
  }
  return { name: 'faults', rows, notes, details };
}
