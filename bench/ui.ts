/**
 * Issue 10: the web app in headless Chromium (Debian's /usr/bin/chromium via playwright-core),
 * against our server in a child process with BENCH_UI_LEADS leads (default 2,000).
 *
 *  (a) `/` (the Kanban) loaded cold, as a manager who sees every lead (and `/machines` with a
 *      consultant's actor chosen, and `/chats` with a 40-message chat open, issue 13): the JavaScript transferred
 *      before any interaction (bytes on the wire, as Chromium's network log counts them, until the
 *      network has been quiet for 1 s) and the time to interactive (navigation start → the end of
 *      the last long task, or DOMContentLoaded when there is none). Median of BENCH_UI_LOADS cold
 *      loads (default 5; quick 3). Baseline: the same measures for `/login`.
 *  (b) a lead changed on the server (PATCH by an API client, a bearer token) → its card moving to the
 *      new column on the open board, p50/p99 over BENCH_UI_MOVES moves (default 100; quick 30),
 *      timed inside the page (one clock). Baseline: the PATCH's own round trip.
 *
 * Needs the built web app (`npm run build:ui`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { io as connectSocket } from 'socket.io-client';
import postgres from 'postgres';
import { forkServer, type ChildServer } from './http.ts';
import { liviaEnv, progress, row, summarize, type BenchOptions, type BenchResult } from './lib/common.ts';
import type { BenchDatabase } from './lib/db.ts';

const SECRET = 'bench-webhook-secret-0123456789';
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const STATUSES = ['NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL', 'WON', 'LOST'] as const;

function count(env: string, fallback: number): number {
  const n = Number(process.env[env] ?? '');
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

interface Load {
  jsBytes: number;
  jsFiles: number;
  allBytes: number;
  ttiMs: number;
  dclMs: number;
  /** Each script's path and bytes on the wire, largest first. */
  scripts: { path: string; bytes: number }[];
}

