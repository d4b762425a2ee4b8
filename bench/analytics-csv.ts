/**
 * The analytics CSV export over many leads (standalone, not part of `npm run bench`):
 *
 *   node --expose-gc --import tsx bench/analytics-csv.ts        # BENCH_CSV_LEADS=100000 by default
 *
 * Streams GET /api/analytics/leads.csv from an in-process server and reports rows/s next to the
 * baseline of reading the same rows through a postgres.js cursor with no HTTP and no CSV, and the
 * time to the first rows (streaming: long before the last), and the process's RSS growth while streaming (client and server share the process, so this is an upper
 * bound for the server). Nothing asserts a number.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/main.ts';
import { openBenchDatabase } from './lib/db.ts';

const LEADS = Number(process.env.BENCH_CSV_LEADS ?? 100_000);
const db = await openBenchDatabase();
const dataDir = await mkdtemp(join(tmpdir(), 'livia-bench-csv-'));
const password = 'bench-password-1';
const s = await startServer({
  DATABASE_URL: db.url,
  DATA_DIR: dataDir,
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'silent',
  NODE_ENV: 'test',
  ADMIN_PASSWORD: password,
  WHATSAPP_DRIVER: 'simulator',
});
try {
  // Closed and classified, so the pipeline leaves them alone; names that need quoting.
  await s.sql`
    insert into leads (name, email, phone, source, status, ai_classified_at, created_at)
    select 'Cliente ' || g || ', "Silva"', 'c' || g || '@example.com', '+55119' || lpad(g::text, 8, '0'), 'site', 'LOST', now(),
           now() - make_interval(secs => g)
    from generate_series(1, ${LEADS}) g`;
  const login = await fetch(`${s.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'admin@example.com', password }),
  });
  const { token } = (await login.json()) as { token: string };

  const raw = async () => {
    const t0 = performance.now();
    let n = 0;
    for await (const rows of s.sql`
      select l.id, l.name, l.phone, l.email, l.source, l.status, l.ai_score, l.ai_temperature, c.name as consultant_name, l.created_at, l.assigned_at
      from leads l left join consultants c on c.id = l.consultant_id
      where l.created_at >= now() - interval '30 days' order by l.created_at, l.id`.cursor(500)) n += rows.length;
    return { n, ms: performance.now() - t0 };
  };
  const csv = async () => {
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const t0 = performance.now();
    const res = await fetch(`${s.url}/api/analytics/leads.csv`, { headers: { authorization: `Bearer ${token}` } });
    const reader = res.body!.getReader();
    let bytes = 0;
    let lines = 0;
    let firstRowMs = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!firstRowMs && lines > 0) firstRowMs = performance.now() - t0;
      bytes += value.length;
      for (const b of value) if (b === 10) lines++;
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    return { n: lines - 1, bytes, ms: performance.now() - t0, firstRowMs, growth: peak - before };
  };

  await raw();
  await csv(); // warm-up
  const base = await raw();
  const run = await csv();
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  console.log(`cursor read, no HTTP/CSV: ${base.n} rows in ${base.ms.toFixed(0)} ms (${Math.round(base.n / (base.ms / 1000))} rows/s)`);
  console.log(
    `CSV export:               ${run.n} rows, ${mb(run.bytes)} in ${run.ms.toFixed(0)} ms (${Math.round(run.n / (run.ms / 1000))} rows/s, ` +
      `${(base.ms / run.ms).toFixed(2)}x the cursor read); first rows after ${run.firstRowMs.toFixed(0)} ms; ` +
      `RSS growth while streaming ${mb(run.growth)}`,
  );
} finally {
  await s.stop();
  await db.close();
  await rm(dataDir, { recursive: true, force: true });
}
