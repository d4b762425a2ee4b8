/**
 * Several instances on one database (issue 14): lead throughput with 1, 2 and 3 server processes,
 * as a ratio to 1 in the same run, and the latency of a WhatsApp send asked of an instance that does
 * not own the session (a durable job to the owner) against one asked of the owner itself.
 *
 * Each instance count gets a fresh database on the bench's server. The webhooks go round-robin to
 * the instances from this process; a lead counts once it is assigned (polled in the database).
 * Runnable alone: `npx tsx bench/instances.ts` (BENCH_INSTANCES_LEADS, default 2000; quick 400).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { signWebhook } from '../src/http/webhook-signature.ts';
import { forkServer, type ChildServer } from './http.ts';
import { liviaEnv, pool, progress, readOptions, row, sleep, summarize, type BenchOptions, type BenchResult, type Row } from './lib/common.ts';
import { openBenchDatabase, type BenchDatabase } from './lib/db.ts';

const SECRET = 'bench-webhook-secret-0123456789';
const ADMIN = { email: 'admin@instances.bench', password: 'bench-admin-password' };
/** Leads each instance takes before the timed run (BENCH_INSTANCES_WARMUP, default 300). */
const WARMUP = Number(process.env.BENCH_INSTANCES_WARMUP ?? 300);

async function freshDatabase(base: string, name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const u = new URL(base);
  const admin = postgres({ host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) || undefined, database: 'postgres', max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    async drop() {
      const a = postgres({ host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) || undefined, database: 'postgres', max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
      await a.end();
    },
  };
}

async function startInstances(url: string, n: number, dir: string): Promise<ChildServer[]> {
  const out: ChildServer[] = [];
  for (let i = 0; i < n; i++) {
    const env = { ...liviaEnv({ databaseUrl: url, dataDir: join(dir, `i${i}`), admin: ADMIN, webhookSecret: SECRET }), INSTANCE_ID: `bench-${i}`, INSTANCES: String(n), DB_POOL_MAX: '10', WHATSAPP_SEND_PER_MINUTE: '10000' };
    out.push(await forkServer('livia', env));
  }
  return out;
}

async function login(s: ChildServer): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${s.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
    const body = (await res.json()) as { token?: string };
    if (body.token) return body.token;
    // A loaded machine: the server's database probe may miss for a moment (503).
    if (res.status !== 503 || attempt >= 20) throw new Error(`login answered ${res.status}: ${JSON.stringify(body)}`);
    await sleep(500);
  }
}