export async function runUi(opts: BenchOptions, db: BenchDatabase): Promise<BenchResult> {
  const leads = count('BENCH_UI_LEADS', 2000);
  const loads = count('BENCH_UI_LOADS', opts.quick ? 3 : 5);
  const moves = count('BENCH_UI_MOVES', opts.quick ? 30 : 100);

  // A database of its own on the bench's server, so the board holds exactly `leads` leads.
  const dbName = `bench_ui_${Math.random().toString(36).slice(2, 10)}`;
  const adminSql = postgres(db.url, { max: 1, onnotice: () => {} });
  await adminSql.unsafe(`create database ${dbName}`);
  const url = new URL(db.url);
  url.pathname = `/${dbName}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'livia-bench-ui-'));
  const admin = { email: 'admin@bench.test', password: 'bench-admin-password' };
  let server: ChildServer | undefined;
  let browser: Browser | undefined;
  try {
    server = await forkServer('livia', { ...liviaEnv({ databaseUrl: url.href, dataDir, admin, webhookSecret: SECRET }), GROQ_API_KEY: '' });
    const token = await login(server.url, admin);
    await seed(url.href, server.url, token, leads);
    progress(`ui: ${leads} leads seeded`);

    // The state-machine studio with a consultant's actor chosen (the chart, the live panel, the scrubber).
    const consultant = await login(server.url, { email: 'c0@bench.test', password: 'bench-password-1' }, true);
    const studioPath = `/machines?type=consultant&id=${encodeURIComponent(consultant.id)}`;

    // The inbox with a chat open: 40 messages from a customer on the consultants' number (simulator).
    const chatsPath = `/chats?chat=${await seedChat(server.url, token, 40)}`;

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const inbox: Load[] = [];
    const board: Load[] = [];
    const loginPage: Load[] = [];
    const studio: Load[] = [];
    for (let i = 0; i < loads; i++) {
      loginPage.push(await coldLoad(browser, server.url, '/login', admin, false));
      board.push(await coldLoad(browser, server.url, '/', admin, true));
      studio.push(await coldLoad(browser, server.url, studioPath, admin, true));
      inbox.push(await coldLoad(browser, server.url, chatsPath, admin, true));
    }
    const median = (xs: number[]) => summarize(xs).p50;
    const b = { js: median(board.map((l) => l.jsBytes)), tti: median(board.map((l) => l.ttiMs)), dcl: median(board.map((l) => l.dclMs)), all: median(board.map((l) => l.allBytes)) };
    const l = { js: median(loginPage.map((x) => x.jsBytes)), tti: median(loginPage.map((x) => x.ttiMs)) };
    const m = { js: median(studio.map((x) => x.jsBytes)), all: median(studio.map((x) => x.allBytes)), tti: median(studio.map((x) => x.ttiMs)) };
    const c = { js: median(inbox.map((x) => x.jsBytes)), all: median(inbox.map((x) => x.allBytes)), tti: median(inbox.map((x) => x.ttiMs)) };
    progress(`ui: /chats JS ${(c.js / 1024).toFixed(1)} KB: ${scriptList(inbox[0]!)}`);
    progress(`ui: /machines JS ${(m.js / 1024).toFixed(1)} KB: ${scriptList(studio[0]!)}`);
    progress(`ui: board JS ${(b.js / 1024).toFixed(1)} KB, TTI ${b.tti.toFixed(0)} ms; /machines JS ${(m.js / 1024).toFixed(1)} KB`);

    const latency = await liveMoves(browser, server.url, admin, token, moves);
    const move = summarize(latency.move);
    const rtt = summarize(latency.rtt);
    const studioLatency = await studioLit(browser, server.url, admin, studioPath, consultant.token, moves);
    const lit = summarize(studioLatency.lit);
    const ack = summarize(studioLatency.connect);

    return {
      name: 'ui',
      rows: [
        row({ bench: 'ui', metric: `/ JS before first interaction (${leads} leads)`, value: b.js / 1024, unit: 'KB', baseline: { label: '/login', value: l.js / 1024 }, goal: '< 60 KB' }),
        row({ bench: 'ui', metric: '/ all bytes before first interaction (HTML, CSS, JS)', value: b.all / 1024, unit: 'KB' }),
        row({ bench: 'ui', metric: '/ time to interactive', value: b.tti, unit: 'ms', baseline: { label: '/login', value: l.tti } }),
        row({ bench: 'ui', metric: '/ DOMContentLoaded', value: b.dcl, unit: 'ms' }),
        row({ bench: 'ui', metric: '/machines JS before first interaction (an actor chosen)', value: m.js / 1024, unit: 'KB', baseline: { label: '/login', value: l.js / 1024 }, goal: '< 60 KB' }),
        row({ bench: 'ui', metric: '/machines all bytes before first interaction (HTML with the SVG chart, CSS, JS)', value: m.all / 1024, unit: 'KB' }),
        row({ bench: 'ui', metric: '/machines time to interactive', value: m.tti, unit: 'ms', baseline: { label: '/login', value: l.tti } }),
        row({ bench: 'ui', metric: '/chats JS before first interaction (a 40-message chat open)', value: c.js / 1024, unit: 'KB', baseline: { label: '/login', value: l.js / 1024 }, goal: '< 60 KB' }),
        row({ bench: 'ui', metric: '/chats all bytes before first interaction (HTML, CSS, JS, API reads)', value: c.all / 1024, unit: 'KB' }),
        row({ bench: 'ui', metric: '/chats time to interactive', value: c.tti, unit: 'ms', baseline: { label: '/login', value: l.tti } }),
        row({ bench: 'ui', metric: '/machines: consultant socket connects → state lit p50', value: lit.p50, unit: 'ms', baseline: { label: 'socket connect p50', value: ack.p50 }, goal: '< 1000 ms' }),
        row({ bench: 'ui', metric: '/machines: consultant socket connects → state lit p99', value: lit.p99, unit: 'ms', baseline: { label: 'socket connect p99', value: ack.p99 }, goal: '< 1000 ms' }),
        row({ bench: 'ui', metric: 'server change → card moved p50', value: move.p50, unit: 'ms', baseline: { label: 'PATCH round trip p50', value: rtt.p50 }, goal: '< 1000 ms' }),
        row({ bench: 'ui', metric: 'server change → card moved p99', value: move.p99, unit: 'ms', baseline: { label: 'PATCH round trip p99', value: rtt.p99 }, goal: '< 1000 ms' }),
      ],
      notes: [
        `ui: ${leads} leads; ${loads} cold loads each of /, /machines (a consultant's actor chosen) and /login (medians); JS = bytes on the wire (Chromium encodedDataLength) of scripts until the network was quiet for 1 s, with no input; ${moves} live moves timed in the page from the PATCH's start to the card in its new column; ${moves} consultant socket connects (then disconnects) timed from the connect call to presence.online lit on the open /machines (Date.now on both sides, one machine)`,
      ],
      details: { leads, loads, moves, board, loginPage, studio, inbox, move, rtt, lit, ack },
    };
  } finally {
    await browser?.close().catch(() => {});
    await server?.stop().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
    await adminSql.unsafe(`drop database if exists ${dbName} with (force)`).catch(() => {});
    await adminSql.end({ timeout: 5 });
  }
}

/** The scripts of a load, for the log: `path bytes` pairs, largest first. */
const scriptList = (l: Load) => l.scripts.map((x) => `${x.path} ${(x.bytes / 1024).toFixed(1)}`).join(', ');

/** A customer writes `n` messages on the consultants' number (the simulator); the chat's id. */
async function seedChat(base: string, token: string, n: number): Promise<string> {
  const phone = '+5511987600001';
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${base}/api/simulator/messages`, { method: 'POST', headers, body: JSON.stringify({ session: 'consultant', from: phone, text: `Mensagem ${i + 1} do cliente`, name: 'Cliente Bench' }) });
    if (res.status !== 202) throw new Error(`simulator: ${res.status}`);
  }
  for (let tries = 0; tries < 200; tries++) {
    const chats = (await (await fetch(`${base}/api/whatsapp/chats`, { headers })).json()) as { id: string; phone: string | null; last_message: { text: string | null } | null }[];
    const chat = chats.find((x) => x.phone === phone && x.last_message?.text === `Mensagem ${n} do cliente`);
    if (chat) return chat.id;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the bench chat did not arrive');
}

