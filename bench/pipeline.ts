/**
 * The lead pipeline end to end, black box. Signed `POST /api/webhooks/leads` over HTTP → 202 →
 * classified (rule-based, no GROQ key) → assigned → the assigned consultant's Socket.io
 * `lead:updated` with `consultant_id` set.
 *
 *  (a) leads/s end to end at 16 and at 64 in flight (BENCH_PIPELINE_CONCURRENCY, default "16,64"):
 *      BENCH_PIPELINE_LEADS webhooks each (default 5,000; quick 1,000), from the first send until
 *      the last lead's assigned event has arrived; also the rate of the 202s alone. Baseline, in the
 *      same run just before each: raw postgres.js single-row INSERTs into a table shaped like
 *      `leads` (same columns, defaults, constraints and indexes), on the same database server, at
 *      the same number in flight, through a pool the size of the app's.
 *  (b) p50/p99 from the 202 answer to that `lead:updated` (matched by id), under each load and
 *      with one lead in the system at a time (the pipeline's own delay).
 *  Afterwards: every lead assigned exactly once and notified exactly once, counted in the database
 *  and on the sockets.
 *
 * The server runs in a child process (bench/serve-child.ts); the webhook sender (raw HTTP/1.1, the
 * same client as bench/http.ts) and the consultants' socket.io-client connections run here.
 * BENCH_PIPELINE_CPU_PROF=<dir> runs the child with --cpu-prof into that folder (written on stop),
 * and prints the profile's top entries for each load run's own time window.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { io, type Socket } from 'socket.io-client';
import { signWebhook } from '../src/http/webhook-signature.ts';
import { forkServer, machineBusy, machineCpu, type ChildServer } from './http.ts';
import { fmt, liviaEnv, pool, progress, row, sleep, summarize, type BenchOptions, type BenchResult, type Row } from './lib/common.ts';
import { Connection } from './lib/load.ts';
import { formatProfile, summarizeProfile, type ProfileWindow } from './lib/profile.ts';
import { readdir } from 'node:fs/promises';

const SECRET = 'bench-webhook-secret-0123456789';
const CONSULTANTS = 5;
/** The app's default DB_POOL_MAX: the raw baseline gets a pool of the same size. */
const POOL_MAX = 20;
/** How long to wait for the last notifications once every 202 is in (the safety-net job starts after 15 s). */
const DRAIN_TIMEOUT_MS = 90_000;

interface Phase {
  label: string;
  leads: number;
  concurrency: number;
  /** Wait for each lead's notification before sending the next (one lead in the system at a time). */
  serial: boolean;
}

interface PhaseResult {
  sent: number;
  accepted: number;
  /** First send → last 202. */
  acceptMs: number;
  /** First send → last notification (NaN when some never arrived). */
  endToEndMs: number;
  missing: number;
  /** 202 → notification, ms. */
  latency: ReturnType<typeof summarize>;
  /** Send → 202, ms. */
  accept: ReturnType<typeof summarize>;
  /** Notifications that arrived before their 202 was read (counted as 0 ms). */
  early: number;
  serverCpu: number;
  clientCpu: number;
  machineBusy: number | undefined;
  /** PostgreSQL commits in the bench database per lead (the server's, pg-boss's and a few of ours). */
  commitsPerLead: number;
  /** The load's span on the monotonic clock, to pick its samples out of the server's profile. */
  window: ProfileWindow;
  firstError?: string;
}

const monoUs = () => Number(process.hrtime.bigint() / 1000n);

