/**
 * Socket.io fan-out and several instances (issue 14), black box:
 *
 *  (a) one server, N authenticated Socket.io clients (default 1,000, 5,000 and 10,000;
 *      BENCH_FANOUT_CLIENTS) of one consultant, whose lead a manager moves on the Kanban
 *      (`PATCH /api/leads/:id`): p50/p99 from the PATCH being sent to `lead:updated` arriving on
 *      each client, and the time until the last client has it; baseline: the PATCH's own answer.
 *      Memory per connection: the server's RSS growth over the connections, divided by them.
 *  (b) the lead webhook's rate (202/s, closed loop) with the N clients connected, as a ratio to
 *      the same server without them (the clients' consultant takes no leads: this is the cost of
 *      holding the connections, not of sending them leads).
 *  (c) cross-instance delivery: a second server on the same database; clients on each; the move
 *      made on the first: p50/p99 on the second (through the Postgres adapter), ratio to the first.
 *
 * The clients run in BENCH_FANOUT_PROCS processes of their own (bench/fanout-client.ts, default one
 * per 2,500 clients); the servers in theirs (bench/serve-child.ts). `ulimit -n` must allow the
 * sockets: each client process and the server hold one descriptor per connection.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signWebhook } from '../src/http/webhook-signature.ts';
import { forkServer, machineBusy, machineCpu, type ChildServer } from './http.ts';
import { closedLoop, liviaEnv, progress, ROOT, row, sleep, summarize, track, type BenchOptions, type BenchResult, type Row } from './lib/common.ts';

const SECRET = 'bench-webhook-secret-0123456789';
const ADMIN = { email: 'admin@fanout.bench', password: 'bench-admin-password' };
const PER_PROCESS = 2500;

interface Client {
  child: ChildProcess;
  request<T>(m: Record<string, unknown>, reply: string): Promise<T>;
}

function spawnClient(): Promise<Client> {
  const child = track(fork(join(ROOT, 'bench/fanout-client.ts'), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const request = <T>(m: Record<string, unknown>, reply: string) =>
    new Promise<T>((resolve, reject) => {
      const on = (msg: { type: string }) => {
        if (msg.type !== reply) return;
        child.off('message', on);
        resolve(msg as T);
      };
      child.on('message', on);
      child.once('exit', (code) => reject(new Error(`fan-out client exited (${code})`)));
      child.send(m);
    });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve({ child, request }));
    child.once('exit', (code) => reject(new Error(`fan-out client exited (${code}) before it was ready`)));
  });
}

/** CPU time a process has used, from /proc (Linux; clock ticks of 10 ms). */
const procCpuMs = (pid: number) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
};
const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const epoch = () => performance.timeOrigin + performance.now();