async function postLead(s: ChildServer, i: number, tag: string): Promise<number> {
  const raw = JSON.stringify({ name: `Lead ${i}`, email: `l${i}@${tag}.bench`, source: 'site', external_id: `${tag}-${i}` });
  const ts = Math.floor(Date.now() / 1000);
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(`${s.url}/api/webhooks/leads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-webhook-timestamp': String(ts), 'x-webhook-signature': signWebhook(SECRET, ts, raw) },
        body: raw,
      });
    } catch (err) {
      // A connection reset on a saturated machine: the same signed request again (stored once).
      if (attempt >= 5) throw err;
      await sleep(200);
      continue;
    }
    await res.body?.cancel();
    // 200: an earlier attempt whose answer was lost did store it (the signature is remembered).
    if (res.status === 200 && attempt > 0) return 202;
    if (res.status !== 503 && res.status !== 429) return res.status;
    await sleep(100);
  }
}

/** Leads/s from the first webhook until every lead is assigned, with `n` instances. */
async function throughput(base: BenchDatabase, n: number, leads: number, concurrency: number): Promise<{ perSecond: number; latency?: { owner: number[]; other: number[] }; cost: { cpuMsPerLead: number; serverCores: number; commitsPerLead: number } }> {
  const name = `${new URL(base.url).pathname.slice(1)}_i${n}_${Date.now() % 100000}`;
  const db = await freshDatabase(base.url, name);
  const dir = await mkdtemp(join(tmpdir(), 'livia-inst-bench-'));
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  let servers: ChildServer[] = [];
  try {
    servers = await startInstances(db.url, n, dir);
    const token = await login(servers[0]!);
    for (let c = 0; c < 5; c++) {
      await fetch(`${servers[0]!.url}/api/consultants`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ name: `C ${c}`, email: `c${c}@instances.bench`, password: 'consultant-pw-1', role: 'CONSULTANT', max_open_leads: 10_000 }),
      }).then(async (r) => {
        if (r.status !== 201) throw new Error(`creating a consultant answered ${r.status}: ${await r.text()}`);
      });
    }
    const send = async (count: number, tag: string, total: number) => {
      const started = performance.now();
      await pool(
        Array.from({ length: count }, (_, i) => i),
        concurrency,
        async (i) => {
          const status = await postLead(servers[i % n]!, i, tag);
          // 200: a webhook retried after a 503 whose first try had been stored (a replay's answer).
          if (status !== 202 && status !== 200) throw new Error(`webhook answered ${status}`);
        },
      );
      for (;;) {
        const [r] = await sql<{ n: number }[]>`select count(*)::int as n from leads where consultant_id is not null`;
        if (r!.n >= total) break;
        if (performance.now() - started > 180_000) throw new Error(`only ${r!.n} of ${total} leads assigned after 180 s`);
        await sleep(50);
      }
      return count / ((performance.now() - started) / 1000);
    };
    // Each instance first takes WARMUP leads untimed: a fresh process runs its first few hundred
    // requests unoptimised (V8's JIT), and with 3 instances each sees a third of the timed leads.
    await send(WARMUP * n, `w${n}`, WARMUP * n);
    // Statistics reach pg_stat_database when a backend's transaction ends, or up to a second later.
    const commits = async () => {
      await sleep(1100);
      return (await sql<{ n: string }[]>`select xact_commit as n from pg_stat_database where datname = current_database()`)[0]!.n;
    };
    const commits0 = Number(await commits());
    const cpu0 = (await Promise.all(servers.map((s) => s.cpuMs()))).reduce((a, b) => a + b, 0);
    const t0 = performance.now();
    const perSecond = await send(leads, `n${n}`, WARMUP * n + leads);
    const wall = performance.now() - t0;
    const cpuMsPerLead = ((await Promise.all(servers.map((s) => s.cpuMs()))).reduce((a, b) => a + b, 0) - cpu0) / leads;
    const serverCores = (cpuMsPerLead * leads) / wall;
    const commitsPerLead = (Number(await commits()) - commits0) / leads;
    const cost = { cpuMsPerLead, serverCores, commitsPerLead };
    if (n < 2) return { perSecond, cost };
    // Cross-instance sends: a customer opens a chat on the `consultant` session, then sends are asked of each instance.
    const ownerId = (await sql<{ owner: string }[]>`select owner from leases where name = 'whatsapp:consultant'`)[0]!.owner;
    const owner = servers[Number(ownerId.replace('bench-', ''))]!;
    const other = servers.find((s) => s !== owner)!;
    const tokens = new Map([[owner, await login(owner)], [other, await login(other)]]);
    await fetch(`${owner.url}/api/simulator/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.get(owner)}` },
      body: JSON.stringify({ session: 'consultant', from: '+5511987659999', text: 'oi' }),
    }).then((r) => r.body?.cancel());
    let chatId: string | undefined;
    while (!chatId) {
      chatId = (await sql<{ id: string }[]>`select id from wa_chats where session = 'consultant' limit 1`)[0]?.id;
      if (!chatId) await sleep(50);
    }
    const sendVia = async (s: ChildServer, text: string): Promise<number> => {
      const t0 = performance.now();
      const res = await fetch(`${s.url}/api/whatsapp/chats/${chatId}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.get(s)}` },
        body: JSON.stringify({ text }),
      });
      if (res.status !== 202 && res.status !== 201) throw new Error(`send answered ${res.status}: ${await res.text()}`);
      await res.body?.cancel();
      for (;;) {
        const [hit] = await sql`select 1 from wa_simulator_sent where text = ${text}`;
        if (hit) return performance.now() - t0;
        await sleep(5);
      }
    };
    const latency = { owner: [] as number[], other: [] as number[] };
    for (let i = 0; i < 15; i++) {
      latency.owner.push(await sendVia(owner, `owner ${i}`));
      latency.other.push(await sendVia(other, `other ${i}`));
    }
    return { perSecond, latency, cost };
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
    await sql.end({ timeout: 2 }).catch(() => {});
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runInstances(opts: BenchOptions, db: BenchDatabase): Promise<BenchResult> {
  const leads = Number(process.env.BENCH_INSTANCES_LEADS ?? (opts.quick ? 400 : 2000));
  const concurrency = 32;
  const rates: number[] = [];
  const rows: Row[] = [];
  let latency: { owner: number[]; other: number[] } | undefined;
  // BENCH_INSTANCES_COUNTS=2: only the two-instance run (its cross-instance send latency rows).
  for (const n of (process.env.BENCH_INSTANCES_COUNTS ?? '1,2,3').split(',').map(Number)) {
    progress(`instances: ${n} instance(s), ${leads} leads at ${concurrency} in flight`);
    const r = await throughput(db, n, leads, concurrency);
    rates.push(r.perSecond);
    progress(`instances: ${n}: ${r.perSecond.toFixed(0)} leads/s (${(r.perSecond / rates[0]!).toFixed(2)}×), servers' CPU ${r.cost.cpuMsPerLead.toFixed(2)} ms/lead, ${r.cost.commitsPerLead.toFixed(2)} commits/lead`);
    if (r.latency && !latency) latency = r.latency;
    rows.push(
      row({
        bench: 'instances',
        metric: `leads/s assigned, ${n} instance${n > 1 ? 's' : ''}`,
        value: r.perSecond,
        unit: 'leads/s',
        baseline: { label: '1 instance', value: rates[0]! },
        note: `servers' CPU ${r.cost.cpuMsPerLead.toFixed(2)} ms/lead (${r.cost.serverCores.toFixed(2)} cores together), ${r.cost.commitsPerLead.toFixed(2)} commits/lead`,
      }),
    );
  }
  if (latency) {
    const o = summarize(latency.owner);
    const x = summarize(latency.other);
    rows.push(row({ bench: 'instances', metric: 'send via the owner, request → on the wire, p50', value: o.p50, unit: 'ms' }));
    rows.push(row({ bench: 'instances', metric: 'send via another instance, request → on the wire, p50', value: x.p50, unit: 'ms', baseline: { label: 'via the owner', value: o.p50 } }));
    rows.push(row({ bench: 'instances', metric: 'send via another instance, p99', value: x.p99, unit: 'ms', baseline: { label: 'via the owner p99', value: o.p99 } }));
  }
  return {
    name: 'instances',
    rows,
    notes: [`instances: ${leads} leads per run (after ${WARMUP} untimed leads per instance), round-robin over the instances, 32 in flight, 5 consultants; a fresh database per instance count; all processes share this machine's cores and one PostgreSQL`],
    details: { leads, rates, latency },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opts = readOptions();
  const db = await openBenchDatabase();
  try {
    const r = await runInstances(opts, db);
    for (const x of r.rows) process.stdout.write(`${x.metric}: ${x.value.toFixed(1)} ${x.unit}${x.ratio === undefined ? '' : ` (${x.ratio.toFixed(2)}×)`}\n`);
  } finally {
    await db.close();
  }
  process.exit(0);
}