async function login(base: string, who: { email: string; password: string }): Promise<string>;
async function login(base: string, who: { email: string; password: string }, withUser: true): Promise<{ token: string; id: string }>;
async function login(base: string, who: { email: string; password: string }, withUser = false) {
  const res = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(who) });
  if (res.status !== 200) throw new Error(`login: ${res.status}`);
  const body = (await res.json()) as { token: string; user: { id: string } };
  return withUser ? { token: body.token, id: body.user.id } : body.token;
}

/**
 * `/machines` open on a consultant's actor; the consultant's socket connects (presence online) and
 * disconnects, `times` times. Timed from the connect call (Node) to the online state lit in the page
 * (a MutationObserver), both on Date.now: the same machine's clock.
 */
async function studioLit(browser: Browser, base: string, admin: { email: string; password: string }, path: string, consultantToken: string, times: number) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  try {
    const page = await context.newPage();
    await signIn(page, base, admin);
    await page.goto(`${base}${path}`);
    await page.waitForFunction(() => document.documentElement.dataset.live === 'socket');
    const online = '[data-state-id="consultant.presence.online"]';
    const offline = '[data-state-id="consultant.presence.offline"][data-active]';
    await page.waitForSelector(offline);
    const lit: number[] = [];
    const connect: number[] = [];
    for (let i = 0; i < times; i++) {
      const seen = page.evaluate((selector) => {
        return new Promise<number>((resolve) => {
          const el = document.querySelector(selector)!;
          if (el.hasAttribute('data-active')) return resolve(Date.now());
          const obs = new MutationObserver(() => {
            if (el.hasAttribute('data-active')) {
              obs.disconnect();
              resolve(Date.now());
            }
          });
          obs.observe(el, { attributes: true, attributeFilter: ['data-active'] });
        });
      }, online);
      const t0 = Date.now();
      const socket = connectSocket(base, { auth: { token: consultantToken }, transports: ['websocket'], reconnection: false, forceNew: true });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      connect.push(Date.now() - t0);
      lit.push((await seen) - t0);
      socket.close();
      await page.waitForSelector(offline);
    }
    return { lit, connect };
  } finally {
    await context.close();
  }
}

