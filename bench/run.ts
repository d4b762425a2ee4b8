/**
 * `npm run bench`: runs the benchmarks, prints a table of numbers with their ratio to a baseline
 * measured in the same run, then one JSON line (`BENCH_SUMMARY {...}`). Nothing here asserts a
 * timing; the exit code is non-zero only when a benchmark could not run.
 *
 * Environment:
 *   BENCH_QUICK=1              small sizes and short runs, a smoke run in well under a minute
 *   BENCH_ONLY=http,coldstart,actors,pipeline,livia,whatsapp,faults,ui,machines-live,fanout,instances   which benchmarks (default: all)
 *   BENCH_FANOUT_CLIENTS       Socket.io clients of the fan-out runs (default "1000,5000,10000"; quick "200,1000")
 *   BENCH_FANOUT_PROCS         client processes of the fan-out bench (default one per 2,500 clients)
 *   BENCH_FANOUT_CROSS=0       skip the fan-out bench's cross-instance phase
 *   BENCH_INSTANCES_LEADS      leads of each 1/2/3-instance run (default 2000; quick 400)
 *   BENCH_INSTANCES_COUNTS     which instance counts the instances bench runs (default "1,2,3"; "2": the send latency rows alone)
 *   BENCH_UI_LEADS / BENCH_UI_LOADS / BENCH_UI_MOVES   the web app's bench: leads on the board
 *                              (default 2000), cold loads (5; quick 3), live moves (100; quick 30)
 *   BENCH_MACHINES_MESSAGES / BENCH_MACHINES_BURST_MS   simulator messages timed to the state lit on
 *                              /machines (default 100; quick 30), Lívia's burst window there (300 ms)
 *   BENCH_LIVIA_CONVERSATIONS  conversations at once of the livia run (default 1000; quick 200)
 *   BENCH_LIVIA_THINK_MS       mean pause of the livia paced run's customers (default 5000; quick 2000)
 *   BENCH_LIVIA_CPU_PROF       a folder: the livia paced run's CPU profile is written there, its top entries printed
 *   BENCH_WA_SESSIONS          idle WhatsApp sessions of the memory run (default 500; quick 50)
 *   BENCH_DURATION_MS / BENCH_WARMUP_MS   per throughput run (default 5000 / 1000; quick 1500 / 300)
 *   BENCH_CONNECTIONS          HTTP connections (default 50)
 *   BENCH_CONCURRENCY          in-flight actor sends and raw INSERTs (default 50)
 *   BENCH_THROUGHPUT_ACTORS    actors of the many-actors throughput run (default 100)
 *   BENCH_ACTORS               actors of the memory and restart runs (default 100000; quick 5000)
 *   BENCH_SAMPLES              rehydration latency samples (default 500; quick 100)
 *   BENCH_PIPELINE_LEADS       webhooks of each of the pipeline's load runs (default 5000; quick 1000)
 *   BENCH_PIPELINE_CONCURRENCY webhooks in flight of the pipeline's load runs (default "16,64")
 *   BENCH_PIPELINE_SERIAL_LEADS  leads sent one at a time for the pipeline's own delay (default 200; quick 100)
 *   BENCH_PIPELINE_CPU_PROF    a folder: the pipeline's server runs with --cpu-prof into it, and the
 *                              profile's top entries for each load run's time window are printed
 *   DATABASE_URL               the PostgreSQL server to use (a bench_<random> database is created
 *                              on it and dropped); else 127.0.0.1:5432 if it answers; else embedded.
 *   BENCH_DB=embedded          use an embedded PostgreSQL even when a server is available
 *   BENCH_TIMEOUT_MS           watchdog: stop (and clean up) after this long (default 15 min)
 */
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { runActors } from './actors.ts';
import { runColdstart } from './coldstart.ts';
import { runHttp } from './http.ts';
import { runPipeline } from './pipeline.ts';
import { runFaults } from './faults.ts';
import { runUi } from './ui.ts';
import { runMachinesLive } from './machines-live.ts';
import { runLivia } from './livia.ts';
import { runWhatsApp } from './whatsapp.ts';
import { runFanout } from './fanout.ts';
import { runInstances } from './instances.ts';
import { fmt, killChildren, progress, readOptions, type BenchResult, type Row } from './lib/common.ts';
import { openBenchDatabase, type BenchDatabase } from './lib/db.ts';

const opts = readOptions();
const started = performance.now();
const loadAtStart = loadavg()[0]!;
const results: BenchResult[] = [];
const failures: { bench: string; error: string }[] = [];

progress(`${opts.quick ? 'quick' : 'full'} run: ${[...opts.only].join(', ')}`);