async function json(url: string, o: { method?: string; token?: string; body?: unknown } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
    headers: { ...(o.body === undefined ? {} : { 'content-type': 'application/json' }), ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function postLead(base: string, i: number): Promise<number> {
  const raw = JSON.stringify({ name: `Fanout ${i}`, phone: `+55119${String(10_000_000 + (i % 89_999_999)).padStart(8, '0')}`, source: 'bench-fanout' });
  const ts = Math.floor(Date.now() / 1000);
  const res = await fetch(`${base}/api/webhooks/leads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-webhook-timestamp': String(ts), 'x-webhook-signature': signWebhook(SECRET, ts, raw) },
    body: raw,
  });
  await res.arrayBuffer();
  return res.status;
}

export async function runFanout(opts: BenchOptions, db: { url: string }): Promise<BenchResult> {
  const levels = (process.env.BENCH_FANOUT_CLIENTS ?? (opts.quick ? '200,1000' : '1000,5000,10000')).split(',').map(Number).filter((n) => n > 0);
  const maxN = Math.max(...levels);
  const procs = Number(process.env.BENCH_FANOUT_PROCS ?? Math.max(1, Math.ceil(maxN / PER_PROCESS)));
  const updates = opts.quick ? 10 : 20;
  const dataDir = await mkdtemp(join(tmpdir(), 'livia-bench-fanout-'));
  const env = { ...liviaEnv({ databaseUrl: db.url, dataDir, admin: ADMIN, webhookSecret: SECRET }), INSTANCE_ID: 'bench-a' };
  const rows: Row[] = [];
  const notes: string[] = [];
  const details: Record<string, unknown> = { levels, procs, updates };
  const servers: ChildServer[] = [];
  const clients: Client[] = [];
  let seq = 0;
  try {
    const a = await forkServer('livia', env);
    servers.push(a);
    const admin = (await json(`${a.url}/api/auth/login`, { body: ADMIN })).body.token as string;
    const mk = async (name: string, max: number) => {
      const r = await json(`${a.url}/api/consultants`, { token: admin, body: { name, email: `${name.toLowerCase()}-${Date.now()}@fanout.bench`, password: 'password-123', role: 'CONSULTANT', max_open_leads: max } });
      if (r.status !== 201) throw new Error(`create consultant: ${r.status} ${JSON.stringify(r.body)}`);
      return { id: r.body.id as string, email: r.body.email as string };
    };
    // The clients' consultant takes no leads by assignment; the bench's lead is moved to them by hand.
    const viewer = await mk('Vitrine', 0);
    // The cross-instance phase has a consultant of its own: until actors have one home, two
    // instances both holding their actor leave one copy stale for what follows.
    const crossViewer = await mk('Vitrine2', 0);
    for (let i = 0; i < 5; i++) await mk(`Bench${i}`, 10_000);
    const viewerToken = (await json(`${a.url}/api/auth/login`, { body: { email: viewer.email, password: 'password-123' } })).body.token as string;
    const crossToken = (await json(`${a.url}/api/auth/login`, { body: { email: crossViewer.email, password: 'password-123' } })).body.token as string;
    if ((await postLead(a.url, seq++)) !== 202) throw new Error('webhook refused');
    let lead: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !lead?.consultant_id; i++) {
      await sleep(100);
      lead = ((await json(`${a.url}/api/leads?limit=1`, { token: admin })).body.items as Record<string, unknown>[] | undefined)?.[0];
    }
    if (!lead?.consultant_id) throw new Error('the bench lead was not assigned');
    let version = lead.version as number;
    const move = async (extra: Record<string, unknown> = {}) => {
      // A busy machine can make the server's database probe miss (503 for a moment): try again.
      const first = epoch();
      for (let attempt = 0; ; attempt++) {
        const t0 = epoch();
        const r = await json(`${a.url}/api/leads/${lead!.id as string}`, { method: 'PATCH', token: admin, body: { version, ...extra } });
        if (r.status === 200) {
          version = r.body.version as number;
          return { t0, version, answerMs: epoch() - t0 };
        }
        // A 503 past the request deadline may still have committed: the retry then finds the next version.
        const current = (r.body.error as { details?: { current_version?: number } } | undefined)?.details?.current_version;
        if (attempt > 0 && r.status === 409 && current === version + 1) {
          version = current;
          return { t0: first, version, answerMs: epoch() - first };
        }
        if (r.status !== 503 || attempt >= 20) throw new Error(`PATCH: ${r.status} ${JSON.stringify(r.body)}`);
        await sleep(500);
      }
    };
    await move({ consultant_id: crossViewer.id });

    // BENCH_FANOUT_CROSS=0 skips it.
    if (process.env.BENCH_FANOUT_CROSS !== '0') {
      // (c) Cross-instance: a second server on the same database.
      progress('fanout: cross-instance delivery');
      const b = await forkServer('livia', { ...env, INSTANCE_ID: 'bench-b', DATA_DIR: `${dataDir}-b` });
      servers.push(b);
      const onA = await spawnClient();
      const onB = await spawnClient();
      clients.push(onA, onB);
      const crossN = opts.quick ? 50 : 200;
      await onA.request({ type: 'connect', url: a.url, token: crossToken, count: crossN }, 'connected');
      await onB.request({ type: 'connect', url: b.url, token: crossToken, count: crossN }, 'connected');
      await sleep(500);
      const sent = new Map<number, number>();
      for (let u = 0; u < updates * 2; u++) {
        const m = await move({ note: `cross ${u}` });
        sent.set(m.version, m.t0);
        await sleep(100);
      }
      await sleep(5000);
      const latencies = async (c: Client, where: string) => {
        const s = await c.request<{ byVersion: Record<string, number[]>; disconnects: Record<string, number>; connected: number }>({ type: 'collect' }, 'samples');
        const out: number[] = [];
        const short: string[] = [];
        for (const [v, t0] of sent) {
          const times = s.byVersion[v] ?? [];
          for (const t of times) out.push(t - t0);
          if (times.length !== crossN) short.push(`v${v}: ${times.length}`);
        }
        // Where receipts are missing: whole updates (a lost NOTIFY) or clients (dropped connections).
        progress(`fanout: on ${where}: ${out.length}/${crossN * sent.size} receipts, ${s.connected}/${crossN} still connected, disconnects ${JSON.stringify(s.disconnects)}${short.length ? `, short updates ${short.join(', ')}` : ''}`);
        return summarize(out);
      };
      const local = await latencies(onA, 'A');
      const cross = await latencies(onB, 'B');
      rows.push(row({ bench: 'fanout', metric: `cross-instance p50 (${crossN} clients on B, move on A)`, value: cross.p50, unit: 'ms', baseline: { label: 'same instance p50', value: local.p50 } }));
      rows.push(row({ bench: 'fanout', metric: `cross-instance p99`, value: cross.p99, unit: 'ms', baseline: { label: 'same instance p99', value: local.p99 } }));
      details.cross = { local, cross, clientsEach: crossN };
      progress(`fanout: cross-instance p50 ${cross.p50.toFixed(1)} ms, p99 ${cross.p99.toFixed(1)} ms (same instance p50 ${local.p50.toFixed(1)}, p99 ${local.p99.toFixed(1)}; ${cross.n}/${local.n} receipts)`);
      for (const c of clients.splice(0)) {
        c.child.send({ type: 'close' });
        await new Promise((r) => c.child.once('exit', r));
      }
      // B stops, so the rest measures one instance alone; the lead goes to the fan-out clients' consultant.
      await b.stop();
      servers.pop();
    }
    await move({ consultant_id: viewer.id });

    // Where the CPU goes during a rate run: the server, the webhook sender (this process) and the
    // Socket.io client processes share the machine's cores with PostgreSQL.
    const webhookRate = async () => {
      const cpu0 = { server: procCpuMs(a.child.pid!), clients: clients.reduce((s, c) => s + procCpuMs(c.child.pid!), 0), me: process.cpuUsage(), machine: machineCpu() };
      const t0 = performance.now();
      const r = await closedLoop({
        concurrency: 32,
        warmupMs: opts.warmupMs,
        durationMs: opts.durationMs,
        worker: async () => {
          const s = await postLead(a.url, seq++);
          if (s !== 202) throw new Error(`webhook ${s}`);
        },
      });
      const wall = performance.now() - t0;
      const me = process.cpuUsage(cpu0.me);
      const cores = {
        server: (procCpuMs(a.child.pid!) - cpu0.server) / wall,
        clients: (clients.reduce((s, c) => s + procCpuMs(c.child.pid!), 0) - cpu0.clients) / wall,
        sender: (me.user + me.system) / 1000 / wall,
        machineBusy: machineBusy(cpu0.machine, machineCpu()),
      };
      return { perSecond: r.perSecond, cores };
    };
    const coresNote = (c: Awaited<ReturnType<typeof webhookRate>>['cores']) =>
      `cores used: server ${c.server.toFixed(2)}, Socket.io client processes ${c.clients.toFixed(2)}, webhook sender ${c.sender.toFixed(2)}` +
      (c.machineBusy === undefined ? '' : `, machine ${Math.round(c.machineBusy * 100)}% busy`);
    progress('fanout: webhook rate without clients');
    const without = await webhookRate();
    const rateWithout = without.perSecond;

    const baseRss = rss(a.child.pid!);
    for (let i = 0; i < procs; i++) clients.push(await spawnClient());
    let connected = 0;
    const answer: number[] = [];
    for (const n of levels) {
      const want = n - connected;
      progress(`fanout: connecting ${want} more clients (to ${n}) from ${procs} processes`);
      const got = await Promise.all(
        clients.map((c, i) => {
          const share = Math.floor(want / procs) + (i < want % procs ? 1 : 0);
          return share > 0 ? c.request<{ count: number; failed: number }>({ type: 'connect', url: a.url, token: viewerToken, count: share }, 'connected') : Promise.resolve({ count: 0, failed: 0 });
        }),
      );
      const failed = got.reduce((s, g) => s + g.failed, 0);
      connected = n - failed;
      await sleep(1000);
      const perConn = (rss(a.child.pid!) - baseRss) / connected;
      for (const c of clients) await c.request({ type: 'collect' }, 'samples');
      const sent = new Map<number, number>();
      const gap = Math.max(200, n / 10);
      for (let u = 0; u < updates; u++) {
        const m = await move({ note: `fan-out ${n}/${u}` });
        sent.set(m.version, m.t0);
        answer.push(m.answerMs);
        await sleep(gap);
      }
      await sleep(2000);
      const lat: number[] = [];
      const last: number[] = [];
      let received = 0;
      const perUpdate = new Map<number, number[]>();
      for (const c of clients) {
        const s = await c.request<{ byVersion: Record<string, number[]> }>({ type: 'collect' }, 'samples');
        for (const [v, times] of Object.entries(s.byVersion)) {
          const t0 = sent.get(Number(v));
          if (t0 === undefined) continue;
          const list = perUpdate.get(Number(v)) ?? [];
          for (const t of times) {
            lat.push(t - t0);
            list.push(t - t0);
          }
          perUpdate.set(Number(v), list);
          received += times.length;
        }
      }
      for (const list of perUpdate.values()) last.push(Math.max(...list));
      const s = summarize(lat);
      const base = summarize(answer.slice(-updates));
      const missing = updates * connected - received;
      progress(
        `fanout: ${connected} clients: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, last client p50 ${summarize(last).p50.toFixed(1)} ms, PATCH answer p50 ${base.p50.toFixed(1)} ms, ${(perConn / 1024).toFixed(1)} KiB/connection, ${missing} missing`,
      );
      details[`clients_${n}`] = { connected, failed, received, missing, latency: s, lastClient: summarize(last), patchAnswer: base, rssPerConnectionBytes: perConn };
      rows.push(row({ bench: 'fanout', metric: `${n} clients: emit → receipt p50`, value: s.p50, unit: 'ms', baseline: { label: 'PATCH answer p50', value: base.p50 } }));
      rows.push(row({ bench: 'fanout', metric: `${n} clients: emit → receipt p99`, value: s.p99, unit: 'ms', baseline: { label: 'PATCH answer p50', value: base.p50 } }));
      rows.push(row({ bench: 'fanout', metric: `${n} clients: until the last client p50`, value: summarize(last).p50, unit: 'ms' }));
      rows.push(row({ bench: 'fanout', metric: `${n} clients: server memory per connection`, value: perConn / 1024, unit: 'KiB', note: `${missing} deliveries missing, ${failed} connects failed` }));
    }

    progress(`fanout: webhook rate with ${connected} clients connected`);
    const withClients = await webhookRate();
    const rateWith = withClients.perSecond;
    progress(`fanout: webhook rate ${rateWithout.toFixed(1)}/s without clients (${coresNote(without.cores)}), ${rateWith.toFixed(1)}/s with ${connected} (${coresNote(withClients.cores)})`);
    rows.push(row({ bench: 'fanout', metric: 'webhook rate, no clients', value: rateWithout, unit: '202/s', note: coresNote(without.cores) }));
    rows.push(
      row({
        bench: 'fanout',
        metric: `webhook rate, ${connected} clients connected`,
        value: rateWith,
        unit: '202/s',
        baseline: { label: 'no clients', value: rateWithout },
        note: `${coresNote(withClients.cores)}; the clients' consultant takes no leads, so no lead event goes to them`,
      }),
    );
    details.webhook = { rateWithout, rateWith, connected, coresWithout: without.cores, coresWith: withClients.cores };

    for (const c of clients.splice(0)) {
      c.child.send({ type: 'close' });
      await new Promise((r) => c.child.once('exit', r));
    }

    notes.push(
      `fanout: clients in ${procs} process(es) of their own, websocket transport, one consultant's token; "emit → receipt" counts from the PATCH being sent (its own answer is the baseline); cross-instance through @socket.io/postgres-adapter (NOTIFY)`,
    );
    return { name: 'fanout', rows, notes, details };
  } finally {
    for (const c of clients) c.child.kill('SIGKILL');
    for (const s of servers) await s.stop().catch(() => {});
    await rm(dataDir, { recursive: true, force: true }).catch(() => {});
    await rm(`${dataDir}-b`, { recursive: true, force: true }).catch(() => {});
  }
}