/** Consultants through the API, leads straight into the table (spread over statuses and consultants). */
async function seed(dbUrl: string, base: string, token: string, leads: number): Promise<void> {
  const ids: string[] = [];
  for (let i = 0; i < 8; i++) {
    const res = await fetch(`${base}/api/consultants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ name: `Consultor ${i + 1}`, email: `c${i}@bench.test`, password: 'bench-password-1', max_open_leads: 10_000 }),
    });
    if (res.status !== 201) throw new Error(`consultant: ${res.status}`);
    ids.push(((await res.json()) as { id: string }).id);
  }
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  try {
    await sql`
      insert into leads (name, phone, source, status, ai_score, ai_temperature, ai_classifier, ai_reasons, ai_classified_at, consultant_id, assigned_at, created_at)
      select 'Cliente ' || g, '+55119' || lpad(g::text, 8, '0'), (array['site', 'instagram', 'indicacao', 'google'])[1 + g % 4],
             (${STATUSES as unknown as string[]}::text[])[1 + g % 6], g % 101, (array['HOT', 'WARM', 'COLD'])[1 + g % 3], 'rules', '["bench"]'::jsonb, now(),
             (${ids}::uuid[])[1 + g % ${ids.length}], now(), now() - g * interval '1 minute'
      from generate_series(1, ${leads}) g`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function signIn(page: Page, base: string, admin: { email: string; password: string }): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('input[name="email"]', admin.email);
  await page.fill('input[name="password"]', admin.password);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${base}/`);
}

/** One cold load of `path` in a fresh context (signed in first when `signedIn`), no input at all. */
async function coldLoad(browser: Browser, base: string, path: string, admin: { email: string; password: string }, signedIn: boolean): Promise<Load> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  try {
    const page = await context.newPage();
    if (signedIn) await signIn(page, base, admin);
    // A new page in the same context: the cookie is there, the browser's memory cache is not.
    const fresh = await context.newPage();
    await page.close();
    const cdp = await context.newCDPSession(fresh);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    await fresh.addInitScript(() => {
      const w = window as unknown as { __longTaskEnd: number };
      w.__longTaskEnd = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.__longTaskEnd = Math.max(w.__longTaskEnd, e.startTime + e.duration);
      }).observe({ type: 'longtask', buffered: true });
    });
    const types = new Map<string, string>();
    const urls = new Map<string, string>();
    const scripts: { path: string; bytes: number }[] = [];
    let jsBytes = 0;
    let jsFiles = 0;
    let allBytes = 0;
    let lastActivity = performance.now();
    let inFlight = 0;
    cdp.on('Network.requestWillBeSent', () => {
      inFlight++;
      lastActivity = performance.now();
    });
    cdp.on('Network.responseReceived', (e) => {
      types.set(e.requestId, e.type === 'Script' || /\.m?js(\?|$)/.test(e.response.url) ? 'js' : e.type);
      urls.set(e.requestId, new URL(e.response.url).pathname);
    });
    cdp.on('Network.loadingFinished', (e) => {
      inFlight--;
      lastActivity = performance.now();
      allBytes += e.encodedDataLength;
      if (types.get(e.requestId) === 'js') {
        jsBytes += e.encodedDataLength;
        jsFiles++;
        scripts.push({ path: urls.get(e.requestId) ?? '?', bytes: e.encodedDataLength });
      }
    });
    cdp.on('Network.loadingFailed', () => {
      inFlight--;
      lastActivity = performance.now();
    });
    await fresh.goto(`${base}${path}`, { waitUntil: 'load' });
    // Quiet for 1 s (a long-lived socket or SSE request counts as quiet once it is open).
    while (performance.now() - lastActivity < 1000) await new Promise((r) => setTimeout(r, 100));
    void inFlight;
    const timing = await fresh.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      return { dcl: nav.domContentLoadedEventEnd, longTaskEnd: (window as unknown as { __longTaskEnd: number }).__longTaskEnd };
    });
    scripts.sort((a, b) => b.bytes - a.bytes);
    return { jsBytes, jsFiles, allBytes, dclMs: timing.dcl, ttiMs: Math.max(timing.dcl, timing.longTaskEnd), scripts };
  } finally {
    await context.close();
  }
}

/** Moves leads NEW ↔ CONTACTED through the API and times each card's arrival on the open board. */
async function liveMoves(browser: Browser, base: string, admin: { email: string; password: string }, token: string, moves: number) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  try {
    const page = await context.newPage();
    await signIn(page, base, admin);
    await page.waitForFunction(() => document.documentElement.dataset.live === 'socket');
    const move: number[] = [];
    const rtt: number[] = [];
    for (let i = 0; i < moves; i++) {
      // The newest card of NEW, or back from CONTACTED: both are on the first page of their column.
      const from = i % 2 === 0 ? 'NEW' : 'CONTACTED';
      const to = from === 'NEW' ? 'CONTACTED' : 'NEW';
      const id = await page.locator(`[data-status="${from}"] [data-lead-id]`).first().getAttribute('data-lead-id');
      if (!id) throw new Error(`no card in ${from}`);
      const lead = (await (await fetch(`${base}/api/leads/${id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { version: number };
      const r = await page.evaluate(
        async ({ id, to, version, token }) => {
          const board = document.querySelector('[data-testid="board"]')!;
          const moved = new Promise<number>((resolve) => {
            // No named inner functions here: tsx would wrap them in a helper the page does not have.
            const selector = `[data-status="${to}"] [data-lead-id="${id}"]`;
            const obs = new MutationObserver(() => {
              if (document.querySelector(selector)) {
                obs.disconnect();
                resolve(performance.now());
              }
            });
            obs.observe(board, { subtree: true, childList: true });
          });
          const t0 = performance.now();
          const res = await fetch(`/api/leads/${id}`, {
            method: 'PATCH',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ version, status: to }),
          });
          const t1 = performance.now();
          if (res.status !== 200) throw new Error(`PATCH ${res.status}`);
          return { move: (await moved) - t0, rtt: t1 - t0 };
        },
        { id, to, version: lead.version, token },
      );
      move.push(r.move);
      rtt.push(r.rtt);
    }
    return { move, rtt };
  } finally {
    await context.close();
  }
}
