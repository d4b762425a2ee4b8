/**
 * What every benchmark shares: the options read from the environment, the result row, percentiles
 * and a few small helpers. Benchmarks report numbers and ratios to a baseline taken in the same
 * run; nothing here asserts a timing.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface BenchOptions {
  quick: boolean;
  /** Measured duration of each throughput run, after its warm-up. */
  durationMs: number;
  warmupMs: number;
  /** HTTP connections (and in-flight requests) of the load generator. */
  connections: number;
  /** In-flight sends / INSERTs of the actor throughput runs. */
  concurrency: number;
  /** Actors spread over by the many-actors throughput run. */
  throughputActors: number;
  /** Actors of the memory and restart measurements. */
  actors: number;
  /** Sequential samples of the rehydration latency. */
  samples: number;
  /** Which benchmarks to run (BENCH_ONLY=http,actors,pipeline). */
  only: Set<string>;
}

function num(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return n;
}

export function readOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const quick = env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true';
  const only = new Set((env.BENCH_ONLY ?? 'http,coldstart,actors,pipeline,livia,whatsapp,faults,ui,machines-live,fanout,instances').split(',').map((s) => s.trim()).filter(Boolean));
  return {
    quick,
    durationMs: num(env, 'BENCH_DURATION_MS', quick ? 1500 : 5000),
    warmupMs: num(env, 'BENCH_WARMUP_MS', quick ? 300 : 1000),
    connections: num(env, 'BENCH_CONNECTIONS', 50),
    concurrency: num(env, 'BENCH_CONCURRENCY', 50),
    throughputActors: num(env, 'BENCH_THROUGHPUT_ACTORS', 100),
    actors: num(env, 'BENCH_ACTORS', quick ? 5000 : 100_000),
    samples: num(env, 'BENCH_SAMPLES', quick ? 100 : 500),
    only,
  };
}

/** One line of the report. `ratio` is value / baseline, when the row has a baseline. */
export interface Row {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  baseline?: { label: string; value: number } | undefined;
  ratio?: number | undefined;
  goal?: string | undefined;
  note?: string | undefined;
}

export function row(r: Omit<Row, 'ratio'>): Row {
  const ratio = r.baseline && r.baseline.value !== 0 ? r.value / r.baseline.value : undefined;
  return { ...r, ratio };
}

export interface BenchResult {
  name: string;
  rows: Row[];
  notes: string[];
  /** Free-form numbers kept in the JSON summary (settings, raw counts). */
  details?: Record<string, unknown>;
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(samples: number[]): { n: number; p50: number; p90: number; p99: number; max: number; mean: number } {
  const s = Float64Array.from(samples).sort();
  const mean = samples.reduce((a, b) => a + b, 0) / (samples.length || 1);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? Number.NaN, mean };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export { freePort } from '../../src/db/embedded.ts';

/** The environment our server runs with in a benchmark (rate limits out of the way, quiet logs). */
export function liviaEnv(p: { databaseUrl: string; dataDir: string; admin: { email: string; password: string }; webhookSecret: string }) {
  return {
    DATABASE_URL: p.databaseUrl,
    DATA_DIR: p.dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
    ADMIN_EMAIL: p.admin.email,
    ADMIN_PASSWORD: p.admin.password,
    RATE_LIMIT_PER_MINUTE: '100000000',
    JWT_SECRET: 'bench-jwt-secret-bench-jwt-secret-bench-jwt-secret',
    WEBHOOK_SECRET: p.webhookSecret,
    WHATSAPP_DRIVER: 'simulator',
  };
}

/** Progress lines go to stderr, so stdout carries only the table and the JSON summary. */
export function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/**
 * Runs `worker` from `concurrency` loops until `durationMs` has passed (after `warmupMs` of the
 * same load whose completions are not counted). Returns completions per second of the measured
 * window and the errors seen.
 */
export async function closedLoop(opts: {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  worker: (i: number, n: number) => Promise<unknown>;
}): Promise<{ ops: number; perSecond: number; errors: number; firstError?: unknown; ms: number }> {
  let measuring = false;
  let stop = false;
  let ops = 0;
  let errors = 0;
  let firstError: unknown;
  let n = 0;
  const loops = Array.from({ length: opts.concurrency }, async (_, i) => {
    while (!stop) {
      try {
        await opts.worker(i, n++);
        if (measuring && !stop) ops++;
      } catch (err) {
        errors++;
        firstError ??= err;
        if (errors > 1000) stop = true;
      }
    }
  });
  await sleep(opts.warmupMs);
  measuring = true;
  const t0 = performance.now();
  await sleep(opts.durationMs);
  stop = true;
  const ms = performance.now() - t0;
  await Promise.all(loops);
  return { ops, perSecond: (ops / ms) * 1000, errors, firstError, ms };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

export function fmt(n: number, digits?: number): string {
  if (!Number.isFinite(n)) return String(n);
  const d = digits ?? (Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
  return n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

const children = new Set<ChildProcess>();

/** Remembers a child process so that it is killed if the bench stops early. */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Kills every tracked child still running (on an early exit: Ctrl-C, the watchdog). */
export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}