export async function runPipeline(opts: BenchOptions, db: { url: string }): Promise<BenchResult> {
  const N = Number(process.env.BENCH_PIPELINE_LEADS ?? (opts.quick ? 1000 : 5000));
  const lowN = Number(process.env.BENCH_PIPELINE_SERIAL_LEADS ?? (opts.quick ? 100 : 200));
  const warmN = opts.quick ? 200 : 500;
  const levels = (process.env.BENCH_PIPELINE_CONCURRENCY ?? '16,64').split(',').map(Number).filter((n) => n > 0);
  const C = Math.max(...levels);
  const profDir = process.env.BENCH_PIPELINE_CPU_PROF;

  const dataDir = await mkdtemp(join(tmpdir(), 'livia-bench-data-'));
  const admin = { email: 'bench@livia.test', password: 'bench-password-1' };
  const sql = postgres(db.url, { max: 2, onnotice: () => {}, connection: { application_name: 'livia-bench' } });
  const sockets: Socket[] = [];
  let server: ChildServer | undefined;
  let profileWindows: { label: string; window: ProfileWindow }[] = [];
  const rows: Row[] = [];
  const notes: string[] = [];
  const details: Record<string, unknown> = {};
  try {
    progress('pipeline: starting our server in a child process');
    server = await forkServer(
      'livia',
      { ...liviaEnv({ databaseUrl: db.url, dataDir, admin, webhookSecret: SECRET }), GROQ_API_KEY: '' },

      profDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profDir)}`] : [],
    );
    const startedAt = performance.now();
    const base = server.url;
    const adminToken = await login(base, admin);
    // The actors bench may have run on this database before: its actors are not ours to carry.
    for (const t of ['actor_journal', 'actor_snapshots', 'actor_outbox', 'actor_timers']) {
      await sql.unsafe(`delete from ${t} where actor_type like 'bench.%'`);
    }

    // Consultants, each signed in and listening on a socket of its own.
    /** When each lead's first `lead:updated` with a consultant arrived (the assigned event). */
    const notifiedAt = new Map<string, number>();
    /** Which consultant's socket received each lead's assigned event. */
    const notifiedTo = new Map<string, string>();
    /** Leads whose `notification` arrived, and how many arrived twice. */
    const notificationSeen = new Set<string>();
    let duplicateEvents = 0;
    const waiters = new Map<string, () => void>();
    /** Resolves when the lead's notification has arrived, or after DRAIN_TIMEOUT_MS. */
    const notified = (id: string) =>
      notifiedAt.has(id)
        ? Promise.resolve()
        : new Promise<void>((ok) => {
            const timer = setTimeout(() => {
              waiters.delete(id);
              ok();
            }, DRAIN_TIMEOUT_MS);
            waiters.set(id, () => {
              clearTimeout(timer);
              ok();
            });
          });
    for (let i = 0; i < CONSULTANTS; i++) {
      const c = { name: `Bench Consultant ${i + 1}`, email: `consultant${i + 1}@livia.test`, password: 'bench-password-1' };
      const res = await fetch(`${base}/api/consultants`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
        body: JSON.stringify({ ...c, role: 'CONSULTANT', max_open_leads: 10_000 }),
      });
      if (res.status !== 201) throw new Error(`creating a consultant failed: ${res.status} ${await res.text()}`);
      const { id } = (await res.json()) as { id: string };
      const token = await login(base, c);
      const socket = io(base, { auth: { token }, transports: ['websocket'], reconnection: false });
      sockets.push(socket);
      socket.on('notification', (n: { lead_id?: string | null }) => {
        if (!n.lead_id) return;
        if (notificationSeen.has(n.lead_id)) duplicateEvents++;
        notificationSeen.add(n.lead_id);
      });
      socket.on('lead:updated', (l: { id: string; consultant_id: string | null }) => {
        const at = performance.now();
        const leadId = l.id;
        if (!l.consultant_id || notifiedAt.has(leadId)) return;
        notifiedAt.set(leadId, at);
        notifiedTo.set(leadId, id);
        const w = waiters.get(leadId);
        if (w) {
          waiters.delete(leadId);
          w();
        }
      });
      await new Promise<void>((ok, fail) => {
        socket.once('connect', () => ok());
        socket.once('connect_error', (err) => fail(new Error(`socket of consultant ${i + 1}: ${err.message}`)));
      });
    }

    const target = new URL(base);
    let serial = 0;
    const request = (runTag: string, i: number): Buffer => {
      const k = serial++;
      const amount = [5_000, 20_000, 50_000, 120_000, 300_000][k % 5]!;
      const body = JSON.stringify({
        name: `Cliente Bench ${k}`,
        phone: `(11) 9${String(80_000_000 + (k % 10_000_000)).padStart(8, '0')}`,
        email: `lead${k}@bench.example`,
        source: 'bench',
        external_id: `${runTag}-${i}`,
        message: k % 3 === 0 ? 'Quero um crédito urgente, preciso hoje' : k % 3 === 1 ? `Gostaria de simular um empréstimo de ${amount}` : 'Só pesquisando',
        requested_amount: amount,
        monthly_income: [2_000, 5_000, 8_000, 15_000][k % 4],
      });
      const ts = Math.floor(Date.now() / 1000);
      return Buffer.from(
        `POST /api/webhooks/leads HTTP/1.1\r\nhost: ${target.host}\r\ncontent-type: application/json\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nx-webhook-timestamp: ${ts}\r\n` +
          `x-webhook-signature: ${signWebhook(SECRET, ts, body)}\r\n\r\n${body}`,
      );
    };

    const commits = async () => {
      // Statistics reach pg_stat_database when a backend's transaction ends, or up to a second later.
      await sleep(1100);
      const [r] = await sql<{ n: string }[]>`select xact_commit as n from pg_stat_database where datname = current_database()`;
      return Number(r!.n);
    };

    const runPhase = async (p: Phase): Promise<PhaseResult> => {
      progress(`pipeline: ${p.label}: ${p.leads} leads, ${p.serial ? 'one lead in the system at a time' : `${p.concurrency} in flight`}`);
      const tag = `${p.label.replace(/\W+/g, '-')}-${Date.now()}`;
      const requests = Array.from({ length: p.leads }, (_, i) => request(tag, i));
      const conns = Array.from({ length: p.concurrency }, () => new Connection(target.hostname, Number(target.port), Buffer.alloc(0)));
      const ids: string[] = [];
      const acceptedAt = new Map<string, number>();
      const acceptLatency: number[] = [];
      let firstError: string | undefined;
      let lastAccept = 0;
      const arrivals: Promise<void>[] = [];
      const commits0 = await commits();
      const cpu0 = await server!.cpuMs();
      const me0 = process.cpuUsage();
      const m0 = machineCpu();
      const fromUs = monoUs();
      const t0 = performance.now();
      let free = Array.from({ length: p.concurrency }, (_, i) => i);
      await pool(requests, p.concurrency, async (req) => {
        const ci = free.pop()!;
        const sentAt = performance.now();
        try {
          const res = await conns[ci]!.exchange(req);
          const at = performance.now();
          if (res.status !== 202) {
            firstError ??= `status ${res.status}: ${res.body.toString().slice(0, 200)}`;
            return;
          }
          acceptLatency.push(at - sentAt);
          lastAccept = at;
          const { id } = JSON.parse(res.body.toString()) as { id: string };
          ids.push(id);
          acceptedAt.set(id, at);
          const arrival = notified(id);
          arrivals.push(arrival);
          if (p.serial) await arrival;
        } catch (err) {
          firstError ??= (err as Error).message;
        } finally {
          free.push(ci);
        }
      });
      const acceptMs = lastAccept - t0;
      await Promise.all(arrivals);
      const done = performance.now();
      const toUs = monoUs();
      const cpu = (await server!.cpuMs()) - cpu0;
      const me = process.cpuUsage(me0);
      const m1 = machineCpu();
      free = [];
      for (const c of conns) c.close();
      const missing = ids.filter((id) => !notifiedAt.has(id)).length;
      const lastNotified = Math.max(...ids.map((id) => notifiedAt.get(id) ?? Number.NaN));
      let early = 0;
      const lat = ids
        .filter((id) => notifiedAt.has(id))
        .map((id) => {
          const d = notifiedAt.get(id)! - acceptedAt.get(id)!;
          if (d < 0) early++;
          return Math.max(0, d);
        });
      const commits1 = await commits();
      const wall = done - t0;
      return {
        sent: p.leads,
        accepted: ids.length,
        acceptMs,
        endToEndMs: missing > 0 ? Number.NaN : lastNotified - t0,
        missing,
        latency: summarize(lat),
        accept: summarize(acceptLatency),
        early,
        serverCpu: cpu / wall,
        clientCpu: (me.user + me.system) / 1000 / wall,
        machineBusy: machineBusy(m0, m1),
        // The two reads of pg_stat_database commit too; the bench's own are negligible next to N.
        commitsPerLead: (commits1 - commits0) / p.leads,
        window: { fromUs, toUs },
        firstError,
      };
    };

    // Raw INSERT baseline: a table with the leads table's shape (columns, defaults, checks, indexes).
    await sql`drop table if exists bench_raw_leads`;
    await sql`create table bench_raw_leads (like leads including all)`;
    // Each raw run has a pool of its own, ended after it: an idle backend holds its statistics for
    // up to 10 s before they reach pg_stat_database, so the raw run's thousands of commits would
    // otherwise land in the next phase's commits/lead; a backend that exits reports them at once.
    const rawRun = async (n: number, concurrency: number) => {
      progress(`pipeline: raw single-row INSERTs into a lead-shaped table, ${n} rows, ${concurrency} in flight`);
      const raw = postgres(db.url, { max: POOL_MAX, onnotice: () => {}, connection: { application_name: 'livia-bench-raw' } });
      const tag = `raw-${Date.now()}`;
      const insert = (i: number) => raw`
        insert into bench_raw_leads (name, phone, email, source, external_id, message, requested_amount, monthly_income, metadata)
        values (${`Cliente Bench ${i}`}, ${`+55119${String(80_000_000 + i).padStart(8, '0')}`}, ${`raw${i}@bench.example`}, 'bench',
                ${`${tag}-${i}`}, 'Gostaria de simular um empréstimo', ${50_000}, ${8_000}, ${raw.json({ user_agent: null } as never)})`;
      try {
        // Untimed: open the pool's connections and prepare the statement on each.
        await pool(Array.from({ length: 2 * concurrency }, (_, i) => n + i), concurrency, insert);
        const lat: number[] = [];
        const t0 = performance.now();
        await pool(Array.from({ length: n }, (_, i) => i), concurrency, async (i) => {
          const s = performance.now();
          await insert(i);
          lat.push(performance.now() - s);
        });
        const ms = performance.now() - t0;
        return { perSecond: (n / ms) * 1000, latency: summarize(lat) };
      } finally {
        await raw.end({ timeout: 5 });
      }
    };

    // Warm-up: JIT, pools, prepared statements on both sides.
    await rawRun(warmN, C);
    await runPhase({ label: 'warm-up', leads: warmN, concurrency: C, serial: false });
    // Steady state of a lone server: for its first 15 s an instance publishes every Socket.io
    // emit for other instances it may not have heard of yet (src/db/socket-adapter.ts), then stops.
    const settle = 16_000 - (performance.now() - startedAt);
    if (settle > 0) {
      progress(`pipeline: waiting ${(settle / 1000).toFixed(1)} s for the server's first 15 s to pass`);
      await sleep(settle);
    }

    const loads: { c: number; raw: Awaited<ReturnType<typeof rawRun>>; load: PhaseResult }[] = [];
    for (const c of levels) {
      const raw = await rawRun(N, c);
      const load = await runPhase({ label: `load ${c}`, leads: N, concurrency: c, serial: false });
      loads.push({ c, raw, load });
    }
    const raw1 = await rawRun(lowN, 1);
    const low = await runPhase({ label: 'one at a time', leads: lowN, concurrency: 1, serial: true });

    // Every lead assigned exactly once: the leads, their `assigned` interactions and notifications.
    await sleep(500);
    const [check] = await sql<
      {
        leads: number;
        assigned: number;
        once: number;
        twice: number;
        none: number;
        notified_once: number;
        notified_twice: number;
        open_sum: number;
        by_rules: number;
      }[]
    >`
      with a as (
        select l.id, l.consultant_id,
               (select count(*) from interactions i where i.lead_id = l.id and i.type = 'assigned')::int as n,
               (select count(*) from notifications x where x.lead_id = l.id and x.type = 'lead_assigned')::int as m
        from leads l
      )
      select count(*)::int as leads, count(consultant_id)::int as assigned,
             (count(*) filter (where n = 1 and consultant_id is not null))::int as once,
             (count(*) filter (where n > 1))::int as twice,
             (count(*) filter (where n = 0))::int as none,
             (count(*) filter (where m = 1))::int as notified_once,
             (count(*) filter (where m > 1))::int as notified_twice,
             (select coalesce(sum(open_leads), 0) from consultants where role = 'CONSULTANT')::int as open_sum,
             (select count(*) from leads where ai_classifier = 'rules')::int as by_rules
      from a`;
    const perConsultant = await sql<{ consultant_id: string; n: number }[]>`
      select consultant_id, count(*)::int as n from leads where consultant_id is not null group by consultant_id order by n`;
    const assignedTo = new Map(
      (await sql<{ id: string; consultant_id: string | null }[]>`select id, consultant_id from leads`).map((l) => [l.id, l.consultant_id]),
    );
    const wrongSocket = [...notifiedTo].filter(([lead, to]) => assignedTo.get(lead) !== to).length;
    const sentTotal = warmN + N * levels.length + lowN;
    const ok =
      check!.leads === sentTotal && check!.once === sentTotal && check!.twice === 0 && check!.notified_once === sentTotal && check!.notified_twice === 0 && check!.by_rules === sentTotal && duplicateEvents === 0 &&
      wrongSocket === 0 && notifiedAt.size === sentTotal && notificationSeen.size === sentTotal;
    const verification =
      `${check!.leads} leads in the database (${sentTotal} sent): ${check!.once} assigned exactly once, ${check!.twice} more than once, ` +
      `${check!.none} never; ${check!.by_rules} classified by the rules; notifications: ${check!.notified_once} exactly one, ${check!.notified_twice} several; ` +
      `socket events: ${notifiedAt.size} leads seen assigned (lead:updated), ${notificationSeen.size} notified, ${duplicateEvents} duplicate notifications, ${wrongSocket} to another consultant than the assigned one; consultants' open_leads sum ${check!.open_sum}; ` +
      `per consultant ${perConsultant.map((p) => p.n).join('/')}`;
    progress(`pipeline: ${ok ? 'OK' : 'MISMATCH'}: ${verification}`);

    const cpuNote = (r: PhaseResult) =>
      `cores used: server ${r.serverCpu.toFixed(2)}, bench ${r.clientCpu.toFixed(2)}` +
      (r.machineBusy === undefined ? '' : `, machine ${Math.round(r.machineBusy * 100)}% busy`);
    const lat = (s: ReturnType<typeof summarize>) => `p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms`;
    for (const { c, raw, load } of loads) {
      const e2e = (load.accepted / load.endToEndMs) * 1000;
      const acceptRate = (load.accepted / load.acceptMs) * 1000;
      const baseline = { label: `raw INSERT ${c} in flight`, value: raw.perSecond };
      rows.push(
        row({
          bench: 'pipeline',
          metric: `raw single-row INSERT into a lead-shaped table, ${c} in flight (baseline)`,
          value: raw.perSecond,
          unit: 'rows/s',
          note: `${lat(raw.latency)}; pool ${POOL_MAX}`,
        }),
        row({
          bench: 'pipeline',
          metric: `webhook → classified, assigned (lead:updated), ${c} in flight`,
          value: e2e,
          unit: 'leads/s',
          baseline,
          goal: '≥ 1,000 leads/s, ≥ 0.20×',
          note:
            (load.missing ? `${load.missing} of ${load.accepted} never seen assigned; ` : '') +
            `${load.accepted} leads in ${fmt(load.endToEndMs / 1000, 2)} s; ${fmt(load.commitsPerLead, 2)} commits/lead; ${cpuNote(load)}`,
        }),
        row({
          bench: 'pipeline',
          metric: `webhook 202s alone, ${c} in flight`,
          value: acceptRate,
          unit: 'req/s',
          baseline,
          note: `send → 202 ${lat(load.accept)}` + (load.firstError ? `; first error: ${load.firstError}` : ''),
        }),
        row({
          bench: 'pipeline',
          metric: `202 → assigned event p50, ${c} in flight`,
          value: load.latency.p50,
          unit: 'ms',
          note: `p90 ${load.latency.p90.toFixed(1)} ms, max ${load.latency.max.toFixed(1)} ms; ${load.latency.n} samples` + (load.early ? `; ${load.early} arrived before their 202 (0 ms)` : ''),
        }),
        row({ bench: 'pipeline', metric: `202 → assigned event p99, ${c} in flight`, value: load.latency.p99, unit: 'ms', goal: c <= 16 ? '< 100 ms' : undefined }),
      );
    }
    rows.push(
      row({
        bench: 'pipeline',
        metric: 'raw single-row INSERT, 1 in flight p50 (baseline)',
        value: raw1.latency.p50,
        unit: 'ms',
        note: `p99 ${raw1.latency.p99.toFixed(2)} ms`,
      }),
      row({
        bench: 'pipeline',
        metric: '202 → assigned event p50, one lead at a time',
        value: low.latency.p50,
        unit: 'ms',
        baseline: { label: 'raw INSERT 1 in flight', value: raw1.latency.p50 },
        note: `p90 ${low.latency.p90.toFixed(1)} ms, max ${low.latency.max.toFixed(1)} ms; send → 202 p50 ${low.accept.p50.toFixed(1)} ms; ` +
          `${fmt(low.commitsPerLead, 1)} commits/lead; ${cpuNote(low)}`,
      }),
      row({ bench: 'pipeline', metric: '202 → assigned event p99, one lead at a time', value: low.latency.p99, unit: 'ms', goal: '< 100 ms' }),
      row({
        bench: 'pipeline',
        metric: 'leads assigned exactly once',
        value: check!.once,
        unit: 'leads',
        note: ok ? `all ${sentTotal}` : `MISMATCH: ${verification}`,
      }),
    );
    notes.push(
      `pipeline: our server in a child process (rule-based classifier, LOG_LEVEL=warn, simulator WhatsApp); ${CONSULTANTS} consultants ` +
        `connected with socket.io-client (websocket) and the webhook sender (raw HTTP/1.1 keep-alive, ${levels.join(' / ')} connections, pre-signed bodies) ` +
        `in the bench process. End to end = first send until the last lead's \`lead:updated\` with its consultant arrived; "202s alone" = first send until ` +
        `the last 202. Raw baseline: postgres.js, pool ${POOL_MAX}, single-row INSERTs into \`like leads including all\`. ` +
        `${warmN} warm-up leads (and rows) first. Server, bench and PostgreSQL share ${availableParallelism()} cores.`,
      `pipeline: ${verification}`,
    );
    Object.assign(details, { leads: N, serialLeads: lowN, warmup: warmN, levels, loads, raw1, low, check, perConsultant, duplicateEvents, ok });
    profileWindows = loads.map((l) => ({ label: `load ${l.c} in flight`, window: l.load.window }));
    if (!ok) throw new Error(`pipeline: not every lead was assigned and notified exactly once: ${verification}`);
  } finally {
    for (const s of sockets) s.close();
    await server?.stop();
    await sql`drop table if exists bench_raw_leads`.catch(() => {});
    await sql.end({ timeout: 5 });
    await rm(dataDir, { recursive: true, force: true });
    if (profDir) {
      progress(`pipeline: CPU profile of the server written to ${resolve(profDir)}`);
      // The main thread's profile is the largest file of the newest run (workers write their own).
      const files = (await readdir(resolve(profDir)).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile')).sort();
      const main = files.filter((f) => /\.0\.\d+\.cpuprofile$/.test(f)).pop();
      if (main) {
        for (const w of profileWindows) {
          const summary = await summarizeProfile(join(resolve(profDir), main), 20, w.window);
          notes.push(`pipeline profile, ${w.label} (${main}):\n${formatProfile(summary)}`);
        }
      }
    }
  }
  return { name: 'pipeline', rows, notes, details };
}

async function login(base: string, who: { email: string; password: string }): Promise<string> {
  const res = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: who.email, password: who.password }),
  });
  if (res.status !== 200) throw new Error(`login of ${who.email} failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}