// The bench always ends by itself: a watchdog, and children killed on any early exit.
let db: BenchDatabase | undefined;
const abort = (why: string, code: number) => {
  progress(why);
  killChildren();
  const closing = db?.close().catch(() => {}) ?? Promise.resolve();
  void Promise.race([closing, new Promise((r) => setTimeout(r, 10_000))]).then(() => process.exit(code));
};
const timeoutMs = Number(process.env.BENCH_TIMEOUT_MS ?? 15 * 60_000);
setTimeout(() => abort(`watchdog: still running after ${timeoutMs} ms; stopping`, 2), timeoutMs).unref();
process.once('SIGINT', () => abort('interrupted', 130));
process.once('SIGTERM', () => abort('terminated', 143));
process.on('exit', killChildren);

async function attempt(name: string, fn: () => Promise<BenchResult>): Promise<void> {
  if (!opts.only.has(name)) return;
  const t0 = performance.now();
  try {
    results.push(await fn());
    progress(`${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (err) {
    progress(`${name} FAILED: ${(err as Error).stack ?? String(err)}`);
    failures.push({ bench: name, error: (err as Error).message ?? String(err) });
  }
}

try {
  if (['http', 'actors', 'pipeline', 'livia', 'whatsapp', 'ui', 'machines-live', 'fanout', 'instances'].some((b) => opts.only.has(b))) db = await openBenchDatabase();
  const database = db;
  if (database) {
    await attempt('http', () => runHttp(opts, database));
    await attempt('actors', () => runActors(opts, database));
    await attempt('pipeline', () => runPipeline(opts, database));
    await attempt('livia', () => runLivia(opts, database));
    await attempt('whatsapp', () => runWhatsApp(opts, database));
    await attempt('ui', () => runUi(opts, database));
    await attempt('machines-live', () => runMachinesLive(opts, database));
    await attempt('fanout', () => runFanout(opts, database));
    await attempt('instances', () => runInstances(opts, database));
  }
  // Last: it spawns the server on its own embedded PostgreSQL, which takes CPU from nothing else.
  await attempt('coldstart', () => runColdstart(opts));
  // Its own database and servers: it terminates backends, kills and stalls PostgreSQL.
  await attempt('faults', () => runFaults(opts));
} finally {
  await db?.close().catch((err: Error) => progress(`closing the database failed: ${err.message}`));
}

const rows = results.flatMap((r) => r.rows);
const machine = {
  node: process.version,
  cpus: availableParallelism(),
  cpu: cpus()[0]?.model,
  memGiB: Math.round(totalmem() / 2 ** 30),
  gc: typeof globalThis.gc === 'function',
  /** 1-minute load average at the start and the end: other work on the machine skews absolute numbers. */
  load: [Math.round(loadAtStart * 100) / 100, Math.round(loadavg()[0]! * 100) / 100],
};
printTable(rows);
const notes = [
  `machine: ${machine.cpus} × ${machine.cpu}, ${machine.memGiB} GiB, Node ${machine.node}${machine.gc ? '' : ', no --expose-gc'}; ` +
    `load average ${machine.load[0]} at the start, ${machine.load[1]} at the end (anything else running skews absolute numbers; ratios less so)`,
  ...(db ? [`database: ${db.source}, PostgreSQL ${db.server.version}, synchronous_commit=${db.server.synchronous_commit}, fsync=${db.server.fsync}`] : []),
  ...results.flatMap((r) => r.notes),
  ...failures.map((f) => `FAILED ${f.bench}: ${f.error}`),
];
process.stdout.write(`\n${notes.map((n) => `- ${n}`).join('\n')}\n\n`);
const summary = {
  quick: opts.quick,
  seconds: Math.round((performance.now() - started) / 100) / 10,
  machine,
  database: db ? { source: db.source, ...db.server } : undefined,
  options: { ...opts, only: [...opts.only] },
  rows,
  details: Object.fromEntries(results.map((r) => [r.name, r.details ?? {}])),
  failures,
};
process.stdout.write(`BENCH_SUMMARY ${JSON.stringify(summary)}\n`);
// Anything still holding the loop (a pool, a timer) must not keep the run alive.
process.exit(failures.length > 0 ? 1 : 0);

function printTable(rs: Row[]): void {
  const head = ['bench', 'metric', 'value', 'unit', 'ratio', 'goal', 'note'];
  const lines = rs.map((r) => [
    r.bench,
    r.metric,
    fmt(r.value),
    r.unit,
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`,
    r.goal ?? '',
    r.note ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmtLine = (cells: string[]) => cells.map((c, i) => (i === 2 || i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  process.stdout.write(`\n${fmtLine(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${lines.map(fmtLine).join('\n')}\n`);
}
